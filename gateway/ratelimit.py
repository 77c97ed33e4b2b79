"""Rate limits (requests and tokens per minute per loop) and run bounds
(``max_steps`` and ``max_tokens_per_run`` per run id), checked before a request
goes upstream. Counters live in the store so replicas sharing Redis share them.
"""

from __future__ import annotations

from gateway.config import Identity
from gateway.errors import LimitError
from gateway.store import Store


async def check_limits(store: Store, ident: Identity, run: str | None, now: float) -> None:
    """Count this request; raise 429 when over RPM/TPM or the run's steps or tokens."""
    minute = int(now // 60)
    rate = ident.rate
    if rate.requests_per_minute is not None or rate.tokens_per_minute is not None:
        count = await store.hit(ident.loop, minute)
        retry = str(60 - int(now % 60))
        if rate.requests_per_minute is not None and count > rate.requests_per_minute:
            raise LimitError(
                "rate_limited",
                f"loop '{ident.loop}' is over {rate.requests_per_minute} requests per minute; retry after {retry} s",
                headers={"retry-after": retry},
            )
        if rate.tokens_per_minute is not None:
            _, tokens = await store.rate(ident.loop, minute)
            if tokens >= rate.tokens_per_minute:
                raise LimitError(
                    "rate_limited",
                    f"loop '{ident.loop}' used its {rate.tokens_per_minute} tokens for this minute; retry after {retry} s",
                    headers={"retry-after": retry},
                )
    if run:
        state = await store.run_step(ident.loop, run)
        h = ident.harness
        if h.max_steps is not None and state.steps > h.max_steps:
            raise LimitError(
                "run_step_limit",
                f"run '{run}' of '{ident.loop}' reached its ceiling of {h.max_steps} steps; end the run",
            )
        if h.max_tokens_per_run is not None and state.tokens >= h.max_tokens_per_run:
            raise LimitError(
                "run_token_limit",
                f"run '{run}' of '{ident.loop}' used its {h.max_tokens_per_run} tokens; end the run",
            )
