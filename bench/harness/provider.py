"""The scripted provider of ``tests/harness`` as a process of its own, playing ``script.py``.

python -m bench.harness.provider PORT
"""

from __future__ import annotations

import collections
import sys

import uvicorn

from bench.harness.script import MAKER, REVIEWER, maker, reviewer
from tests.harness.scripted import Scripted


def main() -> None:
    port = int(sys.argv[1])
    # ``seen`` is the tests' record of every request; the bench keeps only the last few.
    app = Scripted(policies={MAKER: maker, REVIEWER: reviewer}, seen=collections.deque(maxlen=64))  # type: ignore[arg-type]
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        log_level="error",
        access_log=False,
        backlog=4096,
    )


if __name__ == "__main__":
    main()
