"""``fleet-harness run`` as a subprocess: the pod's environment, its events as they come.

The harness prints JSON lines on standard output (docs/harness.md, "Events");
its standard error passes through to ours. Ctrl-C reaches it as SIGINT (it
shares our process group when started from a terminal, and it is sent one
explicitly otherwise); it is given time to journal and exit, then stopped.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleetctl.local.errors import LocalError

GRACE_S = 15.0


def harness_command(override: str | None = None) -> list[str]:
    """``--harness CMD`` if given, else the console script beside this Python, else ``-m harness``."""
    if override:
        return shlex.split(override)
    script = Path(sys.executable).parent / "fleet-harness"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "harness"]


@dataclass
class Attempt:
    """What one harness process did: its exit code, the events, and the ``end`` event if any."""

    exit_code: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    interrupted: bool = False

    @property
    def end(self) -> dict[str, Any] | None:
        return next((e for e in reversed(self.events) if e.get("event") == "end"), None)


def run_harness(
    command: list[str],
    definition: Path,
    env: Mapping[str, str],
    *,
    resume: str | None,
    on_event: Callable[[dict[str, Any]], None],
    on_text: Callable[[str], None],
) -> Attempt:
    argv = [*command, "run", "--definition", str(definition), "--events", "jsonl"]
    if resume:
        argv += ["--resume", resume]
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=None,  # passes through
            env={**os.environ, **env},
            text=True,
            bufsize=1,
        )
    except OSError as exc:
        raise LocalError(
            f"cannot start the harness ({shlex.join(argv[:1])}): {exc.strerror or exc}",
            "install the harness extra (pip install 'fleetctl[harness]') or pass --harness CMD",
        ) from None
    attempt = Attempt()
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            text = line.rstrip("\n")
            if not text.strip():
                continue
            try:
                event = json.loads(text)
            except ValueError:
                on_text(text)
                continue
            if not isinstance(event, dict) or "event" not in event:
                on_text(text)
                continue
            attempt.events.append(event)
            on_event(event)
        attempt.exit_code = proc.wait()
    except KeyboardInterrupt:
        attempt.interrupted = True
        attempt.exit_code = _stop(proc)
        # whatever the harness printed while stopping (its end event, if it got that far)
        for line in proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and "event" in event:
                attempt.events.append(event)
    finally:
        proc.stdout.close()
    return attempt


def _stop(proc: subprocess.Popen[str]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    for sig in (None, signal.SIGTERM, signal.SIGKILL):
        if sig is not None and proc.poll() is None:
            proc.send_signal(sig)
        try:
            return proc.wait(timeout=GRACE_S if sig is None else 5)
        except subprocess.TimeoutExpired:
            continue
        except KeyboardInterrupt:  # a second Ctrl-C: do not wait any longer
            continue
    return proc.wait()
