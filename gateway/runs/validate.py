"""What the runs API accepts: identifiers, bodies, record patches and listing queries,
each checked before anything touches the store, and the errors it answers with.

A harness that sends something wrong gets a 400 (or 413) that says which field
and what to send instead, never a 500. Sizes are measured on the canonical
encoding (``orjson``, sorted keys), the form the store keeps, so a client's
spacing or escaping never decides whether an entry fits. Every check is linear
in its input: anchored patterns with bounded repeats, one parse, one encoding.
"""

from __future__ import annotations

import math
import re
import time
from typing import Any
from urllib.parse import parse_qsl

import orjson

from fleet.runtime.outcomes import OUTCOMES as RUN_OUTCOMES
from gateway.errors import BadRequestError, GatewayError

KiB = 1024
MiB = 1024 * KiB
ENTRY_MAX = 1 * MiB
INPUT_MAX = 1 * MiB
PATCH_MAX = 256 * KiB
VALUE_MAX = 64 * KiB
# Bytes read of a body before it is refused: room for the envelope, indentation and
# \u escapes of a client's encoding around a payload at its limit.
WIRE_FACTOR = 4

RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
LOOP = re.compile(r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?")
SEQ = re.compile(r"[1-9][0-9]{0,17}")
NATURAL = re.compile(r"0|[1-9][0-9]{0,17}")
NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")
DURATION = re.compile(r"([0-9]{1,9})([smhdw])")
DURATION_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}

STATUSES = ("running", "awaiting_approval", "ended")
OUTCOMES = tuple(RUN_OUTCOMES)  # one list, the pure core's
COUNTS = ("steps", "tokens", "checker_rounds")
AMOUNTS = ("cost_usd", "active_s")
PATCH_FIELDS = (
    "status",
    "outcome",
    "summary",
    "detail",
    "approval",
    *COUNTS,
    *AMOUNTS,
    "ended",
)
LIST_PARAMS = ("loop", "status", "outcome", "since", "limit")
LIST_LIMIT, LIST_MAX = 100, 1000


class ConflictError(GatewayError):
    status = 409
    type = "conflict"


class TooLargeError(GatewayError):
    status = 413
    type = "invalid_request_error"


class MethodError(GatewayError):
    status = 405
    type = "invalid_request_error"


def run_id(text: str) -> str:
    if not RUN_ID.fullmatch(text):
        raise BadRequestError(
            "invalid_run_id",
            f"run id {text[:140]!r} is not valid: use 1-128 characters of letters, digits and "
            "'.', '_', ':', '-', starting with a letter or digit (the Job's pod name is one)",
        )
    return text


def loop_name(text: str) -> str:
    if not LOOP.fullmatch(text):
        raise BadRequestError(
            "invalid_loop",
            f"loop name {text[:70]!r} is not valid: a loop is named by a DNS label "
            "(lower-case letters, digits and '-')",
        )
    return text


def seq(text: str) -> int:
    if not SEQ.fullmatch(text):
        raise BadRequestError(
            "invalid_seq",
            f"journal seq {text[:40]!r} is not valid: use a positive integer (1 for the first entry)",
        )
    return int(text)


def parse(raw: bytes, example: str, *, empty_ok: bool = False) -> dict[str, Any]:
    """The body as a JSON object (``{}`` for an empty one when ``empty_ok``)."""
    if empty_ok and not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequestError(
            "invalid_json", f"request body is not JSON ({exc}): send a JSON object like {example}"
        ) from exc
    if not isinstance(body, dict):
        raise BadRequestError(
            "invalid_body", f"request body must be a JSON object like {example}, not {kind(body)}"
        )
    return body


def only(body: dict[str, Any], allowed: tuple[str, ...], what: str) -> None:
    unknown = [k for k in body if k not in allowed]
    if unknown:
        named = ", ".join(repr(k[:40]) for k in unknown[:5]) + (", …" if len(unknown) > 5 else "")
        raise BadRequestError(
            "unknown_field",
            f"unknown field(s) {named} in {what}: the allowed ones are " + ", ".join(allowed),
        )


def canonical(value: Any, field: str, limit: int) -> bytes:
    """``value`` in the store's encoding, refused past ``limit`` bytes."""
    try:
        text = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError as exc:  # nested past the encoder's depth limit
        raise BadRequestError(
            "invalid_body", f"{field} cannot be stored ({exc}): nest it less deeply"
        ) from exc
    if len(text) > limit:
        raise TooLargeError(
            "too_large",
            f"{field} is {len(text)} bytes of JSON, over the limit of {size(limit)}: "
            "store less (a summary, or a reference to where the full output lives)",
        )
    return text


def size(limit: int) -> str:
    return f"{limit // MiB} MiB" if limit % MiB == 0 else f"{limit // KiB} KiB"


def kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), "null" if value is None else "a number"
    )


def count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def amount(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


def opening(body: dict[str, Any]) -> tuple[str, Any]:
    """``(trigger, input)`` of a ``PUT /v1/fleet/runs/<run>`` body."""
    only(body, ("trigger", "input"), "the run's opening")
    trigger = body.get("trigger", "cron")
    if not isinstance(trigger, str) or not NAME.fullmatch(trigger):
        raise BadRequestError(
            "invalid_body",
            f"trigger must be a short lower-case name like 'cron', 'manual', 'webhook' or 'local', not {str(trigger)[:40]!r}",
        )
    value = body.get("input")
    canonical(value, "input", INPUT_MAX)
    return trigger, value


def patch(body: Any, what: str = "the run patch") -> dict[str, Any]:
    """A record patch: only the fields a harness may set, each of its type."""
    if not isinstance(body, dict):
        raise BadRequestError(
            "invalid_body", f'{what} must be a JSON object like {{"steps": 3}}, not {kind(body)}'
        )
    only(body, PATCH_FIELDS, what)
    for field, value in body.items():
        if field == "status" and value not in STATUSES:
            raise BadRequestError(
                "invalid_body",
                f"status must be one of {', '.join(STATUSES)}, not {str(value)[:40]!r}",
            )
        if field == "outcome" and value is not None and value not in OUTCOMES:
            raise BadRequestError(
                "invalid_body",
                f"outcome must be null or one of {', '.join(OUTCOMES)}, not {str(value)[:40]!r}",
            )
        if field == "summary" and value is not None and not isinstance(value, str):
            raise BadRequestError(
                "invalid_body", f"summary must be a string or null, not {kind(value)}"
            )
        if field == "approval" and value is not None and not isinstance(value, dict):
            raise BadRequestError(
                "invalid_body",
                f"approval must be an object (the pending call: approval_id, call_id, name) or null, not {kind(value)}",
            )
        if field in COUNTS and not count(value):
            raise BadRequestError("invalid_body", f"{field} must be a non-negative integer")
        if field in AMOUNTS and not amount(value):
            raise BadRequestError("invalid_body", f"{field} must be a non-negative number")
        if field == "ended" and value is not None and not amount(value):
            raise BadRequestError(
                "invalid_body", "ended must be null or the end time in epoch seconds"
            )
    canonical(body, what, PATCH_MAX)
    return body


def journal_body(body: dict[str, Any], at: int) -> tuple[bytes, dict[str, Any] | None]:
    """(the entry in canonical form, the record patch or None) of an append to seq ``at``."""
    only(body, ("entry", "run"), "a journal append")
    entry = body.get("entry")
    if not isinstance(entry, dict):
        raise BadRequestError(
            "invalid_body",
            'a journal append is {"entry": {"kind": …, "scope": …, "t": …}, "run": {…}}; '
            f"entry is {kind(entry) if 'entry' in body else 'missing'}",
        )
    given = entry.get("seq", at)
    if given != at or isinstance(given, bool):
        raise BadRequestError(
            "invalid_body",
            f"entry.seq is {str(given)[:40]} but the path says {at}: make them agree",
        )
    if not isinstance(entry.get("kind"), str) or not NAME.fullmatch(entry["kind"]):
        raise BadRequestError(
            "invalid_body",
            "entry.kind must be a short lower-case name (model, tool, approval, verdict, command, state, note, outcome)",
        )
    if "scope" in entry and not isinstance(entry["scope"], str):
        raise BadRequestError(
            "invalid_body", "entry.scope must be a string like 'main' or 'check:1'"
        )
    if "t" in entry and not amount(entry["t"]):
        raise BadRequestError(
            "invalid_body",
            "entry.t must be a non-negative number (seconds since the attempt started)",
        )
    text = canonical({**entry, "seq": at}, "the journal entry", ENTRY_MAX)
    run = body.get("run")
    return text, None if run is None else patch(run, "the append's run patch")


def state_body(body: dict[str, Any]) -> tuple[bytes, int]:
    """(the value in canonical form, ``if_version``) of a state write."""
    only(body, ("value", "if_version"), "a state write")
    value = body.get("value")
    if not isinstance(value, dict):
        raise BadRequestError(
            "invalid_body",
            'a state write is {"value": {…}, "if_version": N}; value must be an object, not '
            + (kind(value) if "value" in body else "missing"),
        )
    expected: Any = body.get("if_version")
    if not count(expected):
        raise BadRequestError(
            "invalid_body",
            "if_version must be the version you read (0 before the first write), a non-negative integer",
        )
    return canonical(value, "the state value", VALUE_MAX), int(expected)


def natural(name: str, text: str) -> int:
    """A query parameter that is a non-negative integer (a seq, a version)."""
    if not NATURAL.fullmatch(text):
        raise BadRequestError(
            "invalid_query", f"{name}={text[:40]!r} is not valid: use a non-negative integer"
        )
    return int(text)


def query(scope: dict[str, Any], allowed: tuple[str, ...]) -> dict[str, str]:
    """The query string's parameters (the last of repeated ones); unknown ones are refused."""
    raw = scope.get("query_string", b"").decode("latin-1")
    try:
        pairs = parse_qsl(raw, keep_blank_values=True, max_num_fields=20)
    except ValueError as exc:
        raise BadRequestError(
            "invalid_query",
            f"cannot read the query string ({exc}): send at most 20 name=value pairs",
        ) from exc
    params = dict(pairs)
    unknown = [k for k in params if k not in allowed]
    if unknown:
        raise BadRequestError(
            "invalid_query",
            f"unknown query parameter(s) {', '.join(repr(u[:40]) for u in unknown)}: "
            + (
                "this route takes none"
                if not allowed
                else "the allowed ones are " + ", ".join(allowed)
            ),
        )
    return params


def since(text: str, now: float | None = None) -> float:
    """Epoch seconds, or a duration back from now (``90s``, ``15m``, ``12h``, ``7d``, ``2w``)."""
    found = DURATION.fullmatch(text)
    if found:
        now = time.time() if now is None else now
        return now - int(found[1]) * DURATION_S[found[2]]
    try:
        value = float(text) if len(text) <= 32 else math.nan
    except ValueError:
        value = math.nan
    if not amount(value):
        raise BadRequestError(
            "invalid_query",
            f"since={text[:40]!r} is not valid: use epoch seconds or a duration like 90s, 15m, 12h, 7d, 2w",
        )
    return value


def listing(params: dict[str, str]) -> tuple[str | None, str | None, str | None, float | None, int]:
    """(loop, status, outcome, since, limit) of ``GET /v1/fleet/runs``."""
    loop = loop_name(params["loop"]) if params.get("loop") else None
    status = params.get("status") or None
    if status is not None and status not in STATUSES:
        raise BadRequestError(
            "invalid_query",
            f"status={status[:40]!r} is not valid: use one of {', '.join(STATUSES)}",
        )
    outcome = params.get("outcome") or None
    if outcome is not None and outcome not in OUTCOMES:
        raise BadRequestError(
            "invalid_query",
            f"outcome={outcome[:40]!r} is not valid: use one of {', '.join(OUTCOMES)}",
        )
    after = since(params["since"]) if params.get("since") else None
    limit_text = params.get("limit") or str(LIST_LIMIT)
    if not SEQ.fullmatch(limit_text) or int(limit_text) > LIST_MAX:
        raise BadRequestError(
            "invalid_query", f"limit={limit_text[:40]!r} is not valid: use 1 to {LIST_MAX}"
        )
    return loop, status, outcome, after, int(limit_text)
