"""The real gateway, served in this process for one local home.

``gateway.app.Gateway`` over ``gateway.json`` and the SQLite store of the
home, on uvicorn (uvloop, httptools) in a thread on 127.0.0.1. While it runs,
this process holds an exclusive lock on ``gateway.lock`` (which also records
the URL): two gateways on one store file would each fold their own journal,
so a second ``fleetctl run`` on the home is refused, and ``fleetctl approvals
--local`` uses the running gateway instead of starting one.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from typing import IO, Any

from fleetctl.local.errors import LocalError
from fleetctl.local.home import Home


def running_url(home: Home) -> str | None:
    """The URL of a gateway another process serves on ``home`` right now, if any."""
    try:
        fh = home.lock_file.open("r")
    except OSError:
        return None
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                return str(json.loads(fh.read() or "{}").get("url") or "") or None
            except ValueError:
                return None
        fcntl.flock(fh, fcntl.LOCK_UN)
        return None


class EmbeddedGateway:
    """``with EmbeddedGateway(home) as gw: gw.url``."""

    def __init__(self, home: Home, *, watch_interval: float = 0):
        self.home = home
        self.watch_interval = watch_interval
        self._lock: IO[str] | None = None
        self._server: Any = None
        self._log_handler: logging.Handler | None = None
        self.url = ""

    def acquire(self) -> EmbeddedGateway:
        """Take the home's lock (``start`` does it too): raises if another process holds it."""
        if self._lock is None:
            self._take_lock()
        return self

    def _take_lock(self) -> None:
        self.home.ensure()
        fh = self.home.lock_file.open("a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip()
            fh.close()
            raise LocalError(
                f"another fleetctl process serves the gateway of {self.home.path} ({holder or 'unknown'})",
                "wait for it to finish, or use another --home",
            ) from None
        self._lock = fh

    def _record(self) -> None:
        assert self._lock is not None
        self._lock.seek(0)
        self._lock.truncate()
        self._lock.write(json.dumps({"pid": os.getpid(), "url": self.url}) + "\n")
        self._lock.flush()

    def _log_to_home(self) -> None:
        """The gateway's warnings (a new store, a credential variable not set) go to the home's
        gateway.log, not between the run's progress lines."""
        logger = logging.getLogger("fleet.gateway")
        for old in [h for h in logger.handlers if getattr(h, "fleet_home", False)]:
            logger.removeHandler(old)
            old.close()
        handler = logging.FileHandler(self.home.log_file, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.fleet_home = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.propagate = False
        self._log_handler = handler

    def _stop_logging(self) -> None:
        # A process that goes on after this gateway (an eval's workers, a test run) must not
        # keep writing the gateway's records into a home that may be gone.
        handler, self._log_handler = self._log_handler, None
        if handler is None:
            return
        logger = logging.getLogger("fleet.gateway")
        logger.removeHandler(handler)
        handler.close()
        if not any(getattr(h, "fleet_home", False) for h in logger.handlers):
            logger.propagate = True

    def start(self) -> EmbeddedGateway:
        from fleetctl.local.server import ServerThread
        from gateway.app import Gateway
        from gateway.config import ConfigHolder
        from gateway.store import open_store

        self.acquire()
        self._log_to_home()
        try:
            try:
                holder = ConfigHolder.from_file(self.home.config_file)
            except (ValueError, OSError) as exc:
                raise LocalError(
                    f"cannot load the local gateway config: {exc}",
                    "run `fleetctl run PATH LOOP` again to rewrite it",
                ) from None
            app = Gateway(
                holder,
                # the home is fleetctl's own: a store new there is expected, not news
                open_store(self.home.store_url, announce=False),
                watch_interval=self.watch_interval,
            )
            self._server = ServerThread(app, loop="uvloop", http="httptools").start()
            self.url = self._server.url
            self._record()
        except BaseException:
            self.stop()
            raise
        return self

    def begin_stop(self) -> None:
        if self._server is not None:
            self._server.begin_stop()

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(timeout=20)
            self._server = None
        if self._lock is not None:
            self._lock.seek(0)
            self._lock.truncate()
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None
        self._stop_logging()

    def __enter__(self) -> EmbeddedGateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
