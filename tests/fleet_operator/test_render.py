"""Rendering of AgentLoops and FleetPolicies into child manifests: golden files and security fields."""

from __future__ import annotations

import base64
import gzip
import os
from typing import Any

import orjson
import pytest
from ruamel.yaml import YAML

from fleet.gwconfig import load
from fleet.render import (
    HASH,
    ConfigTooLarge,
    definition,
    gateway_config_data,
    managed_hash,
    render_fleet,
    render_loop,
)
from fleet.yamlout import dump_all

GOLDEN = os.path.join(os.path.dirname(__file__), "golden")
# The input is a frozen compile of examples/northwind (``fleetctl compile``), so the
# golden output changes only when rendering does, not when the example is edited.
with open(os.path.join(GOLDEN, "northwind-crs.yaml")) as _f:
    CRS: list[dict[str, Any]] = orjson.loads(orjson.dumps(list(YAML(typ="safe").load_all(_f))))
(_POLICY,) = [d for d in CRS if d["kind"] == "FleetPolicy"]
POLICY = {**_POLICY, "metadata": {**_POLICY["metadata"], "uid": "uid-policy"}}
LOOPS = {
    loop["metadata"]["name"]: {
        **loop,
        "metadata": {**loop["metadata"], "uid": f"uid-{loop['metadata']['name']}"},
    }
    for loop in CRS
    if loop["kind"] == "AgentLoop"
}


def check_golden(name: str, docs: list[dict[str, Any]]) -> None:
    path = os.path.join(GOLDEN, name)
    text = dump_all(docs)
    if os.environ.get("UPDATE_GOLDEN"):
        with open(path, "w") as f:
            f.write(text)
    with open(path) as f:
        assert text == f.read(), f"{name} changed; UPDATE_GOLDEN=1 to accept"


@pytest.mark.parametrize("loop", ["bug-report-triage", "dependency-bump"])
def test_loop_children_golden(loop: str) -> None:
    check_golden(f"{loop}.yaml", render_loop(LOOPS[loop], POLICY, namespace="fleet-system"))


def test_fleet_children_golden() -> None:
    hashes = {name: [f"{i:064x}"] for i, name in enumerate(sorted(LOOPS))}
    check_golden(
        "fleet.yaml", render_fleet(POLICY, LOOPS.values(), hashes, namespace="fleet-system")
    )


def test_sandbox_pod_is_hardened() -> None:
    children = {
        c["kind"]: c for c in render_loop(LOOPS["bug-report-triage"], POLICY, namespace="ns")
    }
    assert set(children) == {"ServiceAccount", "Secret", "ConfigMap", "CronJob", "NetworkPolicy"}
    cron = children["CronJob"]["spec"]
    assert (cron["schedule"], cron["timeZone"], cron["concurrencyPolicy"], cron["suspend"]) == (
        "0 6 * * 1-5",
        "Europe/Berlin",
        "Forbid",
        False,
    )
    job = cron["jobTemplate"]["spec"]
    assert (
        job["activeDeadlineSeconds"] == 45 * 60
        and job["backoffLimit"] == 1
        and job["ttlSecondsAfterFinished"] == 86400
    )
    pod = job["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False and pod["runtimeClassName"] == "gvisor"
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"][
        "seccompProfile"
    ] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    sc = container["securityContext"]
    assert sc == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": 65532,
        "capabilities": {"drop": ["ALL"]},
    }
    env = {e["name"]: e for e in container["env"]}
    assert env["FLEET_GATEWAY_TOKEN"]["valueFrom"] == {
        "secretKeyRef": {"name": "bug-report-triage-gateway-token", "key": "token"}
    }
    assert env["FLEET_GATEWAY_URL"]["value"] == "http://fleet-gateway.ns.svc:8080"
    assert {k: env[k]["value"] for k in env if "value" in env[k]} == {
        "FLEET_GATEWAY_URL": "http://fleet-gateway.ns.svc:8080",
        "FLEET_LOOP": "bug-report-triage",
        "FLEET_DEFINITION": "/etc/fleet/loop/definition.json",
        "FLEET_CONTENT_DIR": "/etc/fleet",
        "FLEET_TOKENS_DIR": "/etc/fleet/tokens",
        "FLEET_WORKSPACE": "/workspace",
        "FLEET_TRIGGER": "cron",
        "HOME": "/workspace",
    }
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert (
        mounts["/etc/fleet/loop"]["readOnly"]
        and mounts["/etc/fleet/skills/triage-runbook"]["readOnly"]
        and mounts["/etc/fleet/tokens"]["readOnly"]
    )
    # The sub-agents' tokens only, one file each, readable by the pod's group (fsGroup).
    (tokens,) = [v["secret"] for v in pod["volumes"] if v["name"] == "tokens"]
    assert tokens == {
        "secretName": "bug-report-triage-gateway-token",
        "items": [{"key": "subagent.reviewer", "path": "reviewer"}],
        "defaultMode": 0o440,
    }
    assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsGroup"] == 65532
    assert {v["name"] for v in pod["volumes"] if "emptyDir" in v} == {"workspace", "tmp"}
    net = children["NetworkPolicy"]["spec"]
    assert (
        net["ingress"] == []
        and len(net["egress"]) == 2
        and net["podSelector"] == {"matchLabels": {"fleetctl.dev/loop": "bug-report-triage"}}
    )
    assert "data" not in children["Secret"] and "stringData" not in children["Secret"]
    for child in children.values():
        ref = child["metadata"]["ownerReferences"][0]
        assert (ref["kind"], ref["name"], ref["uid"], ref["controller"]) == (
            "AgentLoop",
            "bug-report-triage",
            "uid-bug-report-triage",
            True,
        )
        assert child["metadata"]["annotations"][HASH] == managed_hash(child)


def test_loop_without_subagents_mounts_no_tokens() -> None:
    (cron,) = [
        c
        for c in render_loop(LOOPS["cost-report"], POLICY, namespace="ns")
        if c["kind"] == "CronJob"
    ]
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert "tokens" not in {v["name"] for v in pod["volumes"]}


def test_definition_is_the_configmap_file() -> None:
    loop = LOOPS["bug-report-triage"]
    (cm,) = [c for c in render_loop(loop, POLICY, namespace="ns") if c["kind"] == "ConfigMap"]
    assert cm["data"]["definition.json"] == definition(loop)
    doc = orjson.loads(definition(loop))
    assert (doc["name"], doc["fleet"], "sandbox" in doc["spec"]) == (
        "bug-report-triage",
        "northwind",
        False,
    )
    assert doc["spec"]["done"] == {"checker": "reviewer", "commandTimeout": "10m"}


def test_gateway_config_validates_and_holds_hashes_only() -> None:
    hashes = {name: ["ab" * 32] for name in LOOPS} | {"bug-report-triage/reviewer": ["cd" * 32]}
    children = {c["kind"]: c for c in render_fleet(POLICY, LOOPS.values(), hashes, namespace="ns")}
    config = load(orjson.loads(children["ConfigMap"]["data"]["gateway.json"]))
    assert (
        sorted(config.loops) == sorted(LOOPS)
        and config.loops["dependency-bump"].approvals["merge_pr"] == "pause_for_human"
    )
    assert config.loops["bug-report-triage"].token_sha256 == ["ab" * 32]
    assert config.loops["bug-report-triage"].subagents["reviewer"].token_sha256 == ["cd" * 32]
    deploy = children["Deployment"]["spec"]["template"]
    assert deploy["metadata"]["annotations"]["fleetctl.dev/config-hash"].startswith("sha256:")
    (container,) = deploy["spec"]["containers"]
    assert (
        container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        and container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    )
    assert {e["name"] for e in container["env"]} >= {
        "PROVIDER_OPENAI_API_KEY",
        "MCP_GITHUB_API_KEY",
    }


def _clones(count: int) -> list[dict[str, Any]]:
    template = LOOPS["cost-report"]
    return [
        {**template, "metadata": {**template["metadata"], "name": f"loop-{i:04d}"}}
        for i in range(count)
    ]


def test_large_fleet_config_is_gzipped_into_binary_data() -> None:
    loops = _clones(1000)
    hashes = {loop["metadata"]["name"]: [f"{i:064x}"] for i, loop in enumerate(loops)}
    cm = render_fleet(POLICY, loops, hashes, namespace="ns")[0]
    assert "data" not in cm
    packed = base64.b64decode(cm["binaryData"]["gateway.json"])
    assert packed[:2] == b"\x1f\x8b" and len(packed) < 1024 * 1024
    config = load(orjson.loads(gzip.decompress(packed)))
    assert len(config.loops) == 1000 and config.loops["loop-0999"].token_sha256 == [f"{999:064x}"]
    # Deterministic (no timestamp in the gzip header): an unchanged fleet is not rewritten.
    again = render_fleet(POLICY, loops, hashes, namespace="ns")[0]
    assert again["metadata"]["annotations"][HASH] == cm["metadata"]["annotations"][HASH]
    # A small fleet keeps the readable form.
    small = render_fleet(POLICY, _clones(3), {}, namespace="ns")[0]
    assert "binaryData" not in small and small["data"]["gateway.json"].startswith("{")


def test_config_past_a_configmap_is_refused_with_a_reason() -> None:
    noise = {f"k{i}": base64.b64encode(os.urandom(48)).decode() for i in range(20000)}
    with pytest.raises(ConfigTooLarge, match=r"fleet .big.*split the fleet"):
        gateway_config_data({"loops": noise}, "big")


def test_render_is_deterministic_and_hash_tracks_changes() -> None:
    loop = LOOPS["changelog"]
    assert render_loop(loop, POLICY, namespace="ns") == render_loop(loop, POLICY, namespace="ns")
    changed = {
        **loop,
        "spec": {
            **loop["spec"],
            "trigger": {**loop["spec"]["trigger"], "schedule": "0 19 * * 1-5"},
        },
    }
    before = {
        c["kind"]: c["metadata"]["annotations"][HASH]
        for c in render_loop(loop, POLICY, namespace="ns")
    }
    after = {
        c["kind"]: c["metadata"]["annotations"][HASH]
        for c in render_loop(changed, POLICY, namespace="ns")
    }
    assert [k for k in before if before[k] != after[k]] == ["ConfigMap", "CronJob"]
