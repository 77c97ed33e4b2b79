"""Reconciliation: make the cluster match what :mod:`fleet.render` says, with the fewest writes.

For each child the operator reads the live object and writes only when the
fields it owns differ (a subset comparison, so server-side defaults never look
like drift). A loop whose definition the operator cannot accept gets
``Accepted=False`` and none of its children are touched; a loop whose pinned
content is missing gets ``ResolvedRefs=False`` and nothing is applied either.
Status is patched only when it changes. An unchanged loop costs reads only.

Each loop's token Secret holds the loop's own gateway token and one per
sub-agent (:func:`fleet.render.token_keys`); the operator mints a missing one,
drops the key of a removed sub-agent, rotates them all together when the
``fleetctl.dev/rotate-token`` annotation changes, and puts their sha256 hashes
(never the tokens) into the fleet's gateway config.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import logging
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import ValidationError

from fleet.gwrender import OPERATOR_KEY, trigger_key
from fleet.render import (
    FLEET_LABEL,
    HASH,
    OPERATOR_SECRET,
    SUBAGENT_TOKEN_PREFIX,
    TOKEN_KEY,
    body_of,
    operator_secret,
    owned_fields,
    render_fleet,
    render_loop,
    token_keys,
    token_secret_name,
    trigger_secret_name,
)
from fleet.resources import API_VERSION, AgentLoopSpec
from fleet_operator.approvers import Approvers, fleet_approvers
from fleet_operator.dashboard import reconcile_dashboard, viewers_condition
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
    # An owned field the desired object leaves out is removed (the gateway config moves
    # between data and binaryData with the fleet's size).
    patch: dict[str, Any] = dict.fromkeys(owned_fields(desired["kind"]))
    patch.update(
        (k, v) for k, v in desired.items() if k not in ("apiVersion", "kind", "metadata", "status")
    )
    patch["metadata"] = {
        "labels": meta.get("labels", {}),
        "annotations": meta.get("annotations", {}),
        "ownerReferences": meta.get("ownerReferences", []),
    }
    return patch


class View(Protocol):
    """Where a reconcile reads live children from: the API itself, or a listed snapshot."""

    def get(
        self, api_version: str, kind: str, namespace: str | None, name: str
    ) -> dict[str, Any] | None: ...


CHILD_KINDS = (
    ("v1", "ServiceAccount"),
    ("v1", "Secret"),
    ("v1", "ConfigMap"),
    ("batch/v1", "CronJob"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
)


class Snapshot:
    """The children and content of one fleet, listed once per kind (one list call instead of
    a read per child per loop, as an informer cache would). Kinds it did not list are read
    from the API."""

    def __init__(self, kube: Kube, namespace: str, fleet: str):
        self._kube = kube
        self.namespace = namespace
        self._objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        for api_version, kind in CHILD_KINDS:
            for obj in kube.list(api_version, kind, namespace, f"{FLEET_LABEL}={fleet}"):
                self._objects[(api_version, kind, obj["metadata"]["name"])] = obj

    def get(
        self, api_version: str, kind: str, namespace: str | None, name: str
    ) -> dict[str, Any] | None:
        if namespace == self.namespace and (api_version, kind) in CHILD_KINDS:
            return self._objects.get((api_version, kind, name))
        return self._kube.get(api_version, kind, namespace, name)


class Fresh:
    """The view for a loop kopf reports as just created: its children are assumed absent and
    created straight away; one that exists after all answers 409 and is read then."""

    def __init__(self, kube: Kube):
        self._kube = kube

    def get(
        self, api_version: str, kind: str, namespace: str | None, name: str
    ) -> dict[str, Any] | None:
        if (api_version, kind) in CHILD_KINDS:
            return None
        return self._kube.get(api_version, kind, namespace, name)


_READ = object()


def apply(
    kube: Kube, desired: dict[str, Any], live: Any = _READ
) -> tuple[str, dict[str, Any] | None]:
    """Create or restore one child.

    Returns the outcome (``created``, ``updated`` or ``unchanged``) and the live object.
    ``live`` is what the caller already read (``None``: believed absent); without it the
    object is read first. A create that meets an existing object (another writer, or a
    view out of date) reads it and carries on as an update.
    """
    meta = desired["metadata"]
    where = (desired["apiVersion"], desired["kind"], meta["namespace"], meta["name"])
    if live is _READ:
        live = kube.get(*where)
    if live is None:
        try:
            return "created", kube.create(desired)
        except KubeError as exc:
            if exc.status != 409:
                raise
            live = kube.get(*where)
            if live is None:
                raise
    if in_sync(desired, live):
        return "unchanged", live
    return "updated", kube.patch(*where, _patch_for(desired))


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


@dataclass
class FleetState:
    """What the operator remembers between handler calls: token hashes and fleets to re-render."""

    # (namespace, loop) → {identity key (the loop, loop/<sub-agent>) → token hashes}
    token_hashes: dict[tuple[str, str], dict[str, list[str]]] = field(default_factory=dict)
    dirty: set[tuple[str, str]] = field(default_factory=set)  # (namespace, fleet)
    # The last FleetPolicy seen per (namespace, fleet), kept current by its handlers.
    policies: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    # Content ConfigMaps found with their digest, (namespace, name) → digest. They are named
    # by digest and never edited; each sweep re-reads them, so a deleted one is noticed.
    content: dict[tuple[str, str], str] = field(default_factory=dict)
    # (namespace, loop) → the hash of the loop's trigger token (webhook loops only)
    trigger_hashes: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    # (namespace, fleet) → the operator's own gateway token for that fleet (not a hash: the
    # operator sends it), minted into the fleet's operator Secret
    operator_tokens: dict[tuple[str, str], str] = field(default_factory=dict)
    # Run status as last written or read, per (namespace, loop): see fleet_operator.runs
    run_status: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    # What starting a run of an accepted loop needs, (namespace, loop) → {uid, fleet,
    # concurrency, suspend}: kept by every reconcile of the loop
    loops: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    # Each loop's CronJob as last applied or seen (the template its Jobs are made from)
    crons: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    # Approvers Secrets seen, (namespace, Secret) → (fleet, fingerprint), and each fleet's
    # approvers as last rendered, (namespace, fleet) → Approvers (for its status)
    approver_secrets: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    approvers: dict[tuple[str, str], Approvers] = field(default_factory=dict)
    # (namespace, fleet) → the dashboard's viewers as their Secrets declare them
    viewers: dict[tuple[str, str], Approvers] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _object_locks: dict[tuple[str, str], threading.Lock] = field(default_factory=dict)

    def object_lock(self, namespace: str, name: str) -> threading.Lock:
        """One reconcile of an object at a time: a change handler and a timer may fire together."""
        with self.lock:
            return self._object_locks.setdefault((namespace, name), threading.Lock())

    def remember_policy(self, policy: dict[str, Any]) -> None:
        meta = policy["metadata"]
        with self.lock:
            self.policies[(meta.get("namespace") or "default", policy["spec"]["fleet"])] = policy

    def forget_policy(self, namespace: str, fleet: str) -> None:
        with self.lock:
            self.policies.pop((namespace, fleet), None)

    def mark(self, namespace: str, fleet: str) -> None:
        with self.lock:
            self.dirty.add((namespace, fleet))

    def approver_secret(self, namespace: str, name: str, seen: tuple[str, str] | None) -> set[str]:
        """Note an approvers Secret as a watch event shows it (``None``: deleted); return the
        fleets whose gateway config it changes (its old fleet and its new one)."""
        with self.lock:
            before = self.approver_secrets.get((namespace, name))
            if seen is None:
                self.approver_secrets.pop((namespace, name), None)
            else:
                self.approver_secrets[(namespace, name)] = seen
        if before == seen:
            return set()
        return {pair[0] for pair in (before, seen) if pair is not None and pair[0]}

    def take(self, namespace: str, fleet: str) -> bool:
        with self.lock:
            if (namespace, fleet) in self.dirty:
                self.dirty.discard((namespace, fleet))
                return True
            return False


def _sha256(encoded: str) -> str:
    return hashlib.sha256(base64.b64decode(encoded)).hexdigest()


def secret_hashes(loop: dict[str, Any], secret: dict[str, Any] | None) -> dict[str, list[str]]:
    """Identity key → hash of each token of ``loop`` that ``secret`` holds."""
    data = (secret or {}).get("data") or {}
    return {
        identity: [_sha256(data[key])]
        for key, identity in token_keys(loop).items()
        if data.get(key)
    }


def _mint() -> str:
    token = "fgw_" + secrets.token_urlsafe(32)
    return base64.b64encode(token.encode()).decode()


def ensure_token(
    kube: Kube,
    loop: dict[str, Any],
    desired: dict[str, Any],
    state: FleetState,
    live: dict[str, Any] | None,
) -> str:
    """Give the loop's token Secret one token per identity: the loop's own and each sub-agent's.

    A missing token is minted, the key of a removed sub-agent dropped, and when the rotate
    annotation changed every token is minted anew. ``live`` is the Secret as the caller's
    view has it (``None``: absent). Returns ``created``, ``rotated``, ``updated`` (tokens
    minted or dropped), ``token-known`` (only the remembered hashes changed) or ``unchanged``.
    """
    meta = desired["metadata"]
    ns, name = meta["namespace"], meta["name"]
    rotate = (loop["metadata"].get("annotations") or {}).get(ROTATE, "")
    key = (ns, loop["metadata"]["name"])
    wanted = token_keys(loop)
    body = {
        **desired,
        "metadata": {**meta, "annotations": {**meta["annotations"], ROTATED_FOR: rotate}},
    }
    data: dict[str, str] = dict((live or {}).get("data") or {})
    rotated = (
        live is not None
        and (live["metadata"].get("annotations") or {}).get(ROTATED_FOR, "") != rotate
    )
    keep = {} if rotated else {k: v for k, v in data.items() if k in wanted and v}
    minted = {k: _mint() for k in wanted if k not in keep}
    # Only sub-agent keys are dropped: a key someone else put in the Secret stays.
    dropped = [k for k in data if k.startswith(SUBAGENT_TOKEN_PREFIX) and k not in wanted]
    if live is not None and not minted and not dropped:
        outcome, _ = apply(kube, body, live)
    elif live is None:
        try:
            kube.create({**body, "data": minted})
        except KubeError as exc:
            if exc.status != 409:
                raise
            # It exists after all (minted by an earlier run, or the view was out of date):
            # decide again on what is really there.
            live = kube.get("v1", "Secret", ns, name)
            if live is None:
                raise
            return ensure_token(kube, loop, desired, state, live)
        outcome = "created"
    else:
        changes: dict[str, str | None] = {**minted, **dict.fromkeys(dropped)}
        kube.patch("v1", "Secret", ns, name, {**_patch_for(body), "data": changes})
        outcome = "rotated" if rotated or TOKEN_KEY in minted else "updated"
    final = {**keep, **minted}
    hashes = {identity: [_sha256(final[k])] for k, identity in wanted.items()}
    if state.token_hashes.get(key) != hashes:
        state.token_hashes[key] = hashes
        if outcome == "unchanged":
            outcome = "token-known"
    return outcome


def ensure_single_token(
    kube: Kube, desired: dict[str, Any], rotate: str, live: dict[str, Any] | None
) -> tuple[str, str]:
    """Give a one-token Secret (a loop's trigger token, the operator's token) its token under
    key ``token``: minted when missing, anew when ``rotate`` differs from the one it was
    minted for. Returns the outcome (``created``, ``rotated``, ``updated``, ``unchanged``)
    and the token."""
    meta = desired["metadata"]
    ns, name = meta["namespace"], meta["name"]
    body = {
        **desired,
        "metadata": {**meta, "annotations": {**meta["annotations"], ROTATED_FOR: rotate}},
    }
    if live is None:
        minted = _mint()
        try:
            kube.create({**body, "data": {TOKEN_KEY: minted}})
        except KubeError as exc:
            if exc.status != 409:
                raise
            live = kube.get("v1", "Secret", ns, name)
            if live is None:
                raise
            return ensure_single_token(kube, desired, rotate, live)
        return "created", base64.b64decode(minted).decode()
    rotated = (live["metadata"].get("annotations") or {}).get(ROTATED_FOR, "") != rotate
    current = None if rotated else ((live.get("data") or {}).get(TOKEN_KEY) or None)
    if current is not None:
        outcome, _ = apply(kube, body, live)
        return outcome, base64.b64decode(current).decode()
    minted = _mint()
    kube.patch("v1", "Secret", ns, name, {**_patch_for(body), "data": {TOKEN_KEY: minted}})
    return "rotated", base64.b64decode(minted).decode()


def secret_token(secret: dict[str, Any] | None) -> str | None:
    """The token a one-token Secret holds, or None."""
    value = ((secret or {}).get("data") or {}).get(TOKEN_KEY)
    return base64.b64decode(value).decode() if value else None


def _policy_for(kube: Kube, state: FleetState, ns: str, fleet: str) -> dict[str, Any] | None:
    with state.lock:
        policy = state.policies.get((ns, fleet))
    if policy is None:
        policy = kube.get(API_VERSION, "FleetPolicy", ns, fleet)
        if policy is not None:
            state.remember_policy(policy)
    return policy


def _content_digest(kube: Kube, view: View, state: FleetState, ns: str, name: str) -> str | None:
    key = (ns, name)
    if not isinstance(view, Snapshot):
        with state.lock:
            known = state.content.get(key)
        if known is not None:
            return known
    # A snapshot holds the fleet's content too; any other view reads it from the API.
    cm = (view if isinstance(view, Snapshot) else kube).get("v1", "ConfigMap", ns, name)
    digest = ((cm or {}).get("metadata", {}).get("annotations") or {}).get("fleetctl.dev/digest")
    with state.lock:
        if digest:
            state.content[key] = digest
        else:
            state.content.pop(key, None)
    return digest


def reconcile_loop(
    kube: Kube, loop: dict[str, Any], state: FleetState, view: View | None = None
) -> dict[str, Any]:
    """Bring one AgentLoop's children in line; return the status the loop should show.

    Children are read through ``view`` (default: the API, one read per child)."""
    meta = loop["metadata"]
    with state.object_lock(meta.get("namespace") or "default", meta["name"]):
        return _reconcile_loop(kube, loop, state, view or kube)


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
    with state.lock:
        state.loops[(ns, name)] = {
            "uid": meta.get("uid"),
            "fleet": spec.fleet,
            "concurrency": spec.trigger.concurrency,
            "suspend": spec.trigger.suspend,
        }
    policy = _policy_for(kube, state, ns, spec.fleet)
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
        digest = _content_digest(kube, view, state, ns, pin.config_map)
        if digest != pin.digest:
            missing.append(
                f"{pin.ref} ({pin.config_map}{'' if digest is None else ': digest differs'})"
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
        status["conditions"].append(_condition("Approvers", ok, reason, message, generation))
    if viewers is not None:
        ok, reason, message = viewers_condition(viewers)
        status["conditions"].append(_condition("Viewers", ok, reason, message, generation))
    status["children"] = [{"kind": k.split("/")[0], "name": k.split("/")[1]} for k in outcomes]
    return status


def fleet_failed(policy: dict[str, Any], reason: str, message: str) -> dict[str, Any]:
    """The status of a fleet whose gateway objects could not be rendered (nothing applied)."""
    return _fleet_ready(policy, False, reason, message)


def _fleet_ready(policy: dict[str, Any], ok: bool, reason: str, message: str) -> dict[str, Any]:
    generation = policy["metadata"].get("generation")
    status: dict[str, Any] = {"conditions": [_condition("Ready", ok, reason, message, generation)]}
    if generation is not None:
        status["observedGeneration"] = generation
    return status


__all__ = [
    "Fresh",
    "KubeError",
    "Snapshot",
    "apply",
    "delete_loop",
    "fleet_failed",
    "fleet_status",
    "in_fleet",
    "reconcile_fleet",
    "reconcile_loop",
    "write_status",
]
