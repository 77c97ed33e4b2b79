"""A warm start for the crash tests: a process that has imported the harness, openai and mcp,
and forks one child per harness attempt.

Each child is a real process running ``fleet-harness run`` (``harness.cli.main``) with its
own environment; the kill hook SIGKILLs it like any other. Forking skips only the second of
interpreter start-up and imports per attempt, which lets the tests kill a run at every one of
its journal entries on both stores in seconds. Protocol, JSON lines: the test writes
``{"argv", "env", "out"}``, the zygote answers ``{"pid", "status"}`` when that child ends
(``status`` as ``subprocess`` reports it: ``-9`` for SIGKILL).
"""

from __future__ import annotations

import os
import sys

import orjson


def serve() -> None:
    import mcp.client.session
    import mcp.client.streamable_http  # noqa: F401
    import openai  # noqa: F401

    import harness.cli
    import harness.mcptools
    import harness.models
    import harness.runner

    del harness
    sys.stdout.write('{"ready": true}\n')
    sys.stdout.flush()
    for line in sys.stdin:
        job = orjson.loads(line)
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                os.environ.clear()
                os.environ.update(job["env"])
                fd = os.open(job["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                os.dup2(fd, 1)
                os.dup2(fd, 2)
                sys.stdout = os.fdopen(1, "w", buffering=1)
                sys.stderr = os.fdopen(2, "w", buffering=1)
                from harness.cli import main

                main(job["argv"])
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                import traceback

                traceback.print_exc()
                code = 3
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        result = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        sys.stdout.write(orjson.dumps({"pid": pid, "status": result}).decode() + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    serve()
