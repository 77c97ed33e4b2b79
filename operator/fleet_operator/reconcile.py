"""Reconciliation: make the cluster match what :mod:`fleet.render` says, with the fewest writes.

For each child the operator reads the live object and writes only when the
fields it owns differ (a subset comparison, so server-side defaults never look
like drift). A loop whose definition the operator cannot accept gets
``Accepted=False`` and none of its children are touched; a loop whose pinned
content is missing gets ``ResolvedRefs=False`` and nothing is applied either.
Status is patched only when it changes. An unchanged loop costs reads only.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import logging
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from fleet.render import HASH, body_of, render_fleet, render_loop, token_secret_name
from fleet.resources import API_VERSION, AgentLoopSpec
from fleet_operator.kube import Kube, KubeError

log = logging.getLogger("fleet.operator")

ROTATE = "fleetctl.dev/rotate-token"
ROTATED_FOR = "fleetctl.dev/rotated-for"


def subset(desired: Any, live: Any) -> bool:
    """Every field we set has the value we set (extra live fields are the server's business)."""
    if isinstance(desired, dict):
        return isinstance(live, dict) and all(
            k in live and subset(v, live[k]) for k, v in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(live, list)
            and len(desired) == len(live)
            and all(subset(d, x) for d, x in zip(desired, live, strict=True))
        )
    return bool(desired == live)


def in_sync(desired: dict[str, Any], live: dict[str, Any]) -> bool:
    meta_d, meta_l = desired["metadata"], live.get("metadata", {})
    return (
        subset(body_of(desired), body_of(live))
        and (meta_l.get("annotations") or {}).get(HASH) == meta_d["annotations"][HASH]
        and subset(meta_d.get("ownerReferences", []), meta_l.get("ownerReferences", []))
    )


def _patch_for(desired: dict[str, Any]) -> dict[str, Any]:
    meta = desired["metadata"]
    patch: dict[str, Any] = {
        k: v for k, v in desired.items() if k not in ("apiVersion", "kind", "metadata", "status")
    }
    patch["metadata"] = {
        "labels": meta.get("labels", {}),
        "annotations": meta.get("annotations", {}),
        "ownerReferences": meta.get("ownerReferences", []),
    }
    return patch


def apply(kube: Kube, desired: dict[str, Any]) -> str:
    """Create or restore one child; returns ``created``, ``updated`` or ``unchanged``."""
    meta = desired["metadata"]
    live = kube.get(desired["apiVersion"], desired["kind"], meta["namespace"], meta["name"])
    if live is None:
        kube.create(desired)
        return "created"
    if in_sync(desired, live):
        return "unchanged"
    kube.patch(
        desired["apiVersion"], desired["kind"], meta["namespace"], meta["name"], _patch_for(desired)
    )
    return "updated"


def now_rfc3339() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _condition(
    type_: str, ok: bool | None, reason: str, message: str, generation: int | None
) -> dict[str, Any]:
    status = "Unknown" if ok is None else ("True" if ok else "False")
    cond: dict[str, Any] = {"type": type_, "status": status, "reason": reason, "message": message}
    if generation is not None:
        cond["observedGeneration"] = generation
    return cond


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
    merged = {**new, "conditions": conditions}
    comparable = {k: v for k, v in old.items() if k in merged}
    return None if comparable == merged else merged


@dataclass
class FleetState:
    """What the operator remembers between handler calls: token hashes and fleets to re-render."""

    token_hashes: dict[tuple[str, str], list[str]] = field(
        default_factory=dict
    )  # (namespace, loop) → hashes
    dirty: set[tuple[str, str]] = field(default_factory=set)  # (namespace, fleet)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _object_locks: dict[tuple[str, str], threading.Lock] = field(default_factory=dict)

    def object_lock(self, namespace: str, name: str) -> threading.Lock:
        """One reconcile of an object at a time: a change handler and a timer may fire together."""
        with self.lock:
            return self._object_locks.setdefault((namespace, name), threading.Lock())

    def mark(self, namespace: str, fleet: str) -> None:
        with self.lock:
            self.dirty.add((namespace, fleet))

    def take(self, namespace: str, fleet: str) -> bool:
        with self.lock:
            if (namespace, fleet) in self.dirty:
                self.dirty.discard((namespace, fleet))
                return True
            return False


def _token_hash(secret: dict[str, Any]) -> str | None:
    data = (secret.get("data") or {}).get("token")
    if not data:
        return None
    return hashlib.sha256(base64.b64decode(data)).hexdigest()


def ensure_token(
    kube: Kube, loop: dict[str, Any], desired: dict[str, Any], state: FleetState
) -> str:
    """Mint the loop's gateway token if missing, or rotate it when the rotate annotation changed."""
    meta = desired["metadata"]
    ns, name = meta["namespace"], meta["name"]
    rotate = (loop["metadata"].get("annotations") or {}).get(ROTATE, "")
    live = kube.get("v1", "Secret", ns, name)
    key = (ns, loop["metadata"]["name"])
    if (
        live is not None
        and _token_hash(live)
        and (live["metadata"].get("annotations") or {}).get(ROTATED_FOR, "") == rotate
    ):
        outcome = apply(
            kube,
            {
                **desired,
                "metadata": {**meta, "annotations": {**meta["annotations"], ROTATED_FOR: rotate}},
            },
        )
        current = [str(_token_hash(live))]
        if state.token_hashes.get(key) != current:
            state.token_hashes[key] = current
            outcome = outcome if outcome != "unchanged" else "token-known"
        return outcome
    token = "fgw_" + secrets.token_urlsafe(32)
    encoded = base64.b64encode(token.encode()).decode()
    body = {
        **desired,
        "data": {"token": encoded},
        "metadata": {**meta, "annotations": {**meta["annotations"], ROTATED_FOR: rotate}},
    }
    if live is None:
        try:
            kube.create(body)
        except KubeError as exc:
            if exc.status != 409:
                raise
            # Someone else minted it first: use theirs.
            live = kube.get("v1", "Secret", ns, name)
            digest = _token_hash(live) if live else None
            if digest is None:
                raise
            state.token_hashes[key] = [digest]
            return "unchanged"
        outcome = "created"
    else:
        kube.patch("v1", "Secret", ns, name, {**_patch_for(body), "data": {"token": encoded}})
        outcome = "rotated"
    state.token_hashes[key] = [hashlib.sha256(token.encode()).hexdigest()]
    return outcome


def reconcile_loop(kube: Kube, loop: dict[str, Any], state: FleetState) -> dict[str, Any]:
    """Bring one AgentLoop's children in line; return the status the loop should show."""
    meta = loop["metadata"]
    with state.object_lock(meta.get("namespace") or "default", meta["name"]):
        return _reconcile_loop(kube, loop, state)


def _reconcile_loop(kube: Kube, loop: dict[str, Any], state: FleetState) -> dict[str, Any]:
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
            _condition("Accepted", False, "InvalidSpec", message, generation),
            _condition(
                "ResolvedRefs", None, "NotAccepted", "the definition was not accepted", generation
            ),
            _condition(
                "Ready",
                False,
                "NotAccepted",
                "nothing applied until the definition is fixed",
                generation,
            ),
        ]
        return status
    policy = kube.get(API_VERSION, "FleetPolicy", ns, spec.fleet)
    if policy is None:
        status["conditions"] = [
            _condition(
                "Accepted",
                False,
                "FleetPolicyNotFound",
                f"no FleetPolicy '{spec.fleet}' in namespace '{ns}'; apply the compiled fleetpolicy.yaml",
                generation,
            ),
            _condition(
                "ResolvedRefs", None, "NotAccepted", "the definition was not accepted", generation
            ),
            _condition(
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
        cm = kube.get("v1", "ConfigMap", ns, pin.config_map)
        digest = ((cm or {}).get("metadata", {}).get("annotations") or {}).get(
            "fleetctl.dev/digest"
        )
        if digest != pin.digest:
            missing.append(
                f"{pin.ref} ({pin.config_map}{'' if cm is None else ': digest differs'})"
            )
    accepted = _condition("Accepted", True, "Accepted", "the definition is valid", generation)
    if missing:
        status["conditions"] = [
            accepted,
            _condition(
                "ResolvedRefs",
                False,
                "ContentMissing",
                "pinned content not found: "
                + ", ".join(sorted(set(missing)))
                + "; apply the compiled content ConfigMaps",
                generation,
            ),
            _condition(
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
    for child in children:
        if child["kind"] == "Secret":
            outcomes[f"Secret/{child['metadata']['name']}"] = ensure_token(kube, loop, child, state)
        else:
            outcomes[f"{child['kind']}/{child['metadata']['name']}"] = apply(kube, child)
    if any(o != "unchanged" for o in outcomes.values()):
        state.mark(ns, spec.fleet)
        log.info(
            "loop %s/%s: %s",
            ns,
            name,
            ", ".join(f"{k} {v}" for k, v in outcomes.items() if v != "unchanged"),
        )
    cron = kube.get("batch/v1", "CronJob", ns, name)
    cron_status = (cron or {}).get("status") or {}
    status["conditions"] = [
        accepted,
        _condition(
            "ResolvedRefs", True, "Resolved", f"{len(pins)} pin(s) resolved to content", generation
        ),
        _condition(
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


def write_status(
    kube: Kube, obj: dict[str, Any], status: dict[str, Any], kind: str = "AgentLoop"
) -> bool:
    """Patch the status only when it differs from the live one (the handler's copy may be stale)."""
    meta = obj["metadata"]
    ns = meta.get("namespace") or "default"
    live = kube.get(API_VERSION, kind, ns, meta["name"])
    if live is None:
        return False
    patch = merge_status(live.get("status"), status)
    if patch is None:
        return False
    kube.patch(API_VERSION, kind, ns, meta["name"], {"status": patch}, sub="status")
    return True


def delete_loop(kube: Kube, loop: dict[str, Any], state: FleetState) -> None:
    """Take a deleted loop out of its fleet's gateway config.

    Its children (token Secret included) carry an ownerReference to the loop, so
    the garbage collector removes them once the finalizer is released; deleting
    them here as well would only add writes and risk touching what is not ours.
    """
    meta = loop["metadata"]
    ns, name = meta.get("namespace") or "default", meta["name"]
    state.token_hashes.pop((ns, name), None)
    fleet = (loop.get("spec") or {}).get("fleet")
    if fleet:
        state.mark(ns, fleet)
    log.info("loop %s/%s deleted: leaving the gateway config of fleet %s", ns, name, fleet)


def reconcile_fleet(
    kube: Kube,
    policy: dict[str, Any],
    state: FleetState,
    *,
    image: str,
    approvers: dict[str, list[str]] | None = None,
) -> tuple[dict[str, str], int]:
    """Render and apply the gateway objects of one fleet from every accepted loop in its namespace."""
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
    for loop in kube.list(API_VERSION, "AgentLoop", ns):
        if (loop.get("spec") or {}).get("fleet") != fleet or loop["metadata"].get(
            "deletionTimestamp"
        ):
            continue
        try:
            AgentLoopSpec.model_validate(loop.get("spec") or {}, by_alias=True, by_name=False)
        except ValidationError:
            continue
        name = loop["metadata"]["name"]
        if (ns, name) not in state.token_hashes:
            secret = kube.get("v1", "Secret", ns, token_secret_name(name))
            digest = _token_hash(secret) if secret else None
            if digest:
                state.token_hashes[(ns, name)] = [digest]
        loops.append(loop)
    hashes = {name: h for (n, name), h in state.token_hashes.items() if n == ns}
    outcomes = {}
    for child in render_fleet(
        policy, loops, hashes, namespace=ns, image=image, approvers=approvers
    ):
        outcomes[f"{child['kind']}/{child['metadata']['name']}"] = apply(kube, child)
    return outcomes, len(loops)


def fleet_status(policy: dict[str, Any], outcomes: dict[str, str], loops: int) -> dict[str, Any]:
    generation = policy["metadata"].get("generation")
    status: dict[str, Any] = {
        "conditions": [
            _condition(
                "Ready", True, "Reconciled", f"gateway config holds {loops} loop(s)", generation
            )
        ],
        "children": [{"kind": k.split("/")[0], "name": k.split("/")[1]} for k in outcomes],
    }
    if generation is not None:
        status["observedGeneration"] = generation
    return status


__all__ = [
    "KubeError",
    "apply",
    "delete_loop",
    "fleet_status",
    "reconcile_fleet",
    "reconcile_loop",
    "write_status",
]
