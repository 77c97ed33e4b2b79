"""An in-process server thread leaves the process's logging as it found it: parallel eval
workers each start servers while others write and close their gateway logs, and a server
that reconfigured logging (closing every handler under logging's lock) deadlocked with a
thread closing its FileHandler."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx

from fleetctl.local.server import ServerThread


async def _app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def test_a_server_thread_closes_and_replaces_no_handler(tmp_path: Path) -> None:
    logger = logging.getLogger("fleet.test.server-logging")
    handler = logging.FileHandler(tmp_path / "gateway.log", encoding="utf-8")
    logger.addHandler(handler)
    root_handlers = list(logging.getLogger().handlers)
    try:
        with ServerThread(_app) as srv:
            assert httpx.get(srv.url + "/", timeout=5).status_code == 204
        assert handler.stream is not None and not handler.stream.closed
        assert logger.handlers == [handler] and not logger.disabled
        assert logging.getLogger().handlers == root_handlers
        logger.warning("still written")
        handler.flush()
        assert "still written" in (tmp_path / "gateway.log").read_text()
    finally:
        logger.removeHandler(handler)
        handler.close()
