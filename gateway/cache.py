"""Exact-match response cache keyed by (namespace, virtual model, normalized request).

The namespace is the loop (``namespace_per: agent``) or the fleet; requests
normalize to canonical JSON without the fields that do not change the answer
(``stream``, ``user``, ``metadata``). Entries expire after the configured TTL;
memory is bounded by an LRU cap. A hit costs nothing and is traced as a hit.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from typing import Any

import orjson

_IGNORED = ("stream", "stream_options", "user", "metadata", "model")


def cache_key(namespace: str, model: str, body: dict[str, Any]) -> str:
    normalized = {k: v for k, v in body.items() if k not in _IGNORED}
    raw = orjson.dumps([namespace, model, normalized], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(raw).hexdigest()


class ResponseCache:
    def __init__(self, max_entries: int = 10_000):
        self.max_entries = max_entries
        self._data: OrderedDict[str, tuple[float, bytes, dict[str, str]]] = OrderedDict()

    def get(self, key: str) -> tuple[bytes, dict[str, str]] | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        expires, body, meta = entry
        if expires < time.monotonic():
            del self._data[key]
            return None
        self._data.move_to_end(key)
        return body, meta

    def put(self, key: str, body: bytes, meta: dict[str, str], ttl_s: float) -> None:
        self._data[key] = (time.monotonic() + ttl_s, body, meta)
        self._data.move_to_end(key)
        while len(self._data) > self.max_entries:
            self._data.popitem(last=False)
