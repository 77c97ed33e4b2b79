"""The credentials the gateway injects never travel back to a caller.

The gateway knows every secret it holds: each catalog server's credential and
each provider's key, read from the environment. A careless server can still
echo one (a debug tool, an error quoting the ``Authorization`` header, a
resource). Everything the MCP side passes back goes through a
:class:`Redactor`, which replaces each value (and its JSON-escaped form) with
:data:`MARK`: answers read whole (``tools/call``, ``tools/list``), interim
events of a call, passed-through exchanges and GET streams chunk by chunk
(:class:`StreamRedactor` holds back a chunk's tail while it could be the start
of a secret), results run after an approval, error messages, stored results and
trace records.

Values shorter than :data:`MIN_LENGTH` are not redacted (they would shred
ordinary text, and are no credential worth the name); a warning names them.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import orjson

log = logging.getLogger("fleet.gateway.mcp")

MARK = "[REDACTED:credential]"
MIN_LENGTH = 8


def _variants(value: str) -> list[bytes]:
    """The byte forms a JSON answer may carry ``value`` in: as is, JSON-escaped, with
    escaped slashes (some encoders write ``\\/``)."""
    raw = value.encode()
    escaped = orjson.dumps(value)[1:-1]
    forms = [raw, escaped, escaped.replace(b"/", b"\\/")]
    return list(dict.fromkeys(forms))


class Redactor:
    """Replaces known secret values in bytes, text and JSON values."""

    def __init__(self, values: list[str]):
        kept = []
        for v in dict.fromkeys(values):
            if not v:
                continue
            if len(v) < MIN_LENGTH:
                log.warning(
                    "a credential of %d characters is too short to redact from MCP answers",
                    len(v),
                )
                continue
            kept.append(v)
        # Longest first, so a secret that contains another is replaced whole.
        self.texts = sorted(kept, key=len, reverse=True)
        self.forms = sorted({f for v in self.texts for f in _variants(v)}, key=len, reverse=True)
        self.longest = max((len(f) for f in self.forms), default=0)
        self._mark = MARK.encode()

    def __bool__(self) -> bool:
        return bool(self.forms)

    def data(self, data: bytes) -> bytes:
        for f in self.forms:
            if f in data:
                data = data.replace(f, self._mark)
        return data

    def text(self, text: str) -> str:
        for v in self.texts:
            if v in text:
                text = text.replace(v, MARK)
        return text

    def value(self, value: Any) -> Any:
        """``value`` with every string inside it redacted (rebuilt only where needed)."""
        if not self.texts or not self._holds(value):
            return value
        return self._rebuild(value)

    def _holds(self, value: Any) -> bool:
        """Whether any string inside ``value`` contains a secret (no copies on the way)."""
        try:
            data = orjson.dumps(value)  # one C call; a secret shows in one of its forms
        except (orjson.JSONEncodeError, TypeError):
            pass
        else:
            return any(f in data for f in self.forms)
        stack = [value]
        while stack:
            item = stack.pop()
            if isinstance(item, str):
                if any(v in item for v in self.texts):
                    return True
            elif isinstance(item, dict):
                stack.extend(item.values())
                stack.extend(k for k in item if isinstance(k, str))
            elif isinstance(item, list):
                stack.extend(item)
        return False

    def _rebuild(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {
                (self.text(k) if isinstance(k, str) else k): self._rebuild(v)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [self._rebuild(v) for v in value]
        return value

    def stream(self) -> StreamRedactor:
        return StreamRedactor(self)


class StreamRedactor:
    """Redacts a byte stream chunk by chunk: a secret split across two chunks is caught by
    holding back the end of a chunk while it is the start of a secret."""

    def __init__(self, redactor: Redactor):
        self.r = redactor
        self.tail = b""

    def feed(self, chunk: bytes) -> bytes:
        if not self.r:
            return chunk
        data = self.r.data(self.tail + chunk) if self.tail else self.r.data(chunk)
        hold = self._held(data)
        self.tail = data[len(data) - hold :] if hold else b""
        return data[: len(data) - hold] if hold else data

    def end(self) -> bytes:
        out, self.tail = self.tail, b""
        return out

    def _held(self, data: bytes) -> int:
        """Length of the longest end of ``data`` that begins a secret (but is not one)."""
        window = data[-(self.r.longest - 1) :] if self.r.longest > 1 else b""
        best = 0
        for f in self.r.forms:
            first = f[:1]
            i = window.find(first)
            while i >= 0:
                n = len(window) - i
                if n < len(f) and f.startswith(window[i:]):
                    best = max(best, n)
                    break
                i = window.find(first, i + 1)
        return best


_cache: dict[int, tuple[Any, Redactor]] = {}


def redactor_for(config: Any, provider_keys: Any = None) -> Redactor:
    """The redactor for ``config``'s MCP credentials (and the providers' keys), built once
    per config."""
    found = _cache.get(id(config))
    if found is not None and found[0] is config:
        return found[1]
    values = [
        os.environ.get(s.credentials.env, "")
        for s in config.mcp_servers.values()
        if s.credentials is not None
    ]
    values.extend(v for v in (provider_keys or {}).values() if v)
    r = Redactor(values)
    if len(_cache) >= 8:  # a config or two are live at a time (a reload's in-flight requests)
        _cache.clear()
    _cache[id(config)] = (config, r)
    return r
