"""The values the gateway injects upstream never come back to a caller.

The gateway holds every provider key (``Runtime.credentials``) and every MCP
server credential it sends; a provider can still echo one: a 401 quoting the
key it was given, a debugging proxy, a model repeating its own headers. On the
LLM path everything passed back goes through :class:`Secrets`: an upstream
answer passed back as it came, a completion's body, each line of a stream and
the trace. Each value is looked for as is and in the forms JSON gives it
(escaped, with escaped slashes) and replaced with :data:`MARK`.

The check is one search of a pattern compiled once per configuration: the
alternation of the few known byte forms, literals only, so a search costs at
most the input's length times the longest form (a 150-byte stream line: about
0.3 µs); nothing is compiled per request or per chunk, and an answer without a
secret is returned as it was, not copied.

A secret a model spells across two stream events is caught by
:class:`StreamText`: while the text relayed so far ends in the first
characters of a secret, the events are held back, and once the secret is
whole its text is replaced before any of them goes out.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any

import orjson

log = logging.getLogger("fleet.gateway")

MARK = "[REDACTED:credential]"
# Shorter values are no credential worth the name and would shred ordinary text.
MIN_LENGTH = 8
# Events are held back only while the text ends in at least this much of a secret.
MIN_HOLD = 4


class Secrets:
    """Known secret values, and their replacement in bytes, text and JSON values."""

    def __init__(self, values: list[str]):
        kept = [v for v in dict.fromkeys(values) if v and len(v) >= MIN_LENGTH]
        self.texts = sorted(kept, key=len, reverse=True)  # a secret holding another goes whole
        forms: set[bytes] = set()
        for v in self.texts:
            escaped = orjson.dumps(v)[1:-1]
            forms.update((v.encode(), escaped, escaped.replace(b"/", b"\\/")))
        self.forms = sorted(forms, key=len, reverse=True)
        self._mark = MARK.encode()
        # Longest first: where one form begins another, the whole one is replaced.
        self._bytes = re.compile(b"|".join(re.escape(f) for f in self.forms)) if forms else None
        self._text = re.compile("|".join(re.escape(v) for v in self.texts)) if kept else None

    def __bool__(self) -> bool:
        return bool(self.texts)

    def holds(self, data: bytes) -> bool:
        return self._bytes is not None and self._bytes.search(data) is not None

    def data(self, data: bytes) -> bytes:
        return self._bytes.sub(self._mark, data) if self._bytes is not None else data

    def in_text(self, text: str) -> bool:
        return self._text is not None and self._text.search(text) is not None

    def text(self, text: str) -> str:
        if self._text is None or self._text.search(text) is None:
            return text
        return self._text.sub(MARK, text)

    def value(self, value: Any) -> Any:
        """``value`` with the secrets in its strings replaced; the same object when it
        holds none (one encoding and a byte search decide)."""
        if not self.texts:
            return value
        try:
            if not self.holds(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)):
                return value
        except (TypeError, orjson.JSONEncodeError):
            pass  # not JSON as is: rebuild it, which looks at every string
        return self._rebuild(value, 0)

    def _rebuild(self, value: Any, depth: int) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if depth > 64:
            return value
        if isinstance(value, dict):
            return {
                (self.text(k) if isinstance(k, str) else k): self._rebuild(v, depth + 1)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [self._rebuild(v, depth + 1) for v in value]
        return value

    def partial(self, text: str) -> int:
        """Length of the longest end of ``text`` that begins a secret without being one
        (0 under :data:`MIN_HOLD`)."""
        best = 0
        for v in self.texts:
            window = text[-(len(v) - 1) :]
            i = window.find(v[0])
            while i >= 0:
                n = len(window) - i
                if n < best:
                    break
                if n >= MIN_HOLD and v.startswith(window[i:]):
                    best = n
                    break
                i = window.find(v[0], i + 1)
        return best


_cache: dict[int, tuple[Any, Secrets]] = {}


def secrets_for(rt: Any) -> Secrets:
    """The secrets of a runtime: its providers' keys and its MCP servers' credentials,
    gathered once per runtime (a reload makes a new one)."""
    found = _cache.get(id(rt))
    if found is not None and found[0] is rt:
        return found[1]
    values = [v for v in rt.credentials.values() if v]
    for server in getattr(rt.config, "mcp_servers", {}).values():
        creds = getattr(server, "credentials", None)
        env = getattr(creds, "env", None)
        if env and os.environ.get(env):
            values.append(os.environ[env])
    short = [v for v in values if len(v) < MIN_LENGTH]
    if short:
        log.warning(
            "%d injected credential(s) shorter than %d characters are not redacted from answers",
            len(short),
            MIN_LENGTH,
        )
    found = (rt, Secrets(values))
    if len(_cache) >= 8:  # one runtime or two are live at a time (a reload's requests)
        _cache.clear()
    _cache[id(rt)] = found
    return found[1]


class StreamText:
    """Stream events held back while the model's text so far ends in part of a secret.

    Only the events that overlap that part are held: those wholly before it go out, so
    what is held stays within a secret's length plus one event, whatever the stream."""

    def __init__(self, secrets: Secrets):
        self.s = secrets
        self.held: list[tuple[bytes, dict[str, Any] | None, int]] = []
        self.text = ""  # the held events' delta text

    def feed(self, line: bytes, event: dict[str, Any] | None, delta: str | None) -> list[bytes]:
        """Lines to send now for one event line (its parsed event and delta text, if any)."""
        if not self.held and not delta:
            return [line]
        self.held.append((line, event, len(delta or "")))
        self.text += delta or ""
        if self.s.in_text(self.text):
            return self._rewrite()
        start = len(self.text) - self.s.partial(self.text)
        if start == len(self.text):
            return self.flush()
        out: list[bytes] = []
        offset = 0
        while self.held and offset + self.held[0][2] <= start and len(self.held) > 1:
            line, _, n = self.held.pop(0)
            offset += n
            out.append(line)
        self.text = self.text[offset:]
        return out

    def flush(self) -> list[bytes]:
        out = [line for line, _, _ in self.held]
        self.held, self.text = [], ""
        return out

    def _rewrite(self) -> list[bytes]:
        """The held events with the secret gone: the last carries the redacted text, the
        ones before it none."""
        clean = self.s.text(self.text)
        out = []
        last = len(self.held) - 1
        for i, (line, event, _) in enumerate(self.held):
            if event is not None:
                for choice in event.get("choices") or []:
                    delta = choice.get("delta") if isinstance(choice, dict) else None
                    if isinstance(delta, dict) and isinstance(delta.get("content"), str):
                        delta["content"] = clean if i == last else ""
                line = b"data: " + orjson.dumps(event)
            out.append(line)
        self.held, self.text = [], ""
        return out
