"""The loops' ``Healthy`` condition, end to end: the operator under KopfRunner against the
emulated API server, and the fleet's real gateway on loopback (fed the gateway config the
operator writes, as the kubelet would sync its volume) whose store the test fills with runs
through the runs API, with the loop's own token, as the harness does.

Covered: ``POST /v1/fleet/health`` takes the operator's token only and answers a bad request
with a JSON reason; five runs without a useful outcome turn the loop's condition ``False``
(``NoUsefulOutcome``), a useful run turns it back ``True``; a deprecated model in the
FleetPolicy turns it ``False`` (``DeprecatedModel``, the replacement named) and back; a
fleet whose findings do not change makes no writes.
"""

from __future__ import annotations

import base64
import copy
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("FLEET_OPERATOR_HEALTH_SECONDS", "0.5")  # read when the operator starts

import httpx
import orjson
import pytest
from fleet_operator.kube import Kube
from fleet_operator.state import FleetState

from fleet.resources import API_VERSION
from gateway.app import Gateway
from gateway.config import ConfigHolder
from gateway.store import open_store
from tests.e2e.conftest import RealCluster, apply_all, wait_for
from tests.gateway.fakes import ServerThread

pytestmark = pytest.mark.e2e
NS = "health-e2e"
PERIOD = float(os.environ["FLEET_OPERATOR_HEALTH_SECONDS"])
LOOP = "oncall-summary"
# A reporting loop that only reads: a run that ends done is a useful one.
READ_ONLY = {"pagerduty": {"tools": ["read"]}}


class FleetGateway:
    """The gateway of the fleet in ``NS`` on loopback; its config file follows the ConfigMap."""

    def __init__(self, kube: Kube, tmp: Path):
        self.kube = kube
        self.config = tmp / "gateway.json"
        self.config.write_bytes(orjson.dumps({"fleet": "northwind"}))
        app = Gateway(
            ConfigHolder.from_file(self.config),
            open_store(f"sqlite:{tmp / 'gateway.sqlite3'}"),
            watch_interval=0.05,
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

    def __enter__(self) -> FleetGateway:
        self.server.__enter__()
        self._sync.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._sync.join(timeout=5)
        self.server.__exit__(None, None, None)

    def loaded(self) -> dict[str, Any]:
        return dict(orjson.loads(self.config.read_bytes()))


def token(kube: Kube, secret: str) -> str:
    found = kube.get("v1", "Secret", NS, secret)
    assert found is not None, secret
    return base64.b64decode(found["data"]["token"]).decode()


@pytest.fixture(scope="module")
def fleet(
    cluster: Any,
    kube: Kube,
    northwind: list[dict[str, Any]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[FleetGateway]:
    if isinstance(cluster, RealCluster) and kube.get("v1", "Namespace", None, NS) is None:
        kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    docs = copy.deepcopy(northwind)
    for doc in docs:
        if doc["kind"] == "AgentLoop" and doc["metadata"]["name"] == LOOP:
            doc["spec"]["mcpServers"] = READ_ONLY
    with FleetGateway(kube, tmp_path_factory.mktemp("gateway")) as gateway:
        previous = os.environ.get("FLEET_OPERATOR_GATEWAY_URL")
        os.environ["FLEET_OPERATOR_GATEWAY_URL"] = gateway.server.url
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
                    lambda: (
                        gateway.loaded().get("operator_sha256")
                        and LOOP in (gateway.loaded().get("loops") or {})
                    ),
                    60,
                    "the gateway to hold the operator's token hash and the loops",
                )
                yield gateway
        finally:
            if previous is None:
                os.environ.pop("FLEET_OPERATOR_GATEWAY_URL", None)
            else:
                os.environ["FLEET_OPERATOR_GATEWAY_URL"] = previous
        assert runner.exception is None, runner.exception


def healthy(kube: Kube, loop: str) -> dict[str, Any]:
    obj = kube.get(API_VERSION, "AgentLoop", NS, loop) or {}
    conds = (obj.get("status") or {}).get("conditions") or []
    return next((c for c in conds if c.get("type") == "Healthy"), {})


def definitions(kube: Kube) -> dict[str, Any]:
    policy = kube.get(API_VERSION, "FleetPolicy", NS, "northwind")
    assert policy is not None
    loop = kube.get(API_VERSION, "AgentLoop", NS, LOOP)
    assert loop is not None
    return {"policy": policy["spec"], "loops": {LOOP: {"spec": loop["spec"]}}}


def test_the_health_endpoint_takes_the_operators_token_and_says_why_it_refuses(
    kube: Kube, fleet: FleetGateway
) -> None:
    url = f"{fleet.server.url}/v1/fleet/health"
    body = definitions(kube)
    operator = {"authorization": f"Bearer {token(kube, 'fleet-operator-token')}"}

    def error(r: httpx.Response, status: int) -> dict[str, Any]:
        assert r.status_code == status, r.text
        assert r.headers["content-type"].startswith("application/json")
        return dict(r.json()["error"])

    assert error(httpx.post(url, json=body, timeout=10), 401)["code"] == "missing_token"
    loop_token = {"authorization": f"Bearer {token(kube, f'{LOOP}-gateway-token')}"}
    refused = error(httpx.post(url, json=body, headers=loop_token, timeout=10), 403)
    assert refused["code"] == "operator_only" and "fleet-operator-token" in refused["message"]
    assert error(httpx.get(url, headers=operator, timeout=10), 405)["code"] == "method_not_allowed"
    bad = httpx.post(url, content=b"{not json", headers=operator, timeout=10)
    assert error(bad, 400)["code"] == "invalid_json"
    wrong = {**body, "policy": {**body["policy"], "timezone": 7}}
    why = error(httpx.post(url, json=wrong, headers=operator, timeout=10), 400)
    assert why["code"] == "invalid_policy" and why["param"] == "policy"
    assert "policy.timezone" in why["message"]
    extra = error(httpx.post(url, json={**body, "x": 1}, headers=operator, timeout=10), 400)
    assert extra["param"] == "x"
    broken = {**body, "loops": {LOOP: body["loops"][LOOP], "ghost": {"spec": {"owner": 1}}}}
    answer = httpx.post(url, json=broken, headers=operator, timeout=10)
    assert answer.status_code == 200, answer.text
    loops = answer.json()["loops"]
    assert loops["ghost"]["healthy"] is None and loops["ghost"]["reason"] == "InvalidSpec"
    assert loops[LOOP]["healthy"] in (True, False)


def test_runs_without_a_useful_outcome_turn_the_condition_false_and_back(
    cluster: Any, kube: Kube, fleet: FleetGateway
) -> None:
    first = wait_for(lambda: healthy(kube, LOOP), 30, "the Healthy condition")
    assert (first["status"], first["reason"]) == ("True", "NoFindings"), first
    # Every accepted loop of the fleet gets one, from the same request.
    for loop in kube.list(API_VERSION, "AgentLoop", NS):
        wait_for(lambda loop=loop: healthy(kube, loop["metadata"]["name"]), 10, "every loop's")

    api = httpx.Client(
        base_url=fleet.server.url,
        headers={"authorization": f"Bearer {token(kube, f'{LOOP}-gateway-token')}"},
        timeout=10,
    )
    with api:

        def run(name: str, outcome: str) -> None:
            assert api.put(f"/v1/fleet/runs/{name}", json={"trigger": "cron"}).status_code == 201
            end = {"status": "ended", "outcome": outcome, "steps": 3, "cost_usd": 0.01}
            assert api.patch(f"/v1/fleet/runs/{name}", json=end).status_code == 200

        for i, outcome in enumerate(["error", "max_steps", "error", "stalled", "error"]):
            run(f"{LOOP}-h{i}", outcome)
        down = wait_for(
            lambda: (c := healthy(kube, LOOP)).get("status") == "False" and c,
            15,
            "Healthy False after five runs without a useful outcome",
        )
        assert down["reason"] == "NoUsefulOutcome", down
        assert "the last 5 runs had no useful outcome" in down["message"]
        assert "error x3" in down["message"]
        assert (
            down["observedGeneration"]
            == kube.get(API_VERSION, "AgentLoop", NS, LOOP)["metadata"]["generation"]
        )  # type: ignore[index]
        # The other conditions are the reconcile's, untouched; they keep Healthy in turn.
        live = kube.get(API_VERSION, "AgentLoop", NS, LOOP) or {}
        types = sorted(c["type"] for c in live["status"]["conditions"])
        assert types == ["Accepted", "Healthy", "Ready", "ResolvedRefs"]

        # Findings that do not change: no writes over many health periods and a sweep.
        time.sleep(2 * PERIOD)
        before = cluster.writes
        time.sleep(max(8 * PERIOD, float(os.environ.get("FLEET_OPERATOR_DRIFT_SECONDS", "3"))))
        assert cluster.writes - before == 0, (
            "\n".join(w[:300] for w in cluster.emulator.write_log[-20:])
            if cluster.emulator
            else None
        )
        assert healthy(kube, LOOP) == down

        run(f"{LOOP}-h5", "done")
        up = wait_for(
            lambda: (c := healthy(kube, LOOP)).get("status") == "True" and c,
            15,
            "Healthy True after a useful run",
        )
    assert up["reason"] == "NoFindings" and up["lastTransitionTime"] >= down["lastTransitionTime"]


def test_a_deprecated_model_turns_the_condition_false_naming_its_replacement(
    kube: Kube, fleet: FleetGateway
) -> None:
    wait_for(lambda: healthy(kube, LOOP).get("status") == "True", 15, "a healthy loop")
    policy = kube.get(API_VERSION, "FleetPolicy", NS, "northwind")
    assert policy is not None
    assert "deprecated" not in policy["spec"]["models"]["cheap-backup"]  # the loop's model
    deprecated = {"deprecated": {"after": "2026-01-31", "use": "triage-default"}}
    models = {"cheap-backup": deprecated}
    kube.patch(API_VERSION, "FleetPolicy", NS, "northwind", {"spec": {"models": models}})
    down = wait_for(
        lambda: (c := healthy(kube, LOOP)).get("reason") == "DeprecatedModel" and c,
        20,
        "Healthy False for a deprecated model",
    )
    assert down["status"] == "False"
    assert "was deprecated after 2026-01-31" in down["message"]
    assert "its replacement is 'triage-default'" in down["message"]
    undone = {"spec": {"models": {"cheap-backup": {"deprecated": None}}}}
    kube.patch(API_VERSION, "FleetPolicy", NS, "northwind", undone)
    wait_for(lambda: healthy(kube, LOOP).get("status") == "True", 20, "Healthy True again")
