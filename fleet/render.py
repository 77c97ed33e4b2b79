"""Render an AgentLoop (with its FleetPolicy) into the exact child objects the
operator applies, and a FleetPolicy into the fleet's gateway objects.

Pure: the same CRs give the same manifests, byte for byte. The kopf handlers
only apply what this returns. Every child carries a content-hash annotation of
its rendered body, so "is the live object what we want?" is a comparison of
two hashes (see :func:`managed_hash`).

Children of an AgentLoop ``<name>``: ServiceAccount ``<name>``, Secret
``<name>-gateway-token`` (metadata only: the operator mints the loop's token,
key ``token``, and one per sub-agent, key ``subagent.<sub>``; see
:func:`token_keys`), ConfigMap ``<name>`` (the resolved definition), CronJob
``<name>`` (the hardened sandbox pod, laid out as docs/harness.md says) and
NetworkPolicy ``<name>`` (egress to the gateway and DNS only). Fleet children of a FleetPolicy: ConfigMap ``fleet-gateway-config``,
PersistentVolumeClaim ``fleet-gateway-state``, Deployment and Service
``fleet-gateway``.
"""

from __future__ import annotations

import base64
import copy
import gzip
import hashlib
from collections.abc import Iterable, Mapping
from typing import Any, TypedDict

import orjson

from fleet.gwrender import gateway_config, identity_key
from fleet.resources import API_VERSION

Manifest = dict[str, Any]

MANAGED_BY = "fleet-operator"
HASH = "fleetctl.dev/content-hash"
LOOP_LABEL = "fleetctl.dev/loop"
FLEET_LABEL = "fleetctl.dev/fleet"
GATEWAY_NAME = "fleet-gateway"
GATEWAY_CONFIG = "fleet-gateway-config"
GATEWAY_STATE = "fleet-gateway-state"
GATEWAY_PORT = 8080
SANDBOX_UID = 65532
TOKEN_KEY = "token"
SUBAGENT_TOKEN_PREFIX = "subagent."
# The sandbox pod's layout (docs/harness.md, "What the pod gives it").
CONTENT_DIR = "/etc/fleet"
DEFINITION_PATH = f"{CONTENT_DIR}/loop/definition.json"
TOKENS_DIR = f"{CONTENT_DIR}/tokens"
WORKSPACE = "/workspace"
TOKEN_FILE_MODE = 0o440  # owner root, group the pod's fsGroup: the harness reads, nobody writes

# What each kind's "body" is: the fields we own and compare for drift.
_BODY_FIELDS = {
    "ServiceAccount": ("automountServiceAccountToken",),
    "Secret": ("type",),
    "ConfigMap": ("data", "binaryData"),
    "CronJob": ("spec",),
    "NetworkPolicy": ("spec",),
    "Deployment": ("spec",),
    "Service": ("spec",),
    "PersistentVolumeClaim": ("spec",),
}


class OwnerRef(TypedDict):
    apiVersion: str
    kind: str
    name: str
    uid: str
    controller: bool
    blockOwnerDeletion: bool


def _hash(data: Any) -> str:
    return "sha256:" + hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()


def owned_fields(kind: str) -> tuple[str, ...]:
    """The top-level fields the operator owns in an object of this kind (besides metadata)."""
    return _BODY_FIELDS.get(kind, ("spec",))


def body_of(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The owned part of an object, for hashing: its body fields and our labels."""
    fields = owned_fields(str(obj.get("kind")))
    meta = obj.get("metadata", {})
    labels = {
        k: v
        for k, v in (meta.get("labels") or {}).items()
        if k.startswith(("fleetctl.dev/", "app.kubernetes.io/"))
    }
    return {"labels": labels, **{f: obj[f] for f in fields if obj.get(f) is not None}}


def managed_hash(obj: Mapping[str, Any]) -> str:
    return _hash(body_of(obj))


def owner_ref(owner: Mapping[str, Any]) -> OwnerRef:
    meta = owner["metadata"]
    return OwnerRef(
        apiVersion=owner.get("apiVersion", API_VERSION),
        kind=owner["kind"],
        name=meta["name"],
        uid=meta.get("uid", ""),
        controller=True,
        blockOwnerDeletion=True,
    )


def _finish(obj: Manifest, owner: Mapping[str, Any], namespace: str) -> Manifest:
    meta = obj["metadata"]
    meta["namespace"] = namespace
    meta["ownerReferences"] = [owner_ref(owner)]
    meta.setdefault("annotations", {})[HASH] = managed_hash(obj)
    return obj


def _labels(fleet: str, loop: str | None, component: str) -> dict[str, str]:
    labels = {
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "app.kubernetes.io/part-of": "fleetctl",
        "app.kubernetes.io/component": component,
        FLEET_LABEL: fleet,
    }
    if loop:
        labels[LOOP_LABEL] = loop
    return dict(sorted(labels.items()))


def _container_security() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": SANDBOX_UID,
        "capabilities": {"drop": ["ALL"]},
    }


def _pod_security() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": SANDBOX_UID,
        "runAsGroup": SANDBOX_UID,
        "fsGroup": SANDBOX_UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def token_secret_name(loop: str) -> str:
    return f"{loop}-gateway-token"


def gateway_url(namespace: str) -> str:
    return f"http://{GATEWAY_NAME}.{namespace}.svc:{GATEWAY_PORT}"


def subagent_token_key(sub: str) -> str:
    """The token Secret's data key holding a sub-agent's token."""
    return SUBAGENT_TOKEN_PREFIX + sub


def token_keys(loop: Mapping[str, Any]) -> dict[str, str]:
    """The data keys the token Secret of ``loop`` must hold, each with the identity key
    (:func:`fleet.gwrender.identity_key`) whose gateway token it is."""
    name = loop["metadata"]["name"]
    keys = {TOKEN_KEY: identity_key(name)}
    for sub in loop["spec"].get("subagents", []):
        keys[subagent_token_key(sub["name"])] = identity_key(name, sub["name"])
    return keys


def definition(loop: Mapping[str, Any]) -> str:
    """The ``definition.json`` a harness reads: ``{name, fleet, spec}`` of a compiled AgentLoop
    (camelCase, the sandbox left out). ``fleetctl run`` writes the same bytes."""
    spec = loop["spec"]
    doc = {
        "name": loop["metadata"]["name"],
        "fleet": spec.get("fleet"),
        "spec": {k: v for k, v in spec.items() if k != "sandbox"},
    }
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2).decode() + "\n"


def render_loop(
    loop: Mapping[str, Any], policy: Mapping[str, Any], *, namespace: str
) -> list[Manifest]:
    """The children of one AgentLoop, in apply order."""
    name: str = loop["metadata"]["name"]
    spec = loop["spec"]
    fleet = spec.get("fleet") or policy["spec"]["fleet"]
    labels = _labels(fleet, name, "loop")
    sandbox = spec.get("sandbox") or policy["spec"].get("sandbox", {})
    harness = spec.get("harness", {})
    trigger = spec["trigger"]
    pins = [("instructions", spec["instructions"])] + [
        ("skills", s) for s in spec.get("skills", [])
    ]
    for sub in spec.get("subagents", []):
        if sub.get("instructions"):
            pins.append((f"subagents/{sub['name']}/instructions", sub["instructions"]))
        pins += [(f"subagents/{sub['name']}/skills", s) for s in sub.get("skills", [])]

    service_account: Manifest = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": name, "labels": labels},
        "automountServiceAccountToken": False,
    }
    secret: Manifest = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": token_secret_name(name), "labels": labels},
        "type": "Opaque",
    }
    config_map: Manifest = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "labels": labels},
        "data": {"definition.json": definition(loop)},
    }

    volumes: list[dict[str, Any]] = [
        {"name": "workspace", "emptyDir": {"sizeLimit": "2Gi"}},
        {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
        {"name": "definition", "configMap": {"name": name}},
    ]
    mounts: list[dict[str, Any]] = [
        {"name": "workspace", "mountPath": WORKSPACE},
        {"name": "tmp", "mountPath": "/tmp"},
        {"name": "definition", "mountPath": f"{CONTENT_DIR}/loop", "readOnly": True},
    ]
    seen: set[str] = set()
    for i, (where, pin) in enumerate(pins):
        path = f"{CONTENT_DIR}/{where}/{pin['name']}"
        if path in seen:
            continue
        seen.add(path)
        volumes.append({"name": f"pin-{i}", "configMap": {"name": pin["configMap"]}})
        mounts.append({"name": f"pin-{i}", "mountPath": path, "readOnly": True})
    subs = [sub["name"] for sub in spec.get("subagents", [])]
    if subs:
        # Only the sub-agents' keys, one file each: the loop's own token stays in the env.
        volumes.append(
            {
                "name": "tokens",
                "secret": {
                    "secretName": token_secret_name(name),
                    "items": [{"key": subagent_token_key(sub), "path": sub} for sub in subs],
                    "defaultMode": TOKEN_FILE_MODE,
                },
            }
        )
        mounts.append({"name": "tokens", "mountPath": TOKENS_DIR, "readOnly": True})
    env = [
        {"name": "FLEET_GATEWAY_URL", "value": gateway_url(namespace)},
        {"name": "FLEET_LOOP", "value": name},
        # The Job's name, not the pod's: a pod the Job retries after a crash resumes the same
        # run (and its allowance) instead of starting a fresh one.
        {
            "name": "FLEET_RUN_ID",
            "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['job-name']"}},
        },
        {
            "name": "FLEET_GATEWAY_TOKEN",
            "valueFrom": {"secretKeyRef": {"name": token_secret_name(name), "key": TOKEN_KEY}},
        },
        {"name": "FLEET_DEFINITION", "value": DEFINITION_PATH},
        {"name": "FLEET_CONTENT_DIR", "value": CONTENT_DIR},
        {"name": "FLEET_TOKENS_DIR", "value": TOKENS_DIR},
        {"name": "FLEET_WORKSPACE", "value": WORKSPACE},
        {"name": "FLEET_TRIGGER", "value": "cron"},
        {"name": "HOME", "value": WORKSPACE},
    ]
    pod_spec: dict[str, Any] = {
        "serviceAccountName": name,
        "automountServiceAccountToken": False,
        "restartPolicy": "Never",
        "enableServiceLinks": False,
        "securityContext": _pod_security(),
        "containers": [
            {
                "name": "harness",
                "image": sandbox.get("image", "ghcr.io/fleetctl/sandbox:0.1"),
                "imagePullPolicy": "IfNotPresent",
                "args": ["run", "--definition", DEFINITION_PATH],
                "env": env,
                "resources": {
                    "requests": {
                        "cpu": sandbox.get("cpu", "1"),
                        "memory": sandbox.get("memory", "2Gi"),
                    },
                    "limits": {
                        "cpu": sandbox.get("cpu", "1"),
                        "memory": sandbox.get("memory", "2Gi"),
                    },
                },
                "securityContext": _container_security(),
                "volumeMounts": mounts,
            }
        ],
        "volumes": volumes,
    }
    if sandbox.get("runtimeClass"):
        pod_spec["runtimeClassName"] = sandbox["runtimeClass"]
    run_minutes = int(harness.get("maxRunMinutes", 60))
    cron_job: Manifest = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "schedule": trigger["schedule"],
            "timeZone": trigger.get("timezone", "UTC"),
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 300,
            "suspend": bool(trigger.get("suspend", False)),
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "metadata": {"labels": labels},
                "spec": {
                    "backoffLimit": 1,
                    "activeDeadlineSeconds": run_minutes * 60,
                    "ttlSecondsAfterFinished": 86400,
                    "template": {"metadata": {"labels": labels}, "spec": pod_spec},
                },
            },
        },
    }
    network_policy: Manifest = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "podSelector": {"matchLabels": {LOOP_LABEL: name}},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [],
            "egress": [
                {
                    "to": [
                        {"podSelector": {"matchLabels": {"app.kubernetes.io/name": GATEWAY_NAME}}}
                    ],
                    "ports": [{"protocol": "TCP", "port": GATEWAY_PORT}],
                },
                {
                    "to": [
                        {
                            "namespaceSelector": {
                                "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                            },
                            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                        }
                    ],
                    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                },
            ],
        },
    }
    return [
        _finish(obj, loop, namespace)
        for obj in (service_account, secret, config_map, cron_job, network_policy)
    ]


def _credential_env(cfg: Any) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = []
    for group in (cfg.providers, cfg.mcp_servers):
        for item in group.values():
            ref = item.credentials
            if ref is not None:
                env.append(
                    {
                        "name": ref.env,
                        "valueFrom": {"secretKeyRef": {"name": ref.secret, "key": ref.key}},
                    }
                )
    return sorted(env, key=lambda e: e["name"])


# A ConfigMap holds at most 1 MiB. The gateway config is readable JSON up to half of that;
# past it (a fleet of about 500 loops) it is stored gzipped, which the gateway recognises.
CONFIG_TEXT_LIMIT = 512 * 1024
CONFIGMAP_LIMIT = 1024 * 1024 - 16 * 1024  # room for the object's metadata


class ConfigTooLarge(ValueError):
    """The gateway config of a fleet does not fit in one ConfigMap, even compressed."""


def gateway_config_data(config: Mapping[str, Any], fleet: str) -> dict[str, Any]:
    """The ``data`` or ``binaryData`` of the gateway config ConfigMap."""
    text = orjson.dumps(config, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2) + b"\n"
    if len(text) <= CONFIG_TEXT_LIMIT:
        return {"data": {"gateway.json": text.decode()}}
    compact = orjson.dumps(config, option=orjson.OPT_SORT_KEYS)
    packed = base64.b64encode(gzip.compress(compact, compresslevel=6, mtime=0)).decode()
    if len(packed) > CONFIGMAP_LIMIT:
        raise ConfigTooLarge(
            f"the gateway config of fleet '{fleet}' is {len(packed):,} bytes even gzipped; "
            f"a ConfigMap holds {CONFIGMAP_LIMIT:,}: split the fleet into several FleetPolicies"
        )
    return {"binaryData": {"gateway.json": packed}}


def render_fleet(
    policy: Mapping[str, Any],
    loops: Iterable[Mapping[str, Any]],
    token_hashes: Mapping[str, list[str]],
    *,
    namespace: str,
    image: str = "ghcr.io/fleetctl/gateway:0.1",
    approvers: Mapping[str, list[str]] | None = None,
) -> list[Manifest]:
    """The gateway's config, state volume, Deployment and Service for one fleet."""
    fleet = policy["spec"]["fleet"]
    labels = {**_labels(fleet, None, "gateway"), "app.kubernetes.io/name": GATEWAY_NAME}
    labels = dict(sorted(labels.items()))
    cfg = gateway_config(policy, list(loops), token_hashes, approvers)
    env = _credential_env(cfg)
    config_map: Manifest = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": GATEWAY_CONFIG, "labels": labels},
        **gateway_config_data(cfg.model_dump(mode="json"), fleet),
    }
    state: Manifest = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": GATEWAY_STATE, "labels": labels},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}}},
    }
    selector = {"app.kubernetes.io/name": GATEWAY_NAME, FLEET_LABEL: fleet}
    probe = {
        "httpGet": {"path": "/readyz", "port": GATEWAY_PORT},
        "periodSeconds": 5,
        "timeoutSeconds": 2,
    }
    deployment: Manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": GATEWAY_NAME, "labels": labels},
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},  # one writer of the SQLite state at a time
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {
                    "labels": labels,
                    # Config changes hot-reload; a change of credentials (env) cannot, so it rolls the pods.
                    "annotations": {"fleetctl.dev/config-hash": _hash(env)},
                },
                "spec": {
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": _pod_security(),
                    "containers": [
                        {
                            "name": "gateway",
                            "image": image,
                            "imagePullPolicy": "IfNotPresent",
                            "args": [
                                "--config",
                                "/etc/fleet-gateway/gateway.json",
                                "--host",
                                "0.0.0.0",
                                "--port",
                                str(GATEWAY_PORT),
                                "--store",
                                "sqlite:/var/lib/fleet-gateway/gateway.sqlite3",
                            ],
                            "ports": [
                                {"name": "http", "containerPort": GATEWAY_PORT, "protocol": "TCP"}
                            ],
                            "env": env,
                            "readinessProbe": probe,
                            "livenessProbe": {
                                **copy.deepcopy(probe),
                                "httpGet": {"path": "/healthz", "port": GATEWAY_PORT},
                                "failureThreshold": 6,
                            },
                            "resources": {
                                "requests": {"cpu": "500m", "memory": "128Mi"},
                                "limits": {"cpu": "2", "memory": "512Mi"},
                            },
                            "securityContext": _container_security(),
                            "volumeMounts": [
                                {
                                    "name": "config",
                                    "mountPath": "/etc/fleet-gateway",
                                    "readOnly": True,
                                },
                                {"name": "state", "mountPath": "/var/lib/fleet-gateway"},
                                {"name": "tmp", "mountPath": "/tmp"},
                            ],
                        }
                    ],
                    "volumes": [
                        {"name": "config", "configMap": {"name": GATEWAY_CONFIG}},
                        {"name": "state", "persistentVolumeClaim": {"claimName": GATEWAY_STATE}},
                        {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
                    ],
                },
            },
        },
    }
    service: Manifest = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": GATEWAY_NAME, "labels": labels},
        "spec": {
            "selector": selector,
            "ports": [
                {
                    "name": "http",
                    "port": GATEWAY_PORT,
                    "targetPort": GATEWAY_PORT,
                    "protocol": "TCP",
                }
            ],
        },
    }
    return [_finish(obj, policy, namespace) for obj in (config_map, state, deployment, service)]
