"""A schedule with H compiled: the written and the concrete schedule in the
AgentLoop, the concrete one in the CronJob (golden) and in the SCHEDULE column, and a schedule
change in ``fleetctl diff``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from fleet import cron
from fleet.compile import compile_fleet
from fleet.diff import diff_fleets
from fleet.render import SCHEDULE_ANNOTATION, render_loop
from fleet.source import DirSource
from fleet.yamlout import dump
from tests.conftest import FIXTURES, overlay

GOLDEN = Path(__file__).parent / "golden"


def compiled(tmp_path: Path, beta_schedule: str, name: str = "fleet") -> Any:
    root = overlay(tmp_path / name, FIXTURES / "base")
    beta = root / "agents" / "beta.yaml"
    beta.write_text(beta.read_text().replace('"30 7 * * *"', f'"{beta_schedule}"'))
    return compile_fleet(DirSource(root, "fleet"), git_commit="0123abc", lock=False)


def loop_cr(fleet: Any, name: str) -> dict[str, Any]:
    return next(loop for loop in fleet.loops if loop["metadata"]["name"] == name)


def test_the_cr_carries_the_written_and_the_concrete_schedule(tmp_path: Path) -> None:
    fleet = compiled(tmp_path, "H(0-29) 7 * * *")
    beta = loop_cr(fleet, "beta")["spec"]["trigger"]
    assert beta["schedule"] == "H(0-29) 7 * * *"
    assert beta["resolvedSchedule"] == cron.resolve("H(0-29) 7 * * *", "testfleet/beta")
    assert beta["resolvedSchedule"] == "11 7 * * *"
    alpha = loop_cr(fleet, "alpha")["spec"]["trigger"]
    assert alpha["schedule"] == alpha["resolvedSchedule"] == "0 6 * * 1-5"


def test_the_schedule_column_shows_the_concrete_schedule(tmp_path: Path) -> None:
    fleet = compiled(tmp_path, "H(0-29) 7 * * *")
    (crd,) = [c for c in fleet.crds if c["spec"]["names"]["kind"] == "AgentLoop"]
    (column,) = [
        c for c in crd["spec"]["versions"][0]["additionalPrinterColumns"] if c["name"] == "Schedule"
    ]
    assert column["jsonPath"] == ".spec.trigger.resolvedSchedule"
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert spec["properties"]["trigger"]["properties"]["resolvedSchedule"] == {"type": "string"}


def _cronjob(loop: dict[str, Any], policy: dict[str, Any]) -> dict[str, Any]:
    loop = {**loop, "metadata": {**loop["metadata"], "uid": "uid-beta"}}
    policy = {**policy, "metadata": {**policy["metadata"], "uid": "uid-policy"}}
    children = render_loop(loop, policy, namespace="fleet-system")
    return next(c for c in children if c["kind"] == "CronJob")


def test_the_cronjob_runs_the_concrete_schedule_golden(tmp_path: Path) -> None:
    fleet = compiled(tmp_path, "H(0-29) 7 * * *")
    cronjob = _cronjob(loop_cr(fleet, "beta"), fleet.policy)
    assert cronjob["spec"]["schedule"] == "11 7 * * *"
    assert cronjob["metadata"]["annotations"][SCHEDULE_ANNOTATION] == "H(0-29) 7 * * *"
    path = GOLDEN / "beta-cronjob-h.yaml"
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(dump(cronjob))
    assert dump(cronjob) == path.read_text(), "UPDATE_GOLDEN=1 to accept"


def test_a_cronjob_without_h_has_no_schedule_annotation(tmp_path: Path) -> None:
    fleet = compiled(tmp_path, "30 7 * * *")
    cronjob = _cronjob(loop_cr(fleet, "beta"), fleet.policy)
    assert cronjob["spec"]["schedule"] == "30 7 * * *"
    assert SCHEDULE_ANNOTATION not in cronjob["metadata"].get("annotations", {})


def test_an_agentloop_without_resolved_schedule_is_resolved_by_render(tmp_path: Path) -> None:
    """An AgentLoop written by hand (or by an older fleetctl) may say H and nothing else."""
    fleet = compiled(tmp_path, "H(0-29) 7 * * *")
    loop = loop_cr(fleet, "beta")
    trigger = {k: v for k, v in loop["spec"]["trigger"].items() if k != "resolvedSchedule"}
    by_hand = {**loop, "spec": {**loop["spec"], "trigger": trigger}}
    assert _cronjob(by_hand, fleet.policy)["spec"] == _cronjob(loop, fleet.policy)["spec"]


def test_compile_is_stable_across_copies(tmp_path: Path) -> None:
    first = compiled(tmp_path, "H H(5-8) * * 1-5", "one")
    second = compiled(tmp_path, "H H(5-8) * * 1-5", "two")
    assert first.files() == second.files()


@pytest.mark.parametrize(
    ("before", "after", "shown"),
    [
        ("30 7 * * *", "H(0-29) 7 * * *", ("30 7 * * *", "H(0-29) 7 * * * (runs as 11 7 * * *)")),
        (
            "H(0-29) 7 * * *",
            "H(0-29) 8 * * *",
            (
                "H(0-29) 7 * * * (runs as 11 7 * * *)",
                "H(0-29) 8 * * * (runs as 11 8 * * *)",
            ),
        ),
        ("H 7 * * *", "41 7 * * *", ("H 7 * * * (runs as 41 7 * * *)", "41 7 * * *")),
    ],
)
def test_diff_shows_a_schedule_change_as_one_change(
    tmp_path: Path, before: str, after: str, shown: tuple[str, str]
) -> None:
    base = compiled(tmp_path, before, "base")
    head = compiled(tmp_path, after, "head")
    result = diff_fleets(base.documents(), head.documents())
    (loop,) = [loop for loop in result.loops if loop.name == "beta"]
    assert [(c.path, c.before, c.after, c.risk, c.reason) for c in loop.changes] == [
        ("trigger.schedule", *shown, "medium", "schedule changed")
    ]


def test_a_hand_edited_schedule_wins_over_a_stale_resolved_one(tmp_path: Path) -> None:
    fleet = compiled(tmp_path, "H(0-29) 7 * * *")
    loop = loop_cr(fleet, "beta")
    edited = {**loop["spec"]["trigger"], "schedule": "H(0-29) 9 * * *"}  # resolvedSchedule: 7
    by_hand = {**loop, "spec": {**loop["spec"], "trigger": edited}}
    assert _cronjob(by_hand, fleet.policy)["spec"]["schedule"] == "11 9 * * *"
