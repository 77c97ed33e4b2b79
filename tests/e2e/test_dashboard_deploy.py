"""The fleet's dashboard in a cluster, end to end: the operator under KopfRunner against the
emulated API server renders its ConfigMap, Deployment and Service; a viewers Secret changes
them; the real ``python -m dashboard`` process serves what the Deployment mounts (the files
written as the kubelet would, the gateway's real store filled through the runs API) and
leaves the store as it found it; the objects go with the fleet.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fleet_operator.kube import Kube

from fleet.resources import API_VERSION
from gateway.app import Gateway
from gateway.config import ConfigHolder
from gateway.store import open_store
from tests.e2e.conftest import RealCluster, apply_all, run_operator, wait_for
from tests.gateway.fakes import ServerThread, free_port

pytestmark = pytest.mark.e2e
NS = "dashboard-e2e"
NAME = "fleet-dashboard"
VIEWER_TOKEN = "fgv_" + "v" * 40


@pytest.fixture(scope="module")
def fleet(cluster: Any, kube: Kube, northwind: list[dict[str, Any]]) -> Iterator[None]:
    if isinstance(cluster, RealCluster) and kube.get("v1", "Namespace", None, NS) is None:
        kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    apply_all(kube, copy.deepcopy(northwind), NS)
    with run_operator():
        wait_for(
            lambda: kube.get("apps/v1", "Deployment", NS, NAME), 60, "the dashboard Deployment"
        )
        yield


def condition(kube: Kube, kind: str, name: str, type_: str) -> dict[str, Any]:
    obj = kube.get(API_VERSION, kind, NS, name) or {}
    conds = (obj.get("status") or {}).get("conditions") or []
    return next((c for c in conds if c.get("type") == type_), {})


def template_hash(kube: Kube) -> str:
    dep = kube.get("apps/v1", "Deployment", NS, NAME) or {}
    tpl = dep.get("spec", {}).get("template", {}).get("metadata", {})
    return str((tpl.get("annotations") or {}).get("fleetctl.dev/config-hash"))


def test_the_deployment_and_service_appear_owned_and_hardened(kube: Kube, fleet: None) -> None:
    policy = kube.get(API_VERSION, "FleetPolicy", NS, "northwind")
    assert policy is not None
    dep = kube.get("apps/v1", "Deployment", NS, NAME)
    svc = wait_for(lambda: kube.get("v1", "Service", NS, NAME), 10, "the Service")
    cm = wait_for(lambda: kube.get("v1", "ConfigMap", NS, NAME), 10, "the ConfigMap")
    assert dep is not None
    for obj in (dep, svc, cm):
        (owner,) = obj["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["uid"]) == ("FleetPolicy", policy["metadata"]["uid"])
        assert obj["metadata"]["labels"]["app.kubernetes.io/component"] == "dashboard"
    pod = dep["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "ghcr.io/fleetctl/dashboard:0.1"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert (
        dict(zip(container["args"][::2], container["args"][1::2], strict=True))["--gateway"]
        == f"http://fleet-gateway.{NS}.svc:8080"
    )
    assert svc["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"]
    assert svc["spec"]["ports"][0]["port"] == 8090
    loops = orjson.loads(cm["data"]["fleet.json"])["loops"]
    assert set(loops) == {lp["metadata"]["name"] for lp in kube.list(API_VERSION, "AgentLoop", NS)}
    assert orjson.loads(cm["data"]["viewers.json"]) == {}
    assert condition(kube, "FleetPolicy", "northwind", "Viewers")["reason"] == "NoViewers"


def test_a_viewers_secret_changes_the_dashboard_and_rolls_it(kube: Kube, fleet: None) -> None:
    before = template_hash(kube)
    hashed = hashlib.sha256(VIEWER_TOKEN.encode()).hexdigest()
    kube.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": "northwind-viewer-vera",
                "namespace": NS,
                "labels": {"fleetctl.dev/viewers": "northwind"},
            },
            "type": "Opaque",
            "data": {"vera": base64.b64encode(f"sha256:{hashed}".encode()).decode()},
        }
    )

    def viewers() -> Any:
        cm = kube.get("v1", "ConfigMap", NS, NAME) or {}
        return orjson.loads(((cm.get("data") or {}).get("viewers.json")) or "{}")

    wait_for(lambda: viewers() == {"vera": [hashed]}, 30, "the viewer's hash in the ConfigMap")
    wait_for(lambda: template_hash(kube) != before, 10, "the pod template to change")
    loaded = wait_for(
        lambda: (
            condition(kube, "FleetPolicy", "northwind", "Viewers").get("reason") == "Loaded"
            and condition(kube, "FleetPolicy", "northwind", "Viewers")
        ),
        10,
        "the Viewers condition",
    )
    assert "vera" in loaded["message"]


def files(kube: Kube, tmp: Path) -> tuple[Path, Path, Path]:
    """What the Deployment mounts, written as the kubelet would."""
    content, config = tmp / "content", tmp / "config"
    content.mkdir()
    config.mkdir()
    cm = kube.get("v1", "ConfigMap", NS, NAME)
    gw = kube.get("v1", "ConfigMap", NS, "fleet-gateway-config")
    assert cm is not None and gw is not None
    for key, text in cm["data"].items():
        (content / key).write_text(text)
    (config / "gateway.json").write_text(gw["data"]["gateway.json"])
    return content / "fleet.json", content / "viewers.json", config / "gateway.json"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def kept(state: Path) -> dict[str, str]:
    """The store's files and their digests: the database and the journal (a reader of a WAL
    database shares its -shm index and may find an empty -wal; neither holds records)."""
    return {
        str(p.relative_to(state)): digest(p)
        for p in state.rglob("*")
        if p.is_file() and not p.name.endswith(("-wal", "-shm"))
    }


def test_the_dashboard_process_serves_what_the_deployment_mounts_and_writes_nothing(
    kube: Kube, fleet: None, tmp_path: Path
) -> None:
    wait_for(
        lambda: (
            "vera"
            in (kube.get("v1", "ConfigMap", NS, NAME) or {}).get("data", {}).get("viewers.json", "")
        ),
        30,
        "the viewer",
    )
    definitions, viewers, config = files(kube, tmp_path)
    store = tmp_path / "state" / "gateway.sqlite3"
    # The fleet's gateway records a run, as the harness reports it; then it stops.
    token = base64.b64decode(
        (kube.get("v1", "Secret", NS, "cost-report-gateway-token") or {})["data"]["token"]
    ).decode()
    with ServerThread(Gateway(ConfigHolder.from_file(config), open_store(f"sqlite:{store}"))) as gw:
        api = {"authorization": f"Bearer {token}"}
        assert httpx.put(f"{gw.url}/v1/fleet/runs/cost-report-d1", headers=api).status_code == 201
        end = {"status": "ended", "outcome": "done", "steps": 4, "cost_usd": 0.02}
        r = httpx.patch(f"{gw.url}/v1/fleet/runs/cost-report-d1", json=end, headers=api)
        assert r.status_code == 200, r.text
    before = kept(store.parent)
    db_before = digest(store)

    dep = kube.get("apps/v1", "Deployment", NS, NAME)
    assert dep is not None
    (container,) = dep["spec"]["template"]["spec"]["containers"]
    port = free_port()
    mounted = {
        "/etc/fleet-dashboard/fleet.json": str(definitions),
        "/etc/fleet-dashboard/viewers.json": str(viewers),
        "/etc/fleet-gateway/gateway.json": str(config),
        "sqlite:/var/lib/fleet-gateway/gateway.sqlite3": f"sqlite:{store}",
        "0.0.0.0": "127.0.0.1",
        "8090": str(port),
    }
    args = [mounted.get(a, a) for a in container["args"]]
    proc = subprocess.Popen(
        [sys.executable, "-m", "dashboard", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    try:
        base = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                return False

        wait_for(up, 30, "the dashboard to listen")
        assert httpx.get(f"{base}/healthz").json()["loops"] == 11
        refused = httpx.get(f"{base}/", timeout=10)
        assert refused.status_code == 303 and "/signin" in refused.headers["location"]
        viewer = {"authorization": f"Bearer {VIEWER_TOKEN}"}
        page = httpx.get(f"{base}/", headers=viewer, timeout=30)
        assert page.status_code == 200, page.text[:500]
        assert "cost-report" in page.text and "bug-report-triage" in page.text
        loop = httpx.get(f"{base}/loops/cost-report", headers=viewer, timeout=30)
        assert loop.status_code == 200 and "cost-report-d1" in loop.text
        wrong = httpx.get(f"{base}/", headers={"authorization": "Bearer nope"}, timeout=10)
        assert wrong.status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    # Read only: the database and the journal are as the gateway left them.
    assert digest(store) == db_before
    assert kept(store.parent) == before


def test_a_bad_mount_is_one_line_and_exit_2(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "dashboard", "--definitions", str(tmp_path / "none.json"),
         "--config", str(tmp_path / "gw.json"), "--store", f"sqlite:{tmp_path / 'x.sqlite3'}"],
        capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": os.getcwd()},
    )  # fmt: skip
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("error: cannot read the fleet definitions") and "none.json" in line


def test_the_dashboard_goes_with_the_fleet(kube: Kube, fleet: None) -> None:
    kube.delete(API_VERSION, "FleetPolicy", NS, "northwind")
    for api_version, kind in (("apps/v1", "Deployment"), ("v1", "Service"), ("v1", "ConfigMap")):
        wait_for(
            lambda a=api_version, k=kind: kube.get(a, k, NS, NAME) is None,
            30,
            f"the dashboard {kind} to go",
        )
