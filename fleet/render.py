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
NetworkPolicy ``<name>`` (egress to the gateway and DNS only), and for a loop with a
webhook the Secret ``<name>-trigger-token`` (metadata only; the operator mints key
``token``). Fleet children of a FleetPolicy: Secret ``fleet-operator-token`` (the
operator's own gateway token), ConfigMap ``fleet-gateway-config``,
PersistentVolumeClaim ``fleet-gateway-state``, Deployment and Service
``fleet-gateway``.

The Jobs of a loop are made here too, from its CronJob as ``kubectl create job
--from`` makes them: :func:`manual_job`, :func:`webhook_job` (with
:func:`payload_config_map`) and :func:`resume_job`.
"""

from __future__ import annotations

import base64
import copy
import gzip
import hashlib
from collections.abc import Iterable, Mapping
from typing import Any, TypedDict

import orjson

from fleet import cron
from fleet.gwconfig import to_data
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
TRIGGER_DIR = f"{CONTENT_DIR}/trigger"
PAYLOAD_KEY = "payload.json"
PAYLOAD_FILE = f"{TRIGGER_DIR}/{PAYLOAD_KEY}"
OPERATOR_SECRET = "fleet-operator-token"
# A loop without a schedule still has its CronJob: the template every Job of the loop is made
# from. It never fires: suspended, on a date that does not exist.
NO_SCHEDULE = "0 0 31 2 *"
SCHEDULE_ANNOTATION = "fleetctl.dev/schedule"
"""On a CronJob whose schedule came from ``H``: the schedule as the loop's file writes it."""

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


def trigger_secret_name(loop: str) -> str:
    """The Secret holding a webhook loop's trigger token (key ``token``): it starts runs of the
    loop through the gateway and grants nothing else."""
    return f"{loop}-trigger-token"


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


def concrete_schedule(trigger: Mapping[str, Any], fleet: str, loop: str) -> str | None:
    """The schedule a loop's CronJob runs: ``schedule`` with its ``H`` resolved for the loop.

    That is compile's ``resolvedSchedule`` (the same hash of the same names), computed again
    so that an AgentLoop written or edited by hand runs the schedule it says, not a
    ``resolvedSchedule`` left over from before the edit."""
    schedule = trigger.get("schedule")
    if not schedule:
        return None
    try:
        return cron.resolve(str(schedule), cron.seed(fleet, loop))
    except cron.CronProblem:  # the spec's validation refuses it first; the API server too
        return str(trigger.get("resolvedSchedule") or schedule)


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
    trigger_secret: Manifest | None = None
    if trigger.get("webhook") is not None:
        trigger_secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": trigger_secret_name(name), "labels": labels},
            "type": "Opaque",
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
    schedule = concrete_schedule(trigger, fleet, name)
    cron_meta: dict[str, Any] = {"name": name, "labels": labels}
    if schedule and schedule != trigger.get("schedule"):
        cron_meta["annotations"] = {SCHEDULE_ANNOTATION: trigger["schedule"]}
    cron_job: Manifest = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": cron_meta,
        "spec": {
            "schedule": schedule or NO_SCHEDULE,
            "timeZone": trigger.get("timezone", "UTC"),
            "concurrencyPolicy": trigger.get("concurrency", "Forbid"),
            "startingDeadlineSeconds": 300,
            "suspend": bool(trigger.get("suspend", False)) or not schedule,
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
        for obj in (service_account, secret, trigger_secret, config_map, cron_job, network_policy)
        if obj is not None
    ]


# ------------------------------------------------------------------ Jobs of a loop

TRIGGER_LABEL = "fleetctl.dev/trigger"
"""On every Job the operator or ``fleetctl trigger`` starts: ``manual``, ``webhook`` or ``resume``."""
RUN_LABEL = "fleetctl.dev/run"
"""On a resume Job: the run it resumes."""
TRIGGER_ID = "fleetctl.dev/trigger-id"
"""On a webhook Job: the gateway's id of the queued trigger it runs."""
INSTANTIATE = "cronjob.kubernetes.io/instantiate"
INPUT_ENV_MAX = 32 * 1024
"""Bytes of ``--input`` JSON passed as ``FLEET_INPUT`` at most (an environment variable)."""
JOB_NAME_MAX = 63  # the Job controller labels its pods with job-name: a label value


def _short(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def manual_job_name(loop: str, nonce: str) -> str:
    """``<loop>-m<nonce>``: ``nonce`` is 8 lower-case letters or digits (the caller's random)."""
    return f"{loop}-m{nonce}"[:JOB_NAME_MAX]


def webhook_job_name(loop: str, trigger_id: str) -> str:
    """One name per queued trigger, so a second create of the same trigger's Job is a 409."""
    return f"{loop}-w{_short(trigger_id)}"


def resume_job_name(loop: str, run: str, attempts: int) -> str:
    """One name per run and pause (the run's attempt count when it paused): ``<run>-r<n>``, or
    ``<loop>-r<hash>`` when that is too long for a Job or not a DNS label."""
    name = f"{run}-r{attempts}"
    if len(name) <= JOB_NAME_MAX and name.islower() and all(c.isalnum() or c == "-" for c in name):
        return name
    return f"{loop}-r{_short(f'{run}:{attempts}')}"


def _set_env(env: list[dict[str, Any]], values: Mapping[str, str]) -> list[dict[str, Any]]:
    out = [e for e in env if e["name"] not in values]
    out += [{"name": k, "value": v} for k, v in values.items()]
    return out


def job_from_cronjob(
    cron: Mapping[str, Any],
    name: str,
    *,
    trigger: str,
    env: Mapping[str, str] | None = None,
    args: list[str] | None = None,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    payload_config_map: str | None = None,
) -> Manifest:
    """A Job made from a loop's CronJob as ``kubectl create job --from=cronjob/…`` makes it (the
    jobTemplate, an owner reference to the CronJob, ``cronjob.kubernetes.io/instantiate:
    manual``), labelled with ``trigger``. ``env`` sets variables of the harness container (a
    value replaces the template's, ``FLEET_RUN_ID`` included), ``args`` replaces its arguments,
    and ``payload_config_map`` mounts that ConfigMap's payload at :data:`PAYLOAD_FILE`."""
    meta = cron["metadata"]
    template = copy.deepcopy(cron["spec"]["jobTemplate"])
    tmeta = template.get("metadata") or {}
    job_labels = {**(tmeta.get("labels") or {}), TRIGGER_LABEL: trigger, **(labels or {})}
    spec = template["spec"]
    pod_meta = spec["template"].setdefault("metadata", {})
    pod_meta["labels"] = {**(pod_meta.get("labels") or {}), TRIGGER_LABEL: trigger}
    pod = spec["template"]["spec"]
    container = next(
        (c for c in pod["containers"] if c.get("name") == "harness"), pod["containers"][0]
    )
    values = {"FLEET_TRIGGER": trigger, **(env or {})}
    if payload_config_map is not None:
        values["FLEET_INPUT_FILE"] = PAYLOAD_FILE
        pod.setdefault("volumes", []).append(
            {
                "name": "trigger",
                "configMap": {
                    "name": payload_config_map,
                    "items": [{"key": PAYLOAD_KEY, "path": PAYLOAD_KEY}],
                },
            }
        )
        container.setdefault("volumeMounts", []).append(
            {"name": "trigger", "mountPath": TRIGGER_DIR, "readOnly": True}
        )
    container["env"] = _set_env(container.get("env") or [], values)
    if args is not None:
        container["args"] = list(args)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": meta.get("namespace"),
            "labels": dict(sorted(job_labels.items())),
            "annotations": {
                **(tmeta.get("annotations") or {}),
                INSTANTIATE: "manual",
                **(annotations or {}),
            },
            "ownerReferences": [
                {
                    "apiVersion": "batch/v1",
                    "kind": "CronJob",
                    "name": meta["name"],
                    "uid": meta.get("uid", ""),
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": spec,
    }


def manual_job(cron: Mapping[str, Any], nonce: str, input_json: str | None = None) -> Manifest:
    """The Job of ``fleetctl trigger``: the input (JSON text, at most :data:`INPUT_ENV_MAX`
    bytes, checked by the caller) in ``FLEET_INPUT``."""
    loop = cron["metadata"]["name"]
    env = {"FLEET_INPUT": input_json} if input_json is not None else {}
    return job_from_cronjob(cron, manual_job_name(loop, nonce), trigger="manual", env=env)


def webhook_job(cron: Mapping[str, Any], trigger_id: str) -> Manifest:
    """The Job of one queued webhook trigger; its payload is mounted from
    :func:`payload_config_map` (named after the Job)."""
    loop = cron["metadata"]["name"]
    name = webhook_job_name(loop, trigger_id)
    return job_from_cronjob(
        cron,
        name,
        trigger="webhook",
        annotations={TRIGGER_ID: trigger_id},
        payload_config_map=f"{name}-payload",
    )


def payload_config_map(job: Mapping[str, Any], payload: str) -> Manifest:
    """The ConfigMap a webhook Job mounts: the payload's JSON text, owned by the Job (the
    garbage collector removes it with the Job)."""
    meta = job["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": f"{meta['name']}-payload",
            "namespace": meta.get("namespace"),
            "labels": {k: v for k, v in (meta.get("labels") or {}).items()},
            "ownerReferences": [
                {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "name": meta["name"],
                    "uid": meta.get("uid", ""),
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "immutable": True,
        "data": {PAYLOAD_KEY: payload},
    }


def resume_job(cron: Mapping[str, Any], run: str, attempts: int, trigger: str) -> Manifest:
    """The Job that resumes ``run`` after its approval was decided: the same pod with
    ``--resume RUN`` and ``FLEET_RUN_ID=RUN`` (a pod the Job retries resumes it too)."""
    loop = cron["metadata"]["name"]
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    container = next(
        (c for c in pod["containers"] if c.get("name") == "harness"), pod["containers"][0]
    )
    args = [*container.get("args", ["run", "--definition", DEFINITION_PATH]), "--resume", run]
    labels = {RUN_LABEL: run} if _label_value(run) else {}
    return job_from_cronjob(
        cron,
        resume_job_name(loop, run, attempts),
        trigger="resume",
        env={"FLEET_RUN_ID": run, "FLEET_TRIGGER": trigger},
        args=args,
        labels=labels,
        annotations={RUN_LABEL: run},
    )


def job_finished(job: Mapping[str, Any]) -> bool:
    """The Job completed or failed (its pods are done)."""
    status = job.get("status") or {}
    if status.get("completionTime"):
        return True
    return any(
        c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


def job_active(job: Mapping[str, Any]) -> bool:
    """The Job may still run a pod: not finished, not being deleted."""
    return not (job.get("metadata") or {}).get("deletionTimestamp") and not job_finished(job)


def job_run(job: Mapping[str, Any]) -> str:
    """The run a Job of a loop runs: the run it resumes, else the Job's own name."""
    meta = job.get("metadata") or {}
    return str((meta.get("annotations") or {}).get(RUN_LABEL) or meta["name"])


def concurrency_action(policy: str, active: list[Mapping[str, Any]]) -> str:
    """What a new run of a loop does, given its ``concurrency`` and its active Jobs: ``start``,
    ``wait`` (Forbid) or ``replace`` (Replace: stop the active Jobs first)."""
    if not active or policy == "Allow":
        return "start"
    return "replace" if policy == "Replace" else "wait"


def _label_value(text: str) -> bool:
    return (
        len(text) <= 63
        and text[:1].isalnum()
        and text[-1:].isalnum()
        and all(c.isalnum() or c in "-_." for c in text)
    )


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


def operator_secret(policy: Mapping[str, Any], *, namespace: str) -> Manifest:
    """The Secret of the operator's gateway token for one fleet (metadata only: the operator
    mints key ``token``); its hash goes into the gateway config as ``operator_sha256``."""
    fleet = policy["spec"]["fleet"]
    labels = {**_labels(fleet, None, "gateway"), "app.kubernetes.io/name": GATEWAY_NAME}
    secret: Manifest = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": OPERATOR_SECRET, "labels": dict(sorted(labels.items()))},
        "type": "Opaque",
    }
    return _finish(secret, policy, namespace)


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
        **gateway_config_data(to_data(cfg), fleet),
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
    return [
        *(_finish(obj, policy, namespace) for obj in (config_map, state, deployment, service)),
        operator_secret(policy, namespace=namespace),
    ]
