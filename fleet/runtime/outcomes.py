"""How a run ends: one outcome per way of stopping, and the gateway's refusals mapped onto them.

The outcomes are data, not exceptions of the caller's: a run that stops for
any reason still ends with a stored record. ``awaiting_approval`` is a pause,
not an end: the run resumes when an approver decides. ``expired`` is written by the
operator, not the harness: a run that waited for its approval longer than the fleet's
``approval_ttl``.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

Outcome = Literal[
    "done",
    "rejected",
    "max_steps",
    "max_tokens",
    "timeout",
    "stalled",
    "budget_exceeded",
    "guardrail_blocked",
    "provider_unavailable",
    "awaiting_approval",
    "expired",
    "error",
]

OUTCOMES: Final[tuple[Outcome, ...]] = get_args(Outcome)

PAUSED: Final = "awaiting_approval"

# The gateway's error codes on /v1/chat/completions that end a run, and how.
_BY_CODE: Final[dict[str, Outcome]] = {
    "budget_exceeded": "budget_exceeded",
    "run_step_limit": "max_steps",
    "run_token_limit": "max_tokens",
    "guardrail_blocked": "guardrail_blocked",
}

# Statuses that mean the provider (after the gateway's retries and fallback) is not answering.
UNAVAILABLE_STATUSES: Final = frozenset({408, 409, 500, 502, 503, 504, 520, 522, 524, 529})


def outcome_of_refusal(status: int, code: str | None) -> Outcome | None:
    """The outcome a refused model call ends the run with, or None when the call may be retried.

    ``rate_limited`` (429) is a wait, not an end; a status the provider is unavailable with is
    retried a bounded number of times by the caller before it becomes ``provider_unavailable``.
    """
    if code and code in _BY_CODE:
        return _BY_CODE[code]
    if status == 429 and code == "rate_limited":
        return None
    if status in UNAVAILABLE_STATUSES or status == 429:
        return None
    return "error"


def is_end(outcome: str) -> bool:
    return outcome in OUTCOMES and outcome != PAUSED
