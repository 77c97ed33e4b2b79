"""Progress events on standard output: JSON lines for ``fleetctl run`` and logs, or plain text."""

from __future__ import annotations

import sys
from typing import Any, TextIO

import orjson


class Events:
    def __init__(self, mode: str = "jsonl", out: TextIO | None = None):
        self.mode = mode
        self.out = out or sys.stdout

    def emit(self, event: str, **fields: Any) -> None:
        if self.mode == "none":
            return
        if self.mode == "jsonl":
            self.out.write(orjson.dumps({"event": event, **fields}).decode() + "\n")
        else:
            detail = " ".join(f"{k}={v}" for k, v in fields.items() if v not in (None, [], ""))
            self.out.write(f"{event:8} {detail}\n")
        self.out.flush()
