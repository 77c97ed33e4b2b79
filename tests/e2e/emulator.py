"""A Kubernetes API emulator for operator tests: kmock's KubernetesEmulator plus the
bookkeeping a real API server does and kmock 0.8 does not.

Added here: ``metadata.uid``, an increasing ``resourceVersion``, ``generation``
bumped on spec changes, ``creationTimestamp``, the namespace filled in from the
URL, garbage collection of objects whose owner was deleted (ownerReferences),
and a count of write and read calls. It runs on its own event loop in a thread, so
blocking clients (the kubernetes client, kopf's KopfRunner) can use it.

``ApiServer`` (the second half) answers where kubectl depends on kube-apiserver: discovery,
CRDs registering their resources, server-side Tables, OpenAPI v3, patch kinds, watches.
What it does not do: field ownership in server-side apply, protobuf bodies (kubectl's
typed commands), schema validation beyond unknown fields (types, enums, patterns).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import dataclasses
import datetime as dt
import hashlib
import itertools
import json
import re
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp.test_utils
import aiohttp.web
import attrs
import jsonpatch
import jsonpointer
import kmock
import yaml
from kmock import ResourceInfo

WRITE_METHODS = {"POST", "PATCH", "PUT", "DELETE"}


class FleetEmulator(kmock.KubernetesEmulator):  # type: ignore[misc]
    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self._rv = itertools.count(1)
        self.writes = 0
        self._gone: set[str] = set()  # uids of objects deleted (for the garbage collector)
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
            self._gone.add(owner_uid)
            await self._collect(owner_uid)
        if action == kmock.action.CREATE and isinstance(request.data, dict):
            # The garbage collector also removes an object created with an owner that is gone
            # (a writer that read the owner just before it was deleted).
            refs = request.data.get("metadata", {}).get("ownerReferences") or []
            uids = {ref.get("uid") for ref in refs if ref.get("uid")}
            if uids and uids <= self._gone:
                await self._collect_one(request.data["metadata"].get("uid"))
        return response

    async def _collect_one(self, uid: str | None) -> None:
        """Delete the object whose uid is ``uid`` (its owner is gone), then its dependents."""
        async with self._lock:
            found = [
                (key, obj)
                for key, obj in self.objects.items()
                if not obj.deleted and obj.raw.get("metadata", {}).get("uid") == uid
            ]
            for key, obj in found:
                raw = obj.raw
                self._gone.add(uid)
                obj.delete()
                await self._buses[key[0]].put({"type": "DELETED", "object": raw})
        if found:
            await self._collect(uid)

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
                self._gone.add(uids[-1])
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


# ---------------------------------------------------------------------------------------
# What kubectl needs of an API server.
#
# kubectl reads discovery (aggregated v2, or the legacy lists when the answer is plain
# JSON), asks /openapi/v3 whether the server does field validation (a 404 there sends it to
# /openapi/v2, which it wants as protobuf), asks for server-side Tables and renders nothing
# itself, and applies with merge patches (custom resources) or strategic merge patches
# (built-in kinds). ApiServer answers those the way kube-apiserver 1.32 does; everything
# else is FleetEmulator's. The helpers below it are pure functions over JSON values.
# ---------------------------------------------------------------------------------------

CRD_RESOURCE = kmock.resource("apiextensions.k8s.io", "v1", "customresourcedefinitions")
FLEET_CRDS = Path(__file__).resolve().parents[2] / "operator" / "deploy" / "crds"
SERVER_VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0-fleetctl-emulator",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.23.4",
    "compiler": "gc",
    "platform": "linux/amd64",
}
ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
SUBRESOURCE_VERBS = {
    "status": ["get", "patch", "update"],
    "scale": ["get", "patch", "update"],
    "finalize": ["update"],
    "binding": ["create"],
    "eviction": ["create"],
    "token": ["create"],
    "exec": ["create", "get"],
    "attach": ["create", "get"],
    "portforward": ["create", "get"],
    "ephemeralcontainers": ["get", "patch", "update"],
    "resize": ["get", "patch", "update"],
}
TABLE_NAME_DOC = (
    "Name must be unique within a namespace. Is required when creating resources, although "
    "some resources may allow a client to request the generation of an appropriate name "
    "automatically. Name is primarily intended for creation idempotence and configuration "
    "definition. Cannot be updated."
)
# What a custom resource PATCH accepts (no strategic merge: there is no Go struct to say how).
CR_PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/apply-patch+yaml",
)
OBJECT_META_FIELDS = {
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
    "annotations", "ownerReferences", "finalizers", "managedFields",
}  # fmt: skip


class _HttpServer(aiohttp.test_utils.RawTestServer):
    """kmock's HTTP server, taking request bodies up to kube-apiserver's 3 MiB (aiohttp's
    own limit is 1 MiB, under what a ConfigMap may hold)."""

    async def _make_runner(self, debug: bool = True, **kwargs: Any) -> aiohttp.web.ServerRunner:
        loop = self._loop  # as RawTestServer._make_runner, with a request factory of our own

        def request(message: Any, payload: Any, protocol: Any, writer: Any, task: Any) -> Any:
            return aiohttp.web.BaseRequest(
                message, payload, protocol, writer, task, loop, client_max_size=MAX_REQUEST_BYTES
            )

        server = aiohttp.web.Server(
            self._handler, loop=loop, debug=debug, request_factory=request, **kwargs
        )
        return aiohttp.web.ServerRunner(server, debug=debug, **kwargs)


class _Counter:
    """``next()`` like itertools.count, and the last value handed out (a list's resourceVersion)."""

    def __init__(self) -> None:
        self.last = 0

    def __iter__(self) -> _Counter:
        return self

    def __next__(self) -> int:
        self.last += 1
        return self.last


class ApiServer(FleetEmulator):
    """FleetEmulator answering as kube-apiserver does where kubectl depends on it.

    CRDs register their resources (short names, categories, printer columns, schema) when
    created and drop them, and their objects, when deleted. A request for a resource that is
    not registered is a 404, as on a real server.
    """

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self._rv = _Counter()
        self.crd_versions: dict[Any, dict[str, Any]] = {}  # resource -> its CRD version entry
        self._crd_resources: dict[str, list[Any]] = {}  # CRD name -> the resources it serves

    # -- requests ---------------------------------------------------------------------------

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        # kmock reads /api/v1/namespaces[/NAME] as a namespace prefix without a resource (and
        # fails on the bare list): spell those paths as a namespaced one it parses, and put
        # the namespace back to "cluster-scoped" in _handle.
        path = raw_request.path
        if len(path) > 1 and path.endswith("/"):  # /apis/ is /apis (the kubernetes client asks so)
            path = path.rstrip("/")
            raw_request = raw_request.clone(rel_url=raw_request.rel_url.with_path(path))
        m = re.fullmatch(r"/api/v1/namespaces(?:/([^/]+)(/status|/finalize)?)?/?", path)
        if m:
            rest = f"/{m[1]}{m[2] or ''}" if m[1] else ""
            raw_request = raw_request.clone(
                rel_url=raw_request.rel_url.with_path(
                    f"/api/v1/namespaces/{_CLUSTER}/namespaces{rest}"
                )
            )
        return await super().__call__(raw_request)  # type: ignore[no-any-return]

    async def _handle(self, request: Any) -> Any:
        original = request
        if request.namespace == _CLUSTER:
            request = self._evolve(request, namespace=None)
        normalized = request
        try:
            answer = self._answer_directly(request)
            if answer is not None:
                return answer
            normalized, warnings = await self._normalized(request)
            normalized = self._pruned(self._status_rules(normalized))
            if normalized.action == kmock.action.WATCH and normalized.resource is not None:
                return await self._watch(normalized)
            table = _table_version(normalized) if normalized.action in _READS else None
            try:
                response = await super()._handle(normalized)
            except kmock.KubernetesError as exc:
                raise self._status_error(normalized, exc) from exc
            if normalized.resource == CRD_RESOURCE and normalized.action in _WRITES:
                await self._sync_crd(normalized.name or normalized.data["metadata"]["name"])
            if normalized.action == kmock.action.CREATE and response.status == 200:
                response.set_status(201)
            if table is not None and response.status == 200:
                response = self._table_response(normalized, response, table)
            for warning in warnings:
                quoted = warning.replace("\\", "\\\\").replace('"', '\\"')
                response.headers.add("Warning", f'299 - "{quoted}"')
            return response
        finally:
            for seen in {id(r): r for r in (original, request, normalized)}.values():
                _forget(self._requests, seen)

    async def _render_error(self, exc: Exception) -> aiohttp.web.StreamResponse:
        if not isinstance(exc, kmock.KubernetesError):
            return await super()._render_error(exc)  # type: ignore[no-any-return]  # a bug: keep the traceback
        status = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": exc.message or "",
            "reason": exc.reason or "",
            "details": exc.details or {},
            "code": exc.status,
        }
        return aiohttp.web.json_response(status, status=exc.status)

    def _evolve(self, request: Any, **changes: Any) -> Any:
        """A changed copy of ``request``, in its place among those kmock matches reactions
        against (by identity)."""
        changed = attrs.evolve(request, **changes)
        requests = self._requests
        for i in range(len(requests) - 1, -1, -1):
            if requests[i] is request:
                requests[i] = changed
                break
        return changed

    def _answer_directly(self, request: Any) -> Any:
        """Discovery, OpenAPI and /version: the answers that are not about objects."""
        method = _method(request)
        path = request.url.path
        if method != "GET":
            return None
        if path in ("/api", "/apis"):
            version = _aggregated_discovery_version(request.headers)
            if version is not None:
                body = self.aggregated_discovery(core=path == "/api", version=version)
                return _json(
                    body,
                    f"application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList",
                )
            return None
        if path == "/version":
            return _json(SERVER_VERSION)
        if path == "/openapi/v3":
            return _json(
                {
                    "paths": {
                        gv: {"serverRelativeURL": f"/openapi/v3/{gv}?hash={_digest(doc)}"}
                        for gv, doc in self.openapi_v3().items()
                    }
                }
            )
        if path.startswith("/openapi/v3/"):
            doc = self.openapi_v3().get(path.removeprefix("/openapi/v3/"))
            if doc is None:
                raise _not_found_url()
            response = _json(doc)
            response.headers["ETag"] = f'"{_digest(doc)}"'
            return response
        if path in ("/openapi/v2", "/swagger-2.0.0.pb-v1"):
            raise _not_found_url()  # kubectl reads v2 only when v3 lacks what it wants
        return None

    async def _normalized(self, request: Any) -> tuple[Any, list[str]]:
        """The request as kmock understands it (one JSON merge patch per write), and the
        warnings for its answer."""
        resource = request.resource
        if resource is None or resource.plural is None:
            return request, []
        if resource not in self.resources:
            raise _not_found_url()
        content_type = _header(request.headers, "Content-Type").split(";")[0].strip()
        if content_type in ("application/vnd.kubernetes.protobuf", "application/cbor"):
            # kubectl's typed commands (create namespace, create configmap, ...) send protobuf.
            raise _status(
                415,
                "UnsupportedMediaType",
                f"the emulator reads JSON bodies only, not {content_type}: "
                "use kubectl apply/create -f with a manifest",
            )
        validation = request.params.get("fieldValidation", "")
        if _method(request) == "PUT" and request.name:
            current = self._current(request)
            body = request.data if isinstance(request.data, dict) else {}
            _check_resource_version(request, body, current)
            new = copy.deepcopy(body)
            for key in ("uid", "creationTimestamp", "generation"):
                if key in (current.get("metadata") or {}):
                    new.setdefault("metadata", {})[key] = current["metadata"][key]
            if request.subresource == "status":
                new = {**current, "status": new.get("status")}
            warnings = self._check_fields(request, new, validation)
            self._check_limits(request, new)
            put = self._evolve(request, action=kmock.action.UPDATE, data=merge_diff(current, new))
            return put, warnings
        if request.action == kmock.action.CREATE and isinstance(request.data, dict):
            self._check_limits(request, request.data)
            return request, self._check_fields(request, request.data, validation)
        if request.action != kmock.action.UPDATE:
            return request, []
        if content_type == "application/apply-patch+yaml":
            return self._server_side_apply(request, validation)
        if resource in self.crd_versions and content_type not in CR_PATCH_TYPES:
            raise _status(
                415,
                "UnsupportedMediaType",
                "the body of the request was in an unknown format - accepted media types "
                f"include: {', '.join(CR_PATCH_TYPES)}",
            )
        if content_type == "application/json-patch+json":
            current = self._current(request)
            try:
                new = jsonpatch.apply_patch(current, request.data, in_place=False)
            except (
                jsonpatch.JsonPatchException,
                jsonpointer.JsonPointerException,
                TypeError,
            ) as exc:
                raise _status(
                    422,
                    "Invalid",
                    f"the server rejected our request due to an error in our request: {exc}",
                ) from exc
            warnings = self._check_fields(request, new, validation)
            self._check_limits(request, new)
            return self._evolve(request, data=merge_diff(current, new)), warnings
        if not isinstance(request.data, dict):
            raise _status(400, "BadRequest", "the body of the request is not a JSON object")
        warnings = self._check_fields(request, request.data, validation)
        strategic = content_type == "application/strategic-merge-patch+json"
        if not strategic and not _needs_current(resource, request.data):
            return request, warnings  # a merge patch, kmock's own kind: no copy of the object
        current = self._current(request)
        _check_resource_version(request, request.data, current)
        if strategic:
            merged = strategic_merge(current, request.data)
            self._check_limits(request, merged)
            return self._evolve(request, data=merge_diff(current, merged)), warnings
        self._check_limits(request, merge_patch(current, request.data))
        return request, warnings

    def _pruned(self, request: Any) -> Any:
        """A custom resource loses the fields its CRD's structural schema does not declare,
        silently, as kube-apiserver prunes them (whoever writes, whatever fieldValidation)."""
        version = self.crd_versions.get(request.resource)
        if (
            version is None
            or not isinstance(request.data, dict)
            or request.action not in (kmock.action.CREATE, kmock.action.UPDATE)
        ):
            return request
        schema = (version.get("schema") or {}).get("openAPIV3Schema") or {}
        kept = prune(request.data, schema)
        return request if kept == request.data else self._evolve(request, data=kept)

    def _status_rules(self, request: Any) -> Any:
        """A kind with a status subresource: its main resource ignores .status (a create
        starts without one) and /status changes nothing but .status."""
        data = request.data
        resource = request.resource
        if (
            not isinstance(data, dict)
            or request.action not in (kmock.action.CREATE, kmock.action.UPDATE)
            or resource is None
            or resource not in self.resources
            or "status" not in self.resources[resource].subresources
        ):
            return request
        if request.subresource is None and "status" in data:
            return self._evolve(request, data={k: v for k, v in data.items() if k != "status"})
        if request.subresource == "status" and set(data) - {"status"}:
            return self._evolve(request, data={k: v for k, v in data.items() if k == "status"})
        return request

    def _server_side_apply(self, request: Any, validation: str) -> tuple[Any, list[str]]:
        """``kubectl apply --server-side``, naively: the applied object is created, or merged
        into the live one. Field ownership is not tracked, so a field the manager stops
        applying stays (kube-apiserver would remove it) and there are no conflicts."""
        body = request.data
        if not isinstance(body, dict):
            try:
                body = yaml.safe_load(request.text or "")
            except yaml.YAMLError as exc:
                raise _status(400, "BadRequest", f"error decoding YAML: {exc}") from exc
        if not isinstance(body, dict):
            raise _status(400, "BadRequest", "the applied configuration is not an object")
        warnings = self._check_fields(request, body, validation)
        if self._existing(request) is None:
            self._check_limits(request, body)
            return self._evolve(request, action=kmock.action.CREATE, data=body), warnings
        self._check_limits(request, merge_patch(self._current(request), body))
        return self._evolve(request, data=body), warnings

    def _check_limits(self, request: Any, obj: dict[str, Any]) -> None:
        """kube-apiserver's size limits that ``kubectl apply`` meets in practice: annotations
        (its last-applied copy of the object is one) and ConfigMap or Secret data."""
        meta = obj.get("metadata") or {}
        kind = self.resources[request.resource].kind
        name = meta.get("name") or request.name
        annotations = meta.get("annotations") or {}
        if _size(annotations) > MAX_ANNOTATIONS_BYTES:
            raise _invalid(
                kind,
                name,
                "metadata.annotations",
                f"Too long: must have at most {MAX_ANNOTATIONS_BYTES} bytes",
            )
        plural = request.resource.plural
        if plural in ("configmaps", "secrets") and not request.resource.group:
            data = obj.get("data") or {}
            binary = obj.get("binaryData") or {}
            if plural == "secrets":
                size = sum(len(k) + len(_b64(v)) for k, v in data.items())
                field = "data"
            else:
                size = _size(data) + sum(len(k) + len(_b64(v)) for k, v in binary.items())
                field = "[]"
            if size > MAX_DATA_BYTES:
                raise _invalid(
                    kind, name, field, f"Too long: must have at most {MAX_DATA_BYTES} bytes"
                )

    def _current(self, request: Any) -> dict[str, Any]:
        obj = self._existing(request)
        if obj is None:
            raise self._status_error(request, kmock.KubernetesObjectNotFoundError())
        return copy.deepcopy(dict(obj.raw))

    def _check_fields(self, request: Any, obj: dict[str, Any], validation: str) -> list[str]:
        """``fieldValidation=Strict`` refuses, ``Warn`` warns of, fields the CRD's schema lacks."""
        version = self.crd_versions.get(request.resource)
        if validation not in ("Strict", "Warn") or version is None:
            return []
        schema = (version.get("schema") or {}).get("openAPIV3Schema") or {}
        found = [f'unknown field "{path}"' for path in unknown_fields(obj, schema)]
        if found and validation == "Strict":
            kind = self.resources[request.resource].kind
            raise _status(
                400,
                "BadRequest",
                f'{kind} in version "{request.resource.version}" cannot be handled as a {kind}: '
                f"strict decoding error: {', '.join(found)}",
            )
        return found

    def _status_error(self, request: Any, exc: Exception) -> Exception:
        """kmock's errors in the words kube-apiserver uses (kubectl prints them as they are)."""
        resource = request.resource
        if resource is None or resource.plural is None:
            return _not_found_url() if getattr(exc, "status", 500) == 404 else exc
        qualified = resource.plural if not resource.group else f"{resource.plural}.{resource.group}"
        name = request.name or ((request.data or {}).get("metadata") or {}).get("name", "")
        details = {"name": name, "group": resource.group, "kind": resource.plural}
        status = getattr(exc, "status", 500)
        if status == 404:
            return _status(404, "NotFound", f'{qualified} "{name}" not found', details)
        if status == 409:
            return _status(409, "AlreadyExists", f'{qualified} "{name}" already exists', details)
        return exc

    # -- lists, watches and tables ----------------------------------------------------------

    async def _serve_list(self, request: Any) -> Any:
        listed = await super()._serve_list(request)
        resource = request.resource
        items = [obj for obj in listed["items"] if _selected(obj, request.params)]
        return {
            "kind": f"{self.resources[resource].kind}List",
            "apiVersion": _api_version(resource),
            "metadata": {"resourceVersion": str(self._rv.last)},
            "items": items,
        }

    async def _watch(self, request: Any) -> aiohttp.web.StreamResponse:
        """A watch as kube-apiserver streams one: JSON lines (a Table per event when asked),
        synthetic ADDED events for what exists unless the client names a resourceVersion it
        listed at, the initial-events-end bookmark a watch-list (``sendInitialEvents``) waits
        for, label and field selectors, ended after ``timeoutSeconds``."""
        table = _table_version(request)
        response = aiohttp.web.StreamResponse(status=200)
        response.content_type = "application/json"
        if table is not None:
            response.headers["Content-Type"] = f"application/json;as=Table;v={table};g=meta.k8s.io"
        response.enable_chunked_encoding()
        await response.prepare(request._raw_request)
        params = request.params
        watch_list = params.get("sendInitialEvents") == "true"
        since = 0 if watch_list else _int(params.get("resourceVersion"))
        timeout = _int(params.get("timeoutSeconds")) or None
        columns = self.printer_columns(request.resource) if table is not None else []
        include = params.get("includeObject", "Metadata")
        try:
            async with (
                asyncio.timeout(timeout),
                contextlib.aclosing(self._watch_events(request, since)) as events,
            ):
                async for event in events:
                    if event is None:  # the initial events are out
                        if not watch_list:
                            continue
                        event = {"type": "BOOKMARK", "object": self._bookmark(request.resource)}
                    elif not _selected(event.get("object") or {}, params):
                        continue
                    elif table is not None:
                        obj = event["object"]
                        rv = str((obj.get("metadata") or {}).get("resourceVersion", ""))
                        rendered = render_table(columns, [obj], rv, include)
                        rendered["apiVersion"] = f"meta.k8s.io/{table}"
                        event = {"type": event["type"], "object": rendered}
                    await response.write(json.dumps(event).encode() + b"\n")
        except (TimeoutError, ConnectionResetError):
            pass  # the watch ran its course, or the client went away
        return response

    async def _watch_events(self, request: Any, since: int) -> Any:
        """ADDED for each object changed after ``since`` (all of them for 0), then None, then
        what happens: the bus is marked under the store's lock, so nothing is lost or doubled."""
        bus = self._buses[request.resource]
        async with self._lock:
            marker = await bus.mark()
            existing = [
                obj.raw
                for obj in self._KubernetesEmulator__get_objs(request, strict=False)
                if not obj.deleted
            ]
        try:
            for raw in existing:
                if not since or _int((raw.get("metadata") or {}).get("resourceVersion")) > since:
                    yield {"type": "ADDED", "object": raw}
            yield None
            async for event in bus.stream(since=marker):
                meta = (event.get("object") or {}).get("metadata") or {}
                if self._KubernetesEmulator__check(
                    request, request.resource, meta.get("namespace"), meta.get("name"), strict=False
                ):
                    yield event
        finally:
            await bus.unmark(marker)

    def _bookmark(self, resource: Any) -> dict[str, Any]:
        return {
            "kind": self.resources[resource].kind,
            "apiVersion": _api_version(resource),
            "metadata": {
                "resourceVersion": str(self._rv.last),
                "annotations": {"k8s.io/initial-events-end": "true"},
            },
        }

    def _table_response(self, request: Any, response: Any, version: str) -> Any:
        body = json.loads(response.body)
        objects = body.get("items", []) if request.action == kmock.action.LIST else [body]
        rv = (body.get("metadata") or {}).get("resourceVersion", "")
        columns = self.printer_columns(request.resource)
        table = render_table(columns, objects, rv, request.params.get("includeObject", "Metadata"))
        table["apiVersion"] = f"meta.k8s.io/{version}"
        return _json(table, f"application/json;as=Table;v={version};g=meta.k8s.io")

    def printer_columns(self, resource: Any) -> list[Column]:
        """The columns kube-apiserver prints for ``resource`` after NAME."""
        version = self.crd_versions.get(resource)
        if version is not None:
            declared = version.get("additionalPrinterColumns") or [
                {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
            ]
            return [crd_column(col) for col in declared]
        return BUILTIN_COLUMNS.get(resource.plural, DEFAULT_COLUMNS)

    # -- CRDs -------------------------------------------------------------------------------

    async def install_crd(self, crd: dict[str, Any]) -> None:
        """Store ``crd`` as if ``kubectl apply`` had created it, and serve its resources."""
        crd = copy.deepcopy(crd)
        meta = crd.setdefault("metadata", {})
        meta.setdefault("annotations", {})[LAST_APPLIED] = json.dumps(
            crd, separators=(",", ":"), sort_keys=True
        )
        meta.update(
            uid=str(uuid.uuid4()),
            resourceVersion=str(next(self._rv)),
            generation=1,
            creationTimestamp=_now(),
        )
        async with self._lock:
            self.objects[CRD_RESOURCE, None, meta["name"]] = crd
        await self._sync_crd(meta["name"])

    async def _sync_crd(self, name: str) -> None:
        """Serve what the stored CRD ``name`` declares; drop what it no longer does."""
        stored = self.objects._objects.get((CRD_RESOURCE, None, name))
        crd = dict(stored.raw) if stored is not None and not stored.deleted else None
        served = crd_resources(crd) if crd is not None else {}
        for resource in self._crd_resources.pop(name, []):
            if resource not in served:
                self.crd_versions.pop(resource, None)
                if resource in self.resources:
                    del self.resources[resource]
                await self._drop_objects(resource)
        for resource, (info, version) in served.items():
            self.resources[resource] = info
            self.crd_versions[resource] = version
        if crd is None:
            return
        self._crd_resources[name] = list(served)
        status = crd_status(crd, (crd.get("status") or {}).get("conditions"))
        if status != crd.get("status"):
            async with self._lock:
                stored.patch(
                    {"status": status, "metadata": {"resourceVersion": str(next(self._rv))}}
                )
                await self._buses[CRD_RESOURCE].put({"type": "MODIFIED", "object": stored.raw})

    async def _drop_objects(self, resource: Any) -> None:
        async with self._lock:
            for key, obj in list(self.objects.items()):
                if key[0] == resource and not obj.deleted:
                    raw = obj.raw
                    obj.delete()
                    await self._buses[resource].put({"type": "DELETED", "object": raw})

    # -- discovery --------------------------------------------------------------------------

    def served(self) -> dict[tuple[str, str], list[tuple[Any, Any]]]:
        """(group, version) -> [(resource, info)], groups in the order they were declared."""
        out: dict[tuple[str, str], list[tuple[Any, Any]]] = {}
        for resource in self.resources:
            if resource.group is None or resource.version is None or not resource.plural:
                continue
            out.setdefault((resource.group, resource.version), []).append(
                (resource, self.resources[resource])
            )
        return out

    def group_versions(self) -> dict[str, list[str]]:
        groups: dict[str, list[str]] = {}
        for group, version in self.served():
            groups.setdefault(group, []).append(version)
        return {g: sorted(vs, key=version_priority, reverse=True) for g, vs in groups.items()}

    async def _serve_api(self, request: Any) -> Any:
        return {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}
            ],
        }

    async def _serve_apis(self, request: Any) -> Any:
        return {
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [_api_group(g, vs) for g, vs in self.group_versions().items() if g],
        }

    async def _serve_group(self, request: Any) -> Any:
        group = request.resource.group
        versions = self.group_versions().get(group)
        if not group or not versions:
            raise _not_found_url()
        return {"kind": "APIGroup", "apiVersion": "v1", **_api_group(group, versions)}

    async def _serve_version(self, request: Any) -> Any:
        gv = (request.resource.group, request.resource.version)
        served = self.served().get(gv)
        if not served:
            raise _not_found_url()
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": _api_version(request.resource),
            "resources": [
                entry for resource, info in served for entry in legacy_discovery(resource, info)
            ],
        }

    def aggregated_discovery(self, *, core: bool, version: str = "v2") -> dict[str, Any]:
        served = self.served()
        items = []
        for group, versions in self.group_versions().items():
            if (group == "") != core:
                continue
            items.append(
                {
                    "metadata": {"name": group} if group else {},
                    "versions": [
                        {
                            "version": v,
                            "resources": [aggregated_resource(r, i) for r, i in served[(group, v)]],
                            "freshness": "Current",
                        }
                        for v in versions
                    ],
                }
            )
        return {
            "kind": "APIGroupDiscoveryList",
            "apiVersion": f"apidiscovery.k8s.io/{version}",
            "metadata": {},
            "items": items,
        }

    def openapi_v3(self) -> dict[str, dict[str, Any]]:
        """One OpenAPI v3 document per group-version, as /openapi/v3 lists them."""
        docs = {}
        for (group, version), served in self.served().items():
            gv = f"api/{version}" if not group else f"apis/{group}/{version}"
            docs[gv] = openapi_document([(r, i, self.crd_versions.get(r)) for r, i in served])
        return docs


_CLUSTER = "-cluster-"  # no namespace can be named so (a DNS label starts with [a-z0-9])
_READS = (kmock.action.FETCH, kmock.action.LIST)
_WRITES = (kmock.action.CREATE, kmock.action.UPDATE, kmock.action.DELETE)
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _forget(requests: list[Any], request: Any) -> None:
    # As FleetEmulator._handle does: kmock would keep every request ever served.
    for i in range(len(requests) - 1, -1, -1):
        if requests[i] is request:
            del requests[i]
            return


def _method(request: Any) -> str:
    return str(getattr(request.method, "value", request.method) or "").upper()


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _json(body: Any, content_type: str = "application/json") -> aiohttp.web.Response:
    response = aiohttp.web.Response(body=json.dumps(body).encode())
    response.headers["Content-Type"] = content_type
    return response


def _digest(doc: Any) -> str:
    return hashlib.sha512(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:32].upper()


def _header(headers: Any, name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return str(value)
    return ""


def _status(
    code: int, reason: str, message: str, details: dict[str, Any] | None = None
) -> kmock.KubernetesError:
    return kmock.KubernetesError(status=code, reason=reason, message=message, details=details or {})


def _not_found_url() -> kmock.KubernetesError:
    return _status(404, "NotFound", "the server could not find the requested resource")


def _media_types(headers: Any) -> list[tuple[str, dict[str, str]]]:
    out = []
    for part in _header(headers, "Accept").split(","):
        kind, *params = (p.strip() for p in part.split(";"))
        out.append((kind, dict(p.split("=", 1) for p in params if "=" in p)))
    return out


def _aggregated_discovery_version(headers: Any) -> str | None:
    """The apidiscovery version the client asks for first, if it asks for aggregated discovery."""
    for kind, params in _media_types(headers):
        if kind in ("application/json", "*/*") and not params:
            return None  # plain JSON preferred: the legacy lists
        aggregated = (
            params.get("g") == "apidiscovery.k8s.io" and params.get("as") == "APIGroupDiscoveryList"
        )
        if aggregated and params.get("v") in ("v2", "v2beta1"):
            return params["v"]
    return None


def _table_version(request: Any) -> str | None:
    for _, params in _media_types(request.headers):
        table = params.get("as") == "Table" and params.get("g") == "meta.k8s.io"
        if table and params.get("v") in ("v1", "v1beta1"):
            return params["v"]
    return None


def _check_resource_version(request: Any, body: dict[str, Any], current: dict[str, Any]) -> None:
    wanted = (body.get("metadata") or {}).get("resourceVersion")
    have = (current.get("metadata") or {}).get("resourceVersion")
    if wanted and wanted != have:
        resource = request.resource
        qualified = resource.plural if not resource.group else f"{resource.plural}.{resource.group}"
        raise _status(
            409,
            "Conflict",
            f'Operation cannot be fulfilled on {qualified} "{request.name}": the object has been '
            "modified; please apply your changes to the latest version and try again",
            {"name": request.name, "group": resource.group, "kind": resource.plural},
        )


def _api_version(resource: Any) -> str:
    return f"{resource.group}/{resource.version}" if resource.group else str(resource.version)


def _api_group(group: str, versions: list[str]) -> dict[str, Any]:
    entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": entries, "preferredVersion": entries[0]}


def version_priority(version: str) -> tuple[int, int, int, str]:
    """kube-apiserver's order: GA before beta before alpha, higher numbers first."""
    m = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if not m:
        return (0, 0, 0, version)
    rank = {None: 3, "beta": 2, "alpha": 1}[m[2]]
    return (rank, int(m[1]), int(m[3] or 0), "")


# -- selectors ------------------------------------------------------------------------------

_REQUIREMENT = re.compile(
    r"\s*(!?)\s*([\w./-]+)\s*(?:(==|=|!=)\s*([\w.-]*)|\s+(in|notin)\s*\(([^)]*)\))?\s*$"
)


def _split_selector(selector: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(selector):
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(selector[start:i])
            start = i + 1
    parts.append(selector[start:])
    return [p for p in parts if p.strip()]


def matches_selector(values: dict[str, str], selector: str) -> bool:
    """A label (or field) selector: ``a=b``, ``a!=b``, ``a``, ``!a``, ``a in (x,y)``, ``a notin (x)``."""
    for requirement in _split_selector(selector):
        m = _REQUIREMENT.match(requirement)
        if not m:
            raise _status(400, "BadRequest", f"unable to parse requirement: {requirement!r}")
        negate, key, op, value, set_op, members = m.groups()
        present = key in values
        if op in ("=", "=="):
            ok = values.get(key) == value
        elif op == "!=":
            ok = values.get(key) != value
        elif set_op:
            wanted = {v.strip() for v in members.split(",")}
            ok = values.get(key) in wanted if set_op == "in" else values.get(key) not in wanted
        else:
            ok = not present if negate else present
        if not ok:
            return False
    return True


def _selected(obj: dict[str, Any], params: Any) -> bool:
    meta = obj.get("metadata") or {}
    labels = params.get("labelSelector")
    if labels and not matches_selector(dict(meta.get("labels") or {}), labels):
        return False
    fields = params.get("fieldSelector")
    if fields:
        # Any field by its path (kube-apiserver allows a few per kind: metadata.name and
        # .namespace everywhere, involvedObject.* for events, status.phase for pods, ...).
        values = {}
        for requirement in _split_selector(fields):
            key = re.split(r"[!=\s]", requirement.strip().lstrip("!"), maxsplit=1)[0]
            value = _get(obj, *key.split("."))
            values[key] = "" if value is None else go_print(value)
        return matches_selector(values, fields)
    return True


MAX_REQUEST_BYTES = 3 * 1024 * 1024
MAX_ANNOTATIONS_BYTES = 256 * 1024
MAX_DATA_BYTES = 1024 * 1024


def _size(strings: dict[str, Any]) -> int:
    return sum(len(k.encode()) + len(str(v or "").encode()) for k, v in strings.items())


def _b64(value: Any) -> bytes:
    try:
        return base64.b64decode(str(value or ""), validate=False)
    except ValueError:
        return b""


def _invalid(kind: str, name: str, field: str, detail: str) -> kmock.KubernetesError:
    return _status(
        422,
        "Invalid",
        f'{kind} "{name}" is invalid: {field}: {detail}',
        {
            "name": name,
            "kind": kind,
            "causes": [{"reason": "FieldValueTooLong", "message": detail, "field": field}],
        },
    )


def _needs_current(resource: Any, patch: dict[str, Any]) -> bool:
    """Whether a merge patch must be checked against the live object (a resourceVersion
    precondition, or a size limit it may cross)."""
    meta = patch.get("metadata") or {}
    if meta.get("resourceVersion") or meta.get("annotations"):
        return True
    sized = resource.plural in ("configmaps", "secrets") and not resource.group
    return sized and bool(patch.get("data") or patch.get("binaryData"))


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


# -- discovery documents ------------------------------------------------------------------------


def _scope(info: Any) -> str:
    return "Namespaced" if info.namespaced else "Cluster"


def _subresource_kind(resource: Any, info: Any, sub: str) -> dict[str, str]:
    if sub == "scale":
        return {"group": "autoscaling", "version": "v1", "kind": "Scale"}
    return {"group": resource.group, "version": resource.version, "kind": info.kind}


def legacy_discovery(resource: Any, info: Any) -> list[dict[str, Any]]:
    """The APIResourceList entries of one resource: itself, then its subresources (no short
    names or categories on those: kubectl would report them as ambiguous)."""
    entry: dict[str, Any] = {
        "name": resource.plural,
        "singularName": info.singular or resource.plural,
        "namespaced": bool(info.namespaced),
        "kind": info.kind,
        "verbs": sorted(info.verbs or ALL_VERBS),
    }
    if info.shortnames:
        entry["shortNames"] = sorted(info.shortnames)
    if info.categories:
        entry["categories"] = sorted(info.categories)
    out = [entry]
    for sub in sorted(info.subresources):
        item = {
            "name": f"{resource.plural}/{sub}",
            "singularName": "",
            "namespaced": bool(info.namespaced),
            "kind": _subresource_kind(resource, info, sub)["kind"],
            "verbs": SUBRESOURCE_VERBS.get(sub, ["get"]),
        }
        if sub == "scale":
            item.update(group="autoscaling", version="v1")
        out.append(item)
    return out


def aggregated_resource(resource: Any, info: Any) -> dict[str, Any]:
    """One APIResourceDiscovery (apidiscovery.k8s.io/v2)."""
    entry: dict[str, Any] = {
        "resource": resource.plural,
        "responseKind": {"group": resource.group, "version": resource.version, "kind": info.kind},
        "scope": _scope(info),
        "singularResource": info.singular or resource.plural,
        "verbs": sorted(info.verbs or ALL_VERBS),
    }
    if info.shortnames:
        entry["shortNames"] = sorted(info.shortnames)
    if info.categories:
        entry["categories"] = sorted(info.categories)
    if info.subresources:
        entry["subresources"] = [
            {
                "subresource": sub,
                "responseKind": _subresource_kind(resource, info, sub),
                "verbs": SUBRESOURCE_VERBS.get(sub, ["get"]),
            }
            for sub in sorted(info.subresources)
        ]
    return entry


def _schema_name(resource: Any, kind: str) -> str:
    group = ".".join(reversed(resource.group.split("."))) if resource.group else "io.k8s.api.core"
    return f"{group}.{resource.version}.{kind}"


def openapi_document(served: list[tuple[Any, Any, dict[str, Any] | None]]) -> dict[str, Any]:
    """A group-version's OpenAPI v3 document, as far as kubectl reads one: each kind's schema
    (a CRD's own) and, per operation, the kind and the ``fieldValidation`` parameter that tells
    kubectl the server validates fields (so it skips the protobuf /openapi/v2 download)."""
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    params = [
        {"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
        for name in ("dryRun", "fieldManager", "fieldValidation")
    ]
    for resource, info, crd_version in served:
        gvk = {"group": resource.group, "version": resource.version, "kind": info.kind}
        name = _schema_name(resource, info.kind)
        schema = dict(((crd_version or {}).get("schema") or {}).get("openAPIV3Schema") or {})
        schema.setdefault("type", "object")
        schemas[name] = {**schema, "x-kubernetes-group-version-kind": [gvk]}
        body = {"schema": {"$ref": f"#/components/schemas/{name}"}}
        ok = {"200": {"description": "OK", "content": {"application/json": body}}}
        base = (
            f"/api/{resource.version}"
            if not resource.group
            else f"/apis/{resource.group}/{resource.version}"
        )
        scope = f"{base}/namespaces/{{namespace}}" if info.namespaced else base
        op = {"x-kubernetes-group-version-kind": gvk, "responses": ok}
        collection = f"{scope}/{resource.plural}"
        paths[collection] = {
            "get": {**op, "x-kubernetes-action": "list"},
            "post": {
                **op,
                "x-kubernetes-action": "post",
                "parameters": params,
                "requestBody": {"content": {"*/*": body}},
            },
        }
        patch_types = (
            CR_PATCH_TYPES
            if crd_version is not None
            else (*CR_PATCH_TYPES, "application/strategic-merge-patch+json")
        )
        paths[f"{collection}/{{name}}"] = {
            "get": {**op, "x-kubernetes-action": "get"},
            "put": {
                **op,
                "x-kubernetes-action": "put",
                "parameters": params,
                "requestBody": {"content": {"*/*": body}},
            },
            "patch": {
                **op,
                "x-kubernetes-action": "patch",
                "parameters": params,
                # Built-in kinds take strategic merge patches, but kubectl would then look up
                # each field's merge key in this (minimal) schema: it computes them from its
                # own Go types when the document does not offer the type, which is the point.
                "requestBody": {
                    "content": {
                        t: {"schema": {"type": "object"}}
                        for t in patch_types
                        if t != "application/strategic-merge-patch+json"
                    }
                },
            },
            "delete": {**op, "x-kubernetes-action": "delete"},
        }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": SERVER_VERSION["gitVersion"]},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def crd_resources(crd: dict[str, Any]) -> dict[Any, tuple[Any, dict[str, Any]]]:
    """The resources a CRD serves: resource -> (discovery info, the CRD's version entry)."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    out = {}
    for version in spec.get("versions") or []:
        if not version.get("served", True):
            continue
        resource = kmock.resource(spec["group"], version["name"], names["plural"])
        info = ResourceInfo(
            namespaced=spec.get("scope", "Namespaced") == "Namespaced",
            kind=names["kind"],
            singular=names.get("singular") or names["kind"].lower(),
            verbs=set(ALL_VERBS),
            shortnames=set(names.get("shortNames") or []),
            categories=set(names.get("categories") or []),
            subresources=set((version.get("subresources") or {}).keys()),
        )
        out[resource] = (info, version)
    return out


def crd_status(crd: dict[str, Any], conditions: list[dict[str, Any]] | None) -> dict[str, Any]:
    """What the apiextensions controllers write once a CRD's names are accepted."""
    spec = crd.get("spec") or {}
    old = {c.get("type"): c for c in conditions or []}

    def condition(kind: str, reason: str, message: str) -> dict[str, Any]:
        since = (old.get(kind) or {}).get("lastTransitionTime") or _now()
        return {
            "type": kind,
            "status": "True",
            "reason": reason,
            "message": message,
            "lastTransitionTime": since,
        }

    storage = [v["name"] for v in spec.get("versions") or [] if v.get("storage")]
    return {
        "conditions": [
            condition("NamesAccepted", "NoConflicts", "no conflicts found"),
            condition(
                "Established", "InitialNamesAccepted", "the initial names have been accepted"
            ),
        ],
        "acceptedNames": dict(spec.get("names") or {}),
        "storedVersions": storage,
    }


def kubeconfig(url: str, namespace: str = "default") -> dict[str, Any]:
    """A kubeconfig that points kubectl at ``url`` (plain HTTP on loopback: nothing to verify)."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "emulator", "cluster": {"server": url}}],
        "users": [{"name": "emulator", "user": {}}],
        "contexts": [
            {
                "name": "emulator",
                "context": {"cluster": "emulator", "user": "emulator", "namespace": namespace},
            }
        ],
        "current-context": "emulator",
        "preferences": {},
    }


# -- tables -------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Column:
    """A Table column after NAME: its definition and how a cell is made from an object."""

    name: str
    type: str
    cell: Callable[[dict[str, Any]], Any]
    description: str = ""
    format: str = ""
    priority: int = 0

    def definition(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        }


def crd_column(col: dict[str, Any]) -> Column:
    """A CRD's additionalPrinterColumn, cells made as apiextensions' tableconvertor makes them:
    the first JSONPath result; strings printed, dates as an age, other types kept typed."""
    path, kind = col["jsonPath"], col.get("type", "string")

    def cell(obj: dict[str, Any]) -> Any:
        found = jsonpath(path, obj)
        if not found or found[0] is None:
            return None
        value = found[0]
        if kind == "string":
            return go_print(value)
        if kind == "date":
            return age(value) if isinstance(value, str) else None
        if kind == "integer" and isinstance(value, int | float) and not isinstance(value, bool):
            return int(value)
        if kind == "number" and isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if kind == "boolean" and isinstance(value, bool):
            return value
        return None

    return Column(
        name=col["name"],
        type=kind,
        cell=cell,
        description=col.get("description")
        or f"Custom resource definition column (in JSONPath format): {path}",
        format=col.get("format", ""),
        priority=int(col.get("priority", 0)),
    )


def _get(obj: Any, *path: str) -> Any:
    for key in path:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj


def _age_of(*path: str) -> Callable[[dict[str, Any]], Any]:
    return lambda obj: age(_get(obj, *path)) if _get(obj, *path) else "<none>"


_AGE = Column("Age", "string", _age_of("metadata", "creationTimestamp"))
DEFAULT_COLUMNS = [
    Column("Created At", "date", lambda obj: _get(obj, "metadata", "creationTimestamp"))
]
BUILTIN_COLUMNS: dict[str, list[Column]] = {
    # A few of kube-apiserver's own printers (pkg/printers/internalversion), for kubectl get.
    "configmaps": [
        Column(
            "Data", "integer", lambda o: len(o.get("data") or {}) + len(o.get("binaryData") or {})
        ),
        _AGE,
    ],
    "secrets": [
        Column("Type", "string", lambda o: o.get("type", "Opaque")),
        Column("Data", "integer", lambda o: len(o.get("data") or {})),
        _AGE,
    ],
    "namespaces": [
        Column("Status", "string", lambda o: _get(o, "status", "phase") or "Active"),
        _AGE,
    ],
    "serviceaccounts": [Column("Secrets", "integer", lambda o: len(o.get("secrets") or [])), _AGE],
    "cronjobs": [
        Column("Schedule", "string", lambda o: _get(o, "spec", "schedule")),
        Column("Timezone", "string", lambda o: _get(o, "spec", "timeZone") or "<none>"),
        Column("Suspend", "boolean", lambda o: bool(_get(o, "spec", "suspend"))),
        Column("Active", "integer", lambda o: len(_get(o, "status", "active") or [])),
        Column("Last Schedule", "string", _age_of("status", "lastScheduleTime")),
        _AGE,
    ],
    "customresourcedefinitions": DEFAULT_COLUMNS,
}


def render_table(
    columns: list[Column], objects: list[dict[str, Any]], resource_version: str, include: str
) -> dict[str, Any]:
    """A meta.k8s.io Table; each row's object as ``includeObject`` asks (Metadata by default)."""
    definitions = [
        {
            "name": "Name",
            "type": "string",
            "format": "name",
            "description": TABLE_NAME_DOC,
            "priority": 0,
        },
        *(c.definition() for c in columns),
    ]
    rows = []
    for obj in objects:
        row: dict[str, Any] = {
            "cells": [_get(obj, "metadata", "name"), *(c.cell(obj) for c in columns)]
        }
        if include == "Object":
            row["object"] = obj
        elif include != "None":
            row["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj.get("metadata") or {},
            }
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": definitions,
        "rows": rows,
    }


def go_print(value: Any) -> str:
    """A JSON value as Go's fmt.Print shows it (client-go's jsonpath prints cells so)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e21 else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + " ".join(go_print(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_print(v)}" for k, v in sorted(value.items())) + "]"
    return "<nil>"


def age(timestamp: str, now: dt.datetime | None = None) -> str:
    """An RFC 3339 time as the age kube-apiserver prints (metatable.ConvertToHumanReadableDateType)."""
    try:
        then = dt.datetime.fromisoformat(timestamp)
    except ValueError:
        return "<invalid>"
    if then.tzinfo is None:
        return "<invalid>"
    return human_duration(((now or dt.datetime.now(dt.UTC)) - then).total_seconds())


def human_duration(seconds: float) -> str:
    """apimachinery's duration.HumanDuration."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y{days}d" if days else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"


# -- JSONPath (the subset Kubernetes printer columns and kubectl use) ---------------------------

_FILTER = re.compile(r"^@((?:\.[^\s=!<>]+)*)\s*(?:(==|!=|<=|>=|<|>)\s*(.+?))?\s*$")


def jsonpath(path: str, data: Any) -> list[Any]:
    """Every value ``path`` selects in ``data``: ``.a.b``, ``['a.b']``, ``[0]``, ``[-1]``,
    ``[1:3]``, ``[*]``, ``.*``, ``..name`` and ``[?(@.type=="Ready")]``."""
    path = path.strip()
    if path.startswith("{") and path.endswith("}"):
        path = path[1:-1].strip()
    path = path.removeprefix("$")
    results, i = [data], 0
    while i < len(path):
        if path.startswith("..", i):
            name, i = _read_name(path, i + 2)
            found = [d for r in results for d in _descendants(r)]
            results = _children(found) if name == "*" else _field(found, name)
        elif path[i] == ".":
            name, i = _read_name(path, i + 1)
            results = _children(results) if name == "*" else _field(results, name)
        elif path[i] == "[":
            end = _closing(path, i)
            results = _subscript(results, path[i + 1 : end].strip())
            i = end + 1
        else:
            name, i = _read_name(path, i)
            results = _field(results, name)
    return results


def _read_name(path: str, i: int) -> tuple[str, int]:
    out = []
    while i < len(path) and path[i] not in ".[":
        if path[i] == "\\" and i + 1 < len(path):
            i += 1
        out.append(path[i])
        i += 1
    return "".join(out), i


def _closing(path: str, i: int) -> int:
    depth, quote = 0, ""
    for j in range(i, len(path)):
        ch = path[j]
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth == 0:
                return j
    raise ValueError(f"unclosed [ in JSONPath {path!r}")


def _field(results: list[Any], name: str) -> list[Any]:
    return [r[name] for r in results if isinstance(r, dict) and name in r]


def _children(results: list[Any]) -> list[Any]:
    out: list[Any] = []
    for r in results:
        if isinstance(r, dict):
            out.extend(r.values())
        elif isinstance(r, list):
            out.extend(r)
    return out


def _descendants(value: Any) -> list[Any]:
    out = [value]
    for child in _children([value]):
        out.extend(_descendants(child))
    return out


def _literal(text: str) -> Any:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    if text in ("true", "false"):
        return text == "true"
    try:
        return float(text) if "." in text else int(text)
    except ValueError:
        return text


def _compare(left: Any, op: str, right: Any) -> bool:
    try:
        return bool(
            {
                "==": lambda: left == right,
                "!=": lambda: left != right,
                "<": lambda: left < right,
                ">": lambda: left > right,
                "<=": lambda: left <= right,
                ">=": lambda: left >= right,
            }[op]()
        )
    except TypeError:
        return False


def _subscript(results: list[Any], inner: str) -> list[Any]:
    if inner == "*":
        return _children(results)
    if inner.startswith("?(") and inner.endswith(")"):
        m = _FILTER.match(inner[2:-1].strip())
        if not m:
            raise ValueError(f"unsupported JSONPath filter {inner!r}")
        sub, op, literal = m.groups()
        out = []
        for item in _children(results):
            found = jsonpath(sub, item) if sub else [item]
            if (op is None and found) or (
                op and any(_compare(v, op, _literal(literal)) for v in found)
            ):
                out.append(item)
        return out
    out = []
    for part in (p.strip() for p in inner.split(",")):
        if len(part) >= 2 and part[0] == part[-1] and part[0] in "'\"":
            out.extend(_field(results, part[1:-1]))
        elif ":" in part:
            bounds = [int(b) if b.strip() else None for b in part.split(":")]
            out.extend(v for r in results if isinstance(r, list) for v in r[slice(*bounds)])
        else:
            index = int(part)
            out.extend(
                r[index] for r in results if isinstance(r, list) and -len(r) <= index < len(r)
            )
    return out


# -- patches --------------------------------------------------------------------------------------


def merge_patch(base: Any, patch: Any) -> Any:
    """Apply a JSON merge patch (RFC 7386): maps merge, ``null`` deletes, the rest replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(base) if isinstance(base, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def merge_diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The JSON merge patch (RFC 7386) that turns ``old`` into ``new``."""
    patch: dict[str, Any] = {key: None for key in old if key not in new}
    for key, value in new.items():
        if key not in old:
            patch[key] = value
        elif isinstance(value, dict) and isinstance(old[key], dict):
            sub = merge_diff(old[key], value)
            if sub:
                patch[key] = sub
        elif value != old[key]:
            patch[key] = value
    return patch


# The patchMergeKey of the list fields kubectl's strategic merge patches touch (from the Go
# types' struct tags); a list not named here is replaced whole, as for an atomic list.
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "volumes": "name",
    "env": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "ownerReferences": "uid",
    "conditions": "type",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
    "resourceClaims": "name",
}
PRIMITIVE_MERGE_LISTS = {"finalizers"}


def _directive_free(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _directive_free(v)
            for k, v in value.items()
            if not k.startswith("$") and v is not None
        }
    if isinstance(value, list):
        return [
            _directive_free(v)
            for v in value
            if not (isinstance(v, dict) and v.get("$patch") == "delete")
        ]
    return value


def strategic_merge(base: Any, patch: Any) -> Any:
    """Apply a strategic merge patch: maps merge, ``null`` deletes, lists with a merge key
    merge by it, ``$patch``/``$retainKeys``/``$setElementOrder``/``$deleteFromPrimitiveList``
    directives are honoured."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(base, dict):
        return _directive_free(patch)
    directive = patch.get("$patch")
    if directive == "replace":
        return _directive_free(patch)
    if directive == "delete":
        return None
    out = copy.deepcopy(base)
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys") or key.startswith("$setElementOrder/"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            out[field] = [v for v in out.get(field) or [] if v not in value]
            continue
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict):
            merged = strategic_merge(base.get(key), value)
            if merged is None:
                out.pop(key, None)
            else:
                out[key] = merged
        elif isinstance(value, list):
            out[key] = _merge_list(key, base.get(key), value)
        else:
            out[key] = value
    for key, order in patch.items():
        if key.startswith("$setElementOrder/"):
            field = key.split("/", 1)[1]
            if isinstance(out.get(field), list):
                out[field] = _ordered(out[field], order, _merge_key(field, out[field]))
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        out = {k: v for k, v in out.items() if k in retain}
    return out


def _merge_key(field: str, items: list[Any]) -> str | None:
    if field == "ports":  # container ports merge on containerPort, service ports on port
        return (
            "containerPort"
            if any(isinstance(i, dict) and "containerPort" in i for i in items)
            else "port"
        )
    return MERGE_KEYS.get(field)


def _merge_list(field: str, base: Any, patch: list[Any]) -> list[Any]:
    base = list(base) if isinstance(base, list) else []
    if any(isinstance(i, dict) and i.get("$patch") == "replace" for i in patch):
        return [_directive_free(i) for i in patch if not (isinstance(i, dict) and "$patch" in i)]
    if field in PRIMITIVE_MERGE_LISTS:
        return base + [v for v in patch if v not in base]
    key = _merge_key(field, base + patch)
    if key is None or not all(isinstance(i, dict) for i in base + patch):
        return _directive_free(patch)
    out = copy.deepcopy(base)
    for item in patch:
        at = next((n for n, b in enumerate(out) if b.get(key) == item.get(key)), None)
        if item.get("$patch") == "delete":
            if at is not None:
                del out[at]
        elif at is None:
            out.append(_directive_free(item))
        else:
            out[at] = strategic_merge(out[at], item)
    return out


def _ordered(items: list[Any], order: list[Any], key: str | None) -> list[Any]:
    def ident(value: Any) -> Any:
        return (
            value.get(key) if key and isinstance(value, dict) else json.dumps(value, sort_keys=True)
        )

    rank = {ident(v): n for n, v in enumerate(order)}
    return sorted(items, key=lambda v: rank.get(ident(v), len(rank)))


# -- field validation ---------------------------------------------------------------------------


def prune(obj: Any, schema: dict[str, Any], *, root: bool = True) -> Any:
    """``obj`` without what :func:`unknown_fields` finds (``null``s kept: in a merge patch
    they delete)."""
    if isinstance(obj, dict):
        properties = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        preserve = schema.get("x-kubernetes-preserve-unknown-fields") is True
        embedded = root or schema.get("x-kubernetes-embedded-resource") is True
        out: dict[str, Any] = {}
        for key, value in obj.items():
            if embedded and key in ("apiVersion", "kind"):
                out[key] = value
            elif embedded and key == "metadata":
                out[key] = (
                    {k: v for k, v in value.items() if k in OBJECT_META_FIELDS}
                    if isinstance(value, dict)
                    else value
                )
            elif key in properties:
                out[key] = prune(value, properties[key], root=False)
            elif isinstance(additional, dict):
                out[key] = prune(value, additional, root=False)
            elif preserve or additional is True or value is None:
                out[key] = value
        return out
    if isinstance(obj, list) and isinstance(schema.get("items"), dict):
        return [prune(item, schema["items"], root=False) for item in obj]
    return obj


def unknown_fields(
    obj: Any, schema: dict[str, Any], *, root: bool = True, path: str = ""
) -> list[str]:
    """The paths in ``obj`` that a CRD's structural schema does not declare (what
    ``fieldValidation=Strict`` refuses and what kube-apiserver would otherwise prune)."""
    out: list[str] = []
    if isinstance(obj, dict):
        properties = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        preserve = schema.get("x-kubernetes-preserve-unknown-fields") is True
        embedded = root or schema.get("x-kubernetes-embedded-resource") is True
        for key, value in obj.items():
            where = f"{path}.{key}" if path else key
            if embedded and key in ("apiVersion", "kind"):
                continue
            if embedded and key == "metadata":
                if isinstance(value, dict):
                    out.extend(
                        f"metadata.{k}" if root else f"{where}.{k}"
                        for k in value
                        if k not in OBJECT_META_FIELDS
                    )
                continue
            if key in properties:
                out.extend(unknown_fields(value, properties[key], root=False, path=where))
            elif isinstance(additional, dict):
                out.extend(unknown_fields(value, additional, root=False, path=where))
            elif not (preserve or additional is True or value is None):
                out.append(where)
    elif isinstance(obj, list) and isinstance(schema.get("items"), dict):
        for n, item in enumerate(obj):
            out.extend(unknown_fields(item, schema["items"], root=False, path=f"{path}[{n}]"))
    return out


class Cluster:
    """The emulator served on a loopback port from a background thread."""

    def __init__(self, *, crds: bool = True) -> None:
        self._crds = crds
        self.url = ""
        self.emulator: ApiServer | None = None
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        async with (
            ApiServer() as emulator,
            kmock.Server(emulator, server_cls=_HttpServer) as server,
        ):
            emulator.resources.load_bundled()
            if (
                self._crds
            ):  # the operator's CRDs, installed as `kubectl apply -k operator/deploy` would
                for path in sorted(FLEET_CRDS.glob("*.yaml")):
                    await emulator.install_crd(yaml.safe_load(path.read_text()))
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

    def write_kubeconfig(self, path: Path, namespace: str = "default") -> Path:
        """A kubeconfig for this emulator, for ``kubectl --kubeconfig``."""
        path.write_text(yaml.safe_dump(kubeconfig(self.url, namespace), sort_keys=False))
        return path
