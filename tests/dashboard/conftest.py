"""A real store filled by a real run, and the dashboard served over it.

The northwind demo's story, once per module: the fake GitHub MCP server on loopback,
``fleetctl run bug-report-triage`` with the demo's replayed transcript (the real
harness through the real embedded gateway) pausing on ``merge_pr`` for a human, and
``fleetctl dashboard --local HOME`` serving that home's store in a process of its own.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FLEET = ROOT / "examples/northwind"
DEMO = FLEET / "demo"
FLEETCTL = str(Path(sys.executable).with_name("fleetctl"))
LOOP = "bug-report-triage"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"exited {proc.returncode}: {log.read_text()}") from None
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}: {log.read_text()}")


@dataclass
class Demo:
    home: Path
    run: str
    denied_run: str
    url: str
    approver: str
    loop_token: str
    viewer: str
    artifacts: Path
    run_cmd: list[str]
    env: dict[str, str]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    base = tmp_path_factory.mktemp("dashboard")
    home = base / "home"
    home.mkdir()
    env = {
        **os.environ,
        "MCP_GITHUB_API_KEY": "demo-not-a-real-key",
        "MCP_LINEAR_API_KEY": "demo-not-a-real-key",
    }
    procs: list[subprocess.Popen[bytes]] = []
    try:
        gh_port = free_port()
        gh_log = base / "github.log"
        procs.append(
            subprocess.Popen(
                [sys.executable, str(DEMO / "github_mcp.py"), str(gh_port), str(base / "executed.jsonl")],
                stdout=subprocess.DEVNULL, stderr=gh_log.open("wb"), env=env,
            )
        )  # fmt: skip
        wait_port(gh_port, procs[0], gh_log)
        run_cmd = [
            FLEETCTL, "run", str(FLEET), LOOP,
            "--provider", f"replay:{DEMO / 'bug-report-triage.replay.yaml'}",
            "--mcp", f"github=http://127.0.0.1:{gh_port}/mcp",
            "--mcp", f"linear=http://127.0.0.1:{gh_port}/no-linear-here",
            "--home", str(home), "--output", "json",
        ]  # fmt: skip
        done = subprocess.run(run_cmd, capture_output=True, text=True, env=env, timeout=120)
        result = json.loads(done.stdout)
        assert result["outcome"] == "awaiting_approval", done.stderr
        # a second run of the same story: its merge is the one an approver denies
        again = subprocess.run(run_cmd, capture_output=True, text=True, env=env, timeout=120)
        second = json.loads(again.stdout)
        assert second["outcome"] == "awaiting_approval", again.stderr
        tokens = json.loads((home / "tokens.json").read_text())
        viewer = "viewer-token-for-the-dashboard-tests"
        import hashlib

        viewers = base / "viewers.json"
        viewers.write_text(json.dumps({"vic": [hashlib.sha256(viewer.encode()).hexdigest()]}))
        port = free_port()
        dash_log = base / "dashboard.log"
        procs.append(
            subprocess.Popen(
                [FLEETCTL, "dashboard", "--fleet", str(FLEET), "--local", str(home),
                 "--viewers", str(viewers), "--port", str(port), "--refresh", "0"],
                stdout=subprocess.DEVNULL, stderr=dash_log.open("wb"), env=env,
            )
        )  # fmt: skip
        wait_port(port, procs[1], dash_log)
        # CI may collect the screenshots from a directory of its choosing
        artifacts = Path(os.environ.get("DASHBOARD_ARTIFACTS") or base / "screenshots")
        artifacts.mkdir(parents=True, exist_ok=True)
        yield Demo(
            home=home,
            run=result["run"],
            denied_run=second["run"],
            url=f"http://127.0.0.1:{port}",
            approver=tokens["approver:local"],
            loop_token=tokens[LOOP],
            viewer=viewer,
            artifacts=artifacts,
            run_cmd=[FLEETCTL, "run", str(FLEET), LOOP, "--resume", result["run"],
                     "--home", str(home), "--output", "json"],
            env=env,
        )  # fmt: skip
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
