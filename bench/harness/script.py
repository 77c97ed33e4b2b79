"""The bench's conversations, as policies of the scripted provider (``tests/harness/scripted.py``).

A policy is a function of the request, so the harness and the OpenAI Agents SDK
get the same reply for the same conversation, a re-sent request (after a kill
-9) gets the same reply again, and any number of runs share one provider. The
run's tag, in the trigger input (``{"tag": "m50-…"}``) or the SDK's first user
message, names the script: a mode letter and the number of tool steps.

- ``m<N>``: N maker steps alternating a read (``get_issue``) and a write
  (``comment``), then done;
- ``w<N>``: N writes (``comment``, the tag in the body: countable per run), then done.

"Done" is ``finish`` when ``finish`` is offered (the harness; its checker then
passes), a final text answer otherwise (the SDK). Tool names follow the offer:
``github__comment`` in the harness, ``comment`` as the SDK names the server's tools.
"""

from __future__ import annotations

import re
from typing import Any

from tests.harness.scripted import Request, call

LOOP = "triage"
MAKER = LOOP
REVIEWER = f"{LOOP}/reviewer"
PASS = call("verdict", verdict="pass", reasons=["the evidence shows every step"])
_TAG = re.compile(r"([mw])(\d+)-")


def tag(mode: str, steps: int, name: str) -> str:
    return f"{mode}{steps}-{name}"


def maker(req: Request) -> dict[str, Any]:
    label = req.tag()
    found = _TAG.match(label)
    if found is None:
        return {"status": 400, "content": f"tag {label!r} names no bench script"}
    mode, steps = found.group(1), int(found.group(2))
    offered = set(req.tools)
    turn = req.turn
    if turn >= steps:
        if "finish" in offered:
            return call("finish", summary=f"{label} done", artifacts=[f"issue:{label}"])
        return {"content": f"{label} done"}
    prefix = "github__" if "github__comment" in offered else ""
    if mode == "w" or turn % 2:
        return call(f"{prefix}comment", number=turn + 1, body=f"{label} note {turn}")
    return call(f"{prefix}get_issue", number=turn + 1)


def reviewer(req: Request) -> dict[str, Any]:
    return PASS
