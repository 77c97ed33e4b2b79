"""Guardrails on tool traffic: ``mcp_pre_tool`` on a call's arguments, ``mcp_post_tool``
on its result and on the interim messages a server sends while it runs.

A tool's arguments and results are JSON of any shape, and the detectors read text: every
string inside is checked, each distinct one once (a result says the same thing in its text
content and its ``structuredContent``), and a redaction is put back where the string was,
so the shape the server or the caller expects is kept. A result too deeply nested to walk
is withheld rather than passed on unchecked; a long one is read in a worker thread, so the
event loop goes on answering other calls while the detectors read it.
"""

from __future__ import annotations

from typing import Any

from gateway.guardrails import Verdict, check_texts, off_loop
from gateway.mcp import jsonrpc
from gateway.mcp.wire import text_result

Guarded = tuple[dict[str, Any], list[Verdict], Verdict | None]


def _structural(key: Any, value: Any) -> bool:
    """A block's ``type`` or ``mimeType`` ("text", "image/png"): the protocol's own word,
    not read (a finding spanning it would redact the block's type away), and too short to
    hold an order."""
    return (
        key in ("type", "mimeType")
        and isinstance(value, str)
        and len(value) <= 64
        and value.replace("/", "_")
        .replace("-", "_")
        .replace(".", "_")
        .replace("+", "_")
        .isidentifier()
    )


def _strings(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, dict):
        for k, v in value.items():
            if not _structural(k, v):
                _strings(v, out)
    elif isinstance(value, list):
        for v in value:
            _strings(v, out)


def _replace(value: Any, it: Any) -> Any:
    """Rebuild ``value`` with its strings taken in order from ``it`` (same walk as :func:`_strings`)."""
    if isinstance(value, str):
        return next(it)
    if isinstance(value, dict):
        return {k: v if _structural(k, v) else _replace(v, it) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace(v, it) for v in value]
    return value


def guard(hook: str, rules: Any, value: Any) -> tuple[Any, list[Verdict], Verdict | None]:
    """Run guardrail ``rules`` over every string inside ``value``; returns it (maybe redacted)."""
    if not rules:
        return value, [], None
    texts: list[str] = []
    _strings(value, texts)
    # Results repeat themselves (structuredContent mirrors the text content, every block
    # says "text"): scan each distinct string once; verdicts and redactions are the same.
    unique = list(dict.fromkeys(texts))
    out, verdicts, blocked = check_texts(hook, rules, unique)
    if out != unique:
        cleaned = dict(zip(unique, out, strict=True))
        value = _replace(value, iter([cleaned[t] for t in texts]))
    return value, verdicts, blocked


def screen(rules: Any, msg: dict[str, Any]) -> tuple[dict[str, Any] | None, list[Verdict]]:
    """``mcp_post_tool`` ``rules`` on an interim message of a call (progress, a server's
    request): redacted, or None when a rule blocks it."""
    params = msg.get("params")
    if not rules or not params:
        return msg, []
    if jsonrpc.too_deep(params):
        return None, []  # too deep to check: withheld
    cleaned, verdicts, blocked = guard("mcp_post_tool", rules, params)
    if blocked is not None:
        return None, verdicts
    return (msg if cleaned is params else {**msg, "params": cleaned}), verdicts


async def post_guard_async(rules: Any, result: dict[str, Any], size: int) -> Guarded:
    """:func:`post_guard`, in a worker thread for a long result (``size`` bytes), so
    the event loop goes on answering other calls while the detectors read it."""
    return await off_loop(size if rules else 0, post_guard, rules, result)


def post_guard(rules: Any, result: dict[str, Any]) -> Guarded:
    """``mcp_post_tool`` ``rules`` on a tool result: the result (the same object when
    nothing was redacted), the verdicts, and the verdict that withheld it, if one did."""
    if jsonrpc.too_deep(result):
        return (
            text_result(
                f"result withheld by the gateway: nested more than {jsonrpc.MAX_DEPTH} "
                "deep, too deep to check",
                error=True,
            ),
            [],
            None,
        )
    scanned = {k: result[k] for k in ("content", "structuredContent") if k in result}
    cleaned, verdicts, blocked = guard("mcp_post_tool", rules, scanned)
    if blocked is not None:
        return (
            text_result(
                f"result withheld by the gateway: mcp_post_tool guardrail '{blocked.detector}' "
                f"found {', '.join(blocked.kinds)}",
                error=True,
            ),
            verdicts,
            blocked,
        )
    if cleaned is scanned:
        return (
            result,
            verdicts,
            None,
        )  # nothing redacted: the caller may send the bytes as they came
    return {**result, **cleaned}, verdicts, None
