"""CustomResourceDefinitions for ``AgentLoop`` and ``FleetPolicy``, generated from the models.

pydantic's JSON Schema is turned into a Kubernetes *structural* schema:
references inlined, ``null`` unions dropped (compile omits absent fields),
``const`` as a one-value ``enum``, exclusive bounds in OpenAPI v3.0 form, and
no ``additionalProperties: false`` (the API server prunes unknown fields).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from fleet.resources import GROUP, VERSION, AgentLoopSpec, FleetPolicySpec

_DROP = {"title", "default", "propertyNames", "examples"}


def _structural(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_structural(n, defs) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _structural(merged, defs)
    if "anyOf" in node:
        options = [o for o in node["anyOf"] if o.get("type") != "null"]
        rest = {k: v for k, v in node.items() if k != "anyOf"}
        if len(options) == 1:
            return _structural({**options[0], **rest}, defs)
        return _structural(
            {**rest, "x-kubernetes-int-or-string": True}
            if _int_or_string(options)
            else {**rest, "type": "object", "x-kubernetes-preserve-unknown-fields": True},
            defs,
        )
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP or key == "$defs":
            continue
        if key == "additionalProperties" and value is False:
            continue
        if key == "const":
            out["enum"] = [value]
            continue
        if key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
            out["minimum" if key == "exclusiveMinimum" else "maximum"] = value
            out[key] = True
            continue
        if key == "properties":
            out[key] = {name: _structural(prop, defs) for name, prop in value.items()}
            continue
        out[key] = _structural(value, defs)
    if "enum" in out and "type" not in out:
        out["type"] = "string"
    if "properties" in out or "additionalProperties" in out:
        out.setdefault("type", "object")
    return out


def _int_or_string(options: list[dict[str, Any]]) -> bool:
    return sorted(o.get("type", "") for o in options) == ["integer", "string"]


def spec_schema(model: type) -> dict[str, Any]:
    raw = model.model_json_schema(by_alias=True, mode="serialization")  # type: ignore[attr-defined]
    return _structural(raw, raw.get("$defs", {}))


_CONDITION = {
    "type": "object",
    "required": ["type", "status"],
    "properties": {
        "type": {"type": "string"},
        "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
        "reason": {"type": "string"},
        "message": {"type": "string"},
        "lastTransitionTime": {"type": "string", "format": "date-time"},
        "observedGeneration": {"type": "integer"},
    },
}

_STATUS: dict[str, Any] = {
    "type": "object",
    "x-kubernetes-preserve-unknown-fields": True,
    "properties": {
        "observedGeneration": {"type": "integer"},
        "conditions": {
            "type": "array",
            "items": _CONDITION,
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"],
        },
        "lastScheduleTime": {"type": "string", "format": "date-time"},
        "lastSuccessfulTime": {"type": "string", "format": "date-time"},
        "children": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"kind": {"type": "string"}, "name": {"type": "string"}},
            },
        },
    },
}

# An AgentLoop's status also carries its runs, as the gateway's runs API reports them.
_LOOP_STATUS: dict[str, Any] = {
    **_STATUS,
    "properties": {
        **_STATUS["properties"],
        "lastRun": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "trigger": {"type": "string"},
                "outcome": {"type": "string"},
                "steps": {"type": "integer"},
                "costUsd": {"type": "number"},
                "startedAt": {"type": "string", "format": "date-time"},
                "finishedAt": {"type": "string", "format": "date-time"},
            },
        },
        "running": {"type": "integer"},
        "awaitingApproval": {"type": "integer"},
        "consecutiveRunsWithoutOutcome": {"type": "integer"},
    },
}

_READY = '.status.conditions[?(@.type=="Ready")].status'
_HEALTHY = '.status.conditions[?(@.type=="Healthy")].status'


def _crd(
    kind: str,
    plural: str,
    short: list[str],
    spec: dict[str, Any],
    columns: list[dict[str, Any]],
    status: dict[str, Any] = _STATUS,
) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural}.{GROUP}",
            "labels": {
                "app.kubernetes.io/managed-by": "fleetctl",
                "app.kubernetes.io/part-of": "fleetctl",
            },
        },
        "spec": {
            "group": GROUP,
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": short,
                "categories": ["fleet", "all"],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": columns,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": spec,
                                "status": status,
                            },
                        }
                    },
                }
            ],
        },
    }


@cache
def _crds() -> tuple[dict[str, Any], dict[str, Any]]:
    loop = _crd(
        "AgentLoop",
        "agentloops",
        ["al"],
        spec_schema(AgentLoopSpec),
        [
            {"name": "Owner", "type": "string", "jsonPath": ".spec.owner"},
            {"name": "Stage", "type": "string", "jsonPath": ".spec.stage"},
            {"name": "Model", "type": "string", "jsonPath": ".spec.model"},
            {"name": "Schedule", "type": "string", "jsonPath": ".spec.trigger.resolvedSchedule"},
            {"name": "Ready", "type": "string", "jsonPath": _READY},
            {"name": "Healthy", "type": "string", "jsonPath": _HEALTHY},
            {"name": "Last Run", "type": "date", "jsonPath": ".status.lastRun.finishedAt"},
            {"name": "Outcome", "type": "string", "jsonPath": ".status.lastRun.outcome"},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ],
        _LOOP_STATUS,
    )
    policy = _crd(
        "FleetPolicy",
        "fleetpolicies",
        ["fp"],
        spec_schema(FleetPolicySpec),
        [
            {"name": "Timezone", "type": "string", "jsonPath": ".spec.timezone"},
            {"name": "Ready", "type": "string", "jsonPath": _READY},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ],
    )
    return loop, policy


def crds() -> list[dict[str, Any]]:
    """Both CRDs, AgentLoop first (fresh copies: callers may mutate)."""
    import copy

    return copy.deepcopy(list(_crds()))
