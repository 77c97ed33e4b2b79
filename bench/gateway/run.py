"""Gateway benchmark: direct vs bare pass-through vs the governed gateway vs LiteLLM proxy,
against the same mock provider, in one run.

The proxy under test is pinned to core 0; the mock provider and the load
generators (wrk, from Debian, and streams.py) share core 1. Run as root, the
kernel's movable threads are moved off core 0 for the run (see cores.py;
``--no-shield`` leaves them). Figures: p50/p99 latency at one
connection (added latency = proxy − direct), requests/s at 64 connections,
errors, the proxy's RSS after load (with its child processes), and added time
to first token with 1,000 concurrent streams (held open through the gateway while probes through it and
straight to the mock alternate, and opened at once; see streams.py). LiteLLM runs from its own venv when present (see --litellm).

Run: ``.venv/bin/python bench/gateway/run.py [--litellm /tmp/litellm-venv] [--duration 8] [--no-shield]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

from cores import shielded

HERE = Path(__file__).resolve().parent
PY = sys.executable
TOKEN = "bench-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"process exited early: {proc.args}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"port {port} never opened: {proc.args}")


def on_core(core: str, cmd: list[str]) -> list[str]:
    return ["taskset", "-c", core, *cmd] if shutil.which("taskset") else cmd


def start(
    cmd: list[str], port: int, core: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        on_core(core, cmd),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )
    wait_port(port, proc)
    return proc


def lua(tmp: Path, model: str, auth: bool) -> Path:
    path = tmp / f"post-{model}-{auth}.lua"
    body = json.dumps(
        {
            "model": model,
            "messages": [{"role": "user", "content": "Summarise the failing build in one line."}],
            "max_tokens": 64,
        }
    )
    lines = [
        'wrk.method = "POST"',
        f"wrk.body = '{body}'",
        'wrk.headers["Content-Type"] = "application/json"',
        'wrk.headers["x-fleet-run-id"] = "bench-run"',
    ]
    if auth:
        lines.append(f'wrk.headers["Authorization"] = "Bearer {TOKEN}"')
    path.write_text("\n".join(lines) + "\n")
    return path


def unit_ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if not m:
        return float("nan")
    return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]


def wrk(url: str, script: Path, conns: int, duration: int) -> dict[str, float]:
    cmd = ["wrk", "-t1", f"-c{conns}", f"-d{duration}s", "--latency", "-s", str(script), url]
    out = subprocess.run(on_core("1", cmd), capture_output=True, text=True, check=True).stdout
    pct = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.M))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    err = (int(non2xx.group(1)) if non2xx else 0) + (
        sum(int(x) for x in errors.groups()) if errors else 0
    )
    return {
        "p50": unit_ms(pct.get("50", "nan")),
        "p99": unit_ms(pct.get("99", "nan")),
        "rps": rps,
        "errors": err,
    }


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its children together (the gateway's fold process,
    LiteLLM's worker)."""
    total = 0
    for p in [
        pid,
        *[
            int(c)
            for c in subprocess.run(
                ["pgrep", "-P", str(pid)], capture_output=True, text=True
            ).stdout.split()
        ],
    ]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total / 1024


def gateway_config(tmp: Path, mock_url: str, guardrails: bool) -> Path:
    cfg = {
        "fleet": "bench",
        "providers": {"mock": {"base_url": mock_url + "/v1", "timeout_s": 30}},
        "models": {"main": {"targets": [{"provider": "mock", "model": "m-main"}]}},
        "pricing": {"mock/m-main": {"input": 0.25, "output": 2.0}},
        "caching": {"type": "none"},
        "guardrails": {"llm_input": [{"detector": "prompt-injection"}, {"detector": "secrets"}]}
        if guardrails
        else {},
        "loops": {
            "bench-loop": {
                "token_sha256": [hashlib.sha256(TOKEN.encode()).hexdigest()],
                "models": ["main"],
                "owner": "bench",
                "team": "bench",
                "stage": "production",
                "budget": {"limit_usd": 1e9, "window": "day"},
                "rate_limits": {"requests_per_minute": 10**9, "tokens_per_minute": 10**12},
                "harness": {"max_steps": 10**12, "max_tokens_per_run": 10**15},
            }
        },
    }
    path = tmp / f"gateway-{guardrails}.json"
    path.write_text(json.dumps(cfg))
    return path


def gateway_cmd(config: Path, port: str, database: Path) -> list[str]:
    """The gateway with ``config`` on ``port``, its SQLite store at ``database``."""
    return [
        PY,
        "-m",
        "gateway",
        "--config",
        str(config),
        "--port",
        port,
        "--store",
        f"sqlite:{database}",
    ]


def litellm_config(tmp: Path, mock_url: str) -> Path:
    path = tmp / "litellm.yaml"
    path.write_text(
        f"model_list:\n  - model_name: main\n    litellm_params:\n      model: openai/m-main\n      api_base: {mock_url}/v1\n      api_key: sk-mock\n"
    )
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument(
        "--litellm",
        default="/tmp/litellm-venv",
        help="venv with litellm[proxy]==1.102.4 (skipped if absent)",
    )
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument(
        "--no-shield",
        dest="shield",
        action="store_false",
        help="leave the kernel's movable threads on the proxy's core (see cores.py)",
    )
    parser.add_argument(
        "--only", default="", help="comma-separated row names to run (direct always runs)"
    )
    args = parser.parse_args()
    # A TERM ends the run through the finally blocks: the shielded kernel threads go back.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install wrk")
    shield_cm = shielded(0) if args.shield else nullcontext("not shielded (--no-shield)")
    with shield_cm as shield, tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        mock_port = free_port()
        mock = start([PY, str(HERE / "mock.py"), str(mock_port)], mock_port, "1")
        mock_url = f"http://127.0.0.1:{mock_port}"
        procs = [mock]
        rows: list[tuple[str, dict[str, float]]] = []
        ttft: dict[str, dict[str, dict[str, float]]] = {}
        try:
            targets: list[tuple[str, list[str] | None, dict[str, str], bool]] = [
                ("direct (mock)", None, {}, False)
            ]
            targets.append(
                (
                    "bare pass-through (floor)",
                    [PY, str(HERE / "passthrough.py"), "{port}", mock_url],
                    {},
                    False,
                )
            )
            targets.append(
                (
                    "fleet gateway, full policy",
                    gateway_cmd(gateway_config(tmp, mock_url, False), "{port}", tmp / "gw.sqlite3"),
                    {},
                    True,
                )
            )
            targets.append(
                (
                    "fleet gateway, + input guardrails",
                    gateway_cmd(gateway_config(tmp, mock_url, True), "{port}", tmp / "gw2.sqlite3"),
                    {},
                    True,
                )
            )
            litellm_bin = Path(args.litellm) / "bin" / "litellm"
            if litellm_bin.exists():
                targets.append(
                    (
                        "LiteLLM proxy 1.102.4",
                        [
                            str(litellm_bin),
                            "--config",
                            str(litellm_config(tmp, mock_url)),
                            "--port",
                            "{port}",
                            "--num_workers",
                            "1",
                        ],
                        {"LITELLM_OFFLINE_MODE": "true", "LITELLM_LOG": "ERROR"},
                        False,
                    )
                )
            if args.only:
                wanted = {w.strip() for w in args.only.split(",")}
                targets = [
                    t for t in targets if t[0] == "direct (mock)" or any(w in t[0] for w in wanted)
                ]
            for name, cmd, env, auth in targets:
                port = mock_port
                proc = None
                if cmd is not None:
                    port = free_port()
                    proc = start([c.replace("{port}", str(port)) for c in cmd], port, "0", env)
                    procs.append(proc)
                url = f"http://127.0.0.1:{port}/v1/chat/completions"
                script = lua(tmp, "main", auth)
                wrk(url, script, 4, 2)  # warm up
                single = wrk(url, script, 1, args.duration)
                loaded = wrk(url, script, 64, args.duration)
                rows.append(
                    (
                        name,
                        {
                            "p50": single["p50"],
                            "p99": single["p99"],
                            "rps": loaded["rps"],
                            "errors": loaded["errors"] + single["errors"],
                            "rss": rss_mb(proc.pid) if proc else float("nan"),
                        },
                    )
                )
                if name == "fleet gateway, full policy":
                    res = subprocess.run(
                        on_core(
                            "1",
                            [
                                PY,
                                str(HERE / "streams.py"),
                                url,
                                f"{mock_url}/v1/chat/completions",
                                str(args.streams),
                                TOKEN,
                            ],
                        ),
                        capture_output=True,
                        text=True,
                    )
                    if res.returncode:
                        raise SystemExit(
                            f"streams.py failed: {res.stderr.strip().splitlines()[-1:]}"
                        )
                    ttft = json.loads(res.stdout)
                if proc is not None:
                    proc.terminate()
                    proc.wait(timeout=20)
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
        direct = rows[0][1]
        print(
            f"{'target':<36} {'p50 ms':>8} {'p99 ms':>8} {'+p50 ms':>8} {'+p99 ms':>8} {'req/s @64':>10} {'errors':>7} {'RSS MB':>7}"
        )
        for name, r in rows:
            print(
                f"{name:<36} {r['p50']:8.3f} {r['p99']:8.3f} {r['p50'] - direct['p50']:8.3f} {r['p99'] - direct['p99']:8.3f} {r['rps']:10.0f} {r['errors']:7.0f} {r['rss']:7.1f}"
            )
        print(f"({shield})")
        by = dict(rows)
        if "fleet gateway, full policy" not in by:
            return  # the targets are the full-policy row's
        ours = by["fleet gateway, full policy"]
        floor = by.get("bare pass-through (floor)", ours)
        print()
        print(
            f"targets: added p50 ≤ 0.5 ms → {ours['p50'] - direct['p50']:.3f} ms; added p99 ≤ 1.5 ms → {ours['p99'] - direct['p99']:.3f} ms"
        )
        print(
            f"         ≥ 5,000 req/s on one core, zero errors → {ours['rps']:.0f} req/s, {ours['errors']:.0f} errors; RSS ≤ 100 MB → {ours['rss']:.1f} MB"
        )
        if floor is not ours:
            print(
                f"         share of the pass-through floor kept: {ours['rps'] / floor['rps'] * 100:.0f}% of its req/s"
            )
        if "LiteLLM proxy 1.102.4" in by:
            lite = by["LiteLLM proxy 1.102.4"]
            print(
                f"         vs LiteLLM: {ours['rps'] / lite['rps']:.1f}x its req/s (target ≥ 20x); added p50 {ours['p50'] - direct['p50']:.3f} vs {lite['p50'] - direct['p50']:.3f} ms ({(ours['p50'] - direct['p50']) / max(lite['p50'] - direct['p50'], 1e-9):.2f} of it, target ≤ 0.10)"
            )
        if ttft:
            for mode, what in (
                ("held", f"while {args.streams} streams stay open (probes alternate)"),
                ("burst", f"{args.streams} streams opened at once"),
            ):
                dm, gm = ttft[mode]["direct"], ttft[mode]["gateway"]
                print(
                    f"         streaming TTFT p99, {what}: direct {dm['p99']:.2f} ms, gateway {gm['p99']:.2f} ms → added {gm['p99'] - dm['p99']:.2f} ms (p50 +{gm['p50'] - dm['p50']:.2f}; target ≤ 1 ms)"
                )
            steal = ttft["held"].get("steal_ms", {})
            if steal:
                print(
                    "         time the hypervisor took the cores during the held probes: "
                    + ", ".join(f"{cpu} {ms:.0f} ms" for cpu, ms in steal.items())
                )
            failed = {k: v for k, v in ttft["failed"].items() if v["n"]}
            print(
                "         streams that failed: "
                + (
                    "; ".join(f"{k} {v['n']} ({', '.join(v['first'])})" for k, v in failed.items())
                    or "none"
                )
            )


if __name__ == "__main__":
    main()
