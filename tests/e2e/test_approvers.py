"""Approvers in the cluster, end to end: the operator under KopfRunner against the emulated API
server, the fleet's real gateway on loopback fed the ConfigMap the operator writes (as the
kubelet syncs its volume), and ``fleetctl approvers token`` / ``fleetctl approvals approve`` run
as a platform team and an approver would run them.

Covered: an approvers Secret puts its approver's hash (never the token) in the rendered gateway
config; that approver's token approves a paused run's call through the gateway's ``/approvals``
API and the operator starts its resume Job; a loop's token cannot approve; a rotation and a
removal revoke the old token; an unreadable entry is named on the FleetPolicy and the rest keep
working; a Secret event that changes no value writes nothing.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("FLEET_OPERATOR_POLL_SECONDS", "0.5")  # read when the operator starts
# The approved call goes to github with the gateway's credential for it; without one the
# gateway refuses to run it (the request stays pending), which is not what this file tests.
os.environ.setdefault("MCP_GITHUB_API_KEY", "e2e-github-key")

import httpx
import orjson
import pytest
import yaml
from fleet_operator.kube import Kube
from fleet_operator.state import FleetState

from fleet.render import manual_job
from fleet.resources import API_VERSION
from gateway.app import Gateway
from gateway.config import ConfigHolder
from gateway.mcp.ledger import Ledger
from gateway.store import open_store
from tests.conftest import ROOT
from tests.e2e.conftest import RealCluster, apply_all, wait_for
from tests.gateway.fakes import ServerThread, free_port

pytestmark = pytest.mark.e2e
NS = "approvers-e2e"
POLL = float(os.environ["FLEET_OPERATOR_POLL_SECONDS"])
FLEETCTL = str(ROOT / ".venv/bin/fleetctl")
LOOP = "bug-report-triage"


class Follower:
    """The fleet's gateway on loopback; its config file follows the operator's ConfigMap."""

    def __init__(self, kube: Kube, tmp: Path):
        self.kube = kube
        self.config = tmp / "gateway.json"
        self.config.write_bytes(orjson.dumps({"fleet": "northwind"}))
        self.store_url = f"sqlite:{tmp / 'gateway.sqlite3'}"
        app = Gateway(
            ConfigHolder.from_file(self.config), open_store(self.store_url), watch_interval=0.05
        )
        self.server = ServerThread(app)
        self._stop = threading.Event()
        self._sync = threading.Thread(target=self._follow, daemon=True)

    def _follow(self) -> None:
        seen = None
        while not self._stop.wait(0.05):
            cm = self.kube.get("v1", "ConfigMap", NS, "fleet-gateway-config")
            text = ((cm or {}).get("data") or {}).get("gateway.json")
            if text and text != seen:
                staged = self.config.with_suffix(".new")
                staged.write_text(text)
                staged.replace(self.config)
                seen = text

    def __enter__(self) -> Follower:
        self.server.__enter__()
        self._sync.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._sync.join(timeout=5)
        self.server.__exit__(None, None, None)

    def approvers(self) -> dict[str, list[str]]:
        """What the gateway serves now (its config file), name → token hashes."""
        cfg = orjson.loads(self.config.read_bytes())
        return {a["name"]: a["token_sha256"] for a in cfg.get("approvers") or []}

    def ledger(self, work: Any) -> Any:
        async def go() -> Any:
            store = open_store(self.store_url)
            ledger = Ledger(store)
            try:
                return await work(ledger)
            finally:
                await ledger.close()
                await store.close()

        return asyncio.run(go())

    def as_bearer(self, token: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.server.url, headers={"authorization": f"Bearer {token}"}, timeout=10
        )


@pytest.fixture(scope="module")
def gateway(
    cluster: Any,
    kube: Kube,
    northwind: list[dict[str, Any]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Follower]:
    if isinstance(cluster, RealCluster):
        pytest.skip("needs the emulator's kubeconfig for fleetctl approvers token --apply")
    docs = copy.deepcopy(northwind)
    for doc in docs:
        if doc["kind"] == "FleetPolicy":
            # Nothing listens there: an approved call fails at once (the run resumes either way).
            doc["spec"]["mcpServers"]["github"]["url"] = f"http://127.0.0.1:{free_port()}/mcp"
    with Follower(kube, tmp_path_factory.mktemp("gateway")) as follower:
        previous = os.environ.get("FLEET_OPERATOR_GATEWAY_URL")
        os.environ["FLEET_OPERATOR_GATEWAY_URL"] = follower.server.url
        import fleet_operator.handlers as handlers
        from kopf.testing import KopfRunner

        handlers._KUBE = None
        handlers.STATE = FleetState()
        apply_all(kube, docs, NS)
        try:
            with KopfRunner(
                ["run", "-A", "--standalone", "-m", "fleet_operator.handlers"], timeout=60
            ) as runner:
                wait_for(
                    lambda: orjson.loads(follower.config.read_bytes()).get("operator_sha256"),
                    60,
                    "the operator's first gateway config",
                )
                yield follower
        finally:
            if previous is None:
                os.environ.pop("FLEET_OPERATOR_GATEWAY_URL", None)
            else:
                os.environ["FLEET_OPERATOR_GATEWAY_URL"] = previous
            # The emulator serves the whole session: leave no fleet for later operators to run.
            for kind in ("AgentLoop", "FleetPolicy"):
                for obj in kube.list(API_VERSION, kind, NS):
                    kube.delete(API_VERSION, kind, NS, obj["metadata"]["name"])
            for obj in kube.list("v1", "Secret", NS, "fleetctl.dev/approvers"):
                kube.delete("v1", "Secret", NS, obj["metadata"]["name"])
        assert runner.exception is None, runner.exception


def mint(cluster: Any, tmp: Path, name: str, *, apply: bool) -> tuple[str, str]:
    """``fleetctl approvers token NAME``: (the token it showed, what it printed on stdout)."""
    kubeconfig = cluster.write_kubeconfig(tmp / "kubeconfig", NS)
    token_file = tmp / f"{name}.token"
    proc = subprocess.run(
        [FLEETCTL, "approvers", "token", name, "--fleet", "northwind", "-n", NS]
        + ["--token-file", str(token_file)]
        + (["--apply"] if apply else []),
        env={**os.environ, "KUBECONFIG": str(kubeconfig)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    assert token_file.stat().st_mode & 0o777 == 0o600
    token = token_file.read_text().strip()
    assert token not in proc.stdout + proc.stderr  # shown once, in the file asked for
    return token, proc.stdout


def sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def condition(kube: Kube) -> dict[str, Any]:
    policy = kube.get(API_VERSION, "FleetPolicy", NS, "northwind") or {}
    found = [
        c for c in (policy.get("status") or {}).get("conditions", []) if c["type"] == "Approvers"
    ]
    return found[0] if found else {}


TOKENS: dict[str, str] = {}


def test_an_approvers_secret_puts_its_hash_in_the_gateway_config(
    cluster: Any, kube: Kube, gateway: Follower, tmp_path: Path
) -> None:
    assert gateway.approvers() == {}
    wait_for(lambda: condition(kube).get("reason") == "NoApprovers", 10, "NoApprovers")

    # alice with --apply; bob as printed, applied the way `| kubectl apply -f -` would.
    TOKENS["alice"], printed = mint(cluster, tmp_path, "alice", apply=True)
    assert printed == "secret/northwind-approver-alice created\n"
    TOKENS["bob"], printed = mint(cluster, tmp_path, "bob", apply=False)
    manifest = yaml.safe_load(printed)
    assert manifest["metadata"]["labels"] == {"fleetctl.dev/approvers": "northwind"}
    assert manifest["stringData"] == {"bob": f"sha256:{sha(TOKENS['bob'])}"}
    kube.create(manifest)

    wanted = {"alice": [sha(TOKENS["alice"])], "bob": [sha(TOKENS["bob"])]}
    wait_for(lambda: gateway.approvers() == wanted, 10, "both approvers in the gateway config")
    cm = kube.get("v1", "ConfigMap", NS, "fleet-gateway-config")
    assert cm is not None and TOKENS["alice"] not in orjson.dumps(cm).decode()
    stored = kube.get("v1", "Secret", NS, "northwind-approver-alice")
    assert stored is not None
    assert base64.b64decode(stored["data"]["alice"]).decode() == f"sha256:{sha(TOKENS['alice'])}"
    cond = wait_for(lambda: condition(kube).get("reason") == "Loaded" and condition(kube), 10)
    assert (
        cond["status"] == "True" and "2 approver(s) from 2 Secret(s): alice, bob" in cond["message"]
    )


def pause(gateway: Follower, kube: Kube, run: str) -> str:
    """The harness's side of a destructive call: an approval request, the run paused on it."""

    async def request(ledger: Ledger) -> str:
        # The fields the MCP proxy writes for a destructive call it holds.
        row = await ledger.create_approval(
            loop=LOOP,
            member=LOOP,
            run=run,
            step=2,
            server="github",
            tool="merge_pr",
            tool_class="destructive",
            arguments={"n": 1},
            verdicts=[],
            idempotency_key=f"{run}:2:merge_pr",
            ttl_s=3600.0,
        )
        return str(row["id"])

    approval_id = str(gateway.ledger(request))
    secret = kube.get("v1", "Secret", NS, f"{LOOP}-gateway-token")
    assert secret is not None
    loop_token = base64.b64decode(secret["data"]["token"]).decode()
    with gateway.as_bearer(loop_token) as api:
        assert api.put(f"/v1/fleet/runs/{run}", json={"trigger": "manual"}).status_code == 201
        paused = api.patch(
            f"/v1/fleet/runs/{run}",
            json={
                "status": "awaiting_approval",
                "outcome": "awaiting_approval",
                "steps": 2,
                "approval": {
                    "approval_id": approval_id,
                    "call_id": "c1",
                    "name": "github__merge_pr",
                },
            },
        )
        assert paused.status_code == 200, paused.text
        # The loop's own token is refused: a loop never approves its own call.
        refused = api.post(f"/approvals/{approval_id}/approve")
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "not_an_approver"
    return approval_id


def finish(kube: Kube, job: dict[str, Any]) -> None:
    kube.patch(
        "batch/v1",
        "Job",
        NS,
        job["metadata"]["name"],
        {
            "status": {
                "completionTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "conditions": [{"type": "Complete", "status": "True"}],
            }
        },
        sub="status",
    )


def resumes(kube: Kube, run: str) -> list[dict[str, Any]]:
    return [
        j
        for j in kube.list("batch/v1", "Job", NS)
        if (j["metadata"].get("labels") or {}).get("fleetctl.dev/trigger") == "resume"
        and (j["metadata"].get("annotations") or {}).get("fleetctl.dev/run") == run
    ]


def test_an_approver_token_approves_and_the_operator_resumes_the_run(
    kube: Kube, gateway: Follower
) -> None:
    cron = kube.get("batch/v1", "CronJob", NS, LOOP)
    assert cron is not None
    job = kube.create(manual_job(cron, "appr0001"))
    run = job["metadata"]["name"]
    approval_id = pause(gateway, kube, run)
    finish(kube, job)
    time.sleep(2 * POLL + 0.2)
    assert resumes(kube, run) == []

    env = {**os.environ, "FLEET_APPROVER_TOKEN": TOKENS["alice"]}
    listed = subprocess.run(
        [FLEETCTL, "approvals", "list", "--gateway", gateway.server.url, "-o", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert listed.returncode == 0, listed.stderr
    assert approval_id in listed.stdout
    approved = subprocess.run(
        [
            FLEETCTL,
            "approvals",
            "approve",
            approval_id,
            "--gateway",
            gateway.server.url,
            "--reason",
            "checked the PR",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert approved.returncode == 0, approved.stdout + approved.stderr
    decided = time.monotonic()
    with gateway.as_bearer(TOKENS["alice"]) as api:
        row = api.get(f"/approvals/{approval_id}").json()
    assert row["decided_by"] == "alice" and row["reason"] == "checked the PR"
    (resume,) = wait_for(lambda: resumes(kube, run), 2 * POLL + 1.5, "the resume Job")
    assert time.monotonic() - decided <= 2 * POLL + 1.5
    assert resume["spec"]["template"]["spec"]["containers"][0]["args"][-2:] == ["--resume", run]


def test_rotating_or_removing_an_approver_revokes_the_old_token(
    cluster: Any, kube: Kube, gateway: Follower, tmp_path: Path
) -> None:
    def status_with(token: str) -> int:
        with gateway.as_bearer(token) as api:
            return api.get("/approvals").status_code

    assert status_with(TOKENS["alice"]) == status_with(TOKENS["bob"]) == 200
    old = TOKENS["alice"]
    TOKENS["alice"], printed = mint(cluster, tmp_path, "alice", apply=True)
    assert printed == "secret/northwind-approver-alice configured\n"
    wait_for(lambda: status_with(old) == 401, 10, "alice's old token to be refused")
    assert status_with(TOKENS["alice"]) == 200

    kube.delete("v1", "Secret", NS, "northwind-approver-bob")
    wait_for(lambda: status_with(TOKENS["bob"]) == 401, 10, "bob's token to be refused")
    with gateway.as_bearer(TOKENS["bob"]) as api:
        assert api.get("/approvals").json()["error"]["code"] == "invalid_token"
    assert gateway.approvers() == {"alice": [sha(TOKENS["alice"])]}


def test_an_unreadable_entry_is_named_and_an_unchanged_secret_writes_nothing(
    kube: Kube, gateway: Follower
) -> None:
    kube.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": "more-approvers",
                "namespace": NS,
                "labels": {"fleetctl.dev/approvers": "northwind"},
            },
            "data": {"carol": base64.b64encode(b"sha256:1234").decode()},
        }
    )
    cond = wait_for(
        lambda: condition(kube).get("status") == "False" and condition(kube), 10, "the condition"
    )
    assert cond["reason"] == "InvalidApproverSecret"
    assert cond["message"].startswith("Secret more-approvers key carol: 'sha256:1234' is not")
    assert "fleetctl approvers token carol" in cond["message"]
    assert set(gateway.approvers()) == {"alice"}  # the others keep working

    time.sleep(2 * POLL + 0.5)
    cm = kube.get("v1", "ConfigMap", NS, "fleet-gateway-config")
    assert cm is not None
    before = cm["metadata"]["resourceVersion"]
    # An annotation (no value changed) is a watch event the operator must not act on.
    patched = kube.patch(
        "v1", "Secret", NS, "more-approvers", {"metadata": {"annotations": {"a": "b"}}}
    )
    time.sleep(float(os.environ.get("FLEET_OPERATOR_FLEET_SECONDS", "0.3")) * 3 + 2 * POLL)
    cm = kube.get("v1", "ConfigMap", NS, "fleet-gateway-config")
    assert cm is not None and cm["metadata"]["resourceVersion"] == before
    # Nor is anything written to the Secret (no finalizer, no kopf annotations).
    secret = kube.get("v1", "Secret", NS, "more-approvers")
    assert secret is not None
    assert secret["metadata"]["resourceVersion"] == patched["metadata"]["resourceVersion"]
    assert set(secret["metadata"].get("annotations") or {}) == {"a"}
    assert not secret["metadata"].get("finalizers")
