"""The operator runs a loop's concrete schedule: an AgentLoop that says
``H`` reconciled into the emulated API server gets a CronJob on the loop's own minute, keeps
both schedules through the CRD's schema, and follows a schedule change."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fleet import cron
from fleet.compile import compile_fleet
from fleet.render import SCHEDULE_ANNOTATION
from fleet.resources import API_VERSION
from fleet.source import DirSource
from fleet_operator.kube import Kube
from fleet_operator.reconcile import reconcile_loop
from fleet_operator.state import FleetState
from tests.conftest import NORTHWIND, overlay
from tests.e2e.emulator import Cluster

pytestmark = pytest.mark.e2e
LOOP = "cost-report"


@pytest.fixture(scope="module")
def kube() -> Iterator[Kube]:
    with Cluster() as cluster:
        yield Kube.from_url(cluster.url)


def _compile(tmp_path: Path, schedule: str) -> list[dict[str, Any]]:
    root = overlay(tmp_path / "northwind", NORTHWIND)
    path = root / "agents" / f"{LOOP}.yaml"
    path.write_text(path.read_text().replace('"0 8 * * 1"', f'"{schedule}"'))
    compiled = compile_fleet(DirSource(root), git_commit="e2e", lock=False)
    return [compiled.policy, *compiled.content, *compiled.loops]


def _apply(kube: Kube, docs: list[dict[str, Any]], ns: str) -> dict[str, Any]:
    for doc in docs:
        if doc["kind"] in ("FleetPolicy", "ConfigMap") or doc["metadata"]["name"] == LOOP:
            body = {**doc, "metadata": {**doc["metadata"], "namespace": ns}}
            live = kube.get(doc["apiVersion"], doc["kind"], ns, doc["metadata"]["name"])
            if live is None:
                kube.create(body)
            else:
                kube.patch(doc["apiVersion"], doc["kind"], ns, doc["metadata"]["name"], body)
    loop = kube.get(API_VERSION, "AgentLoop", ns, LOOP)
    assert loop is not None
    return loop


def test_the_cronjob_runs_the_loops_own_minute(kube: Kube, tmp_path: Path) -> None:
    ns = "schedule-h"
    loop = _apply(kube, _compile(tmp_path, "H(0-29) 8 * * 1-5"), ns)
    concrete = cron.resolve("H(0-29) 8 * * 1-5", cron.seed("northwind", LOOP))
    assert loop["spec"]["trigger"]["schedule"] == "H(0-29) 8 * * 1-5"
    assert loop["spec"]["trigger"]["resolvedSchedule"] == concrete  # kept by the CRD's schema

    state = FleetState()
    status = reconcile_loop(kube, loop, state)
    assert next(c for c in status["conditions"] if c["type"] == "Ready")["status"] == "True"
    cronjob = kube.get("batch/v1", "CronJob", ns, LOOP)
    assert cronjob is not None
    assert cronjob["spec"]["schedule"] == concrete
    assert cronjob["metadata"]["annotations"][SCHEDULE_ANNOTATION] == "H(0-29) 8 * * 1-5"

    loop = _apply(kube, _compile(tmp_path / "next", "H(30-59) 9 * * 1-5"), ns)
    reconcile_loop(kube, loop, state)
    cronjob = kube.get("batch/v1", "CronJob", ns, LOOP)
    assert cronjob is not None
    moved = cron.resolve("H(30-59) 9 * * 1-5", cron.seed("northwind", LOOP))
    assert cronjob["spec"]["schedule"] == moved != concrete


def test_a_bad_h_in_an_agentloop_written_by_hand_is_named(kube: Kube, tmp_path: Path) -> None:
    ns = "schedule-bad-h"
    loop = _apply(kube, _compile(tmp_path, "H 8 * * 1"), ns)
    trigger = {**loop["spec"]["trigger"], "schedule": "H(70-80) 8 * * 1"}
    kube.patch(API_VERSION, "AgentLoop", ns, LOOP, {"spec": {"trigger": trigger}})
    loop = kube.get(API_VERSION, "AgentLoop", ns, LOOP)
    assert loop is not None
    status = reconcile_loop(kube, loop, FleetState())
    accepted = next(c for c in status["conditions"] if c["type"] == "Accepted")
    assert (accepted["status"], accepted["reason"]) == ("False", "InvalidSpec")
    assert accepted["message"] == (
        "spec.trigger.schedule: Value error, minute 'H(70-80)' is out of range: minute is 0-59"
    )
    assert kube.get("batch/v1", "CronJob", ns, LOOP) is None
