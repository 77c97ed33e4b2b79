"""Reconciliation: make the cluster match what :mod:`fleet.render` says, with the fewest writes.

For each child the operator reads the live object and writes only when the
fields it owns differ (:mod:`fleet_operator.applier`). A loop whose definition the
operator cannot accept gets ``Accepted=False`` and none of its children are touched;
a loop whose pinned content is missing gets ``ResolvedRefs=False`` and nothing is
applied either. Status is patched only when it changes
(:mod:`fleet_operator.conditions`). An unchanged loop costs reads only. Tokens are
minted and rotated by :mod:`fleet_operator.tokens`; what the operator remembers
between calls is :class:`fleet_operator.state.FleetState`.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from pydantic import ValidationError

from fleet.gwrender import OPERATOR_KEY, trigger_key
from fleet.render import (
    OPERATOR_SECRET,
    operator_secret,
    render_fleet,
    render_loop,
    token_secret_name,
    trigger_secret_name,
)
from fleet.resources import API_VERSION, AgentLoopSpec
from fleet_operator.applier import View, apply
from fleet_operator.approvers import fleet_approvers
from fleet_operator.conditions import condition
from fleet_operator.dashboard import reconcile_dashboard
from fleet_operator.kube import Kube
from fleet_operator.state import FleetState, content_digest, policy_for
from fleet_operator.tokens import (
    ROTATE,
    ensure_single_token,
    ensure_token,
    secret_hashes,
    secret_token,
)

log = logging.getLogger("fleet.operator")


def reconcile_loop(
    kube: Kube, loop: dict[str, Any], state: FleetState, view: View | None = None
) -> dict[str, Any] | None:
    """Bring one AgentLoop's children in line; return the status the loop should show, or
    None for a copy older than one already reconciled (a fleet sweep lists every loop, then
    reconciles them one by one: a loop changed meanwhile was reconciled at its new version by
    its own handler, and the listed copy would put the old spec back).

    Children are read through ``view`` (default: the API, one read per child)."""
    meta = loop["metadata"]
    key = (meta.get("namespace") or "default", meta["name"])
    uid, generation = meta.get("uid"), meta.get("generation")
    with state.object_lock(*key):
        if isinstance(generation, int):
            seen = state.reconciled.get(key)
            if seen is not None and seen[0] == uid and generation < seen[1]:
                return None
        status = _reconcile_loop(kube, loop, state, view or kube)
        if isinstance(generation, int):
            with state.lock:
                state.reconciled[key] = (uid, generation)
        return status


def _reconcile_loop(
    kube: Kube, loop: dict[str, Any], state: FleetState, view: View
) -> dict[str, Any]:
    meta = loop["metadata"]
    ns: str = meta.get("namespace") or "default"
    name: str = meta["name"]
    generation = meta.get("generation")
    loop = {
        **loop,
        "apiVersion": loop.get("apiVersion", API_VERSION),
        "kind": "AgentLoop",
        "metadata": {**meta, "namespace": ns},
    }
    status: dict[str, Any] = {"observedGeneration": generation} if generation is not None else {}
    try:
        spec = AgentLoopSpec.model_validate(loop.get("spec") or {}, by_alias=True, by_name=False)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        message = f"spec.{where}: {first['msg']}" + (
            f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        )
        status["conditions"] = [
            condition("Accepted", False, "InvalidSpec", message, generation),
            condition(
                "ResolvedRefs", None, "NotAccepted", "the definition was not accepted", generation
            ),
            condition(
                "Ready",
                False,
                "NotAccepted",
                "nothing applied until the definition is fixed",
                generation,
            ),
        ]
        return status
    with state.lock:
        state.loops[(ns, name)] = {
            "uid": meta.get("uid"),
            "fleet": spec.fleet,
            "concurrency": spec.trigger.concurrency,
            "suspend": spec.trigger.suspend,
        }
    policy = policy_for(kube, state, ns, spec.fleet)
    if policy is None:
        status["conditions"] = [
            condition(
                "Accepted",
                False,
                "FleetPolicyNotFound",
                f"no FleetPolicy '{spec.fleet}' in namespace '{ns}'; apply the compiled fleetpolicy.yaml",
                generation,
            ),
            condition(
                "ResolvedRefs", None, "NotAccepted", "the definition was not accepted", generation
            ),
            condition(
                "Ready",
                False,
                "NotAccepted",
                "nothing applied until the FleetPolicy exists",
                generation,
            ),
        ]
        return status
    missing = []
    pins = [spec.instructions, *spec.skills] + [
        p
        for s in spec.subagents
        for p in ([s.instructions] if s.instructions else []) + list(s.skills)
    ]
    for pin in pins:
        digest = content_digest(kube, view, state, ns, pin.config_map)
        if digest != pin.digest:
            missing.append(
                f"{pin.ref} ({pin.config_map}{'' if digest is None else ': digest differs'})"
            )
    accepted = condition("Accepted", True, "Accepted", "the definition is valid", generation)
    if missing:
        status["conditions"] = [
            accepted,
            condition(
                "ResolvedRefs",
                False,
                "ContentMissing",
                "pinned content not found: "
                + ", ".join(sorted(set(missing)))
                + "; apply the compiled content ConfigMaps",
                generation,
            ),
            condition(
                "Ready",
                False,
                "RefsNotResolved",
                "nothing applied until every pin resolves",
                generation,
            ),
        ]
        return status
    children = render_loop(loop, policy, namespace=ns)
    outcomes: dict[str, str] = {}
    cron: dict[str, Any] | None = None
    for child in children:
        cmeta = child["metadata"]
        live = view.get(child["apiVersion"], child["kind"], cmeta["namespace"], cmeta["name"])
        if child["kind"] == "Secret" and cmeta["name"] == trigger_secret_name(name):
            rotate = (meta.get("annotations") or {}).get(ROTATE, "")
            outcome, token = ensure_single_token(kube, child, rotate, live)
            hashed = [hashlib.sha256(token.encode()).hexdigest()]
            with state.lock:
                if state.trigger_hashes.get((ns, name)) != hashed:
                    state.trigger_hashes[(ns, name)] = hashed
                    outcome = "token-known" if outcome == "unchanged" else outcome
            outcomes[f"Secret/{cmeta['name']}"] = outcome
            continue
        if child["kind"] == "Secret":
            outcomes[f"Secret/{cmeta['name']}"] = ensure_token(kube, loop, child, state, live)
            continue
        outcomes[f"{child['kind']}/{cmeta['name']}"], applied = apply(kube, child, live)
        if child["kind"] == "CronJob":
            cron = applied
            if applied is not None:
                with state.lock:
                    state.crons[(ns, name)] = applied
    if spec.trigger.webhook is None:
        outcomes.update(_drop_trigger_token(kube, view, state, ns, name))
    if any(o != "unchanged" for o in outcomes.values()):
        state.mark(ns, spec.fleet)
        log.info(
            "loop %s/%s: %s",
            ns,
            name,
            ", ".join(f"{k} {v}" for k, v in outcomes.items() if v != "unchanged"),
        )
    cron_status = (cron or {}).get("status") or {}
    status["conditions"] = [
        accepted,
        condition(
            "ResolvedRefs", True, "Resolved", f"{len(pins)} pin(s) resolved to content", generation
        ),
        condition(
            "Ready",
            True,
            "Reconciled",
            "children match the definition" + (" (suspended)" if spec.trigger.suspend else ""),
            generation,
        ),
    ]
    status["children"] = [{"kind": c["kind"], "name": c["metadata"]["name"]} for c in children]
    if cron_status.get("lastScheduleTime"):
        status["lastScheduleTime"] = cron_status["lastScheduleTime"]
    if cron_status.get("lastSuccessfulTime"):
        status["lastSuccessfulTime"] = cron_status["lastSuccessfulTime"]
    return status


def _drop_trigger_token(
    kube: Kube, view: View, state: FleetState, ns: str, loop: str
) -> dict[str, str]:
    """A loop whose webhook was removed loses its trigger token (the same render drops it
    from the gateway config)."""
    with state.lock:
        known = state.trigger_hashes.pop((ns, loop), None) is not None
    name = trigger_secret_name(loop)
    if not known and view.get("v1", "Secret", ns, name) is None:
        return {}
    if kube.delete("v1", "Secret", ns, name):
        return {f"Secret/{name}": "deleted"}
    return {f"Secret/{name}": "token-known"} if known else {}


def delete_loop(kube: Kube, loop: dict[str, Any], state: FleetState) -> None:
    """Take a deleted loop out of its fleet's gateway config.

    Its children (token Secret included) carry an ownerReference to the loop, so
    the garbage collector removes them once the finalizer is released; deleting
    them here as well would only add writes and risk touching what is not ours.
    """
    meta = loop["metadata"]
    ns, name = meta.get("namespace") or "default", meta["name"]
    state.token_hashes.pop((ns, name), None)
    with state.lock:
        state.trigger_hashes.pop((ns, name), None)
        state.loops.pop((ns, name), None)
        state.reconciled.pop((ns, name), None)
        state.crons.pop((ns, name), None)
        state.run_status.pop((ns, name), None)
    fleet = (loop.get("spec") or {}).get("fleet")
    if fleet:
        state.mark(ns, fleet)
    log.info("loop %s/%s deleted: leaving the gateway config of fleet %s", ns, name, fleet)


def in_fleet(loop: dict[str, Any], fleet: str) -> bool:
    """A listed AgentLoop that belongs to this fleet and is not being deleted."""
    return (loop.get("spec") or {}).get("fleet") == fleet and not loop["metadata"].get(
        "deletionTimestamp"
    )


def reconcile_fleet(
    kube: Kube,
    policy: dict[str, Any],
    state: FleetState,
    *,
    image: str,
    approvers: dict[str, list[str]] | None = None,
    listed: list[dict[str, Any]] | None = None,
    dashboard_image: str | None = None,
) -> tuple[dict[str, str], int]:
    """Render and apply the gateway objects of one fleet from every accepted loop in its namespace.

    ``listed`` is a fresh list of the namespace's AgentLoops if the caller has one;
    ``approvers`` (name → token hashes) replaces those of the fleet's approvers Secrets,
    which are otherwise listed once per render (:mod:`fleet_operator.approvers`).
    With ``dashboard_image``, the fleet's dashboard is rendered too
    (:mod:`fleet_operator.dashboard`); without, one left from before is removed."""
    meta = policy["metadata"]
    ns = meta.get("namespace") or "default"
    state.remember_policy({**policy, "metadata": {**meta, "namespace": ns}})
    # A change handler and the timer may both render a fleet: one at a time.
    with state.object_lock(ns, f"FleetPolicy/{policy['spec']['fleet']}"):
        return _reconcile_fleet(kube, policy, state, image, approvers, listed, dashboard_image)


def _reconcile_fleet(
    kube: Kube,
    policy: dict[str, Any],
    state: FleetState,
    image: str,
    approvers: dict[str, list[str]] | None,
    listed: list[dict[str, Any]] | None,
    dashboard_image: str | None = None,
) -> tuple[dict[str, str], int]:
    meta = policy["metadata"]
    ns = meta.get("namespace") or "default"
    fleet = policy["spec"]["fleet"]
    policy = {
        **policy,
        "apiVersion": policy.get("apiVersion", API_VERSION),
        "kind": "FleetPolicy",
        "metadata": {**meta, "namespace": ns},
    }
    loops = []
    if listed is None:
        listed = kube.list(API_VERSION, "AgentLoop", ns)
    for loop in listed:
        if not in_fleet(loop, fleet):
            continue
        try:
            AgentLoopSpec.model_validate(loop.get("spec") or {}, by_alias=True, by_name=False)
        except ValidationError:
            continue
        name = loop["metadata"]["name"]
        if (ns, name) not in state.token_hashes:
            found = secret_hashes(loop, kube.get("v1", "Secret", ns, token_secret_name(name)))
            if found:
                state.token_hashes[(ns, name)] = found
        webhook = ((loop.get("spec") or {}).get("trigger") or {}).get("webhook")
        if webhook is not None and (ns, name) not in state.trigger_hashes:
            token = secret_token(kube.get("v1", "Secret", ns, trigger_secret_name(name)))
            if token:
                state.trigger_hashes[(ns, name)] = [hashlib.sha256(token.encode()).hexdigest()]
        loops.append(loop)
    outcomes = {}
    # The operator's own token first: its hash goes into the config rendered next.
    rotate = (meta.get("annotations") or {}).get(ROTATE, "")
    secret = operator_secret(policy, namespace=ns)
    outcome, token = ensure_single_token(
        kube, secret, rotate, kube.get("v1", "Secret", ns, OPERATOR_SECRET)
    )
    outcomes[f"Secret/{OPERATOR_SECRET}"] = outcome
    with state.lock:
        state.operator_tokens[(ns, fleet)] = token
        known = list(state.token_hashes.items())
        triggers = {
            trigger_key(n): h for (space, n), h in state.trigger_hashes.items() if space == ns
        }
    hashes = {
        identity: h for (n, _), per_loop in known if n == ns for identity, h in per_loop.items()
    }
    hashes.update(triggers)
    hashes[OPERATOR_KEY] = [hashlib.sha256(token.encode()).hexdigest()]
    if approvers is None:
        declared = fleet_approvers(kube, ns, fleet)
        approvers = declared.hashes
        with state.lock:
            state.approvers[(ns, fleet)] = declared
    rendered = render_fleet(policy, loops, hashes, namespace=ns, image=image, approvers=approvers)
    for child in rendered:
        if child["kind"] == "Secret":
            continue  # the operator's token, handled above
        outcomes[f"{child['kind']}/{child['metadata']['name']}"] = apply(kube, child)[0]
    outcomes.update(reconcile_dashboard(kube, policy, state, loops, rendered, dashboard_image))
    return outcomes, len(loops)


__all__ = [
    "delete_loop",
    "in_fleet",
    "reconcile_fleet",
    "reconcile_loop",
]
