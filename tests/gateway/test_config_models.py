"""The gateway config's models check a document in plain Python (:func:`fleet.gwconfig.load`):
each mistake is named by its dotted path, nothing unknown or mistyped gets through, and
what the operator renders reads back the same. The serving process loads no pydantic."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import FrozenInstanceError
from typing import Any

import pytest

from fleet.gwconfig import ConfigError, GatewayConfig, GwBudget, dump_json, load, to_data
from fleet.gwrender import gateway_config
from tests.fleet_operator.test_render import LOOPS, POLICY


def loop(**extra: Any) -> dict[str, Any]:
    return {"owner": "ana", "team": "platform", "stage": "prod", "models": ["main"], **extra}


@pytest.mark.parametrize(
    ("doc", "where", "message"),
    [
        ([], "(top)", "expected an object, got a list"),
        ({}, "fleet", "field required"),
        ({"fleet": 7}, "fleet", "expected a string, got a number"),
        ({"fleet": "f", "flet": "f"}, "flet", "unknown field"),
        ({"fleet": "f", "version": 2}, "version", "expected one of 1, got 2"),
        ({"fleet": "f", "caching": {"type": "fuzzy"}}, "caching.type", "one of 'exact', 'none'"),
        ({"fleet": "f", "retries": {"attempts": True}}, "retries.attempts", "a whole number"),
        ({"fleet": "f", "retries": {"attempts": 2.5}}, "retries.attempts", "a whole number"),
        ({"fleet": "f", "approval_ttl_s": "7d"}, "approval_ttl_s", "expected a number"),
        ({"fleet": "f", "destructive_tools": "merge_pr"}, "destructive_tools", "a list"),
        ({"fleet": "f", "destructive_tools": ["a", 3]}, "destructive_tools.1", "a string"),
        ({"fleet": "f", "loops": {"a": loop(role="admin")}}, "loops.a.role", "one of"),
        ({"fleet": "f", "loops": {"a": {"owner": "x"}}}, "loops.a.models", "field required"),
        (
            {"fleet": "f", "loops": {"a": loop(budget={"limit_usd": None})}},
            "loops.a.budget.limit_usd",
            "expected a number, got null",
        ),
        (
            {"fleet": "f", "loops": {"a": loop(subagents={"c": {"models": [], "tokens": []}})}},
            "loops.a.subagents.c.tokens",
            "unknown field",
        ),
        (
            {"fleet": "f", "shared_budgets": [{"limit_usd": 5}]},
            "shared_budgets.0.applies_per",
            "field required",
        ),
    ],
)
def test_each_mistake_is_named_by_its_path(doc: Any, where: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load(doc)
    assert str(err.value).startswith(f"{where}: ")
    assert message in err.value.message


def test_defaults_fill_in_and_whole_numbers_read_as_numbers() -> None:
    cfg = load({"fleet": "f", "loops": {"a": loop(budget={"limit_usd": 5})}})
    assert cfg.loops["a"].budget == GwBudget(limit_usd=5.0, window="day", alert_at=[100])
    assert type(cfg.loops["a"].budget.limit_usd) is float  # type: ignore[union-attr]
    assert cfg.retries.on_status_codes == [429, 500, 502, 503]
    assert cfg.loops["a"].trigger is None and cfg.loops["a"].rate_limits.requests_per_minute is None
    with pytest.raises(FrozenInstanceError):
        cfg.fleet = "other"  # type: ignore[misc]


def test_a_rendered_config_reads_back_the_same() -> None:
    cfg = gateway_config(POLICY, list(LOOPS.values()), {}, {"ops": ["0" * 64]})
    assert isinstance(cfg, GatewayConfig) and cfg.loops and cfg.mcp_servers
    again = load(to_data(cfg))
    assert again == cfg
    assert dump_json(again) == dump_json(cfg)


def test_the_serving_process_loads_no_pydantic() -> None:
    probe = "import sys, gateway.__main__; print(sorted(m for m in sys.modules if m.split('.')[0] == 'pydantic' or m in ('fleet.spec', 'fleet.doctor')))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
