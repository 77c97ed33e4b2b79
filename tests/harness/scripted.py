"""A scripted OpenAI-compatible provider for harness tests: each caller identity has a policy.

A policy is a function of the request (its messages and tools), not a queue, so
it answers a re-sent request the same way, any number of runs may share the
server, and a killed harness that re-sends its last request after a restart
gets the same reply. The caller is told by the request's ``user`` field, which
the harness sets to ``<loop>`` or ``<loop>/<sub-agent>``.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

Policy = Callable[["Request"], dict[str, Any]]
"""request → reply: ``{"content"?, "calls": [(name, args), ...]?, "status"?, "usage"?}``."""


@dataclass
class Request:
    body: dict[str, Any]

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages") or [])

    @property
    def turn(self) -> int:
        """How many assistant replies the conversation already has."""
        return sum(1 for m in self.messages if m.get("role") == "assistant")

    @property
    def tools(self) -> list[str]:
        return [t["function"]["name"] for t in self.body.get("tools") or []]

    @property
    def text(self) -> str:
        return "\n".join(str(m.get("content") or "") for m in self.messages)

    def tag(self) -> str:
        """The run's tag, from the trigger input in the task message (``"tag": "…"``)."""
        found = re.search(r'"tag": "([^"]+)"', self.text)
        return found.group(1) if found else "untagged"

    def last_tool_result(self) -> str:
        for m in reversed(self.messages):
            if m.get("role") == "tool":
                return str(m.get("content") or "")
        return ""


def plan(*steps: Any) -> Policy:
    """A policy that plays ``steps`` by turn; a step is a reply dict or a function of the request."""

    def policy(req: Request) -> dict[str, Any]:
        if req.turn >= len(steps):
            return {"status": 503, "content": f"script has no step {req.turn}"}
        step = steps[req.turn]
        return step(req) if callable(step) else step

    return policy


def call(name: str, **args: Any) -> dict[str, Any]:
    return {"calls": [(name, args)]}


@dataclass
class Scripted:
    policies: dict[str, Policy] = field(default_factory=dict)
    seen: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    delay_s: float = 0.0

    def requests(self, user: str) -> list[Request]:
        with self.lock:
            return [Request(b) for b in self.seen if b.get("user") == user]

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                await send({"type": msg["type"] + ".complete"})
                if msg["type"] == "lifespan.shutdown":
                    return
        if scope["type"] != "http":
            return
        raw = b""
        while True:
            msg = await receive()
            raw += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        body = orjson.loads(raw or b"{}")
        with self.lock:
            self.seen.append(body)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        user = str(body.get("user") or "")
        policy = self.policies.get(user)
        reply = (
            policy(Request(body))
            if policy
            else {"status": 400, "content": f"no policy for user {user!r}"}
        )
        status = int(reply.get("status", 200))
        if status != 200:
            payload = {
                "error": {"message": reply.get("content", "scripted"), "type": "server_error"}
            }
            await _send(send, status, payload)
            return
        calls = [
            {
                "id": f"call_{len(body.get('messages') or [])}_{i}",
                "type": "function",
                "function": {"name": name, "arguments": orjson.dumps(args).decode()},
            }
            for i, (name, args) in enumerate(reply.get("calls") or [])
        ]
        message: dict[str, Any] = {"role": "assistant", "content": reply.get("content")}
        if calls:
            message["tool_calls"] = calls
        usage = reply.get("usage") or {"prompt_tokens": 100, "completion_tokens": 20}
        data = {
            "id": "chatcmpl-scripted",
            "object": "chat.completion",
            "created": 0,
            "model": body.get("model"),
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": "tool_calls" if calls else "stop",
                }
            ],
            "usage": {**usage, "total_tokens": usage["prompt_tokens"] + usage["completion_tokens"]},
        }
        await _send(send, 200, data)


async def _send(send: Any, status: int, payload: Any) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": orjson.dumps(payload)})
