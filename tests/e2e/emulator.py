"""A Kubernetes API emulator for operator tests: kmock's KubernetesEmulator plus the
bookkeeping a real API server does and kmock 0.8 does not.

Added here: ``metadata.uid``, an increasing ``resourceVersion``, ``generation``
bumped on spec changes, ``creationTimestamp``, the namespace filled in from the
URL, garbage collection of objects whose owner was deleted (ownerReferences),
and a count of write and read calls. It runs on its own event loop in a thread, so
blocking clients (the kubernetes client, kopf's KopfRunner) can use it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import threading
import uuid
from typing import Any

import kmock
from kmock import ResourceInfo

from fleet.resources import GROUP, VERSION

WRITE_METHODS = {"POST", "PATCH", "PUT", "DELETE"}


class FleetEmulator(kmock.KubernetesEmulator):  # type: ignore[misc]
    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self._rv = itertools.count(1)
        self.writes = 0
        self.reads = 0
        self.write_log: list[str] = []

    def _existing(self, request: Any) -> Any:
        obj = self._by_key(request)
        return obj if obj is not None and not obj.deleted else None

    def _by_key(self, request: Any) -> Any:
        # The store is a dict keyed by (resource, namespace, name); a request from a URL names
        # a concrete resource, so one lookup finds its object (kmock scans them all).
        return self.objects._objects.get((request.resource, request.namespace, request.name))

    def _KubernetesEmulator__get_objs(self, request: Any, strict: bool) -> list[Any]:
        if request.name is not None and (strict or request.namespace is not None):
            obj = self._by_key(request)
            return [obj] if obj is not None else []
        exact_ns = strict or request.namespace is not None
        return [
            obj
            for (resource, namespace, name), obj in self.objects.items()
            if resource == request.resource
            and (namespace == request.namespace or not exact_ns)
            and (request.name is None or name == request.name)
        ]

    async def _handle(self, request: Any) -> Any:
        try:
            return await self._handle_tracked(request)
        finally:
            # kmock keeps every request it ever served and matches each new one against that
            # history (quadratic over a long run); the emulator keeps only those in flight.
            requests = self._requests
            for i in range(len(requests) - 1, -1, -1):
                if requests[i] is request:
                    del requests[i]
                    break

    async def _handle_tracked(self, request: Any) -> Any:
        method = str(getattr(request, "method", "") or "").upper()
        action = request.action
        if request.resource is not None and action in (kmock.action.FETCH, kmock.action.LIST):
            self.reads += 1
        if request.resource is not None and action in (
            kmock.action.CREATE,
            kmock.action.UPDATE,
            kmock.action.DELETE,
        ):
            self.writes += 1
            self.write_log.append(
                f"{dt.datetime.now():%H:%M:%S.%f} {action} {request.resource.plural}/{request.name or ''} {str(request.data)[:2000]}"
            )
        _ = method
        if request.resource is not None and isinstance(request.data, dict):
            meta = request.data.setdefault("metadata", {})
            if action == kmock.action.CREATE:
                if request.namespace and not meta.get("namespace"):
                    meta["namespace"] = request.namespace
                meta.setdefault("uid", str(uuid.uuid4()))
                meta["resourceVersion"] = str(next(self._rv))
                meta.setdefault("generation", 1)
                meta.setdefault(
                    "creationTimestamp", dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                )
            elif action == kmock.action.UPDATE:
                current = self._existing(request)
                meta["resourceVersion"] = str(next(self._rv))
                subresource = getattr(request, "subresource", None)
                if current is not None and "spec" in request.data and not subresource:
                    old_spec = current.raw.get("spec")
                    if _merged(old_spec, request.data["spec"]) != old_spec:
                        meta["generation"] = (
                            int(current.raw.get("metadata", {}).get("generation", 1)) + 1
                        )
        # A DELETE, or the PATCH that removes the last finalizer, can make the object go away:
        # then its dependents go too (the uid is read now: a soft-deleted object has no raw form).
        owner = (
            self._existing(request)
            if action in (kmock.action.DELETE, kmock.action.UPDATE)
            else None
        )
        owner_uid = owner.raw.get("metadata", {}).get("uid") if owner is not None else None
        response = await super()._handle(request)
        if owner_uid and self._existing(request) is None:
            await self._collect(owner_uid)
        return response

    async def _collect(self, uid: str | None) -> None:
        """Delete every object owned by ``uid``, as the garbage collector would."""
        if not uid:
            return
        async with self._lock:
            doomed = [
                (key, obj)
                for key, obj in self.objects.items()
                if not obj.deleted
                and any(
                    ref.get("uid") == uid
                    for ref in obj.raw.get("metadata", {}).get("ownerReferences", [])
                )
            ]
            uids = []
            for key, obj in doomed:
                raw = obj.raw
                uids.append(raw.get("metadata", {}).get("uid"))
                obj.delete()
                await self._buses[key[0]].put({"type": "DELETED", "object": raw})
        for child_uid in uids:
            await self._collect(child_uid)


def _merged(base: Any, patch: Any) -> Any:
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for k, v in patch.items():
            out[k] = _merged(base.get(k), v)
        return out
    return patch


class Cluster:
    """The emulator served on a loopback port from a background thread."""

    def __init__(self) -> None:
        self.url = ""
        self.emulator: FleetEmulator | None = None
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        async with FleetEmulator() as emulator, kmock.Server(emulator) as server:
            emulator.resources.load_bundled()
            for plural, kind in (("agentloops", "AgentLoop"), ("fleetpolicies", "FleetPolicy")):
                emulator.resources[f"{GROUP}/{VERSION}/{plural}"] = ResourceInfo(
                    namespaced=True,
                    kind=kind,
                    singular=kind.lower(),
                    verbs={"list", "watch", "get", "create", "patch", "update", "delete"},
                    subresources={"status"},
                    categories={"fleet"},
                )
            self.emulator = emulator
            self.url = str(server.url).rstrip("/")
            self._ready.set()
            while not self._stop.is_set():
                await asyncio.sleep(0.05)

    def __enter__(self) -> Cluster:
        self._thread.start()
        if not self._ready.wait(20):
            raise RuntimeError("the emulator did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    @property
    def writes(self) -> int:
        assert self.emulator is not None
        return int(self.emulator.writes)

    @property
    def reads(self) -> int:
        assert self.emulator is not None
        return int(self.emulator.reads)
