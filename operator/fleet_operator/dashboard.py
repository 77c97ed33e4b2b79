"""The fleet dashboard in a cluster: a Deployment of its own beside the gateway, never in a
model call's path.

Per FleetPolicy the operator renders (owned by the policy, labelled like the gateway's
objects, so they go with the fleet and are restored when edited by hand):

* ConfigMap ``fleet-dashboard``: ``fleet.json``, the fleet's definitions as the operator
  reconciles them (the FleetPolicy's spec and each accepted AgentLoop's; gzipped into
  ``binaryData`` past 512 KiB, as the gateway config is, under the same name), and ``viewers.json``, the viewers'
  token hashes;
* Deployment ``fleet-dashboard``: ``python -m dashboard`` (the ``dashboard`` image), hardened
  as the gateway's pod is; it mounts that ConfigMap, the gateway's config (approvers' hashes,
  loops' token hashes to refuse) and the gateway's state volume, whose SQLite store it opens
  read-only. The volume is ReadWriteOnce, so the pod is scheduled on the gateway pod's node.
  A change of viewers, approvers or definitions rolls it (a hash in its pod template);
* Service ``fleet-dashboard`` on port 8090.

Viewers are declared as approvers are (:mod:`fleet_operator.approvers`): Secrets in the
fleet's namespace labelled ``fleetctl.dev/viewers: <fleet>``, each key a viewer's name and its
value ``sha256:<hex>`` of their token. They read every page and decide nothing. The Secrets
are listed at each render of the fleet (at the latest every ``FLEET_OPERATOR_DRIFT_SECONDS``).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from fleet.render import (
    FLEET_LABEL,
    GATEWAY_CONFIG,
    GATEWAY_NAME,
    GATEWAY_STATE,
    HASH,
    MANAGED_BY,
    SANDBOX_UID,
    ConfigTooLarge,
    body_of,
    gateway_url,
    managed_hash,
    owner_ref,
)
from fleet_operator.approvers import MAX_NAMED, MAX_SHOWN, Approvers, parse
from fleet_operator.kube import Kube

DASHBOARD_NAME = "fleet-dashboard"
DASHBOARD_PORT = 8090
VIEWERS_LABEL = "fleetctl.dev/viewers"
PROMOTES_TO = "fleetctl.dev/promotes-to"
CONTENT_DIR = "/etc/fleet-dashboard"
GATEWAY_DIR = "/etc/fleet-gateway"
STATE_DIR = "/var/lib/fleet-gateway"
TEXT_LIMIT = 512 * 1024
CONFIGMAP_LIMIT = 1024 * 1024 - 16 * 1024


class DefinitionsTooLarge(ConfigTooLarge):
    """The fleet's definitions do not fit in one ConfigMap, even gzipped."""


def fleet_viewers(kube: Kube, namespace: str, fleet: str) -> Approvers:
    """One list call: the Secrets labelled ``fleetctl.dev/viewers: <fleet>``, read as
    approvers Secrets are (the same forms, the same problems named)."""
    return parse(kube.list("v1", "Secret", namespace, f"{VIEWERS_LABEL}={fleet}"))


def viewers_condition(viewers: Approvers) -> tuple[bool, str, str]:
    """(ok, reason, message) of the FleetPolicy's ``Viewers`` condition."""
    if viewers.problems:
        shown = "; ".join(viewers.problems[:MAX_SHOWN])
        more = len(viewers.problems) - MAX_SHOWN
        return False, "InvalidViewerSecret", shown + (f" (and {more} more)" if more > 0 else "")
    if not viewers.hashes:
        return (
            True,
            "NoViewers",
            f"no Secret labelled {VIEWERS_LABEL} for this fleet: only approvers can read the "
            "dashboard",
        )
    names = ", ".join(sorted(viewers.hashes)[:MAX_NAMED])
    if len(viewers.hashes) > MAX_NAMED:
        names += f" and {len(viewers.hashes) - MAX_NAMED} more"
    return (
        True,
        "Loaded",
        f"{len(viewers.hashes)} viewer(s) from {viewers.secrets} Secret(s): {names}",
    )


def definitions(policy: Mapping[str, Any], loops: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """What the dashboard reads of the fleet: the specs as the CRs hold them."""
    return {
        "policy": policy.get("spec") or {},
        "loops": {
            loop["metadata"]["name"]: {
                "spec": loop.get("spec") or {},
                "promotesTo": (loop["metadata"].get("labels") or {}).get(PROMOTES_TO),
            }
            for loop in sorted(loops, key=lambda lp: str(lp["metadata"]["name"]))
        },
    }


def _content(
    defs: Mapping[str, Any], viewers: Mapping[str, list[str]], fleet: str
) -> dict[str, Any]:
    text = orjson.dumps(defs, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2) + b"\n"
    listed = orjson.dumps(dict(sorted(viewers.items())), option=orjson.OPT_SORT_KEYS).decode()
    if len(text) <= TEXT_LIMIT:
        return {"data": {"fleet.json": text.decode(), "viewers.json": listed}}
    compact = orjson.dumps(defs, option=orjson.OPT_SORT_KEYS)
    packed = base64.b64encode(gzip.compress(compact, compresslevel=6, mtime=0)).decode()
    if len(packed) + len(listed) > CONFIGMAP_LIMIT:
        raise DefinitionsTooLarge(
            f"the dashboard's copy of fleet '{fleet}' is {len(packed):,} bytes even gzipped; "
            f"a ConfigMap holds {CONFIGMAP_LIMIT:,}: split the fleet into several FleetPolicies"
        )
    return {"data": {"viewers.json": listed}, "binaryData": {"fleet.json": packed}}


def _hash(data: Any) -> str:
    return "sha256:" + hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _finish(obj: dict[str, Any], policy: Mapping[str, Any], namespace: str) -> dict[str, Any]:
    meta = obj["metadata"]
    meta["namespace"] = namespace
    meta["ownerReferences"] = [owner_ref(policy)]
    meta.setdefault("annotations", {})[HASH] = managed_hash(obj)
    return obj


def render_dashboard(
    policy: Mapping[str, Any],
    loops: Iterable[Mapping[str, Any]],
    viewers: Mapping[str, list[str]],
    *,
    namespace: str,
    image: str,
    gateway_config: Any = None,
) -> list[dict[str, Any]]:
    """The dashboard's ConfigMap, Deployment and Service for one fleet. ``gateway_config`` is
    the gateway config ConfigMap's content (its approvers and tokens): a change rolls the pod,
    which reads it at start."""
    fleet = policy["spec"]["fleet"]
    labels = dict(
        sorted(
            {
                "app.kubernetes.io/managed-by": MANAGED_BY,
                "app.kubernetes.io/part-of": "fleetctl",
                "app.kubernetes.io/component": "dashboard",
                "app.kubernetes.io/name": DASHBOARD_NAME,
                FLEET_LABEL: fleet,
            }.items()
        )
    )
    content = _content(definitions(policy, loops), viewers, fleet)
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": DASHBOARD_NAME, "labels": labels},
        **content,
    }
    selector = {"app.kubernetes.io/name": DASHBOARD_NAME, FLEET_LABEL: fleet}
    gateway_pod = {"app.kubernetes.io/name": GATEWAY_NAME, FLEET_LABEL: fleet}
    probe = {
        "httpGet": {"path": "/healthz", "port": DASHBOARD_PORT},
        "periodSeconds": 10,
        "timeoutSeconds": 2,
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": DASHBOARD_NAME, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {
                    "labels": labels,
                    # Viewers, approvers and definitions are read at start: a change rolls it.
                    "annotations": {"fleetctl.dev/config-hash": _hash([content, gateway_config])},
                },
                "spec": {
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": SANDBOX_UID,
                        "runAsGroup": SANDBOX_UID,
                        "fsGroup": SANDBOX_UID,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    # The gateway's state volume is ReadWriteOnce: on the gateway pod's node.
                    "affinity": {
                        "podAffinity": {
                            "requiredDuringSchedulingIgnoredDuringExecution": [
                                {
                                    "labelSelector": {"matchLabels": gateway_pod},
                                    "topologyKey": "kubernetes.io/hostname",
                                }
                            ]
                        }
                    },
                    "containers": [
                        {
                            "name": "dashboard",
                            "image": image,
                            "imagePullPolicy": "IfNotPresent",
                            "args": [
                                "--definitions",
                                f"{CONTENT_DIR}/fleet.json",  # gzipped past 512 KiB: the dashboard tells
                                "--viewers",
                                f"{CONTENT_DIR}/viewers.json",
                                "--config",
                                f"{GATEWAY_DIR}/gateway.json",
                                "--store",
                                f"sqlite:{STATE_DIR}/gateway.sqlite3",
                                "--gateway",
                                gateway_url(namespace),
                                "--host",
                                "0.0.0.0",
                                "--port",
                                str(DASHBOARD_PORT),
                            ],
                            "ports": [
                                {"name": "http", "containerPort": DASHBOARD_PORT, "protocol": "TCP"}
                            ],
                            "readinessProbe": probe,
                            "livenessProbe": {**probe, "failureThreshold": 6},
                            "resources": {
                                "requests": {"cpu": "100m", "memory": "128Mi"},
                                "limits": {"cpu": "1", "memory": "512Mi"},
                            },
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "readOnlyRootFilesystem": True,
                                "runAsNonRoot": True,
                                "runAsUser": SANDBOX_UID,
                                "capabilities": {"drop": ["ALL"]},
                            },
                            "volumeMounts": [
                                {"name": "content", "mountPath": CONTENT_DIR, "readOnly": True},
                                {"name": "config", "mountPath": GATEWAY_DIR, "readOnly": True},
                                # Not readOnly at the volume: SQLite readers of a WAL database
                                # share its -shm file. The store is opened mode=ro.
                                {"name": "state", "mountPath": STATE_DIR},
                                {"name": "tmp", "mountPath": "/tmp"},
                            ],
                        }
                    ],
                    "volumes": [
                        {"name": "content", "configMap": {"name": DASHBOARD_NAME}},
                        {"name": "config", "configMap": {"name": GATEWAY_CONFIG}},
                        {"name": "state", "persistentVolumeClaim": {"claimName": GATEWAY_STATE}},
                        {"name": "tmp", "emptyDir": {"sizeLimit": "16Mi"}},
                    ],
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": DASHBOARD_NAME, "labels": labels},
        "spec": {
            "selector": selector,
            "ports": [
                {
                    "name": "http",
                    "port": DASHBOARD_PORT,
                    "targetPort": DASHBOARD_PORT,
                    "protocol": "TCP",
                }
            ],
        },
    }
    return [_finish(obj, policy, namespace) for obj in (config_map, deployment, service)]


def reconcile_dashboard(
    kube: Kube,
    policy: dict[str, Any],
    state: Any,
    loops: list[dict[str, Any]],
    rendered: list[dict[str, Any]],
    image: str | None,
) -> dict[str, str]:
    """Apply the fleet's dashboard objects (after its gateway's, ``rendered``); without an
    image, delete the ones a previous render made. ``state`` is the operator's
    :class:`fleet_operator.state.FleetState` (the viewers read are kept there)."""
    from fleet_operator.applier import apply, subset

    ns = policy["metadata"]["namespace"]
    fleet = policy["spec"]["fleet"]
    if not image:
        with state.lock:
            state.viewers.pop((ns, fleet), None)
        out = {}
        for api_version, kind in (
            ("apps/v1", "Deployment"),
            ("v1", "Service"),
            ("v1", "ConfigMap"),
        ):
            live = kube.get(api_version, kind, ns, DASHBOARD_NAME)
            if live is not None and subset(owned_by(policy), live["metadata"]):
                kube.delete(api_version, kind, ns, DASHBOARD_NAME)
                out[f"{kind}/{DASHBOARD_NAME}"] = "deleted"
        return out
    viewers = fleet_viewers(kube, ns, fleet)
    with state.lock:
        state.viewers[(ns, fleet)] = viewers
    config = next(body_of(c) for c in rendered if c["kind"] == "ConfigMap")
    return {
        f"{c['kind']}/{c['metadata']['name']}": apply(kube, c)[0]
        for c in render_dashboard(
            policy, loops, viewers.hashes, namespace=ns, image=image, gateway_config=config
        )
    }


def owned_by(policy: dict[str, Any]) -> dict[str, Any]:
    """The metadata an object the operator made for this FleetPolicy carries."""
    uid = policy["metadata"].get("uid")
    return (
        {"ownerReferences": [{"kind": "FleetPolicy", "uid": uid}]}
        if uid
        else {"labels": {FLEET_LABEL: policy["spec"]["fleet"]}}
    )


__all__ = [
    "DASHBOARD_NAME",
    "VIEWERS_LABEL",
    "DefinitionsTooLarge",
    "definitions",
    "fleet_viewers",
    "reconcile_dashboard",
    "render_dashboard",
]
