"""What the operator remembers between handler calls, and the reads that memory spares.

kopf calls a handler per event and a timer per fleet; they share one :class:`FleetState`
(token hashes for the gateway config, fleets to re-render, the last FleetPolicy and content
digests seen, run status, approvers), guarded by its lock, with one lock per object so a
change handler and a timer never reconcile the same object at once.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from fleet.resources import API_VERSION
from fleet_operator.applier import Snapshot, View
from fleet_operator.approvers import Approvers
from fleet_operator.kube import Kube


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
    # (namespace, loop) → (uid, generation) of the newest version reconciled: a fleet sweep's
    # list taken before a newer version was reconciled must not put the older one back
    reconciled: dict[tuple[str, str], tuple[str | None, int]] = field(default_factory=dict)
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


def policy_for(kube: Kube, state: FleetState, ns: str, fleet: str) -> dict[str, Any] | None:
    """The fleet's FleetPolicy as last seen, read from the API (and remembered) when unseen."""
    with state.lock:
        policy = state.policies.get((ns, fleet))
    if policy is None:
        policy = kube.get(API_VERSION, "FleetPolicy", ns, fleet)
        if policy is not None:
            state.remember_policy(policy)
    return policy


def content_digest(kube: Kube, view: View, state: FleetState, ns: str, name: str) -> str | None:
    """The digest a content ConfigMap carries, or None when it is absent or carries none."""
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
