"""Keep the kernel's own movable work off the core the proxy under test is pinned to.

Pinning the proxy to a core does not give it the core: unbound kernel threads still
run there. On a small VM the worst of them is DAMON's ``kdamond``, which samples
physical memory every 500 ms for 1.2-4.3 ms at a time and, when it lands on the
proxy's core, stalls the proxy for as long. That is the machine's latency, not the
proxy's, and it shows up whole in a streaming p99. Latency benchmarks shield a core
for this (``isolcpus``, ``cset shield``); without a reboot, as root, the nearest is
to move every kernel thread that allows it, and the unbound workqueues, to the other
cores for the run, and to put them back afterwards. Per-core kernel threads
(``ksoftirqd/0``, ``kworker/0:*``) cannot move and stay.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

WORKQUEUE_MASK = Path("/sys/devices/virtual/workqueue/cpumask")
PF_KTHREAD = 0x00200000


def kernel_threads() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the parenthesised name: state ppid ... flags is the 9th field overall.
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[6]) & PF_KTHREAD:
            pids.append(int(entry.name))
    return pids


@contextmanager
def shielded(core: int) -> Iterator[str]:
    """Move movable kernel work off ``core`` while the block runs; yields what was done."""
    others = set(range(os.cpu_count() or 1)) - {core}
    if os.geteuid() != 0 or not others:
        yield "not shielded (needs root and a second core)"
        return
    moved: dict[int, set[int]] = {}
    for pid in kernel_threads():
        try:
            mask = os.sched_getaffinity(pid)
            if core in mask and len(mask) > 1:
                os.sched_setaffinity(pid, mask - {core})
                moved[pid] = mask
        except OSError:  # per-core threads refuse, and threads come and go
            continue
    old_wq: str | None
    try:
        old_wq = WORKQUEUE_MASK.read_text().strip()
        WORKQUEUE_MASK.write_text(f"{sum(1 << c for c in others):x}\n")
    except OSError:
        old_wq = None
    try:
        yield (
            f"core {core} shielded: {len(moved)} kernel threads"
            + (" and the unbound workqueues" if old_wq is not None else "")
            + " moved off it for the run"
        )
    finally:
        for pid, mask in moved.items():
            with suppress(OSError):
                os.sched_setaffinity(pid, mask)
        if old_wq is not None:
            with suppress(OSError):
                WORKQUEUE_MASK.write_text(old_wq + "\n")
