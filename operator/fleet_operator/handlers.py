"""kopf handlers: when AgentLoops and FleetPolicies change, apply what :mod:`fleet.render` returns.

Run with ``kopf run -m fleet_operator.handlers --all-namespaces`` (the
Deployment in ``operator/deploy`` does). Settings come from the environment:

* ``FLEET_OPERATOR_KUBE_URL`` — talk to this API server instead of the
  in-cluster or kubeconfig one (tests point it at an emulator);
* ``FLEET_OPERATOR_DRIFT_SECONDS`` — how often each loop is re-checked for
  hand edits and its last schedule time copied (default 60);
* ``FLEET_OPERATOR_GATEWAY_IMAGE`` — the gateway image the fleet Deployment runs.

Handlers are synchronous (kopf runs them in worker threads) and write only
when something differs: an idle fleet costs reads.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import kopf

from fleet.resources import GROUP, VERSION
from fleet_operator.kube import Kube
from fleet_operator.reconcile import (
    FleetState,
    delete_loop,
    fleet_status,
    reconcile_fleet,
    reconcile_loop,
    write_status,
)

DRIFT_SECONDS = float(os.environ.get("FLEET_OPERATOR_DRIFT_SECONDS", "60"))
FLEET_SECONDS = float(os.environ.get("FLEET_OPERATOR_FLEET_SECONDS", "2"))
GATEWAY_IMAGE = os.environ.get("FLEET_OPERATOR_GATEWAY_IMAGE", "ghcr.io/fleetctl/gateway:0.1")

STATE = FleetState()
_KUBE: Kube | None = None
log = logging.getLogger("fleet.operator")


def kube() -> Kube:
    global _KUBE
    if _KUBE is None:
        url = os.environ.get("FLEET_OPERATOR_KUBE_URL")
        _KUBE = Kube.from_url(url) if url else Kube.default()
    return _KUBE


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.posting.enabled = False  # no Event objects: an idle fleet makes no writes
    settings.watching.server_timeout = 300
    settings.persistence.finalizer = "fleetctl.dev/operator"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="fleetctl.dev")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="fleetctl.dev", key="last-handled-configuration"
    )
    settings.execution.max_workers = int(os.environ.get("FLEET_OPERATOR_WORKERS", "8"))


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    url = os.environ.get("FLEET_OPERATOR_KUBE_URL")
    if url:
        return kopf.ConnectionInfo(
            server=url,
            insecure=True,
            scheme="Bearer",
            token=os.environ.get("FLEET_OPERATOR_KUBE_TOKEN") or None,
        )
    return kopf.login_via_client(**kwargs)


def _loop(body: kopf.Body) -> dict[str, Any]:
    return {
        "apiVersion": body.get("apiVersion"),
        "kind": "AgentLoop",
        "metadata": dict(body.metadata),
        "spec": dict(body.spec),
        "status": dict(body.status),
    }


@kopf.on.resume(GROUP, VERSION, "agentloops")
@kopf.on.create(GROUP, VERSION, "agentloops")
@kopf.on.update(GROUP, VERSION, "agentloops")
def loop_changed(body: kopf.Body, **_: Any) -> None:
    loop = _loop(body)
    write_status(kube(), loop, reconcile_loop(kube(), loop, STATE))


@kopf.on.delete(GROUP, VERSION, "agentloops", optional=True)
def loop_deleted(body: kopf.Body, **_: Any) -> None:
    # Optional: no finalizer holds a deleted loop back. Its children go with it through
    # ownerReferences; the fleet sweep drops it from the gateway config even if this
    # handler never sees the deletion.
    delete_loop(kube(), _loop(body), STATE)


def _policy(body: kopf.Body) -> dict[str, Any]:
    return {
        "apiVersion": body.get("apiVersion"),
        "kind": "FleetPolicy",
        "metadata": dict(body.metadata),
        "spec": dict(body.spec),
        "status": dict(body.status),
    }


def _reconcile_policy(body: kopf.Body) -> None:
    policy = _policy(body)
    outcomes, loops = reconcile_fleet(kube(), policy, STATE, image=GATEWAY_IMAGE)
    write_status(kube(), policy, fleet_status(policy, outcomes, loops), kind="FleetPolicy")


@kopf.on.resume(GROUP, VERSION, "fleetpolicies")
@kopf.on.create(GROUP, VERSION, "fleetpolicies")
@kopf.on.update(GROUP, VERSION, "fleetpolicies")
def policy_changed(body: kopf.Body, **_: Any) -> None:
    _reconcile_policy(body)
    # Loops inherit the policy: re-render them all.
    ns = body.metadata.get("namespace") or "default"
    for loop in kube().list(f"{GROUP}/{VERSION}", "AgentLoop", ns):
        if (loop.get("spec") or {}).get("fleet") == body.spec.get("fleet"):
            write_status(kube(), loop, reconcile_loop(kube(), loop, STATE))


def sweep_loops(policy: kopf.Body) -> int:
    """Re-check every loop of a fleet: restores hand-edited children, copies lastScheduleTime."""
    ns = policy.metadata.get("namespace") or "default"
    count = 0
    for loop in kube().list(f"{GROUP}/{VERSION}", "AgentLoop", ns):
        if (loop.get("spec") or {}).get("fleet") == policy.spec.get("fleet") and not loop[
            "metadata"
        ].get("deletionTimestamp"):
            write_status(kube(), loop, reconcile_loop(kube(), loop, STATE))
            count += 1
    return count


@kopf.timer(GROUP, VERSION, "fleetpolicies", interval=FLEET_SECONDS)
def policy_gateway(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """One timer per fleet, not per loop: loop changes mark their fleet and the gateway config is
    re-rendered once per interval; every drift period all the fleet's loops are swept."""
    ns = body.metadata.get("namespace") or "default"
    key = f"sweep/{ns}/{body.spec.get('fleet')}"
    now = time.monotonic()
    if now - memo.get(key, now) >= DRIFT_SECONDS:
        sweep_loops(body)
        _reconcile_policy(body)
        memo[key] = now
        return
    memo.setdefault(key, now)
    if STATE.take(ns, str(body.spec.get("fleet"))):
        _reconcile_policy(body)
