"""Applying one child: create it, or patch it back to what the operator renders, only when it drifted.

A write costs the API server and wakes every watcher, so the operator compares first:
the fields it owns must hold the values it set (a subset comparison, so server-side
defaults never look like drift) and the render hash must match. Reads go through a
:class:`View`, either the API itself, a :class:`Snapshot` listed once per kind for a
whole fleet, or :class:`Fresh` for a loop just created, whose children cannot exist yet.
"""

from __future__ import annotations

from typing import Any, Protocol

from fleet.render import FLEET_LABEL, HASH, body_of, owned_fields
from fleet_operator.kube import Kube, KubeError


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


def patch_for(desired: dict[str, Any]) -> dict[str, Any]:
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
    return "updated", kube.patch(*where, patch_for(desired))
