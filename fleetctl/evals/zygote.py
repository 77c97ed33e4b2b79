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

Protocol (JSON lines): the caller writes ``{"argv", "env", "stdout", "stderr"}``;
this process answers ``{"pid": N}`` when the child is forked and
``{"exit": CODE}`` when it ended. End of input ends it.

    python -m fleetctl.evals.zygote
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
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
    _warm()
    answer = sys.stdout
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = 2
            try:
                code = _child(req)
            finally:
                os._exit(code)
        answer.write(json.dumps({"pid": pid}) + "\n")
        answer.flush()
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        answer.write(json.dumps({"exit": code}) + "\n")
        answer.flush()


class Forker:
    """The caller's side: ``Forker().start()``, then :meth:`run` one harness at a time."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> Forker:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fleetctl.evals.zygote"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        return self

    def _read(self, timeout: float) -> dict[str, Any] | None:
        assert self.proc is not None and self.proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            if not sel.select(timeout):
                return None
        line = self.proc.stdout.readline()
        if not line:
            raise OSError("the harness parent process exited")
        data = json.loads(line)
        return data if isinstance(data, dict) else None

    def run(
        self, argv: list[str], env: dict[str, str], out: Path, err: Path, timeout: float
    ) -> int | None:
        """The harness's exit code, or None when it ran over ``timeout`` s and was killed."""
        assert self.proc is not None and self.proc.stdin is not None
        req = {"argv": argv, "env": env, "stdout": str(out), "stderr": str(err)}
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        started = self._read(60)
        if started is None:
            raise OSError("the harness parent process did not answer")
        pid = int(started["pid"])
        done = self._read(timeout)
        if done is None:
            os.kill(pid, signal.SIGKILL)
            self._read(30)
            return None
        return int(done["exit"])

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
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc = None


if __name__ == "__main__":
    serve()
