"""A small generic Kubernetes API over the official client's ``ApiClient``.

The operator works with plain dicts of any kind it owns; this maps
(apiVersion, kind) to URLs and speaks JSON merge patch. Errors become
:class:`KubeError` (with the status code), never the client's exceptions.
It counts its write calls, which the tests and the benchmark read.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

import kubernetes

from fleet.resources import API_VERSION

PLURALS: dict[tuple[str, str], str] = {
    ("v1", "Namespace"): "namespaces",
    ("v1", "ServiceAccount"): "serviceaccounts",
    ("v1", "Secret"): "secrets",
    ("v1", "ConfigMap"): "configmaps",
    ("v1", "Service"): "services",
    ("v1", "PersistentVolumeClaim"): "persistentvolumeclaims",
    ("batch/v1", "CronJob"): "cronjobs",
    ("batch/v1", "Job"): "jobs",
    ("v1", "Event"): "events",
    ("networking.k8s.io/v1", "NetworkPolicy"): "networkpolicies",
    ("apps/v1", "Deployment"): "deployments",
    (API_VERSION, "AgentLoop"): "agentloops",
    (API_VERSION, "FleetPolicy"): "fleetpolicies",
}


class KubeError(Exception):
    """A Kubernetes API call that did not succeed."""

    def __init__(self, status: int, message: str):
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class Kube:
    def __init__(self, client: kubernetes.client.ApiClient):
        self._configuration = client.configuration
        self._local = threading.local()
        self._local.client = client
        self.writes = 0
        self._lock = threading.Lock()

    @property
    def client(self) -> kubernetes.client.ApiClient:
        """One client per thread: kopf runs handlers in a pool of worker threads."""
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = kubernetes.client.ApiClient(self._configuration)
        return client

    @classmethod
    def from_url(cls, url: str, token: str | None = None) -> Kube:
        cfg = kubernetes.client.Configuration()
        cfg.host = url
        if token:
            cfg.api_key = {"authorization": f"Bearer {token}"}
        return cls(kubernetes.client.ApiClient(cfg))

    @classmethod
    def from_kubeconfig(cls, context: str | None = None) -> Kube:
        """The cluster of the kubeconfig's ``context`` (its current one by default); a
        :class:`KubeError` (status 0) when there is no kubeconfig or no such context."""
        cfg = kubernetes.client.Configuration()
        # The client reads $KUBECONFIG once, when it is imported: read it now.
        path = os.environ.get("KUBECONFIG") or None
        try:
            kubernetes.config.load_kube_config(
                config_file=path, context=context, client_configuration=cfg
            )
        except (kubernetes.config.ConfigException, OSError, ValueError) as exc:
            raise KubeError(0, f"no cluster to talk to: {exc}") from exc
        return cls(kubernetes.client.ApiClient(cfg))

    @classmethod
    def default(cls) -> Kube:
        try:
            kubernetes.config.load_incluster_config()
        except kubernetes.config.ConfigException:
            kubernetes.config.load_kube_config()
        return cls(kubernetes.client.ApiClient())

    @staticmethod
    def path(
        api_version: str,
        kind: str,
        namespace: str | None,
        name: str | None = None,
        sub: str | None = None,
    ) -> str:
        plural = PLURALS[(api_version, kind)]
        base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
        url = f"{base}/namespaces/{namespace}/{plural}" if namespace else f"{base}/{plural}"
        if name:
            url += f"/{name}"
        if sub:
            url += f"/{sub}"
        return url

    def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        content_type: str = "application/json",
        query: list[tuple[str, str]] | None = None,
    ) -> Any:
        if method != "GET":
            with self._lock:
                self.writes += 1
        headers = {"Accept": "application/json", "Content-Type": content_type}
        try:
            m, url, h, b, *_ = self.client.param_serialize(
                method, path, query_params=query or [], header_params=headers, body=body
            )
            resp = self.client.call_api(m, url, h, b)
            resp.read()
        except (kubernetes.client.exceptions.ApiException, OSError, ValueError) as exc:
            raise KubeError(getattr(exc, "status", 0) or 0, str(exc)) from exc
        try:
            data = json.loads(resp.data) if resp.data else None
        except ValueError:
            text = (
                resp.data.decode("utf-8", "replace") if isinstance(resp.data, bytes) else resp.data
            )
            raise KubeError(
                resp.status, f"{method} {path}: the answer is not JSON: {str(text)[:200]!r}"
            ) from None
        if resp.status >= 400:
            message = data.get("message", "") if isinstance(data, dict) else str(data)
            raise KubeError(resp.status, message)
        return data

    def get(
        self, api_version: str, kind: str, namespace: str | None, name: str
    ) -> dict[str, Any] | None:
        try:
            return self._call("GET", self.path(api_version, kind, namespace, name))  # type: ignore[no-any-return]
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise

    def list(
        self, api_version: str, kind: str, namespace: str | None, selector: str | None = None
    ) -> list[dict[str, Any]]:
        query = [("labelSelector", selector)] if selector else None
        data = self._call("GET", self.path(api_version, kind, namespace), query=query)
        items = list((data or {}).get("items", []))
        if selector:
            # Equality selectors are re-checked here, so a server that ignores them cannot
            # hand the operator objects it must not touch.
            wanted = dict(part.split("=", 1) for part in selector.split(",") if "=" in part)
            items = [
                i
                for i in items
                if all(
                    ((i.get("metadata") or {}).get("labels") or {}).get(k) == v
                    for k, v in wanted.items()
                )
            ]
        return items

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj["metadata"]
        return self._call(
            "POST", self.path(obj["apiVersion"], obj["kind"], meta.get("namespace")), obj
        )  # type: ignore[no-any-return]

    def patch(
        self,
        api_version: str,
        kind: str,
        namespace: str | None,
        name: str,
        patch: dict[str, Any],
        sub: str | None = None,
    ) -> dict[str, Any]:
        return self._call(
            "PATCH",
            self.path(api_version, kind, namespace, name, sub),
            patch,
            "application/merge-patch+json",
        )  # type: ignore[no-any-return]

    def delete(
        self,
        api_version: str,
        kind: str,
        namespace: str | None,
        name: str,
        propagation: str | None = None,
    ) -> bool:
        """Delete an object; ``propagation`` (``Background``, ``Foreground``) deletes what it
        owns too (a Job's pods). False when it was not there."""
        body = {"propagationPolicy": propagation} if propagation else None
        try:
            self._call("DELETE", self.path(api_version, kind, namespace, name), body)
        except KubeError as exc:
            if exc.status == 404:
                return False
            raise
        return True
