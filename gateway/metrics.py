"""Prometheus metrics in the text exposition format, kept as plain dicts.

A small registry of our own: the hot path does one dict update per counter,
and ``/metrics`` renders on demand, as the 0.0.4 text format or, to a scraper
that accepts it, OpenMetrics 1.0. Labels are loop and model (and a few more).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict

LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
    60,
)

Labels = tuple[tuple[str, str], ...]


class Metrics:
    def __init__(self) -> None:
        self.counters: dict[str, dict[Labels, float]] = defaultdict(lambda: defaultdict(float))
        self.gauges: dict[str, dict[Labels, float]] = defaultdict(dict)
        self.hist: dict[str, dict[Labels, list[float]]] = defaultdict(dict)
        self.help: dict[str, tuple[str, str]] = {}

    def describe(self, name: str, kind: str, text: str) -> None:
        self.help[name] = (kind, text)

    def inc(self, name: str, value: float = 1.0, **labels: str) -> None:
        self.counters[name][tuple(sorted(labels.items()))] += value

    def set(self, name: str, value: float, **labels: str) -> None:
        self.gauges[name][tuple(sorted(labels.items()))] = value

    def observe(self, name: str, value: float, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        row = self.hist[name].get(key)
        if row is None:
            row = self.hist[name][key] = [0.0] * (len(LATENCY_BUCKETS) + 2)
        row[bisect_left(LATENCY_BUCKETS, value)] += 1
        row[-1] += value

    @staticmethod
    def _fmt(labels: Labels, extra: tuple[tuple[str, str], ...] = ()) -> str:
        items = labels + extra
        if not items:
            return ""
        inner = ",".join(
            f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
            for k, v in items
        )
        return "{" + inner + "}"

    def render(self, openmetrics: bool = False) -> str:
        """The text format 0.0.4, or OpenMetrics 1.0: the same samples, but a counter's
        family is named without its ``_total``, untyped is ``unknown``, and ``# EOF`` ends it."""
        lines: list[str] = []
        for name in sorted(set(self.counters) | set(self.gauges) | set(self.hist)):
            kind, text = self.help.get(name, ("untyped", name))
            family = name
            if openmetrics:
                if kind == "counter":
                    family = name.removesuffix("_total")
                elif kind == "untyped":
                    kind = "unknown"
            lines.append(f"# HELP {family} {text}")
            lines.append(f"# TYPE {family} {kind}")
            for labels, value in sorted(self.counters.get(name, {}).items()):
                lines.append(f"{name}{self._fmt(labels)} {value:g}")
            for labels, value in sorted(self.gauges.get(name, {}).items()):
                lines.append(f"{name}{self._fmt(labels)} {value:g}")
            for labels, row in sorted(self.hist.get(name, {}).items()):
                cumulative = 0.0
                for bound, count in zip(LATENCY_BUCKETS, row, strict=False):
                    cumulative += count
                    lines.append(
                        f"{name}_bucket{self._fmt(labels, (('le', f'{bound:g}'),))} {cumulative:g}"
                    )
                cumulative += row[len(LATENCY_BUCKETS)]
                lines.append(f"{name}_bucket{self._fmt(labels, (('le', '+Inf'),))} {cumulative:g}")
                lines.append(f"{name}_sum{self._fmt(labels)} {row[-1]:g}")
                lines.append(f"{name}_count{self._fmt(labels)} {cumulative:g}")
        if openmetrics:
            lines.append("# EOF")
        return "\n".join(lines) + "\n"


def standard() -> Metrics:
    m = Metrics()
    m.describe("fleet_gateway_requests_total", "counter", "Requests by loop, model and outcome.")
    m.describe("fleet_gateway_request_seconds", "histogram", "Request latency through the gateway.")
    m.describe("fleet_gateway_upstream_seconds", "histogram", "Upstream attempt latency.")
    m.describe("fleet_gateway_tokens_total", "counter", "Tokens by loop, model and direction.")
    m.describe("fleet_gateway_cost_usd_total", "counter", "Spend in USD by loop and model.")
    m.describe("fleet_gateway_budget_used_ratio", "gauge", "Share of the budget window spent.")
    m.describe("fleet_gateway_budget_alerts_total", "counter", "Budget threshold alerts raised.")
    m.describe("fleet_gateway_cache_total", "counter", "Cache lookups by result.")
    m.describe("fleet_gateway_retries_total", "counter", "Upstream retries and fallbacks.")
    m.describe(
        "fleet_gateway_guardrail_verdicts_total",
        "counter",
        "Guardrail verdicts by hook, detector and action.",
    )
    m.describe("fleet_gateway_config_reloads_total", "counter", "Config reloads.")
    m.describe(
        "fleet_gateway_mcp_tool_calls_total",
        "counter",
        "MCP tool calls by server, tool, class and outcome.",
    )
    m.describe(
        "fleet_gateway_mcp_denials_total",
        "counter",
        "MCP tool calls refused by grant, guardrail or listing, by server and reason.",
    )
    m.describe(
        "fleet_gateway_mcp_approvals_pending",
        "gauge",
        "Approval requests waiting for a human, by server (read from the store at scrape).",
    )
    m.describe(
        "fleet_gateway_mcp_approvals_decided_total",
        "counter",
        "Approval requests decided through this gateway, by server and decision.",
    )
    m.describe(
        "fleet_gateway_journal_unapplied_records",
        "gauge",
        "Settlements in the SQLite store's journal not folded into the database yet.",
    )
    return m
