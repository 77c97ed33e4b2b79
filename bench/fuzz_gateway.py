"""Fuzz every HTTP surface of a real gateway on loopback with hypothesis: chat
completions (bodies and the headers it reads: authorization, content-type,
content-length, x-fleet-step, x-fleet-run-id), ``/v1/models``, MCP JSON-RPC on
each method and the approvals API (the cases of :mod:`bench.fuzz_mcp`), the runs
API under ``/v1/fleet/``, the webhook trigger, ``/metrics``, ``/healthz``,
``/readyz``, and unknown paths and methods.

The gateway runs as its own process (``python -m gateway``) with its log in a
file, in front of the scripted provider of ``tests/gateway/fakes.py`` (which
answers most chat cases and fails some on purpose: 429, 500, 503, a stream cut
short) and the fake github MCP server of ``tests/mcp``. A case fails when the
answer is a 5xx the scripted upstream did not cause, when the gateway's log gains
a traceback while it runs, or when no answer comes. A thread polls ``/healthz``
throughout; its misses and worst latency are printed.

    .venv/bin/python -m bench.fuzz_gateway [--cases 20000] [--seed 16] [--surface chat ...]

Prints, per surface, the cases, the status histogram, the 5xx not caused
upstream and the tracebacks; then the distinct failing input classes, each with
its smallest reproduction; exits 1 if there was any failure.
``tests/security/test_fuzz_gateway.py`` runs a few hundred cases with a fixed seed.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from hypothesis import HealthCheck, Phase, given, seed, settings

from bench import fuzz_mcp
from bench.fuzz_mcp import Case
from bench.fuzz_surfaces import LOOP_TOKENS, SURFACES, GwCase, cases

ROOT = Path(__file__).resolve().parents[1]
PROVIDER_KEY = "sk-fuzz-provider-key"


# ---------------------------------------------------------------- the gateway under test


def config(github: str, provider: str) -> dict[str, Any]:
    """The MCP stack's config with models, guardrails on the chat path, a webhook
    trigger and the operator's token added."""
    from tests.mcp.conftest import config as mcp_config
    from tests.mcp.conftest import sha

    cfg = mcp_config(github)
    cfg["providers"] = {
        name: {
            "base_url": provider + "/v1",
            "timeout_s": 2.0,
            "credentials": {"secret": name, "env": "FUZZ_PROVIDER_KEY"},
        }
        for name in ("p1", "p2")
    }
    cfg["models"] = {
        "main": {"targets": [{"provider": "p1", "model": "m-main"}], "fallback": ["backup"]},
        "backup": {"targets": [{"provider": "p2", "model": "m-backup"}]},
    }
    cfg["pricing"] = {
        "p1/m-main": {"input": 1.0, "output": 2.0},
        "p2/m-backup": {"input": 0.5, "output": 1.0},
    }
    cfg["retries"] = {"attempts": 1, "on_status_codes": [429, 500, 502, 503], "backoff_ms": 1}
    cfg["guardrails"] = {
        **cfg["guardrails"],
        "llm_input": [
            {"detector": "prompt-injection", "action": "block"},
            {"detector": "secrets", "action": "block"},
        ],
        "llm_output": [{"detector": "pii", "action": "redact"}],
    }
    for name in ("triage", "release"):
        loop = cfg["loops"][name]
        loop["models"] = ["main", "backup"]
        loop["budget"] = {"limit_usd": 1e9, "window": "day"}
        loop["harness"] = {"max_steps": 10**6, "max_tokens_per_run": 10**12}
    cfg["loops"]["triage"]["subagents"]["reviewer"]["models"] = ["backup"]
    cfg["loops"]["triage"]["trigger"] = {
        "token_sha256": [sha(LOOP_TOKENS["trigger"])],
        "max_payload": 64 * 1024,
        "max_queue": 100,
    }
    cfg["operator_sha256"] = [sha(LOOP_TOKENS["operator"])]
    return cfg


class Target(fuzz_mcp.Target):
    """:class:`bench.fuzz_mcp.Target`, with the trigger and operator tokens and raw-socket
    cases besides."""

    def resolve(self, case: Case) -> tuple[str, list[tuple[str, bytes]], bytes, str | None]:
        extra = LOOP_TOKENS.get(case.token)
        if extra is None:
            path, head, body, used = super().resolve(case)
        else:
            path, head, body, used = super().resolve(dataclasses.replace(case, token="none"))
            head.insert(0, ("authorization", f"Bearer {extra}".encode()))
        if any(k == "authorization" for k, _ in head[1:]):  # the case's own header wins
            head = [h for i, h in enumerate(head) if i or h[0] != "authorization"]
        # The client refuses to send a value with whitespace at either end: the wire
        # cases send those.
        return path, [(k, v.strip(b" \t")) for k, v in head], body, used

    def send_raw(self, raw: bytes) -> tuple[int, bytes]:
        """(status, body) of bytes written on a fresh connection; 0 when the gateway
        closed it without an answer (its right for a request that never completes)."""
        host, port = self.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(raw)
            sock.shutdown(socket.SHUT_WR)
            chunks = []
            try:
                while chunk := sock.recv(65536):
                    chunks.append(chunk)
            except (TimeoutError, ConnectionResetError):
                pass
        out = b"".join(chunks)
        if not out.startswith(b"HTTP/1.1 "):
            return 0, out
        return int(out[9:12]), out.partition(b"\r\n\r\n")[2]


@dataclass
class Health:
    """Polls ``/healthz`` from its own thread and connection while the fuzz runs."""

    url: str
    interval: float = 0.05
    polls: int = 0
    misses: int = 0
    worst: float = 0.0
    latencies: list[float] = field(default_factory=list)
    slow: int = 0  # polls over 100 ms
    current: GwCase | None = None  # the case in flight, set by the fuzz
    worst_during: GwCase | None = None
    stop: threading.Event = field(default_factory=threading.Event)

    def quantile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0

    def run(self) -> None:
        with httpx.Client(timeout=5) as client:
            while not self.stop.wait(self.interval):
                started = time.perf_counter()
                try:
                    ok = client.get(self.url + "/healthz").status_code == 200
                except httpx.HTTPError:
                    ok = False
                took = time.perf_counter() - started
                self.latencies.append(took)
                self.slow += took > 0.1
                if took > self.worst:
                    self.worst, self.worst_during = took, self.current
                self.polls += 1
                self.misses += not ok


@dataclass
class Gateway:
    url: str
    log: Path
    provider: Any
    procs: list[subprocess.Popen[bytes]]


@contextmanager
def serve(tmp: Path) -> Iterator[Gateway]:
    """The fake github and the gateway as processes, the scripted provider in a thread."""
    from bench.mcp.run import free_port, wait
    from tests.gateway.fakes import FakeProvider, ServerThread

    fake = FakeProvider()
    with ServerThread(fake) as provider:
        gport, wport = free_port(), free_port()
        github, url = f"http://127.0.0.1:{gport}", f"http://127.0.0.1:{wport}"
        cfg = tmp / "gateway.json"
        cfg.write_bytes(orjson.dumps(config(github, provider.url)))
        env = {
            **os.environ,
            "TEST_GITHUB_MCP_KEY": fuzz_mcp.GITHUB_KEY,
            "FUZZ_PROVIDER_KEY": PROVIDER_KEY,
            "PYTHONPATH": str(ROOT),
        }
        log = tmp / "gateway.log"
        with open(log, "wb") as sink:
            procs = [
                subprocess.Popen(
                    [sys.executable, "-m", "tests.mcp.fakegithub", str(gport), fuzz_mcp.GITHUB_KEY],
                    cwd=ROOT,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                ),
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "gateway",
                        "--config",
                        str(cfg),
                        "--port",
                        str(wport),
                        "--store",
                        f"sqlite:{tmp}/gw.sqlite3",
                    ],
                    cwd=ROOT,
                    env=env,
                    stdout=sink,
                    stderr=sink,
                ),
            ]
        try:
            wait(github + "/mcp")
            wait(url + "/healthz")
            yield Gateway(url, log, fake, procs)
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(10)


# ---------------------------------------------------------------- one run


def stage(provider: Any, fault: str) -> None:
    """Tell the scripted provider what to do with the next calls of this case."""
    from tests.gateway.fakes import Step

    provider.scripts.clear()
    if fault == "ok":
        return
    step = (
        Step(break_after=1, chunks=4, content="one two three four")
        if fault == "cut"
        else Step(status=int(fault))
    )
    for model in ("m-main", "m-backup"):
        provider.script(model, step, step)


def exception(log: bytes) -> str | None:
    """The exception line of the first traceback in ``log``, or None when it has none."""
    at = log.find(b"Traceback")
    if at < 0:
        return None
    for line in log[at:].splitlines()[1:]:
        if line and not line[:1].isspace() and not line.startswith(b"Traceback"):
            return line.decode("utf-8", "replace")[:120]
    return "(unfinished)"


def judge(case: GwCase, status: int, body: bytes) -> str | None:
    """Why an answer is a failure (a status for a 5xx), or None."""
    if case.surface == "mcp":
        return fuzz_mcp.problem(status, body)  # its own 502 for a failed MCP server is no fault
    if status < 0:
        return "no answer"
    if PROVIDER_KEY.encode() in body or fuzz_mcp.GITHUB_KEY.encode() in body:
        return "credential shown"
    if status >= 500 and not (case.fault != "ok" and status in (502, 503, 504)):
        return str(status)
    return None


def repro(case: GwCase, limit: int = 400) -> str:
    """One line that says how to send ``case`` again."""
    c = case.case
    if case.wire:
        return f"raw {case.wire[:limit]!r}" + (" …" if len(case.wire) > limit else "")
    body = f"{c.body[:limit]!r}" + (f" … ({len(c.body)} bytes)" if len(c.body) > limit else "")
    return f"{c.http} {c.path} token={c.token} headers={dict(c.headers)} body={body} upstream={case.fault}"


@dataclass
class Report:
    seed: int
    cases: int = 0
    wall: float = 0.0
    by_surface: dict[str, collections.Counter[int]] = field(
        default_factory=lambda: collections.defaultdict(collections.Counter)
    )
    upstream: int = 0  # 5xx answers to a failure the scripted provider was told to stage
    fives: collections.Counter[str] = field(default_factory=collections.Counter)
    tracebacks: collections.Counter[str] = field(default_factory=collections.Counter)
    failures: dict[tuple[str, str], tuple[GwCase, int, bytes]] = field(default_factory=dict)
    failure_counts: collections.Counter[tuple[str, str]] = field(
        default_factory=collections.Counter
    )
    health: Health | None = None

    def fail(self, case: GwCase, why: str, status: int, body: bytes) -> None:
        """Group failures by surface and reason; keep each class's smallest input."""
        if "traceback" in why:
            code = ""  # the exception names the class better than the answer
        else:
            try:
                code = str(orjson.loads(body)["error"]["code"])
            except Exception:  # not a gateway error body: its first words name the class
                code = body[:40].decode("latin-1", "replace")
        key = (case.label(), f"{why} {code}".strip())
        self.failure_counts[key] += 1
        kept = self.failures.get(key)
        if kept is None or len(case.case.body) + len(case.wire) < len(kept[0].case.body) + len(
            kept[0].wire
        ):
            self.failures[key] = (case, status, body[:300])

    def print(self) -> None:
        print(f"{self.cases} cases in {self.wall:.0f} s (seed {self.seed})\n")
        statuses = sorted({s for c in self.by_surface.values() for s in c})
        print(
            f"{'surface':32}{'cases':>7}"
            + "".join(f"{s:>6}" for s in statuses)
            + f"{'5xx':>6}{'tb':>5}"
        )
        for surface in sorted(self.by_surface):
            row = self.by_surface[surface]
            cells = "".join(f"{row.get(s, 0) or '':>6}" for s in statuses)
            print(
                f"{surface:32}{sum(row.values()):>7}{cells}{self.fives[surface] or '':>6}{self.tracebacks[surface] or '':>5}"
            )
        print("(status 0: the gateway closed a request that never completed, without an answer)")
        h = self.health
        if h is not None:
            print(
                f"\n/healthz polled {h.polls} times while fuzzing: {h.misses} missed, latency "
                f"p50 {h.quantile(0.5) * 1000:.1f} ms, p99 {h.quantile(0.99) * 1000:.1f} ms, "
                f"{h.slow} over 100 ms, max {h.worst * 1000:.1f} ms, with this case in flight:"
            )
            if h.worst_during is not None:
                print(f"    {repro(h.worst_during)}")
        print(
            f"5xx caused by the scripted upstream's faults: {self.upstream}; "
            f"5xx not caused upstream: {sum(self.fives.values())}; tracebacks in the gateway's log: {sum(self.tracebacks.values())}"
        )
        if self.failures:
            print(f"\n{len(self.failures)} failing input classes:")
        for key, (case, status, body) in sorted(self.failures.items()):
            print(
                f"- {key[0]}: {key[1]} ({self.failure_counts[key]} cases) -> {status} {body[:160]!r}"
            )
            print(f"    {repro(case)}")


def fuzz(
    n: int, seed_value: int, surfaces: tuple[str, ...] = SURFACES, *, quiet: bool = False
) -> Report:
    """Run ``n`` cases of ``surfaces`` against a fresh gateway and report."""
    report = Report(seed_value)
    with tempfile.TemporaryDirectory() as tmp, serve(Path(tmp)) as gw:
        target = Target(gw.url)
        health = report.health = Health(gw.url)
        poller = threading.Thread(target=health.run, daemon=True)
        poller.start()
        log = gw.log.open("rb")

        @seed(seed_value)
        @settings(
            max_examples=n,
            database=None,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=cases(surfaces))
        def run(case: GwCase) -> None:
            stage(gw.provider, case.fault)
            health.current = case
            if case.wire:
                status, body = target.send_raw(case.wire)
            else:
                status, body = target.send(case.case)
            label = case.label()
            report.by_surface[label][status] += 1
            report.cases += 1
            why = judge(case, status, body)
            report.upstream += case.fault != "ok" and status in (502, 503, 504)
            report.fives[label] += why is not None and why.isdigit()
            raised = exception(log.read())
            if raised is not None:
                report.tracebacks[label] += 1
                why = f"{why or status} + traceback {raised}"
            if why is not None:
                report.fail(case, why, status, body)
            if not quiet and report.cases % 2000 == 0:
                print(
                    f"  {report.cases} cases, {len(report.failures)} failing classes",
                    file=sys.stderr,
                )

        started = time.perf_counter()
        try:
            run()
        finally:
            report.wall = time.perf_counter() - started
            health.stop.set()
            poller.join(10)
            time.sleep(0.2)
            if b"Traceback" in log.read():
                report.tracebacks["(after the last case)"] += 1
            log.close()
    return report


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument(
        "--surface", action="append", choices=SURFACES, help="Only these (repeatable)."
    )
    args = parser.parse_args()
    report = fuzz(args.cases, args.seed, tuple(args.surface or SURFACES))
    report.print()
    h = report.health
    sys.exit(1 if report.failures or (h is not None and h.misses) else 0)


if __name__ == "__main__":
    main()
