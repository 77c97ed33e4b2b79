"""A scripted fake model provider (OpenAI-compatible) and server helpers for gateway tests.

The provider is a real HTTP server on loopback. Each request pops the next
step of the script for its model (status, latency, stream behaviour, usage),
so tests can stage 429 bursts, 5xx, timeouts, slow and broken streams.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

import orjson
import uvicorn

PROVIDER_KEY = "sk-test-provider-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Step:
    status: int = 200
    delay: float = 0.0
    content: str = "Hello from the fake provider."
    prompt_tokens: int = 11
    completion_tokens: int = 7
    usage: bool = True
    chunks: int = 3
    chunk_delay: float = 0.0
    break_after: int | None = None  # close a stream after this many chunks


@dataclass
class FakeProvider:
    scripts: dict[str, deque[Step]] = field(default_factory=lambda: defaultdict(deque))
    seen: list[dict[str, Any]] = field(default_factory=list)
    auth: list[str | None] = field(default_factory=list)

    def script(self, model: str, *steps: Step) -> None:
        self.scripts[model].extend(steps)

    def next(self, model: str) -> Step:
        queue = self.scripts.get(model)
        return queue.popleft() if queue else Step()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        req = orjson.loads(body) if body else {}
        self.seen.append(req)
        self.auth.append(dict(scope["headers"]).get(b"authorization", b"").decode() or None)
        step = self.next(req.get("model", ""))
        if step.delay:
            await asyncio.sleep(step.delay)
        if step.status != 200:
            payload = orjson.dumps(
                {"error": {"message": f"scripted {step.status}", "type": "server_error"}}
            )
            await send(
                {
                    "type": "http.response.start",
                    "status": step.status,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": payload})
            return
        usage = {
            "prompt_tokens": step.prompt_tokens,
            "completion_tokens": step.completion_tokens,
            "total_tokens": step.prompt_tokens + step.completion_tokens,
        }
        if scope["path"].endswith("/embeddings"):
            texts = req.get("input")
            texts = [texts] if isinstance(texts, str) else list(texts or [])
            data = {
                "object": "list",
                "model": req.get("model"),
                "data": [
                    {"object": "embedding", "index": i, "embedding": [0.5, float(len(str(t)))]}
                    for i, t in enumerate(texts)
                ],
            }
            if step.usage:
                data["usage"] = {
                    "prompt_tokens": step.prompt_tokens,
                    "total_tokens": step.prompt_tokens,
                }
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": orjson.dumps(data)})
            return
        if not req.get("stream"):
            data = {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": req.get("model"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": step.content},
                        "finish_reason": "stop",
                    }
                ],
            }
            if step.usage:
                data["usage"] = usage
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": orjson.dumps(data)})
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream")],
            }
        )
        words = step.content.split(" ")
        per = max(1, len(words) // step.chunks)
        parts = [" ".join(words[i : i + per]) + " " for i in range(0, len(words), per)]
        for i, part in enumerate(parts):
            if step.break_after is not None and i >= step.break_after:
                return  # drop the connection mid-stream
            chunk = {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": req.get("model"),
                "choices": [{"index": 0, "delta": {"content": part}, "finish_reason": None}],
            }
            await send(
                {
                    "type": "http.response.body",
                    "body": b"data: " + orjson.dumps(chunk) + b"\n\n",
                    "more_body": True,
                }
            )
            if step.chunk_delay:
                await asyncio.sleep(step.chunk_delay)
        final = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": req.get("model"),
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        }
        await send(
            {
                "type": "http.response.body",
                "body": b"data: " + orjson.dumps(final) + b"\n\n",
                "more_body": True,
            }
        )
        if step.usage and (req.get("stream_options") or {}).get("include_usage"):
            tail = {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": req.get("model"),
                "choices": [],
                "usage": usage,
            }
            await send(
                {
                    "type": "http.response.body",
                    "body": b"data: " + orjson.dumps(tail) + b"\n\n",
                    "more_body": True,
                }
            )
        await send({"type": "http.response.body", "body": b"data: [DONE]\n\n", "more_body": False})


class ServerThread:
    """Run an ASGI app with uvicorn on a loopback port in a background thread."""

    def __init__(self, app: Any, *, loop: str = "asyncio", port: int | None = None):
        self.port = port or free_port()
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            loop=loop,
            http="httptools",
            lifespan="on",
            log_level="error",
            access_log=False,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.time() + 10
        while not self.server.started:
            if time.time() > deadline or not self.thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
