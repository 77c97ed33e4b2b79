"""A loop may only tighten the fleet: budgets, rate limits and harness bounds."""

from __future__ import annotations

from collections.abc import Iterator

from fleet.errors import Diagnostic, Severity
from fleet.rules.base import (
    WINDOW_DAYS,
    Context,
    _agents,
    at,
    rule,
)


def _daily(limit: float, window: str) -> float:
    return limit / WINDOW_DAYS[window]


@rule(
    "FL161",
    "budget-above-fleet",
    Severity.ERROR,
    "A loop's budget is looser than the fleet's per-agent budget.",
)
def budget_above(ctx: Context) -> Iterator[Diagnostic]:
    fleet_budgets = [b for b in ctx.fleet.fleet.gateway.budgets if b.applies_per == "agent"]
    for la in _agents(ctx):
        budget = la.agent.budget
        if budget is None:
            continue
        for fb in fleet_budgets:
            same = fb.window == budget.window
            looser = (
                budget.limit_usd > fb.limit_usd
                if same
                else _daily(budget.limit_usd, budget.window) > _daily(fb.limit_usd, fb.window)
            )
            if looser:
                yield at(
                    la.smap,
                    ("agent", "budget", "limit_usd"),
                    f"budget ${budget.limit_usd:g}/{budget.window} is above the fleet's ${fb.limit_usd:g}/{fb.window} per agent",
                    "a loop may only tighten the fleet budget",
                )


@rule(
    "FL162",
    "rate-limit-above-fleet",
    Severity.ERROR,
    "A loop's rate limit is above the fleet's per-agent rate limit.",
)
def rate_above(ctx: Context) -> Iterator[Diagnostic]:
    fleet_rate = ctx.fleet.fleet.gateway.rate_limits.per_agent
    for la in _agents(ctx):
        rate = la.agent.rate_limits
        if rate is None:
            continue
        for name in ("requests_per_minute", "tokens_per_minute"):
            mine, cap = getattr(rate, name), getattr(fleet_rate, name)
            if mine is not None and cap is not None and mine > cap:
                yield at(
                    la.smap,
                    ("agent", "rate_limits", name),
                    f"{name} {mine} is above the fleet's {cap}",
                    "a loop may only tighten the fleet rate limits",
                )


@rule(
    "FL163",
    "harness-bounds",
    Severity.ERROR,
    "Harness bounds are missing or above the fleet's harness_limits.",
)
def harness_bounds(ctx: Context) -> Iterator[Diagnostic]:
    limits = ctx.fleet.fleet.harness_limits
    for la in _agents(ctx):
        h = la.agent.harness
        for name in ("max_steps", "max_tokens_per_run"):
            value, cap = getattr(h, name), getattr(limits, name)
            if value is None:
                yield at(
                    la.smap,
                    ("agent", "harness"),
                    f"harness.{name} is missing",
                    f"every loop sets its own ceiling; the fleet allows at most {cap}",
                    key=True,
                )
            elif value > cap:
                yield at(
                    la.smap,
                    ("agent", "harness", name),
                    f"{name} {value} is above the fleet limit {cap}",
                    f"lower it to {cap} or less",
                )
        for name in ("max_run_minutes", "max_checker_rounds"):
            value, cap = getattr(h, name), getattr(limits, name)
            if value is not None and value > cap:
                yield at(
                    la.smap,
                    ("agent", "harness", name),
                    f"{name} {value} is above the fleet limit {cap}",
                    f"lower it to {cap} or less",
                )
        if (
            h.stall_after_steps is not None
            and h.max_steps is not None
            and h.stall_after_steps > h.max_steps
        ):
            yield at(
                la.smap,
                ("agent", "harness", "stall_after_steps"),
                f"stall_after_steps {h.stall_after_steps} exceeds max_steps {h.max_steps}",
                "stall detection must trigger before the step ceiling",
            )
