"""Status: the conditions a reconcile reports, and writing them only when they change.

A status patch is a write every watcher sees, and a condition whose transition time moved
on every sweep would make ``kubectl describe`` useless, so a new status is merged with the
live one (times kept for conditions that did not change, conditions another writer keeps
left alone) and patched only when it differs.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fleet.resources import API_VERSION
from fleet_operator.approvers import Approvers
from fleet_operator.dashboard import viewers_condition
from fleet_operator.kube import Kube


def now_rfc3339() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def condition(
    type_: str, ok: bool | None, reason: str, message: str, generation: int | None
) -> dict[str, Any]:
    status = "Unknown" if ok is None else ("True" if ok else "False")
    cond: dict[str, Any] = {"type": type_, "status": status, "reason": reason, "message": message}
    if generation is not None:
        cond["observedGeneration"] = generation
    return cond


KEPT_CONDITIONS = ("Healthy",)
"""Conditions a reconcile leaves alone: :mod:`fleet_operator.health` writes them."""


def merge_status(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any] | None:
    """The status patch to write, or ``None`` when nothing changed (transition times kept)."""
    old = old or {}
    before = {c["type"]: c for c in old.get("conditions", []) if isinstance(c, dict)}
    conditions = []
    for cond in new.get("conditions", []):
        prev = before.get(cond["type"])
        same = prev is not None and all(
            prev.get(k) == cond.get(k)
            for k in ("status", "reason", "message", "observedGeneration")
        )
        cond = {
            **cond,
            "lastTransitionTime": prev.get("lastTransitionTime")
            if same and prev
            else now_rfc3339(),
        }
        conditions.append(cond)
    # A condition another writer keeps (the health poll's) stays as it is.
    written = {c["type"] for c in conditions}
    conditions += [c for t, c in before.items() if t in KEPT_CONDITIONS and t not in written]
    merged = {**new, "conditions": conditions}
    comparable = {k: v for k, v in old.items() if k in merged}
    return None if comparable == merged else merged


def write_status(
    kube: Kube,
    obj: dict[str, Any],
    status: dict[str, Any],
    kind: str = "AgentLoop",
    *,
    current: bool = False,
) -> bool:
    """Patch the status only when it differs from the live one.

    With ``current``, ``obj`` is the latest version the caller saw (a watch event, a fresh
    list) and its status is compared; otherwise the object is read first."""
    meta = obj["metadata"]
    ns = meta.get("namespace") or "default"
    live = obj if current else kube.get(API_VERSION, kind, ns, meta["name"])
    if live is None:
        return False
    patch = merge_status(live.get("status"), status)
    if patch is None:
        return False
    kube.patch(API_VERSION, kind, ns, meta["name"], {"status": patch}, sub="status")
    return True


def fleet_status(
    policy: dict[str, Any],
    outcomes: dict[str, str],
    loops: int,
    approvers: Approvers | None = None,
    viewers: Approvers | None = None,
) -> dict[str, Any]:
    status = _fleet_ready(policy, True, "Reconciled", f"gateway config holds {loops} loop(s)")
    generation = policy["metadata"].get("generation")
    if approvers is not None:
        ok, reason, message = approvers.condition()
        status["conditions"].append(condition("Approvers", ok, reason, message, generation))
    if viewers is not None:
        ok, reason, message = viewers_condition(viewers)
        status["conditions"].append(condition("Viewers", ok, reason, message, generation))
    status["children"] = [{"kind": k.split("/")[0], "name": k.split("/")[1]} for k in outcomes]
    return status


def fleet_failed(policy: dict[str, Any], reason: str, message: str) -> dict[str, Any]:
    """The status of a fleet whose gateway objects could not be rendered (nothing applied)."""
    return _fleet_ready(policy, False, reason, message)


def _fleet_ready(policy: dict[str, Any], ok: bool, reason: str, message: str) -> dict[str, Any]:
    generation = policy["metadata"].get("generation")
    status: dict[str, Any] = {"conditions": [condition("Ready", ok, reason, message, generation)]}
    if generation is not None:
        status["observedGeneration"] = generation
    return status
