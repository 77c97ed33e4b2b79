"""The dashboard's objects as the operator renders them: a golden file, the pod's hardening,
what rolls it, the gzipped definitions of a large fleet, the viewers' Secrets; and the
definitions read back as the fleet the pages and the doctor see."""

from __future__ import annotations

import base64
import copy
import gzip
import os
from typing import Any

import orjson
import pytest

from fleet.render import HASH, managed_hash
from fleet.resources import agent_of, fleet_of
from fleet_operator.approvers import approver_secret, parse, token_hash
from fleet_operator.dashboard import (
    DASHBOARD_NAME,
    VIEWERS_LABEL,
    DefinitionsTooLarge,
    definitions,
    render_dashboard,
    viewers_condition,
)
from tests.fleet_operator.test_render import LOOPS, POLICY, check_golden

IMAGE = "ghcr.io/fleetctl/dashboard:0.1"
VIEWERS = {"vera": ["a" * 64]}


def render(viewers: dict[str, list[str]] = VIEWERS, config: Any = None) -> dict[str, Any]:
    objs = render_dashboard(
        POLICY, LOOPS.values(), viewers, namespace="fleet-system", image=IMAGE,
        gateway_config=config or {},
    )  # fmt: skip
    return {o["kind"]: o for o in objs}


def test_dashboard_objects_golden() -> None:
    docs = render_dashboard(
        POLICY, LOOPS.values(), VIEWERS, namespace="fleet-system", image=IMAGE, gateway_config={}
    )
    check_golden("dashboard.yaml", docs)
    assert [d["kind"] for d in docs] == ["ConfigMap", "Deployment", "Service"]
    for doc in docs:
        meta = doc["metadata"]
        assert meta["name"] == DASHBOARD_NAME and meta["namespace"] == "fleet-system"
        assert meta["ownerReferences"][0]["uid"] == "uid-policy"  # goes with the fleet
        assert meta["annotations"][HASH] == managed_hash(doc)
        assert meta["labels"]["fleetctl.dev/fleet"] == "northwind"


def test_the_pod_is_hardened_and_reads_the_store_beside_the_gateway() -> None:
    deployment = render()["Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": 65532,
        "capabilities": {"drop": ["ALL"]},
    }
    assert container["resources"]["limits"] == {"cpu": "1", "memory": "512Mi"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": 8090}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": 8090}
    args = container["args"]
    flags = dict(zip(args[::2], args[1::2], strict=True))
    assert flags["--store"] == "sqlite:/var/lib/fleet-gateway/gateway.sqlite3"
    assert flags["--gateway"] == "http://fleet-gateway.fleet-system.svc:8080"
    assert flags["--config"] == "/etc/fleet-gateway/gateway.json"
    assert "--open" not in args
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["state"]["persistentVolumeClaim"] == {"claimName": "fleet-gateway-state"}
    assert volumes["config"]["configMap"] == {"name": "fleet-gateway-config"}
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert mounts["content"]["readOnly"] and mounts["config"]["readOnly"]
    # A ReadWriteOnce volume: the pod goes where the gateway's is.
    (term,) = pod["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["labelSelector"]["matchLabels"]["app.kubernetes.io/name"] == "fleet-gateway"
    assert term["topologyKey"] == "kubernetes.io/hostname"
    service = render()["Service"]
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= (
        deployment["spec"]["template"]["metadata"]["labels"].items()
    )


def test_viewers_approvers_and_definitions_roll_the_pod() -> None:
    def rolled(**kw: Any) -> str:
        tpl = render(**kw)["Deployment"]["spec"]["template"]
        return str(tpl["metadata"]["annotations"]["fleetctl.dev/config-hash"])

    base = rolled()
    assert rolled() == base  # the same input, the same bytes
    assert rolled(viewers={"vera": ["b" * 64]}) != base
    assert rolled(config={"data": {"gateway.json": "{}"}}) != base
    cm = render(viewers={"vera": ["b" * 64], "ana": ["c" * 64]})["ConfigMap"]
    assert orjson.loads(cm["data"]["viewers.json"]) == {"ana": ["c" * 64], "vera": ["b" * 64]}


def test_the_definitions_read_back_as_the_fleet_and_its_loops() -> None:
    cm = render()["ConfigMap"]
    defs = orjson.loads(cm["data"]["fleet.json"])
    assert defs == orjson.loads(orjson.dumps(definitions(POLICY, LOOPS.values())))
    fleet = fleet_of(defs["policy"])
    assert fleet.fleet == "northwind" and "legacy-triage" in fleet.models
    agents = {n: agent_of(n, d["spec"], d["promotesTo"]) for n, d in defs["loops"].items()}
    assert set(agents) == set(LOOPS)
    triage = agents["bug-report-triage"]
    spec = LOOPS["bug-report-triage"]["spec"]
    assert (triage.owner, triage.model, triage.trigger.schedule) == (
        spec["owner"],
        spec["model"],
        spec["trigger"]["schedule"],
    )
    assert [s.role for s in triage.subagents] == [s["role"] for s in spec["subagents"]]
    with pytest.raises(ValueError, match=r"loops\.x\.spec\.owner"):
        agent_of("x", {**spec, "owner": 7})


def test_a_large_fleet_is_gzipped_and_one_too_large_is_refused() -> None:
    many = {}
    for i in range(400):
        loop = copy.deepcopy(LOOPS["bug-report-triage"])
        loop["metadata"]["name"] = f"loop-{i:03d}"
        loop["spec"]["description"] = f"loop {i} " + "x" * 1000
        many[loop["metadata"]["name"]] = loop
    (cm, *_) = render_dashboard(POLICY, many.values(), VIEWERS, namespace="n", image=IMAGE)
    assert "fleet.json" not in cm["data"] and "viewers.json" in cm["data"]
    packed = base64.b64decode(cm["binaryData"]["fleet.json"])
    assert len(orjson.loads(gzip.decompress(packed))["loops"]) == 400
    for loop in many.values():  # incompressible descriptions: no ConfigMap holds them
        loop["spec"]["description"] = base64.b64encode(os.urandom(3000)).decode()
    with pytest.raises(DefinitionsTooLarge, match="split the fleet"):
        render_dashboard(POLICY, many.values(), VIEWERS, namespace="n", image=IMAGE)


def test_viewers_secrets_are_read_as_approvers_secrets_are() -> None:
    secret = approver_secret("northwind", "vera", token_hash("t" * 32), "n")
    secret["metadata"]["labels"] = {VIEWERS_LABEL: "northwind"}
    found = parse([secret])
    assert (
        viewers_condition(found)[:2] == (True, "Loaded") and "vera" in viewers_condition(found)[2]
    )
    assert viewers_condition(parse([]))[:2] == (True, "NoViewers")
    bad = {"metadata": {"name": "v"}, "stringData": {"vera": "short"}}
    ok, reason, message = viewers_condition(parse([bad]))
    assert (ok, reason) == (False, "InvalidViewerSecret") and "Secret v key vera" in message
