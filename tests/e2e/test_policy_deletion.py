"""A FleetPolicy being deleted (its deletionTimestamp set, the operator's finalizer still on
it) gets no writes from the operator's timers: they run in threads, and one that fires in
that window must not re-create the gateway or the dashboard that the garbage collector is
about to take away with the policy."""

from __future__ import annotations

import copy
from typing import Any

import kopf
import pytest
from fleet_operator.kube import Kube
from fleet_operator.state import FleetState

from fleet.resources import API_VERSION
from tests.e2e.conftest import apply_all

pytestmark = pytest.mark.e2e
NS = "terminating-e2e"
FINALIZER = "fleetctl.dev/operator"


def children(kube: Kube, ns: str) -> list[str]:
    return sorted(
        f"{kind}/{obj['metadata']['name']}"
        for api_version, kind in (("apps/v1", "Deployment"), ("v1", "ConfigMap"), ("v1", "Service"))
        for obj in kube.list(api_version, kind, ns)
        if obj["metadata"].get("ownerReferences")
    )


@pytest.mark.parametrize("terminating", [False, True])
def test_a_terminating_policy_gets_no_writes_from_the_fleet_timer(
    kube: Kube, northwind: list[dict[str, Any]], terminating: bool
) -> None:
    import fleet_operator.handlers as handlers

    ns = f"{NS}-{int(terminating)}"
    docs = copy.deepcopy(northwind)
    docs[0]["metadata"]["finalizers"] = [FINALIZER]
    apply_all(kube, docs, ns)
    name = docs[0]["metadata"]["name"]
    fleet = docs[0]["spec"]["fleet"]
    if terminating:
        kube.delete(API_VERSION, "FleetPolicy", ns, name)  # held back by the finalizer
    raw = kube.get(API_VERSION, "FleetPolicy", ns, name)
    assert raw is not None and bool(raw["metadata"].get("deletionTimestamp")) is terminating
    saved = handlers._KUBE, handlers.STATE
    handlers._KUBE, handlers.STATE = kube, FleetState()
    try:
        handlers.STATE.mark(ns, fleet)  # a loop changed: the timer would re-render the fleet
        handlers.policy_gateway(body=kopf.Body(raw), memo=kopf.Memo())
    finally:
        handlers._KUBE, handlers.STATE = saved
    made = children(kube, ns)
    if terminating:
        assert made == []
    else:  # the same call on a live policy renders the gateway and the dashboard
        assert "Deployment/fleet-dashboard" in made and len(made) >= 4, made
