"""A stand-in for ``fleet-harness run`` that exercises the contract ``fleetctl run`` keeps:
the pod's environment and files, one model call through the gateway, the events.

    python tests/local/fakeharness.py run --definition FILE --events jsonl [--resume RUN]

It writes what it was given to ``$FAKE_HARNESS_DUMP`` (JSON), makes one chat
completion through ``$FLEET_GATEWAY_URL`` with the loop's token (``user`` = the
loop, so a replay picks the track), and ends with ``$FAKE_OUTCOME`` (default
``done``); with ``$FAKE_NO_CALL`` set it makes no call at all.
"""

from __future__ import annotations

import json
import os
import sys

import httpx


def main() -> int:
    args = sys.argv[1:]
    assert args[0] == "run", args
    definition = args[args.index("--definition") + 1]
    resume = args[args.index("--resume") + 1] if "--resume" in args else None
    env = {k: v for k, v in os.environ.items() if k.startswith("FLEET_")}
    with open(definition) as fh:
        doc = json.load(fh)
    run = env["FLEET_RUN_ID"]
    loop = env["FLEET_LOOP"]
    print(
        json.dumps(
            {"event": "start", "run": run, "loop": loop, "attempt": 1, "resumed": bool(resume)}
        )
    )
    if os.environ.get("FAKE_NO_CALL"):
        print(json.dumps({"event": "end", "run": run, "outcome": "done", "steps": 0, "tokens": 0}))
        return 0
    r = httpx.post(
        env["FLEET_GATEWAY_URL"] + "/v1/chat/completions",
        headers={
            "authorization": f"Bearer {env['FLEET_GATEWAY_TOKEN']}",
            "x-fleet-run-id": run,
            "x-fleet-step": "1",
        },
        json={
            "model": doc["spec"]["model"],
            "messages": [{"role": "user", "content": "go"}],
            "tools": [
                {
                    "type": "function",
                    "function": {"name": "finish", "parameters": {"type": "object"}},
                }
            ],
            "user": loop,
        },
        timeout=30,
    )
    reply = r.json()
    dump = os.environ.get("FAKE_HARNESS_DUMP")
    if dump:
        with open(dump, "w") as fh:
            json.dump({"argv": args, "env": env, "status": r.status_code, "reply": reply}, fh)
    if r.status_code != 200:
        print(f"model call failed: {r.status_code} {reply}", file=sys.stderr)
        return 1
    usage = reply.get("usage") or {}
    tokens = int(usage.get("total_tokens") or 0)
    cost = float(r.headers.get("x-fleet-cost-usd") or 0)
    calls = [c["function"]["name"] for c in reply["choices"][0]["message"].get("tool_calls") or []]
    print(
        json.dumps(
            {
                "event": "step",
                "step": 1,
                "member": loop,
                "scope": "main",
                "tokens": tokens,
                "cost_usd": cost,
                "tool_calls": calls,
            }
        )
    )
    print("a line that is not an event")
    for name in calls:
        print(
            json.dumps({"event": "tool", "step": 1, "member": loop, "name": name, "outcome": "ok"})
        )
    outcome = os.environ.get("FAKE_OUTCOME", "done")
    approval = "apr-123" if outcome == "awaiting_approval" else None
    print(
        json.dumps(
            {
                "event": "end",
                "run": run,
                "outcome": outcome,
                "steps": 1,
                "tokens": tokens,
                "cost_usd": cost,
                "summary": "did it",
                "approval": approval,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
