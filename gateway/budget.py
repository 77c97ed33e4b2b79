"""Budgets: which spend windows a request counts against (loop, team, fleet;
day/week/month in the fleet's time zone), the reservation of its maximum cost
before it goes upstream (429 ``budget_exceeded`` with the reset time when a
window is used up), and alerts at the configured thresholds (log, metric,
optional webhook) once per window.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

import orjson

from gateway.config import Identity, Runtime
from gateway.errors import LimitError
from gateway.routing import max_cost
from gateway.store import BudgetKey, Denied, Reservation
from gateway.store.errors import StoreUnavailable
from gateway.windows import window

if TYPE_CHECKING:
    from gateway.app import Gateway

log = logging.getLogger("fleet.gateway")


def budget_keys(rt: Runtime, ident: Identity, now: float) -> list[BudgetKey]:
    """The spend windows this request counts against: the loop's, then shared team/fleet budgets."""
    tz = rt.config.timezone
    keys: list[BudgetKey] = []
    if ident.budget is not None:
        wkey, resets = window(ident.budget.window, tz, now)
        keys.append(BudgetKey(f"loop:{ident.loop}:{wkey}", ident.budget.limit_usd, resets))
    for shared in rt.config.shared_budgets:
        wkey, resets = window(shared.window, tz, now)
        scope = f"team:{ident.team}" if shared.applies_per == "team" else "fleet"
        keys.append(BudgetKey(f"{scope}:{wkey}", shared.limit_usd, resets))
    return keys


async def reserve(
    gw: Gateway,
    rt: Runtime,
    ident: Identity,
    chain: list[str],
    body_len: int,
    max_out: int,
    now: float,
    amount: float | None = None,
) -> Reservation | None:
    """Reserve the request's maximum cost (``amount``, else priced for a chat completion) in
    every window, or raise 429 ``budget_exceeded``."""
    keys = budget_keys(rt, ident, now)
    if not keys:
        return None
    if amount is None:
        amount = max_cost(rt, chain, body_len, max_out)
    result = await gw.store.reserve(keys, amount)
    if isinstance(result, Denied):
        reset = dt.datetime.fromtimestamp(result.key.resets_at, dt.UTC).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
        gw.metrics.set(
            "fleet_gateway_budget_used_ratio",
            min(1.0, result.spent / result.key.limit),
            budget=result.key.key,
        )
        raise LimitError(
            "budget_exceeded",
            f"budget {result.key.key.rsplit(':', 2)[0]} of ${result.key.limit:g} is used up (${result.spent:.4f} spent, ${result.reserved:.4f} in flight, this request may cost up to ${amount:.4f}); the window resets at {reset}",
            headers={
                "retry-after": str(max(1, int(result.key.resets_at - now))),
                "x-fleet-budget-reset": reset,
            },
            extra={"resets_at": reset},
        )
    return result


async def alerts(gw: Gateway, ident: Identity, key: BudgetKey, ratio: float) -> None:
    """Fire each threshold the window has crossed, once per window (log, metric, webhook)."""
    rt = gw.holder.runtime
    thresholds: list[int] = []
    if key.key.startswith("loop:") and ident.budget is not None:
        thresholds = ident.budget.alert_at
    else:
        for shared in rt.config.shared_budgets:
            if key.key.startswith(
                "fleet:" if shared.applies_per == "fleet" else f"team:{ident.team}:"
            ):
                thresholds = shared.alert_at
    for threshold in sorted(thresholds):
        if ratio * 100 < threshold:
            continue
        try:
            first = await gw.store.mark_alert(key.key, threshold)
        except StoreUnavailable as exc:  # the request is settled; its alert waits for the next
            log.warning("budget alert for %s not marked: %s", key.key, exc.message)
            return
        if first:
            budget = key.key.rsplit(":", 2)[0]
            log.warning("budget alert: %s reached %d%% of $%g", budget, threshold, key.limit)
            gw.metrics.inc(
                "fleet_gateway_budget_alerts_total", budget=budget, threshold=str(threshold)
            )
            if rt.config.alert_webhook:
                gw.spawn(
                    webhook(
                        gw,
                        rt.config.alert_webhook,
                        {
                            "budget": budget,
                            "threshold": threshold,
                            "ratio": ratio,
                            "limit_usd": key.limit,
                            "loop": ident.loop,
                            "fleet": rt.config.fleet,
                        },
                    )
                )


async def webhook(gw: Gateway, url: str, payload: dict[str, Any]) -> None:
    """POST an alert; a hook that is down is logged, never fails the request."""
    try:
        async with gw.upstream.session.post(
            url, data=orjson.dumps(payload), headers={"Content-Type": "application/json"}
        ) as resp:
            await resp.read()
    except Exception as exc:  # an alert hook that is down must not fail requests
        log.warning("budget alert webhook failed: %s", exc)
