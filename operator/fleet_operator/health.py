"""Each AgentLoop's ``Healthy`` condition: ``fleetctl doctor``'s findings, kept on the loop.

A loop rarely fails loudly (a deprecated model, a schedule that stopped firing, runs that end
without doing anything, a checker that passes everything, repeated ``budget_exceeded``,
approvals nobody decides, spend doubling): ``kubectl get agentloops`` should say so without
anyone running the doctor. The findings need the gateway's records, which the operator must
not read itself (it imports no store), so once per period and fleet (not per loop) the
operator posts the fleet's definitions to its gateway's ``POST /v1/fleet/health`` and copies
each loop's answer into the condition: ``True`` with reason ``NoFindings``, or ``False`` with
the worst finding's check as the reason (``DeprecatedModel``, ``MissedHeartbeat``,
``NoUsefulOutcome``, ``RubberStampChecker``, ``RepeatedBudgetExceeded``, ``ApprovalWaiting``,
``SpendJump``) and its evidence and action as the message.

A period costs one list of the namespace's AgentLoops and one request; a loop whose condition
says the same already is not written (figures aside: a finding whose evidence only ages, "has
waited 25.0 h" then "25.5 h", keeps the message it was first written with). A gateway that does not answer leaves the conditions as
they are (the next period asks again), so an outage of the gateway writes nothing either.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any

from fleet.resources import API_VERSION
from fleet_operator.conditions import now_rfc3339
from fleet_operator.dashboard import definitions
from fleet_operator.gwclient import GatewayClient, GatewayError, url_for
from fleet_operator.kube import Kube, KubeError
from fleet_operator.reconcile import in_fleet
from fleet_operator.runs import operator_token
from fleet_operator.state import FleetState

HEALTH_SECONDS = float(os.environ.get("FLEET_OPERATOR_HEALTH_SECONDS", "60"))
HEALTHY = "Healthy"
MAX_MESSAGE = 1024
"""Characters of a finding's evidence kept in the condition (``kubectl describe`` width)."""

log = logging.getLogger("fleet.operator")


def healthy_condition(verdict: dict[str, Any], generation: int | None) -> dict[str, Any] | None:
    """The condition one loop's answer calls for; None for a loop the gateway could not read
    (its ``Accepted`` condition says why already)."""
    ok = verdict.get("healthy")
    if not isinstance(ok, bool):
        return None
    message = str(verdict.get("message") or "")
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 1] + "…"
    cond: dict[str, Any] = {
        "type": HEALTHY,
        "status": "True" if ok else "False",
        "reason": str(verdict.get("reason") or ("NoFindings" if ok else "Finding")),
        "message": message,
    }
    if generation is not None:
        cond["observedGeneration"] = generation
    return cond


_FIGURE = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def shape(message: str) -> str:
    """A message with its figures blanked: "waited 25.0 h" and "waited 25.5 h" are the same
    finding, so a finding that only ages is not rewritten every period."""
    return _FIGURE.sub("#", message)


def with_condition(
    conditions: list[dict[str, Any]], cond: dict[str, Any]
) -> list[dict[str, Any]] | None:
    """The loop's conditions with ``cond`` in place of its old one, or None when the old one
    says the same. The transition time moves only when the status does."""
    prev = next(
        (c for c in conditions if isinstance(c, dict) and c.get("type") == cond["type"]), None
    )
    keys = ("status", "reason", "observedGeneration")
    if (
        prev is not None
        and all(prev.get(k) == cond.get(k) for k in keys)
        and shape(str(prev.get("message") or "")) == shape(cond["message"])
    ):
        return None
    moved = prev is None or prev.get("status") != cond["status"]
    cond = {
        **cond,
        "lastTransitionTime": now_rfc3339() if moved else prev.get("lastTransitionTime"),  # type: ignore[union-attr]
    }
    others = [c for c in conditions if not (isinstance(c, dict) and c.get("type") == cond["type"])]
    return [*others, cond]


def poll_health(
    kube: Kube, state: FleetState, client: GatewayClient, policy: dict[str, Any]
) -> int:
    """One period of one fleet (its FleetPolicy): ask its gateway for the findings, update
    the loops whose ``Healthy`` condition changed. Returns the loops written."""
    ns = policy["metadata"].get("namespace") or "default"
    fleet = str((policy.get("spec") or {}).get("fleet"))
    token = operator_token(kube, state, ns, fleet)
    if token is None:
        return 0  # the fleet's gateway objects are not reconciled yet
    loops = [loop for loop in kube.list(API_VERSION, "AgentLoop", ns) if in_fleet(loop, fleet)]
    if not loops:
        return 0
    try:
        answer = client.health(url_for(ns), token, definitions(policy, loops))
    except GatewayError as exc:
        log.debug("fleet %s/%s: health not read: %s", ns, fleet, exc)
        return 0
    found = answer.get("loops")
    verdicts: dict[str, Any] = found if isinstance(found, dict) else {}
    written = 0
    for loop in loops:
        meta = loop["metadata"]
        verdict = verdicts.get(meta["name"])
        if not isinstance(verdict, dict):
            continue
        cond = healthy_condition(verdict, meta.get("generation"))
        if cond is None:
            continue
        status = loop.get("status") or {}
        conditions = with_condition(list(status.get("conditions") or []), cond)
        if conditions is None:
            continue
        try:
            kube.patch(
                API_VERSION, "AgentLoop", ns, meta["name"], {"status": {"conditions": conditions}},
                sub="status",
            )  # fmt: skip
        except KubeError as exc:
            if exc.status == 404:
                continue  # deleted since the list
            raise
        written += 1
        if cond["status"] != "True":
            log.info("loop %s/%s: %s: %s", ns, meta["name"], cond["reason"], cond["message"])
    return written
