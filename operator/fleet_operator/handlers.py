"""kopf handlers: when AgentLoops and FleetPolicies change, apply what :mod:`fleet.render` returns.

Run with ``kopf run -m fleet_operator.handlers --all-namespaces`` (the
Deployment in ``operator/deploy`` does). Settings come from the environment:

* ``FLEET_OPERATOR_KUBE_URL`` — talk to this API server instead of the
  in-cluster or kubeconfig one (tests point it at an emulator);
* ``FLEET_OPERATOR_DRIFT_SECONDS`` — how often each loop is re-checked for
  hand edits and its last schedule time copied (default 60);
* ``FLEET_OPERATOR_FLEET_SECONDS`` — how often a fleet whose loops changed has its
  gateway config re-rendered (default 2);
* ``FLEET_OPERATOR_RETRY_SECONDS`` — how long a failed handler waits before kopf
  retries it (default 5);
* ``FLEET_OPERATOR_GATEWAY_IMAGE`` — the gateway image the fleet Deployment runs;
* ``FLEET_OPERATOR_DASHBOARD_IMAGE`` — the image of each fleet's dashboard Deployment
  (:mod:`fleet_operator.dashboard`); empty: no dashboard;
* ``FLEET_OPERATOR_POLL_SECONDS`` — how often each fleet's gateway is asked for queued
  webhook triggers, decided approvals and run summaries (default 10; one request per fleet);
* ``FLEET_OPERATOR_GATEWAY_URL`` — the gateway's base URL (``{namespace}`` is replaced;
  default the fleet's Service, ``http://fleet-gateway.<namespace>.svc:8080``);
* ``FLEET_OPERATOR_HEALTH_SECONDS`` — how often each fleet's gateway is asked for the
  loops' findings, copied into their ``Healthy`` condition (default 60; one request per fleet);
* ``FLEET_OPERATOR_ORPHAN_SECONDS`` — how long a run may stay ``running`` without an active
  Job before it is ended ``error`` (default 30).

Secrets labelled ``fleetctl.dev/approvers`` are watched too (only they: the label is a
server-side selector), to re-render their fleet's approvers (:mod:`fleet_operator.approvers`).
Secrets labelled ``fleetctl.dev/viewers`` (the dashboard's readers) are not watched: they are
listed at each render of their fleet, at the latest every drift period
(:mod:`fleet_operator.dashboard`).

Handlers are synchronous (kopf runs them in worker threads) and write only
when something differs: an idle fleet costs reads.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import kopf

from fleet.render import ConfigTooLarge
from fleet.resources import GROUP, VERSION
from fleet_operator.applier import Fresh, Snapshot
from fleet_operator.approvers import APPROVERS_LABEL, fingerprint
from fleet_operator.conditions import fleet_failed, fleet_status, write_status
from fleet_operator.gwclient import GatewayClient
from fleet_operator.health import HEALTH_SECONDS, poll_health
from fleet_operator.kube import Kube
from fleet_operator.reconcile import delete_loop, in_fleet, reconcile_fleet, reconcile_loop
from fleet_operator.runs import POLL_SECONDS, Cursor, poll_fleet
from fleet_operator.state import FleetState

DRIFT_SECONDS = float(os.environ.get("FLEET_OPERATOR_DRIFT_SECONDS", "60"))
FLEET_SECONDS = float(os.environ.get("FLEET_OPERATOR_FLEET_SECONDS", "2"))
RETRY_SECONDS = float(os.environ.get("FLEET_OPERATOR_RETRY_SECONDS", "5"))
GATEWAY_IMAGE = os.environ.get("FLEET_OPERATOR_GATEWAY_IMAGE", "ghcr.io/fleetctl/gateway:0.1")
# Empty: no dashboard Deployment (one made before is removed).
DASHBOARD_IMAGE = os.environ.get("FLEET_OPERATOR_DASHBOARD_IMAGE", "ghcr.io/fleetctl/dashboard:0.1")

STATE = FleetState()
CLIENT = GatewayClient()
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
    # Only approvers Secrets are watched: the API server filters, the rest never reach us.
    settings.watching.label_selectors["v1", "secrets"] = APPROVERS_LABEL
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


@kopf.on.create(GROUP, VERSION, "agentloops", backoff=RETRY_SECONDS)
def loop_created(body: kopf.Body, retry: int, **_: Any) -> None:
    # A new loop has no children yet: create them without reading first (on a retry, read).
    loop = _loop(body)
    view = Fresh(kube()) if retry == 0 else None
    status = reconcile_loop(kube(), loop, STATE, view)
    if status is not None:
        write_status(kube(), loop, status, current=True)


@kopf.on.resume(GROUP, VERSION, "agentloops", backoff=RETRY_SECONDS)
@kopf.on.update(GROUP, VERSION, "agentloops", backoff=RETRY_SECONDS)
def loop_changed(body: kopf.Body, **_: Any) -> None:
    loop = _loop(body)
    status = reconcile_loop(kube(), loop, STATE)
    if status is not None:
        write_status(kube(), loop, status, current=True)


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


def _reconcile_policy(body: kopf.Body, listed: list[dict[str, Any]] | None = None) -> None:
    policy = _policy(body)
    try:
        outcomes, loops = reconcile_fleet(
            kube(), policy, STATE, image=GATEWAY_IMAGE, listed=listed,
            dashboard_image=DASHBOARD_IMAGE,
        )  # fmt: skip
    except ConfigTooLarge as exc:
        # Not a passing fault: say so on the FleetPolicy instead of retrying forever.
        log.error("fleet %s: %s", policy["spec"].get("fleet"), exc)
        status = fleet_failed(policy, "ConfigTooLarge", str(exc))
    else:
        ns = policy["metadata"].get("namespace") or "default"
        with STATE.lock:
            approvers = STATE.approvers.get((ns, str(policy["spec"].get("fleet"))))
            viewers = STATE.viewers.get((ns, str(policy["spec"].get("fleet"))))
        status = fleet_status(policy, outcomes, loops, approvers, viewers)
    write_status(kube(), policy, status, kind="FleetPolicy", current=True)


@kopf.on.resume(GROUP, VERSION, "fleetpolicies", backoff=RETRY_SECONDS)
@kopf.on.create(GROUP, VERSION, "fleetpolicies", backoff=RETRY_SECONDS)
@kopf.on.update(GROUP, VERSION, "fleetpolicies", backoff=RETRY_SECONDS)
def policy_changed(body: kopf.Body, **_: Any) -> None:
    # Loops inherit the policy: re-render them all (the policy is remembered first).
    sweep_fleet(body)


@kopf.on.delete(GROUP, VERSION, "fleetpolicies", optional=True)
def policy_deleted(body: kopf.Body, **_: Any) -> None:
    STATE.forget_policy(body.metadata.get("namespace") or "default", str(body.spec.get("fleet")))


# No client-side label filter: the watch is already only of labelled Secrets, and a Secret
# whose label was removed arrives without it (as DELETED from a real API server).
@kopf.on.event("v1", "secrets")
def approvers_changed(body: kopf.Body, type: str | None, **_: Any) -> None:
    """An approvers Secret was added, changed or deleted: its fleet's gateway config is
    re-rendered at the fleet's next timer (and its old fleet's, if the label moved). An event
    is only observed: nothing is written to the Secret, and one that changes no value (a
    re-list, a label edit elsewhere) re-renders nothing."""
    ns = body.metadata.get("namespace") or "default"
    secret = {"metadata": dict(body.metadata), "data": dict(body.get("data") or {})}
    secret["stringData"] = dict(body.get("stringData") or {})
    fleet = (body.metadata.get("labels") or {}).get(APPROVERS_LABEL)
    seen = None if type == "DELETED" or not fleet else (str(fleet), fingerprint(secret))
    for changed in STATE.approver_secret(ns, str(body.metadata.get("name")), seen):
        log.info("approvers Secret %s/%s changed: fleet %s", ns, body.metadata.get("name"), changed)
        STATE.mark(ns, changed)


def sweep_fleet(policy: kopf.Body) -> int:
    """Re-check every loop of a fleet against one listed snapshot of its children (restores
    hand edits, copies lastScheduleTime), then its gateway objects. Returns the loops seen."""
    ns = policy.metadata.get("namespace") or "default"
    fleet = str(policy.spec.get("fleet"))
    STATE.remember_policy(_policy(policy))
    listed = kube().list(f"{GROUP}/{VERSION}", "AgentLoop", ns)
    snapshot = Snapshot(kube(), ns, fleet)
    count = 0
    for loop in listed:
        if in_fleet(loop, fleet):
            status = reconcile_loop(kube(), loop, STATE, snapshot)
            if status is not None:  # None: changed since the list, reconciled at its new version
                write_status(kube(), loop, status, current=True)
            count += 1
    _reconcile_policy(policy, listed)
    return count


def _terminating(body: kopf.Body) -> bool:
    """A policy being deleted (held only by the operator's finalizer): its children go with it
    through ownerReferences, so a timer that fires in that window (timers run in threads and
    can outlive kopf's stop) writes nothing, rather than re-create what is being taken away."""
    return bool(body.metadata.get("deletionTimestamp"))


@kopf.timer(GROUP, VERSION, "fleetpolicies", interval=FLEET_SECONDS, backoff=RETRY_SECONDS)
def policy_gateway(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """One timer per fleet, not per loop: loop changes mark their fleet and the gateway config is
    re-rendered once per interval; every drift period all the fleet's loops are swept."""
    if _terminating(body):
        return
    ns = body.metadata.get("namespace") or "default"
    key = f"sweep/{ns}/{body.spec.get('fleet')}"
    now = time.monotonic()
    if now - memo.get(key, now) >= DRIFT_SECONDS:
        STATE.take(ns, str(body.spec.get("fleet")))
        sweep_fleet(body)
        memo[key] = now
        return
    memo.setdefault(key, now)
    if STATE.take(ns, str(body.spec.get("fleet"))):
        _reconcile_policy(body)


@kopf.timer(
    GROUP, VERSION, "fleetpolicies", interval=POLL_SECONDS, sharp=True, backoff=RETRY_SECONDS
)
def fleet_runs(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """One poll of the fleet's gateway per period (not one per loop): start the Jobs of queued
    webhook triggers and of decided approvals, end expired runs, copy run status, post Events."""
    if _terminating(body):
        return
    ns = body.metadata.get("namespace") or "default"
    fleet = str(body.spec.get("fleet"))
    cursor = memo.setdefault(f"runs/{ns}/{fleet}", Cursor())
    poll_fleet(kube(), STATE, CLIENT, ns, fleet, cursor)


@kopf.timer(
    GROUP, VERSION, "fleetpolicies", interval=HEALTH_SECONDS, sharp=True, backoff=RETRY_SECONDS
)
def fleet_health(body: kopf.Body, **_: Any) -> None:
    """One health request per fleet and period (not one per loop): each loop's ``Healthy``
    condition follows the doctor's findings, written only when it changes."""
    if _terminating(body):
        return
    poll_health(kube(), STATE, CLIENT, _policy(body))
