"""A warm parent for harness processes: the eval forks each run from it instead of exec'ing one.

``fleet-harness run`` spends most of a short replayed run importing its
clients (``openai``, ``mcp``, pydantic models: about 1.4 s of CPU, against
~0.1 s for the run itself), and an eval starts one per case. This process
imports them once and, for each request, forks a child that is exactly a
fresh ``fleet-harness run``: the pod's environment replaces its own, its
standard streams go to the files named, and it calls :func:`harness.cli.main`
with the arguments given, then exits with that code. Nothing of one run
survives into the next: every child starts from the same parent, which never
starts an event loop, a thread or a connection.

Protocol (JSON lines): the caller writes ``{"id", "argv", "env", "stdout",
"stderr"}``; this process answers ``{"id", "pid"}`` when the child is forked
and ``{"id", "exit"}`` when it ended; children run side by side. End of input
ends it once the last child is done.

    python -m fleetctl.evals.zygote
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import selectors
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any


def _warm() -> None:
    # What a harness run imports before its first model call; done once, here.
    import harness.cli
    import harness.mcptools
    import harness.models
    import harness.runner  # noqa: F401

    for name in (
        "openai",
        "mcp",
        "mcp.client.streamable_http",
        "mcp.client.session",
        "anyio._backends._asyncio",
    ):
        with contextlib.suppress(ImportError):  # the child imports what it needs itself
            __import__(name)


def _child(req: dict[str, Any]) -> int:
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    out = os.open(req["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    err = os.open(req["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(out, 1)
    os.dup2(err, 2)
    sys.stdin = open(0, closefd=False)  # noqa: SIM115 - the process's own descriptors
    sys.stdout = open(1, "w", closefd=False, buffering=1)  # noqa: SIM115
    sys.stderr = open(2, "w", closefd=False, buffering=1)  # noqa: SIM115
    os.environ.clear()
    os.environ.update(req["env"])
    from harness.cli import main

    code = 0
    try:
        main(list(req["argv"]))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    except BaseException as exc:  # the harness catches its own; this is a last word
        print(f"fleet-harness: {type(exc).__name__}: {exc}", file=sys.stderr)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    return code


def serve() -> None:
    """Fork one child per request line; answer each child's pid at once and its exit code when
    it ends (children run side by side: one parent serves every worker of an eval)."""
    _warm()
    # Keep the collector off the warm objects: a child that scans them writes to (and so
    # copies) every page the parent's imports hold.
    gc.freeze()
    rfd, wfd = os.pipe()
    os.set_blocking(wfd, False)
    signal.set_wakeup_fd(wfd)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    ids: dict[int, Any] = {}
    out = sys.stdout
    inp = os.fdopen(sys.stdin.fileno(), "rb", buffering=0)
    pending = b""
    sel = selectors.DefaultSelector()
    sel.register(inp, selectors.EVENT_READ, "in")
    sel.register(rfd, selectors.EVENT_READ, "child")
    open_input = True

    def reap() -> None:
        while ids:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            rid = ids.pop(pid, None)
            out.write(json.dumps({"id": rid, "exit": os.waitstatus_to_exitcode(status)}) + "\n")
            out.flush()

    while open_input or ids:
        for key, _ in sel.select(timeout=1.0):
            if key.data == "child":
                os.read(rfd, 512)
                continue
            chunk = os.read(inp.fileno(), 65536)
            if not chunk:
                open_input = False
                sel.unregister(inp)
                continue
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                if not line.strip():
                    continue
                req = json.loads(line)
                pid = os.fork()
                if pid == 0:
                    code = 2
                    try:
                        signal.set_wakeup_fd(-1)
                        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                        os.close(rfd)
                        os.close(wfd)
                        code = _child(req)
                    finally:
                        os._exit(code)
                ids[pid] = req.get("id")
                out.write(json.dumps({"id": req.get("id"), "pid": pid}) + "\n")
                out.flush()
        reap()


class Forker:
    """The caller's side, shared by an eval's workers: :meth:`run` forks one harness run and
    waits for it; any number of threads may call it at once."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._next = 0
        self._waiting: dict[int, dict[str, Any]] = {}
        self._events: dict[int, threading.Event] = {}
        self._reader: threading.Thread | None = None
        self._dead = False

    def start(self) -> Forker:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fleetctl.evals.zygote"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self._reader = threading.Thread(target=self._read_all, daemon=True)
        self._reader.start()
        return self

    def _read_all(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            with self._lock:
                rid = msg.get("id")
                if rid in self._waiting:
                    self._waiting[rid].update(msg)
                    if "exit" in msg or "pid" in msg:
                        self._events[rid].set()
        with self._lock:
            self._dead = True
            for ev in self._events.values():
                ev.set()

    def _wait(self, rid: int, key: str, timeout: float) -> Any:
        while True:
            with self._lock:
                got = self._waiting[rid]
                if key in got:
                    return got[key]
                if self._dead:
                    raise OSError("the harness parent process exited")
                ev = self._events[rid]
                ev.clear()
            if not ev.wait(timeout):
                return None

    def run(
        self, argv: list[str], env: dict[str, str], out: Path, err: Path, timeout: float
    ) -> int | None:
        """The harness's exit code, or None when it ran over ``timeout`` s and was killed."""
        assert self.proc is not None and self.proc.stdin is not None
        with self._lock:
            self._next += 1
            rid = self._next
            self._waiting[rid] = {}
            self._events[rid] = threading.Event()
            req = {"id": rid, "argv": argv, "env": env, "stdout": str(out), "stderr": str(err)}
            self.proc.stdin.write((json.dumps(req) + "\n").encode())
            self.proc.stdin.flush()
        try:
            pid = self._wait(rid, "pid", 60)
            if pid is None:
                raise OSError("the harness parent process did not answer")
            code = self._wait(rid, "exit", timeout)
            if code is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
                self._wait(rid, "exit", 30)
                return None
            return int(code)
        finally:
            with self._lock:
                self._waiting.pop(rid, None)
                self._events.pop(rid, None)

    def stop(self) -> None:
        if self.proc is None:
            return
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        if self._reader is not None:
            self._reader.join(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc = None


if __name__ == "__main__":
    serve()
