"""A fast mock OpenAI-compatible provider for gateway benchmarks (JSON and SSE answers)."""

from __future__ import annotations

import asyncio
import random
import sys
from typing import Any

import orjson
import uvicorn

BODY = orjson.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 0,
        "model": "m-main",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 2, "total_tokens": 14},
    }
)
CHUNK = b'data: {"id":"c","object":"chat.completion.chunk","created":0,"model":"m","choices":[{"index":0,"delta":{"content":"tok "},"finish_reason":null}]}\n\n'
TAIL = b'data: {"id":"c","object":"chat.completion.chunk","created":0,"model":"m","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":8,"total_tokens":20}}\n\ndata: [DONE]\n\n'
JSON = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                await send({"type": msg["type"] + ".complete"})
                if msg["type"] == "lifespan.shutdown":
                    return
        return
    body = b""
    while True:
        msg = await receive()
        body += msg.get("body", b"")
        if not msg.get("more_body"):
            break
    if b'"stream":true' in body:
        # "user":"hold" asks for a long, slow answer: the background streams of the held-load
        # TTFT run; "user":"probe" for a short one (that run's probes, timed to the first
        # chunk); "user":"relay" for 200 chunks 10 ms apart (the relay cost run, chunks.py).
        held = b'"user":"hold"' in body
        if held:
            chunks, pause = 240, 0.25
        elif b'"user":"probe"' in body:
            chunks, pause = 2, 0.001
        elif b'"user":"relay"' in body:
            chunks, pause = 200, 0.01
        else:
            chunks, pause = 8, 0.005
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream")],
            }
        )
        # Each held stream keeps its own clock, at a random phase. Sleeping a fixed pause
        # after each send lets streams that wake in the same loop turn fall into step for
        # good, until a thousand independent answers emit their tokens in a few clumps of
        # 50-200 at the same millisecond, which no set of separate requests does.
        # The other streams pause after each send instead, so a mock running late never
        # catches up by sending several chunks at once (the gateway would relay them as one).
        loop = asyncio.get_running_loop()
        due = loop.time() + random.random() * pause
        for _ in range(chunks):
            await send({"type": "http.response.body", "body": CHUNK, "more_body": True})
            if held:
                due += pause
                await asyncio.sleep(max(0.0, due - loop.time()))
            else:
                await asyncio.sleep(pause)
        await send({"type": "http.response.body", "body": TAIL, "more_body": False})
        return
    await send({"type": "http.response.start", "status": 200, "headers": JSON})
    await send({"type": "http.response.body", "body": BODY})


if __name__ == "__main__":
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        loop="uvloop",
        http="httptools",
        log_level="error",
        access_log=False,
        backlog=4096,
    )
