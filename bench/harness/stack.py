"""The harness bench's stack: the gateway, the scripted provider and the fake github MCP
server, each a process of its own on loopback, laid out as ``tests/harness/conftest.py`` lays
out the tests' stack (its gateway config, definition and pod content are reused), plus a
redis-server when a part compares stores.

Core placement on a 2-core machine: the services share core 1, the harness (the bench's
own process, and every ``fleet-harness`` process it spawns) core 0. ``--no-pin`` leaves
the scheduler to it.
"""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.harness.script import LOOP
from tests.harness.conftest import GITHUB_KEY, TOKENS, definition, gateway_config, write_content

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
TOKEN = TOKENS[LOOP]
HARNESS_CORE = "0"
SERVICE_CORE = "1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"process exited early ({proc.returncode}): {proc.args!r}")
        try:
            httpx.get(url, timeout=0.5)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listening at {url}: {proc.args!r}")


def cpu_s(pid: int) -> float:
    """CPU time (user + system, every thread) of process ``pid``, in seconds, to the
    nanosecond: the process's CPU clock (``clock_getcpuclockid``), the same account as
    ``/proc/<pid>/stat``'s utime + stime without its 10 ms ticks."""
    return time.clock_gettime_ns(((~pid) << 3) | 2) / 1e9


def tree_cpu_s(pid: int) -> float:
    """CPU time of ``pid`` and its living descendants (the gateway's fold process)."""
    total = 0.0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            total += cpu_s(p)
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return total


def waited_s(pid: int | None = None) -> float:
    """Time the threads of ``pid`` (None: this process) spent runnable, waiting for a CPU
    (``/proc/<pid>/task/*/schedstat``, second field): what a loaded machine adds to a wall
    time, apart from the work itself."""
    total = 0
    for task in Path(f"/proc/{pid or 'self'}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total / 1e9


def load() -> str:
    """The machine's load, for the record: load average and CPU pressure."""
    avg = Path("/proc/loadavg").read_text().split()[:3]
    try:
        some = Path("/proc/pressure/cpu").read_text().split()[1].split("=")[1]
        pressure = f", CPU pressure {some}% (avg10)"
    except (OSError, IndexError):
        pressure = ""
    return f"load average {' '.join(avg)} on {os.cpu_count()} cores{pressure}"


def stat_cpu_s(pid: int) -> float:
    """utime + stime from ``/proc/<pid>/stat`` (clock ticks), to cross-check :func:`cpu_s`."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def spread(values: Sequence[float]) -> tuple[float, float, float]:
    return min(values), statistics.median(values), max(values)


@dataclass
class Stack:
    tmp: Path
    pin: bool = True
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    gateways: dict[str, str] = field(default_factory=dict)
    """store kind → gateway URL."""
    pids: dict[str, int] = field(default_factory=dict)
    """service (``gateway-sqlite``, ``redis``, ``provider``, ``github``) → pid."""
    provider: str = ""
    github: str = ""
    record: Path = Path()
    redis_url: str = ""
    _contents: int = 0

    def on_core(self, core: str, cmd: list[str]) -> list[str]:
        return ["taskset", "-c", core, *cmd] if self.pin and shutil.which("taskset") else cmd

    def popen(self, cmd: list[str], core: str, **kw: Any) -> subprocess.Popen[bytes]:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "TEST_GITHUB_MCP_KEY": GITHUB_KEY}
        proc = subprocess.Popen(
            self.on_core(core, cmd),
            cwd=ROOT,
            env={**env, **kw.pop("env", {})},
            stdout=kw.pop("stdout", subprocess.DEVNULL),
            stderr=kw.pop("stderr", subprocess.DEVNULL),
            **kw,
        )
        return proc

    def start(self) -> Stack:
        if self.pin:
            os.sched_setaffinity(0, {int(HARNESS_CORE)})
        pport, gport = free_port(), free_port()
        self.record = self.tmp / "executed.jsonl"
        self.record.touch()
        provider = self.popen([PY, "-m", "bench.harness.provider", str(pport)], SERVICE_CORE)
        github = self.popen(
            [PY, "-m", "tests.mcp.fakegithub", str(gport), GITHUB_KEY, str(self.record)],
            SERVICE_CORE,
        )
        self.procs += [provider, github]
        self.pids.update(provider=provider.pid, github=github.pid)
        self.provider, self.github = f"http://127.0.0.1:{pport}", f"http://127.0.0.1:{gport}"
        wait_http(self.provider + "/", provider)
        wait_http(self.github + "/mcp", github)
        return self

    def gateway(self, store: str = "sqlite") -> str:
        """The gateway on ``store`` (``sqlite``, default synchronous mode, or ``redis``),
        started once."""
        if store in self.gateways:
            return self.gateways[store]
        config = self.tmp / "gateway.json"
        config.write_bytes(orjson.dumps(gateway_config(self.provider, self.github)))
        url = (
            f"sqlite:{self.tmp / f'gw-{len(self.gateways)}.sqlite3'}"
            if store == "sqlite"
            else self.redis()
        )
        port = free_port()
        cmd = [PY, "-m", "gateway", "--config", str(config), "--port", str(port), "--store", url]
        proc = self.popen(cmd, SERVICE_CORE)
        self.procs.append(proc)
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/healthz", proc)
        self.gateways[store] = base
        self.pids[f"gateway-{store}"] = proc.pid
        return base

    def redis(self) -> str:
        if self.redis_url:
            return self.redis_url
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("redis-server is needed: make redis")
        port = free_port()
        work = self.tmp / "redis"
        work.mkdir()
        # As tests/gateway/conftest.py starts it: AOF on (fsync every second), no snapshots.
        cmd = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        cmd += ["--appendonly", "yes", "--dir", str(work)]
        proc = self.popen(cmd, SERVICE_CORE)
        self.procs.append(proc)
        self.pids["redis"] = proc.pid
        deadline = time.time() + 10
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.time() > deadline:
                raise SystemExit("redis-server did not start")
            time.sleep(0.05)
        self.redis_url = f"redis://127.0.0.1:{port}/0"
        return self.redis_url

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()

    # ------------------------------------------------------------------ runs

    def content(self, *, checker: bool = True, max_steps: int = 200) -> Path:
        """A pod's content root for the tests' definition, with bounds the scripts fit in."""
        self._contents += 1
        spec: dict[str, Any] = {
            "harness": {"maxSteps": max_steps, "maxTokensPerRun": 10**9, "stallAfterSteps": 8}
        }
        if not checker:
            spec["done"] = {}
        return write_content(self.tmp / f"etc-{self._contents}", definition(**spec))

    def env(
        self, gateway: str, run_id: str, path: Path, label: str, **extra: str
    ) -> dict[str, str]:
        return {
            "FLEET_GATEWAY_URL": gateway,
            "FLEET_GATEWAY_TOKEN": TOKEN,
            "FLEET_LOOP": LOOP,
            "FLEET_RUN_ID": run_id,
            "FLEET_DEFINITION": str(path),
            "FLEET_CONTENT_DIR": str(path.parent.parent),
            "FLEET_WORKSPACE": str(self.tmp / "ws" / run_id),
            "FLEET_TRIGGER": "manual",
            "FLEET_INPUT": orjson.dumps({"tag": label}).decode(),
            **extra,
        }

    def spawn(
        self,
        gateway: str,
        run_id: str,
        path: Path,
        label: str,
        *,
        resume: bool = False,
        **extra: str,
    ) -> subprocess.Popen[bytes]:
        """``python -m harness run --definition … --events jsonl`` as the pod runs it."""
        cmd = [PY, "-m", "harness", "run", "--definition", str(path), "--events", "jsonl"]
        if resume:
            cmd += ["--resume", run_id]
        env = self.env(gateway, run_id, path, label, **extra)
        return self.popen(
            cmd, HARNESS_CORE, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )

    def settings(self, gateway: str, run_id: str, path: Path, label: str) -> Any:
        from harness import settings

        return settings.load(str(path), None, self.env(gateway, run_id, path, label))

    def read(self, gateway: str, run_id: str, after: int = 0) -> dict[str, Any]:
        r = httpx.get(
            f"{gateway}/v1/fleet/runs/{run_id}" + (f"?after={after}" if after else ""),
            headers={"authorization": f"Bearer {TOKEN}"},
            timeout=30,
        )
        r.raise_for_status()
        data: dict[str, Any] = r.json()
        return data

    def executed(self) -> list[dict[str, Any]]:
        return [orjson.loads(line) for line in self.record.read_bytes().splitlines() if line]
