"""The approvals queue: each pending request with its loop, run, tool, arguments (with
credentials redacted), when it was asked and when it expires, and, for a signed-in
approver, approve and deny forms carrying a reason and the session's CSRF token.

Arguments are redacted twice: the values the gateway injects (each MCP server's
credential, read from the same environment variables the gateway reads) wherever they
appear, and any value under a key that names a secret (``token``, ``password``,
``api_key``…), whatever a loop put there.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from gateway.mcp.redact import MARK, Redactor

SECRET_KEY = re.compile(
    r"(pass(word|wd)?|secret|token|api[_-]?key|authorization|credential|private[_-]?key|cookie)",
    re.IGNORECASE,
)
MAX_ARGS = 4000


def hide_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: (MARK if SECRET_KEY.search(str(k)) and v not in (None, "") else hide_secrets(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [hide_secrets(v) for v in value]
    return value


def when(ts: Any) -> str:
    if not ts:
        return "-"
    return dt.datetime.fromtimestamp(float(ts), dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def row(r: dict[str, Any], redactor: Redactor) -> dict[str, Any]:
    args = hide_secrets(redactor.value(r.get("arguments")))
    text = json.dumps(args, indent=2, sort_keys=True, ensure_ascii=False)
    if len(text) > MAX_ARGS:
        text = text[:MAX_ARGS] + "\n… (cut; fleetctl approvals show gives all of it)"
    return {
        "id": str(r["id"]),
        "loop": str(r.get("loop") or r.get("member") or "-"),
        "member": str(r.get("member") or "-"),
        "run": str(r.get("run") or ""),
        "tool": f"{r.get('server')}.{r.get('tool')}",
        "tool_class": str(r.get("tool_class") or "-"),
        "arguments": text,
        "requested": when(r.get("created")),
        "expires": when(r.get("expires")),
    }


def context(
    pending: list[dict[str, Any]], redactor: Redactor, notice: str = "", error: str = ""
) -> dict[str, Any]:
    return {
        "title": "Approvals",
        "pending": [row(r, redactor) for r in pending],
        "notice": notice,
        "error": error,
    }
