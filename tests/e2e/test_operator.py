"""The operator end to end: the compiled northwind fleet applied to the emulated API server,
reconciled by the real operator under kopf's KopfRunner, read back with the kubernetes client."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import Any

import pytest
from fleet_operator.applier import subset
from fleet_operator.kube import Kube

from fleet.render import render_loop
from fleet.resources import API_VERSION
from tests.e2e.conftest import apply_all, wait_for
from tests.e2e.emulator import Cluster

pytestmark = pytest.mark.e2e


def condition(obj: dict[str, Any] | None, kind: str) -> dict[str, Any] | None:
    for cond in ((obj or {}).get("status") or {}).get("conditions", []):
        if cond.get("type") == kind:
            return dict(cond)
    return None


def ready_loops(kube: Kube, ns: str) -> list[str]:
    return sorted(
        loop["metadata"]["name"]
        for loop in kube.list(API_VERSION, "AgentLoop", ns)
        if (condition(loop, "Ready") or {}).get("status") == "True"
    )


def gateway_loops(kube: Kube, ns: str) -> list[str]:
    cm = kube.get("v1", "ConfigMap", ns, "fleet-gateway-config")
    return sorted(json.loads(cm["data"]["gateway.json"])["loops"]) if cm else []


@pytest.mark.timeout(240)  # one scenario over a whole fleet; the 2-core CI machine is shared
def test_fleet_lifecycle(
    cluster: Cluster, kube: Kube, northwind: list[dict[str, Any]], operator: None
) -> None:
    ns = "northwind"
    apply_all(kube, northwind, ns)
    names = sorted(d["metadata"]["name"] for d in northwind if d["kind"] == "AgentLoop")
    wait_for(lambda: ready_loops(kube, ns) == names, 60, "every loop Ready")
    wait_for(lambda: gateway_loops(kube, ns) == names, 30, "the gateway config to list every loop")

    # Every child exactly as rendered, security fields included.
    policy = kube.get(API_VERSION, "FleetPolicy", ns, "northwind")
    loop = kube.get(API_VERSION, "AgentLoop", ns, "bug-report-triage")
    assert loop is not None and policy is not None
    for desired in render_loop(loop, policy, namespace=ns):
        live = kube.get(desired["apiVersion"], desired["kind"], ns, desired["metadata"]["name"])
        assert live is not None, desired["metadata"]["name"]
        body = {k: v for k, v in desired.items() if k not in ("metadata",)}
        assert subset(body, live), desired["kind"]
        assert live["metadata"]["ownerReferences"][0]["uid"] == loop["metadata"]["uid"]
    pod = kube.get("batch/v1", "CronJob", ns, "bug-report-triage")["spec"]["jobTemplate"]["spec"][
        "template"
    ]["spec"]  # type: ignore[index]
    container = pod["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True and container[
        "securityContext"
    ]["capabilities"] == {"drop": ["ALL"]}
    assert (
        pod["automountServiceAccountToken"] is False
        and pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    )
    secret = kube.get("v1", "Secret", ns, "bug-report-triage-gateway-token")
    assert secret is not None and secret["data"]["token"]
    text = kube.get("v1", "ConfigMap", ns, "fleet-gateway-config")["data"]["gateway.json"]  # type: ignore[index]
    token = base64.b64decode(secret["data"]["token"]).decode()
    assert token not in text and json.loads(text)["loops"]["bug-report-triage"]["token_sha256"] == [
        hashlib.sha256(token.encode()).hexdigest()
    ]
    # Its checker has a token of its own, in the same Secret, hashed into the gateway config.
    reviewer = base64.b64decode(secret["data"]["subagent.reviewer"]).decode()
    assert reviewer != token and reviewer not in text
    assert json.loads(text)["loops"]["bug-report-triage"]["subagents"]["reviewer"][
        "token_sha256"
    ] == [hashlib.sha256(reviewer.encode()).hexdigest()]
    status = loop["status"]
    assert status["observedGeneration"] == loop["metadata"]["generation"]
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "Accepted": "True",
        "ResolvedRefs": "True",
        "Ready": "True",
    }
    assert {"kind": "CronJob", "name": "bug-report-triage"} in status["children"]
    deployment = kube.get("apps/v1", "Deployment", ns, "fleet-gateway")
    assert deployment is not None and kube.get("v1", "Service", ns, "fleet-gateway") is not None

    # Edit a loop: children updated in place.
    kube.patch(
        API_VERSION,
        "AgentLoop",
        ns,
        "changelog",
        {"spec": {"trigger": {"schedule": "0 19 * * 1-5", "suspend": True}}},
    )
    wait_for(
        lambda: (
            (kube.get("batch/v1", "CronJob", ns, "changelog") or {}).get("spec", {}).get("schedule")
            == "0 19 * * 1-5"
        ),
        30,
        "the CronJob to follow the edit",
    )
    assert kube.get("batch/v1", "CronJob", ns, "changelog")["spec"]["suspend"] is True  # type: ignore[index]

    # Hand-edit a child: the drift timer restores it.
    schedule = next(d for d in northwind if d["metadata"]["name"] == "oncall-summary")["spec"][
        "trigger"
    ]["schedule"]
    kube.patch(
        "batch/v1",
        "CronJob",
        ns,
        "oncall-summary",
        {"spec": {"schedule": "* * * * *", "concurrencyPolicy": "Allow"}},
    )
    wait_for(
        lambda: (
            (kube.get("batch/v1", "CronJob", ns, "oncall-summary") or {})
            .get("spec", {})
            .get("schedule")
            == schedule
        ),
        30,
        "drift to be restored",
    )
    assert (
        kube.get("batch/v1", "CronJob", ns, "oncall-summary")["spec"]["concurrencyPolicy"]
        == "Forbid"
    )  # type: ignore[index]

    # Token rotation by annotation.
    before = kube.get("v1", "Secret", ns, "cost-report-gateway-token")["data"]["token"]  # type: ignore[index]
    kube.patch(
        API_VERSION,
        "AgentLoop",
        ns,
        "cost-report",
        {"metadata": {"annotations": {"fleetctl.dev/rotate-token": "2026-11-23"}}},
    )
    wait_for(
        lambda: (
            kube.get("v1", "Secret", ns, "cost-report-gateway-token")["data"]["token"] != before
        ),
        30,
        "the token to rotate",
    )  # type: ignore[index]
    rotated = base64.b64decode(
        kube.get("v1", "Secret", ns, "cost-report-gateway-token")["data"]["token"]
    )  # type: ignore[index]

    def gateway_hashes() -> Any:
        cm = kube.get("v1", "ConfigMap", ns, "fleet-gateway-config") or {}
        return json.loads(cm["data"]["gateway.json"])["loops"]["cost-report"]["token_sha256"]

    wait_for(
        lambda: gateway_hashes() == [hashlib.sha256(rotated).hexdigest()],
        30,
        "the gateway config to hold the new token's hash",
    )

    # An idle fleet: no writes over a few drift periods.
    time.sleep(2)
    start = cluster.writes
    time.sleep(7)  # over two drift periods
    assert cluster.writes - start == 0, (
        "\n".join(w[:300] for w in cluster.emulator.write_log) if cluster.emulator else None
    )

    # Delete: children gone, the loop leaves the gateway config.
    kube.delete(API_VERSION, "AgentLoop", ns, "docs-drift")
    wait_for(
        lambda: kube.get("batch/v1", "CronJob", ns, "docs-drift") is None,
        30,
        "children to be deleted",
    )
    wait_for(
        lambda: kube.get("v1", "Secret", ns, "docs-drift-gateway-token") is None,
        30,
        "the token Secret to be deleted",
    )
    for kind_api, kind in (
        ("v1", "ServiceAccount"),
        ("v1", "ConfigMap"),
        ("networking.k8s.io/v1", "NetworkPolicy"),
    ):
        assert kube.get(kind_api, kind, ns, "docs-drift") is None, kind
    wait_for(
        lambda: "docs-drift" not in gateway_loops(kube, ns),
        30,
        "the gateway config to drop the loop",
    )


def test_invalid_loop_is_not_accepted(
    cluster: Cluster, kube: Kube, northwind: list[dict[str, Any]], operator: None
) -> None:
    ns = "invalid"
    policy = next(d for d in northwind if d["kind"] == "FleetPolicy")
    content = [d for d in northwind if d["kind"] == "ConfigMap"]
    apply_all(kube, [policy, *content], ns)
    good = next(d for d in northwind if d["metadata"]["name"] == "cost-report")
    bad = {
        **good,
        "metadata": {"name": "broken"},
        "spec": {**good["spec"], "harness": {"maxSteps": 0}},
    }
    orphan = {
        **good,
        "metadata": {"name": "orphan"},
        "spec": {
            **good["spec"],
            "instructions": {
                **good["spec"]["instructions"],
                "configMap": "fleet-content-0000000000000000",
            },
        },
    }
    apply_all(kube, [bad, orphan], ns)
    accepted = wait_for(
        lambda: condition(kube.get(API_VERSION, "AgentLoop", ns, "broken"), "Accepted"),
        30,
        "a status on the broken loop",
    )
    assert (
        accepted["status"] == "False"
        and accepted["reason"] == "InvalidSpec"
        and "harness" in accepted["message"]
    )
    refs = wait_for(
        lambda: condition(kube.get(API_VERSION, "AgentLoop", ns, "orphan"), "ResolvedRefs"),
        30,
        "a status on the orphan loop",
    )
    assert refs["status"] == "False" and refs["reason"] == "ContentMissing"
    for name in ("broken", "orphan"):
        assert kube.get("batch/v1", "CronJob", ns, name) is None
        assert kube.get("v1", "Secret", ns, f"{name}-gateway-token") is None
