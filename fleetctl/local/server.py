"""An ASGI app served by uvicorn on a loopback port in a background thread.

``fleetctl run`` serves the embedded gateway and the replay provider this way,
in the same process as the CLI: a socket bound to ``127.0.0.1`` (port 0 picks a
free one, without the race of probing for a port first), uvicorn's loop in a
daemon thread, and a ``stop()`` that waits for the server to close.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any, Literal

from fleetctl.local.errors import LocalError


class ServerThread:
    """``with ServerThread(app) as srv: srv.url`` — or ``start()`` / ``stop()``."""

    def __init__(
        self,
        app: Any,
        *,
        port: int = 0,
        loop: str = "asyncio",
        http: str = "httptools",
        lifespan: Literal["auto", "on", "off"] = "on",
    ):
        import uvicorn

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.sock.bind(("127.0.0.1", port))
        except OSError as exc:
            self.sock.close()
            raise LocalError(
                f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}",
                "choose another port, or 0 for a free one",
            ) from exc
        self.port = int(self.sock.getsockname()[1])
        config = uvicorn.Config(
            app,
            loop=loop,
            http=http,
            lifespan=lifespan,
            # No dictConfig of the process's logging from a server thread: it shuts down and
            # replaces every handler under logging's lock, and while another thread closed a
            # FileHandler (its own lock held, the module's wanted) the two deadlocked: parallel
            # eval workers hung. uvicorn's loggers keep their level and propagate to the root.
            log_config=None,
            log_level="error",
            access_log=False,
            # Requests still open at the end belong to a harness that is gone (Ctrl-C).
            timeout_graceful_shutdown=2,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                self.stop()
                raise LocalError("a local server did not start", "see the messages above")
            time.sleep(0.005)
        return self

    def begin_stop(self) -> None:
        """Ask the server to stop without waiting (stop several at once, then ``stop`` each)."""
        # A request cut off by the shutdown is logged by uvicorn with a traceback: at this
        # point it is the caller that went away, which the user already knows.
        logging.getLogger("uvicorn.error").setLevel(logging.CRITICAL)
        self.server.should_exit = True

    def stop(self, timeout: float = 10.0) -> None:
        self.begin_stop()
        if self.thread.is_alive():
            self.thread.join(timeout=timeout)
        self.sock.close()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
