"""Reconcile building blocks against the emulated API, without kopf: views that are out of
date, concurrent reconciles of one loop, a hand-stripped label."""

from __future__ import annotations

import base64
import hashlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fleet_operator.kube import Kube
from fleet_operator.reconcile import FleetState, Fresh, Snapshot, apply, reconcile_loop

from fleet.render import FLEET_LABEL
from tests.e2e.conftest import RealCluster, apply_all

pytestmark = pytest.mark.e2e


@pytest.fixture
def namespace(cluster: Any, kube: Kube, request: pytest.FixtureRequest) -> str:
    """A namespace of the test's own (created on a real cluster; the emulator needs none)."""
    name = "rc-" + request.node.name.removeprefix("test_").replace("_", "-")[:40]
    if isinstance(cluster, RealCluster) and kube.get("v1", "Namespace", None, name) is None:
        kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name


def _configmap(ns: str, name: str, value: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": {FLEET_LABEL: "northwind"},
            "annotations": {"fleetctl.dev/content-hash": value},
        },
        "data": {"value": value},
    }


def test_create_that_meets_an_existing_object_updates_it(kube: Kube, namespace: str) -> None:
    ns = namespace
    kube.create(_configmap(ns, "taken", "theirs"))
    outcome, live = apply(kube, _configmap(ns, "taken", "ours"), None)  # the view said absent
    assert outcome == "updated"
    assert live is not None and live["data"] == {"value": "ours"}
    assert kube.get("v1", "ConfigMap", ns, "taken")["data"] == {"value": "ours"}  # type: ignore[index]
    assert apply(kube, _configmap(ns, "taken", "ours"))[0] == "unchanged"


def _setup(kube: Kube, northwind: list[dict[str, Any]], ns: str) -> dict[str, Any]:
    policy = next(d for d in northwind if d["kind"] == "FleetPolicy")
    content = [d for d in northwind if d["kind"] == "ConfigMap"]
    apply_all(kube, [policy, *content], ns)
    loop = next(d for d in northwind if d["metadata"]["name"] == "cost-report")
    apply_all(kube, [loop], ns)
    created = kube.get(loop["apiVersion"], "AgentLoop", ns, "cost-report")
    assert created is not None
    return created


def test_concurrent_reconciles_of_a_new_loop_mint_one_token(
    kube: Kube, northwind: list[dict[str, Any]], namespace: str
) -> None:
    ns = namespace
    loop = _setup(kube, northwind, ns)
    state = FleetState()
    with ThreadPoolExecutor(4) as pool:
        statuses = list(
            pool.map(lambda _: reconcile_loop(kube, loop, state, Fresh(kube)), range(4))
        )
    for status in statuses:
        ready = next(c for c in status["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "True", ready
    secret = kube.get("v1", "Secret", ns, "cost-report-gateway-token")
    assert secret is not None
    token = base64.b64decode(secret["data"]["token"])
    assert state.token_hashes[(ns, "cost-report")] == [hashlib.sha256(token).hexdigest()]


def test_snapshot_restores_a_child_whose_label_was_stripped(
    kube: Kube, northwind: list[dict[str, Any]], namespace: str
) -> None:
    ns = namespace
    loop = _setup(kube, northwind, ns)
    state = FleetState()
    reconcile_loop(kube, loop, state)
    kube.patch("batch/v1", "CronJob", ns, "cost-report", {"metadata": {"labels": None}})
    snapshot = Snapshot(kube, ns, "northwind")
    assert snapshot.get("batch/v1", "CronJob", ns, "cost-report") is None  # not ours any more
    assert snapshot.get("v1", "ServiceAccount", ns, "cost-report") is not None
    status = reconcile_loop(kube, loop, state, snapshot)
    assert next(c for c in status["conditions"] if c["type"] == "Ready")["status"] == "True"
    cron = kube.get("batch/v1", "CronJob", ns, "cost-report")
    assert cron is not None and cron["metadata"]["labels"][FLEET_LABEL] == "northwind"
    # Now the children match: one more pass through a fresh snapshot writes nothing.
    before = kube.writes
    reconcile_loop(kube, loop, state, Snapshot(kube, ns, "northwind"))
    assert kube.writes == before
