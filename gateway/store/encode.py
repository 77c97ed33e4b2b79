"""Trace records as JSON that never fails to encode.

A trace carries values that came from the request (headers, the body's fields,
a tool's arguments). orjson refuses some of them: an integer past 64 bits, a
key that is not a string, a nesting deeper than its limit, a type it does not
know. A settlement must be recorded whatever the request held, so a trace
orjson refuses is encoded once more from a cleaned copy: such integers and
unknown values become strings, keys become strings, NaN and infinities become
null, anything nested past ``MAX_DEPTH`` becomes a placeholder string, and the
record says so under ``"unserializable"`` (the paths of the fields changed).
The first, usual attempt costs nothing extra; the cleaning walks the record
once.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

# Deeper than this a value is replaced (orjson's own limit is 254).
MAX_DEPTH = 64
# Paths of changed fields named in the record, at most.
MAX_NAMED = 32
INT64 = (-(1 << 63), (1 << 64) - 1)


def dumps(record: dict[str, Any]) -> bytes:
    """``record`` as JSON; a record orjson refuses is cleaned and marked, never dropped."""
    try:
        return orjson.dumps(record)
    except (TypeError, orjson.JSONEncodeError):
        pass
    changed: list[str] = []
    clean = _clean(record, "", 0, changed)
    if not isinstance(clean, dict):
        clean = {"value": clean}
    clean["unserializable"] = changed[:MAX_NAMED]
    return orjson.dumps(clean)


def _clean(value: Any, path: str, depth: int, changed: list[str]) -> Any:
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, int):
        if INT64[0] <= value <= INT64[1]:
            return value
        changed.append(path or "$")
        # str() of a huge int is itself quadratic in its digits: keep its size instead.
        return f"<integer of {value.bit_length()} bits>"
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        changed.append(path or "$")
        return None
    if depth >= MAX_DEPTH:
        changed.append(path or "$")
        return "<nested too deep>"
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                changed.append(f"{path}.{type(k).__name__}-key")
                k = _key(k)
            out[k] = _clean(v, f"{path}.{k}" if len(path) < 200 else path, depth + 1, changed)
        return out
    if isinstance(value, (list, tuple)):
        return [
            _clean(v, f"{path}[{i}]" if len(path) < 200 else path, depth + 1, changed)
            for i, v in enumerate(value)
        ]
    changed.append(path or "$")
    return f"<{type(value).__name__}>"


def _key(k: Any) -> str:
    if isinstance(k, int) and not INT64[0] <= k <= INT64[1]:
        return f"<integer of {k.bit_length()} bits>"
    try:
        return str(k)[:200]
    except Exception:  # a key whose str() fails still gets a name
        return f"<{type(k).__name__}>"


def count(value: Any) -> int:
    """A token count as the stores add it: an integer in [0, 2**53]."""
    try:
        n = int(value)
    except (TypeError, ValueError, OverflowError):
        return 0
    return min(max(n, 0), 1 << 53)


def usd(value: Any) -> float:
    """A cost as the stores add it: finite and not negative."""
    try:
        x = float(value)
    except (TypeError, ValueError, OverflowError):
        return 0.0
    return x if math.isfinite(x) and x > 0 else 0.0
