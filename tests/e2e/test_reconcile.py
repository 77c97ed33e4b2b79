"""Reconcile building blocks against the emulated API, without kopf: views that are out of
date, concurrent reconciles of one loop, a hand-stripped label, sub-agent tokens."""

from __future__ import annotations

import base64
import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fleet_operator.applier import Fresh, Snapshot, apply
from fleet_operator.kube import Kube
from fleet_operator.reconcile import reconcile_fleet, reconcile_loop
from fleet_operator.state import FleetState

from fleet.render import FLEET_LABEL
from fleet.resources import API_VERSION
from tests.e2e.conftest import RealCluster, apply_all

pytestmark = pytest.mark.e2e


@pytest.fixture
def namespace(cluster: Any, kube: Kube, request: pytest.FixtureRequest) -> str:
    """A namespace of the test's own (created on a real cluster; the emulator needs none)."""
    name = "rc-" + request.node.name.removeprefix("test_").replace("_", "-")[:40]
    if isinstance(cluster, RealCluster) and kube.get("v1", "Namespace", None, name) is None:
        kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name


def _configmap(ns: str, name: str, value: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": {FLEET_LABEL: "northwind"},
            "annotations": {"fleetctl.dev/content-hash": value},
        },
        "data": {"value": value},
    }


def test_create_that_meets_an_existing_object_updates_it(kube: Kube, namespace: str) -> None:
    ns = namespace
    kube.create(_configmap(ns, "taken", "theirs"))
    outcome, live = apply(kube, _configmap(ns, "taken", "ours"), None)  # the view said absent
    assert outcome == "updated"
    assert live is not None and live["data"] == {"value": "ours"}
    assert kube.get("v1", "ConfigMap", ns, "taken")["data"] == {"value": "ours"}  # type: ignore[index]
    assert apply(kube, _configmap(ns, "taken", "ours"))[0] == "unchanged"


def _setup(
    kube: Kube, northwind: list[dict[str, Any]], ns: str, name: str = "cost-report"
) -> dict[str, Any]:
    policy = next(d for d in northwind if d["kind"] == "FleetPolicy")
    content = [d for d in northwind if d["kind"] == "ConfigMap"]
    apply_all(kube, [policy, *content], ns)
    loop = next(d for d in northwind if d["metadata"]["name"] == name)
    apply_all(kube, [loop], ns)
    created = kube.get(loop["apiVersion"], "AgentLoop", ns, name)
    assert created is not None
    return created


def test_concurrent_reconciles_of_a_new_loop_mint_one_token(
    kube: Kube, northwind: list[dict[str, Any]], namespace: str
) -> None:
    ns = namespace
    loop = _setup(kube, northwind, ns)
    state = FleetState()
    with ThreadPoolExecutor(4) as pool:
        statuses = list(
            pool.map(lambda _: reconcile_loop(kube, loop, state, Fresh(kube)), range(4))
        )
    for status in statuses:
        ready = next(c for c in status["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "True", ready
    secret = kube.get("v1", "Secret", ns, "cost-report-gateway-token")
    assert secret is not None
    token = base64.b64decode(secret["data"]["token"])
    assert state.token_hashes[(ns, "cost-report")] == {
        "cost-report": [hashlib.sha256(token).hexdigest()]
    }


def test_snapshot_restores_a_child_whose_label_was_stripped(
    kube: Kube, northwind: list[dict[str, Any]], namespace: str
) -> None:
    ns = namespace
    loop = _setup(kube, northwind, ns)
    state = FleetState()
    reconcile_loop(kube, loop, state)
    kube.patch("batch/v1", "CronJob", ns, "cost-report", {"metadata": {"labels": None}})
    snapshot = Snapshot(kube, ns, "northwind")
    assert snapshot.get("batch/v1", "CronJob", ns, "cost-report") is None  # not ours any more
    assert snapshot.get("v1", "ServiceAccount", ns, "cost-report") is not None
    status = reconcile_loop(kube, loop, state, snapshot)
    assert next(c for c in status["conditions"] if c["type"] == "Ready")["status"] == "True"
    cron = kube.get("batch/v1", "CronJob", ns, "cost-report")
    assert cron is not None and cron["metadata"]["labels"][FLEET_LABEL] == "northwind"
    # Now the children match: one more pass through a fresh snapshot writes nothing.
    before = kube.writes
    reconcile_loop(kube, loop, state, Snapshot(kube, ns, "northwind"))
    assert kube.writes == before


def _gateway_config(kube: Kube, ns: str) -> dict[str, Any]:
    cm = kube.get("v1", "ConfigMap", ns, "fleet-gateway-config")
    assert cm is not None
    return json.loads(cm["data"]["gateway.json"])  # type: ignore[no-any-return]


def _tokens(kube: Kube, ns: str, loop: str) -> dict[str, str]:
    secret = kube.get("v1", "Secret", ns, f"{loop}-gateway-token")
    assert secret is not None
    return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}


def _sha(token: str) -> list[str]:
    return [hashlib.sha256(token.encode()).hexdigest()]


def test_subagent_tokens_minted_mounted_rotated_and_dropped(
    kube: Kube, northwind: list[dict[str, Any]], namespace: str
) -> None:
    ns, name = namespace, "backlog-grooming"
    _setup(kube, northwind, ns, name)
    policy = kube.get(API_VERSION, "FleetPolicy", ns, "northwind")
    assert policy is not None
    state = FleetState()

    def reconcile() -> dict[str, Any]:
        live = kube.get(API_VERSION, "AgentLoop", ns, name)
        assert live is not None
        status = reconcile_loop(kube, live, state)
        assert next(c for c in status["conditions"] if c["type"] == "Ready")["status"] == "True"
        reconcile_fleet(kube, policy, state, image="gateway:test")
        return _gateway_config(kube, ns)["loops"][name]  # type: ignore[no-any-return]

    # Minted: the loop's token and one per sub-agent, their hashes in the gateway config.
    config = reconcile()
    tokens = _tokens(kube, ns, name)
    assert sorted(tokens) == ["subagent.duplicate-finder", "subagent.reviewer", "token"]
    assert len(set(tokens.values())) == 3
    assert config["token_sha256"] == _sha(tokens["token"])
    for sub in ("duplicate-finder", "reviewer"):
        assert config["subagents"][sub]["token_sha256"] == _sha(tokens[f"subagent.{sub}"])
    # Mounted: only the sub-agents' keys, one read-only file each.
    pod = kube.get("batch/v1", "CronJob", ns, name)["spec"]["jobTemplate"]["spec"]["template"][  # type: ignore[index]
        "spec"
    ]
    (volume,) = [v for v in pod["volumes"] if v["name"] == "tokens"]
    assert volume["secret"] == {
        "secretName": f"{name}-gateway-token",
        "items": [
            {"key": "subagent.duplicate-finder", "path": "duplicate-finder"},
            {"key": "subagent.reviewer", "path": "reviewer"},
        ],
        "defaultMode": 0o440,
    }
    (mount,) = [m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "tokens"]
    assert mount == {"name": "tokens", "mountPath": "/etc/fleet/tokens", "readOnly": True}

    # Idle: another pass writes nothing; an operator that starts afresh reads the same hashes.
    before = kube.writes
    assert reconcile() == config and kube.writes == before
    fresh = FleetState()
    reconcile_fleet(kube, policy, fresh, image="gateway:test")
    assert fresh.token_hashes == state.token_hashes and kube.writes == before

    # Rotated: the annotation renews every token at once.
    kube.patch(
        API_VERSION,
        "AgentLoop",
        ns,
        name,
        {"metadata": {"annotations": {"fleetctl.dev/rotate-token": "2026-12-01"}}},
    )
    config = reconcile()
    rotated = _tokens(kube, ns, name)
    assert sorted(rotated) == sorted(tokens)
    assert all(rotated[k] != tokens[k] for k in tokens)
    assert config["subagents"]["reviewer"]["token_sha256"] == _sha(rotated["subagent.reviewer"])

    # Removed: the sub-agent's key, its file and its hash go.
    spec = kube.get(API_VERSION, "AgentLoop", ns, name)["spec"]  # type: ignore[index]
    kept = [s for s in spec["subagents"] if s["name"] == "reviewer"]
    kube.patch(API_VERSION, "AgentLoop", ns, name, {"spec": {"subagents": kept}})
    config = reconcile()
    after = _tokens(kube, ns, name)
    assert after == {k: v for k, v in rotated.items() if k != "subagent.duplicate-finder"}
    assert sorted(config["subagents"]) == ["reviewer"]
    text = json.dumps(_gateway_config(kube, ns))
    assert _sha(rotated["subagent.duplicate-finder"])[0] not in text
    pod = kube.get("batch/v1", "CronJob", ns, name)["spec"]["jobTemplate"]["spec"]["template"][  # type: ignore[index]
        "spec"
    ]
    (volume,) = [v for v in pod["volumes"] if v["name"] == "tokens"]
    assert volume["secret"]["items"] == [{"key": "subagent.reviewer", "path": "reviewer"}]


def test_a_listed_copy_older_than_the_reconciled_version_changes_nothing(
    kube: Kube, northwind: list[dict[str, Any]], namespace: str
) -> None:
    """A fleet sweep lists every loop, then reconciles each: a loop suspended in between is
    reconciled by its own handler first, and the sweep's older copy must not resume it."""
    ns = namespace
    listed = _setup(kube, northwind, ns)  # the sweep's copy, taken before the change
    state = FleetState()
    assert reconcile_loop(kube, listed, state) is not None
    kube.patch(
        API_VERSION, "AgentLoop", ns, "cost-report", {"spec": {"trigger": {"suspend": True}}}
    )
    newer = kube.get(API_VERSION, "AgentLoop", ns, "cost-report")
    assert newer is not None and newer["metadata"]["generation"] > listed["metadata"]["generation"]
    assert reconcile_loop(kube, newer, state) is not None
    assert reconcile_loop(kube, listed, state, Snapshot(kube, ns, "northwind")) is None
    cron = kube.get("batch/v1", "CronJob", ns, "cost-report")
    assert cron is not None and cron["spec"]["suspend"] is True
    assert state.loops[(ns, "cost-report")]["suspend"] is True
    # A loop deleted and made again under the same name starts its generations over.
    state.reconciled[(ns, "cost-report")] = ("an-earlier-uid", 99)
    assert reconcile_loop(kube, newer, state) is not None
