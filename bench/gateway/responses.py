"""``/v1/responses`` beside ``/v1/chat/completions`` through one gateway, in one run.

The Responses endpoint runs the chat policy and translates the request and
the answer on the way (the provider speaks chat completions), so what it may
cost is the translation: the target is "no more than chat completions adds",
added p50 ≤ 0.5 ms over the provider and ≥ 5,000 req/s on one core, full
policy. One gateway (full policy, as in run.py) serves both endpoints; the
mock provider and wrk share the other core. The two endpoints are measured in
alternating rounds so a change in the machine's load falls on both, and each
figure is printed with the 1-minute load average at its end and the gateway's
CPU time per request (user + system of the gateway and its children, from
/proc: less disturbed by other work on the machine than wall time), less the
CPU the gateway spends idle in as long (measured before the rounds).

The round-by-round difference of the two CPU figures is printed too: the two
endpoints of a round share its load, so it moves less than the medians do.

Run: ``.venv/bin/python bench/gateway/responses.py [--duration 6] [--rounds 3] [--no-shield]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

from cores import shielded
from run import HERE, PY, TOKEN, free_port, gateway_cmd, gateway_config, lua, start, wrk

PROMPT = "Summarise the failing build in one line."
TICK = os.sysconf("SC_CLK_TCK")


def responses_lua(tmp: Path) -> Path:
    path = tmp / "post-responses.lua"
    body = json.dumps({"model": "main", "input": PROMPT, "max_output_tokens": 64})
    path.write_text(
        "\n".join(
            [
                'wrk.method = "POST"',
                f"wrk.body = '{body}'",
                'wrk.headers["Content-Type"] = "application/json"',
                'wrk.headers["x-fleet-run-id"] = "bench-run"',
                f'wrk.headers["Authorization"] = "Bearer {TOKEN}"',
            ]
        )
        + "\n"
    )
    return path


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its children so far."""
    kids = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    total = 0
    for p in [pid, *(int(c) for c in kids.split())]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICK


def idle_cpu(pid: int, seconds: float = 4.0) -> float:
    """CPU seconds per second the gateway spends with no request (its store's checkpoints,
    the fold process): taken off each round's CPU, since at a lower req/s the same idle
    work would otherwise weigh more on each request than at a higher one."""
    before = cpu_s(pid)
    time.sleep(seconds)
    return (cpu_s(pid) - before) / seconds


def load() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def translation_us(n: int = 20000) -> dict[str, float]:
    """CPU microseconds the translation itself takes, in this process: a request checked
    and rewritten as chat, a whole answer rewritten as a Response, and an 8-chunk chat
    stream rewritten as Responses events (the shapes mock.py answers with)."""
    import asyncio

    import orjson

    sys.path.insert(0, str(HERE.parents[1]))
    from gateway.responses.reply import from_completion
    from gateway.responses.request import check
    from gateway.responses.stream import EventStream

    raw = orjson.dumps({"model": "main", "input": PROMPT, "max_output_tokens": 64})
    answer = {
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 2, "total_tokens": 14},
    }
    chunk = b'data: {"choices":[{"index":0,"delta":{"content":"tok "},"finish_reason":null}]}\n\n'
    tail = b'data: {"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":8},"fleet":{"cost_usd":1e-05}}\n\ndata: [DONE]\n\n'
    out: dict[str, float] = {}
    t = time.process_time()
    for _ in range(n):
        req = check(orjson.loads(raw), raw)
    out["request"] = (time.process_time() - t) / n * 1e6
    t = time.process_time()
    for _ in range(n):
        orjson.dumps(from_completion(answer, "main", req.echo, 1e-05))
    out["answer"] = (time.process_time() - t) / n * 1e6

    async def sink(message: dict[str, object]) -> None:
        return None

    async def streams() -> None:
        start = {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/event-stream")],
        }
        for _ in range(n // 10):
            es = EventStream(sink, "main", req.echo)
            await es(start)
            for _ in range(8):
                await es({"type": "http.response.body", "body": chunk, "more_body": True})
            await es({"type": "http.response.body", "body": tail, "more_body": False})

    t = time.process_time()
    asyncio.run(streams())
    out["stream"] = (time.process_time() - t) / (n // 10) * 1e6
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-shield", dest="shield", action="store_false")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install wrk")
    shield_cm = shielded(0) if args.shield else nullcontext("not shielded (--no-shield)")
    rows: dict[str, list[dict[str, float]]] = {"direct": [], "chat": [], "responses": []}
    with shield_cm as shield, tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        mock_port = free_port()
        mock = start([PY, str(HERE / "mock.py"), str(mock_port)], mock_port, "1")
        port = free_port()
        cmd = gateway_cmd(
            gateway_config(tmp, f"http://127.0.0.1:{mock_port}", False),
            str(port),
            tmp / "gw.sqlite3",
        )
        gw = start(cmd, port, "0")
        try:
            plans = {
                "direct": (
                    f"http://127.0.0.1:{mock_port}/v1/chat/completions",
                    lua(tmp, "main", False),
                ),
                "chat": (f"http://127.0.0.1:{port}/v1/chat/completions", lua(tmp, "main", True)),
                "responses": (f"http://127.0.0.1:{port}/v1/responses", responses_lua(tmp)),
            }
            for url, script in plans.values():
                wrk(url, script, 4, 2)  # warm up every path
            idle = idle_cpu(gw.pid)
            for _ in range(args.rounds):
                for name, (url, script) in plans.items():
                    single = wrk(url, script, 1, args.duration)
                    before = cpu_s(gw.pid)
                    loaded = wrk(url, script, 64, args.duration)
                    used = cpu_s(gw.pid) - before - idle * args.duration
                    served = loaded["rps"] * args.duration
                    rows[name].append(
                        {
                            "p50": single["p50"],
                            "p99": single["p99"],
                            "rps": loaded["rps"],
                            "errors": single["errors"] + loaded["errors"],
                            "cpu_ms": used * 1000 / served
                            if name != "direct" and served
                            else float("nan"),
                            "load": load(),
                        }
                    )
        finally:
            for p in (gw, mock):
                if p.poll() is None:
                    p.terminate()
                    p.wait(timeout=20)
    med = {
        name: {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        for name, runs in rows.items()
    }
    direct = med["direct"]
    print(
        f"{'target':<28} {'p50 ms':>7} {'p99 ms':>7} {'+p50 ms':>8} {'req/s @64':>10} {'errors':>7} {'CPU ms/req':>10} {'load 1m':>8}"
    )
    for name, runs in rows.items():
        for i, r in enumerate(runs):
            print(
                f"{name + f' (round {i + 1})':<28} {r['p50']:7.3f} {r['p99']:7.3f} {r['p50'] - direct['p50']:8.3f} "
                f"{r['rps']:10.0f} {r['errors']:7.0f} {r['cpu_ms']:10.3f} {r['load']:8.2f}"
            )
    print(
        f"({shield}; CPU ms/req without the gateway's idle {idle * 1000:.1f} ms/s; "
        f"medians of {args.rounds} alternating rounds of {args.duration} s below)"
    )
    for name in ("chat", "responses"):
        m = med[name]
        print(
            f"{name:<10} median: added p50 {m['p50'] - direct['p50']:.3f} ms, {m['rps']:.0f} req/s, "
            f"{m['cpu_ms']:.3f} CPU ms/req, load {m['load']:.2f}"
        )
    chat, resp = med["chat"], med["responses"]
    # Each round's two endpoints ran back to back under about the same load: their difference
    # is steadier than the difference of the two medians when the machine's load moves.
    paired = [
        r["cpu_ms"] - c["cpu_ms"] for c, r in zip(rows["chat"], rows["responses"], strict=True)
    ]
    print(
        f"responses - chat, CPU per request, round by round: "
        f"{', '.join(f'{d * 1000:+.1f}' for d in paired)} us "
        f"(median {statistics.median(paired) * 1000:+.1f} us, "
        f"{statistics.median(paired) / chat['cpu_ms'] * 100:+.0f}% of chat's)"
    )
    print()
    print(
        f"targets: /v1/responses added p50 ≤ 0.5 ms → {resp['p50'] - direct['p50']:.3f} ms; "
        f"≥ 5,000 req/s on one core → {resp['rps']:.0f} req/s, {sum(r['errors'] for r in rows['responses']):.0f} errors"
    )
    print(
        f"         beside chat: +{resp['p50'] - chat['p50']:.3f} ms p50, {resp['rps'] / chat['rps'] * 100:.0f}% of its req/s, "
        f"+{resp['cpu_ms'] - chat['cpu_ms']:.3f} CPU ms per request (translation both ways)"
    )
    us = translation_us()
    print(
        f"         the translation alone (CPU, in-process, load {load():.2f}): request {us['request']:.1f} us, "
        f"whole answer {us['answer']:.1f} us, an 8-chunk stream {us['stream']:.1f} us"
    )


if __name__ == "__main__":
    main()
