"""Benchmark: ``POST /v1/fleet/health`` over bench/lifecycle.py's store (1,000 loops, 30 days,
~200,000 run records and their call traces), before and after the endpoint read the store's
sums: the gateway process's CPU for one request, and the gateway's chat p50 while a health
request runs, against its chat p50 with none.

The operator calls the endpoint once a minute per fleet, in the process that serves model
calls, so both figures matter. Each side is a real gateway process (``python -m gateway``
over loopback) started from its own tree, taken from git (``--base``, default the commit
before the endpoint read sums, and ``--ref``, default HEAD), on a copy of the same store.
The model provider is the tests' scripted one (tests/gateway/fakes.py) in this process:
its answers are canned, what is timed is the gateway's path. The request body is the
fleet's compiled FleetPolicy and AgentLoop specs, as the operator sends them. CPU is the
gateway process's and its checks' child's (user + system, from /proc), the median of ``--runs`` requests,
printed with the load average; chat latency is wall time at the client (the OpenAI client).

Run: ``.venv/bin/python bench/health.py [--runs 3] [--keep DIR]`` (DIR keeps the fleet and
the store between runs).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from lifecycle import fill_store, make_fleet  # noqa: E402

BASE = "90e36e4^"
"""The endpoint as it was: every record of 14 days decoded, then checked."""
OPERATOR = "tok-operator"
CHATS = 60


def load() -> str:
    return f"load {os.getloadavg()[0]:.2f}"


def tree(repo: Path, ref: str, into: Path) -> Path:
    """The product's files at ``ref`` (the gateway runs from them)."""
    if into.exists():
        shutil.rmtree(into)
    into.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(repo), "archive", ref], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def cpu_of(pid: int) -> float:
    """CPU seconds of ``pid`` and of the children it has waited for (the health checks'
    child process; the fold process runs on and is not counted)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def body(fleet: Path) -> bytes:
    from fleet.compile import compile_fleet
    from fleet.source import DirSource

    compiled = compile_fleet(DirSource(fleet), lock=False)
    loops = {cr["metadata"]["name"]: {"spec": cr["spec"]} for cr in compiled.loops}
    return orjson.dumps({"policy": compiled.policy["spec"], "loops": loops})


def chat_p50(url: str, n: int) -> float:
    from openai import OpenAI

    from tests.mcp.conftest import TOKENS

    client = OpenAI(base_url=url + "/v1", api_key=TOKENS["triage"], max_retries=0)
    took = []
    for _ in range(n):
        start = time.perf_counter()
        client.chat.completions.create(
            model="main", messages=[{"role": "user", "content": "triage the new issues"}]
        )
        took.append(time.perf_counter() - start)
    return statistics.median(took) * 1000


def side(name: str, root: Path, store: Path, request: bytes, runs: int) -> None:
    from bench.fuzz_gateway import config
    from bench.mcp.run import free_port, wait
    from tests.gateway.fakes import FakeProvider, ServerThread

    work = Path(tempfile.mkdtemp(prefix=f"fleet-health-{name}-"))
    shutil.copy(store, work / "gw.sqlite3")
    with ServerThread(FakeProvider()) as provider:
        gport, wport = free_port(), free_port()
        url = f"http://127.0.0.1:{wport}"
        cfg = work / "gateway.json"
        cfg.write_bytes(orjson.dumps(config(f"http://127.0.0.1:{gport}", provider.url)))
        env = {**os.environ, "FUZZ_PROVIDER_KEY": "sk-bench", "PYTHONPATH": str(root)}
        log = open(work / "gateway.log", "wb")  # noqa: SIM115 (closed below)
        gw = subprocess.Popen(
            [sys.executable, "-m", "gateway", "--config", str(cfg), "--port", str(wport),
             "--store", f"sqlite:{work}/gw.sqlite3"],
            cwd=root, env=env, stdout=log, stderr=log,
        )  # fmt: skip
        try:
            wait(url + "/healthz")
            headers = {"authorization": f"Bearer {OPERATOR}", "content-type": "application/json"}
            with httpx.Client(timeout=600) as http:

                def health() -> tuple[float, float]:
                    before, start = cpu_of(gw.pid), time.perf_counter()
                    r = http.post(url + "/v1/fleet/health", content=request, headers=headers)
                    assert r.status_code == 200, r.text[:300]
                    return cpu_of(gw.pid) - before, time.perf_counter() - start

                chat_p50(url, 5)  # warm: the first call's imports and connections
                health()
                cpus, walls = zip(*(health() for _ in range(runs)), strict=True)
                idle = chat_p50(url, CHATS)
                busy: list[float] = []
                answered = threading.Event()

                def during() -> None:
                    while not answered.is_set():
                        busy.append(chat_p50(url, 1))

                chatter = threading.Thread(target=during)
                chatter.start()
                time.sleep(0.2)
                health()
                answered.set()
                chatter.join()
            print(
                f"{name}: health request {statistics.median(cpus):.2f} s gateway CPU, "
                f"{statistics.median(walls):.2f} s wall (median of {runs}, {load()}); chat p50 "
                f"{idle:.1f} ms idle, {statistics.median(busy):.1f} ms while a health request "
                f"runs (max {max(busy):.1f} ms over {len(busy)} calls, {load()})"
            )
        finally:
            gw.terminate()
            gw.wait(10)
            log.close()
            shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="build the fleet and store here, and keep them")
    parser.add_argument("--base", default=BASE, help="the tree before (a git ref)")
    parser.add_argument("--ref", default="HEAD", help="the tree after (a git ref)")
    parser.add_argument("--repo", type=Path, default=ROOT, help="the git repository")
    opts = parser.parse_args()
    work = opts.keep or Path(tempfile.mkdtemp(prefix="fleet-health-"))
    work.mkdir(parents=True, exist_ok=True)
    fleet, store = work / "fleet", work / "gateway.sqlite3"
    if not store.exists():
        make_fleet(fleet)
        n_runs, n_traces = fill_store(store, time.time())
        print(f"1000 loops, 30 days: {n_runs:,} run records, {n_traces:,} call traces")
    request = body(fleet)
    print(f"request: {len(request) / 1e6:.1f} MB of definitions for 1000 loops")
    trees = Path(tempfile.mkdtemp(prefix="fleet-health-trees-"))
    try:
        for name, ref in (("before", opts.base), ("after", opts.ref)):
            side(f"{name} ({ref})", tree(opts.repo, ref, trees / name), store, request, opts.runs)
    finally:
        shutil.rmtree(trees, ignore_errors=True)


if __name__ == "__main__":
    main()
