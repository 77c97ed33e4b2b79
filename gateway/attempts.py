"""One chat completion as both answer paths (``forward``, ``streaming``) see it,
and the steps of the attempt plan they share: the backoff before a retry, each
attempt's entry in the trace, a non-retryable upstream answer passed back as it
came, the trace of the attempt that served, and the 502 when none did. What
goes back to the caller and into the trace has the credentials the gateway
injected replaced (:mod:`gateway.secrets`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from gateway.asgi import JSON, Send, send_response
from gateway.config import Identity, Runtime
from gateway.errors import UpstreamError
from gateway.routing import backoff
from gateway.secrets import secrets_for
from gateway.store import Reservation

if TYPE_CHECKING:
    from gateway.app import Gateway


@dataclass(slots=True)
class Call:
    """A request past identity, limits and input guardrails, with its reservation."""

    gw: Gateway
    rt: Runtime
    ident: Identity
    body: dict[str, Any]
    chain: list[str]
    reservation: Reservation | None
    run: str | None
    now: float
    trace: dict[str, Any]
    started: float
    send: Send

    async def settle(self, cost: float = 0.0, tokens: int = 0) -> None:
        secrets = secrets_for(self.rt)
        if secrets:
            clean = secrets.value(self.trace)
            if clean is not self.trace:
                self.trace.clear()
                self.trace.update(clean)
        await self.gw.settle(
            self.ident, self.reservation, cost, tokens, self.run, self.now, self.trace, self.started
        )

    async def before_retry(self, i: int, vm: str) -> None:
        """Count the retry and wait out the backoff before attempt ``i`` (0 waits not)."""
        if i:
            self.gw.metrics.inc("fleet_gateway_retries_total", loop=self.ident.loop, model=vm)
            await backoff(self.rt, i - 1)

    def record(
        self, vm: str, where: str, t0: float, timed: str = "ms", **outcome: Any
    ) -> dict[str, Any]:
        """Add one attempt to the trace: where it went, how it ended, and the time since
        ``t0`` under ``timed`` (a served stream's is its time to first byte)."""
        entry = {
            "virtual_model": vm,
            "target": where,
            **outcome,
            timed: round((time.perf_counter() - t0) * 1000, 3),
        }
        self.trace["attempts"].append(entry)
        return entry

    async def pass_back(self, where: str, status: int, body: bytes) -> None:
        """A non-retryable upstream answer goes to the caller as it came (less the
        credentials it may echo), at no cost."""
        self.trace.update(target=where, status=status, error="upstream_error", cost_usd=0.0)
        await self.settle()
        secrets = secrets_for(self.rt)
        if secrets and secrets.holds(body):
            body = secrets.data(body)
        await send_response(self.send, status, body, [*JSON, (b"x-fleet-target", where.encode())])

    def served(
        self, vm: str, where: str, tokens_in: int, tokens_out: int, cost: float, **extra: Any
    ) -> None:
        """The trace of the attempt that answered."""
        self.trace.update(
            target=where,
            served_by=vm,
            status=200,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            cost_usd=cost,
            cache_hit=False,
            retries=len(self.trace["attempts"]) - 1,
            **extra,
        )

    async def give_up(self, failed: str = "failed") -> NoReturn:
        """No target or fallback served: settle at no cost and answer 502."""
        attempts = self.trace["attempts"]
        self.trace.update(status=502, error="upstream_unavailable", cost_usd=0.0)
        await self.settle()
        reasons = "; ".join(f"{a['target']}: {a.get('error') or a.get('status')}" for a in attempts)
        raise UpstreamError(
            "upstream_unavailable",
            f"every target and fallback {failed} ({len(attempts)} attempts): {reasons}",
        )


def usage_tokens(usage: Any) -> tuple[int, int]:
    """(prompt, completion) tokens of a provider's usage block; what is not a count
    (missing, a string, negative, absurdly large) is 0, and the caller estimates."""
    if not isinstance(usage, dict):
        return 0, 0
    return _count(usage.get("prompt_tokens")), _count(usage.get("completion_tokens"))


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0
    if value != value or not 0 <= value < 1 << 40:  # NaN, negative, or no real count
        return 0
    return int(value)
