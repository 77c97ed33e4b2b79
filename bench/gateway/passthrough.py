"""A bare pass-through proxy on the same stack as the gateway (uvloop, httptools, the
gateway's own upstream client): no identity, no policy. The floor the governed gateway
is compared with."""

from __future__ import annotations

import sys
from typing import Any

import orjson
import uvicorn

from fleet.gwconfig import GwProvider
from gateway.upstream import AttemptFailed, Final, Upstream

PROVIDER: GwProvider | None = None
upstream = Upstream()
NO_RETRY: frozenset[int] = frozenset()


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.shutdown":
                await upstream.close()
            await send({"type": msg["type"] + ".complete"})
            if msg["type"] == "lifespan.shutdown":
                return
    body = b""
    while True:
        msg = await receive()
        body += msg.get("body", b"")
        if not msg.get("more_body"):
            break
    assert PROVIDER is not None
    try:
        if b'"stream":true' in body:
            resp, chunk = await upstream.open_stream(PROVIDER, None, body, NO_RETRY)
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"text/event-stream")],
                }
            )
            try:
                while chunk:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                    chunk = await resp.read()
            finally:
                resp.close()
            await send({"type": "http.response.body", "body": b""})
            return
        reply = await upstream.complete(PROVIDER, None, body, NO_RETRY)
        status, data = reply.status, reply.body
    except Final as exc:
        status, data = exc.status or 502, exc.body
    except AttemptFailed as exc:
        status, data = 502, orjson.dumps({"error": exc.reason})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


if __name__ == "__main__":
    PROVIDER = GwProvider(base_url=sys.argv[2] + "/v1", timeout_s=30)
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
