"""Runs in the cluster, end to end: the operator under KopfRunner against the emulated API
server, and the fleet's real gateway on loopback, fed the gateway config the operator writes
(as the kubelet would sync its volume). A Job in the emulator runs nothing, so its "pod" is
the test: it opens, pauses and ends runs through the runs API with the loop's own token, as
the harness does, and marks Jobs finished as the Job controller would.

Covered: a webhook payload becomes exactly one Job with the payload mounted, under each
concurrency policy and the queue's bound; a decided approval gets exactly one resume Job
within two poll periods; an expired approval ends the run ``expired``; run status and an
Event per ended run; a run whose Job is gone ends ``error``; an idle fleet with finished runs
makes no writes.
"""

from __future__ import annotations

import asyncio
import copy
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("FLEET_OPERATOR_POLL_SECONDS", "0.5")  # read when the operator starts

import base64

import httpx
import orjson
import pytest
from fleet_operator.kube import Kube
from fleet_operator.state import FleetState

from fleet.render import manual_job
from fleet.resources import API_VERSION
from gateway.app import Gateway
from gateway.config import ConfigHolder
from gateway.mcp.ledger import Ledger
from gateway.store import open_store
from tests.e2e.conftest import RealCluster, apply_all, wait_for
from tests.gateway.fakes import ServerThread

pytestmark = pytest.mark.e2e
NS = "runs-e2e"
POLL = float(os.environ["FLEET_OPERATOR_POLL_SECONDS"])
WEBHOOK = {"maxPayload": 1024, "maxQueue": 3}
TRIGGERS = {
    "cost-report": {"concurrency": "Forbid", "webhook": WEBHOOK},
    "changelog": {"concurrency": "Replace", "webhook": WEBHOOK},
    "docs-drift": {"concurrency": "Allow", "webhook": WEBHOOK},
}


class FleetGateway:
    """The gateway of the fleet in ``NS`` on loopback; its config file follows the ConfigMap."""

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

    def __enter__(self) -> FleetGateway:
        self.server.__enter__()
        self._sync.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._sync.join(timeout=5)
        self.server.__exit__(None, None, None)

    @property
    def url(self) -> str:
        return self.server.url

    def loaded(self) -> dict[str, Any]:
        return dict(orjson.loads(self.config.read_bytes()))

    def ledger(self, work: Any) -> Any:
        """Run ``work(ledger)`` on the gateway's store (the approvals ledger, as the MCP proxy
        and an approver would write it)."""

        async def go() -> Any:
            store = open_store(self.store_url)
            ledger = Ledger(store)
            try:
                return await work(ledger)
            finally:
                await ledger.close()
                await store.close()

        return asyncio.run(go())


def secret_token(kube: Kube, name: str) -> str:
    secret = kube.get("v1", "Secret", NS, name)
    assert secret is not None, name
    return base64.b64decode(secret["data"]["token"]).decode()


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
        if doc["kind"] == "AgentLoop" and doc["metadata"]["name"] in TRIGGERS:
            doc["spec"]["trigger"].update(TRIGGERS[doc["metadata"]["name"]])
    with FleetGateway(kube, tmp_path_factory.mktemp("gateway")) as gateway:
        previous = os.environ.get("FLEET_OPERATOR_GATEWAY_URL")
        os.environ["FLEET_OPERATOR_GATEWAY_URL"] = gateway.url
        import fleet_operator.handlers as handlers
        from kopf.testing import KopfRunner

        handlers._KUBE = None
        handlers.STATE = FleetState()
        apply_all(kube, docs, NS)
        try:
            with KopfRunner(
                ["run", "-A", "--standalone", "-m", "fleet_operator.handlers"], timeout=60
            ) as runner:

                def ready() -> bool:
                    cfg = gateway.loaded()
                    loops = cfg.get("loops") or {}
                    return bool(cfg.get("operator_sha256")) and all(
                        (loops.get(name) or {}).get("trigger", {})
                        and loops[name]["trigger"]["token_sha256"]
                        for name in TRIGGERS
                    )

                wait_for(ready, 60, "the gateway to hold the operator's and trigger tokens' hashes")
                yield gateway
        finally:
            if previous is None:
                os.environ.pop("FLEET_OPERATOR_GATEWAY_URL", None)
            else:
                os.environ["FLEET_OPERATOR_GATEWAY_URL"] = previous
        assert runner.exception is None, runner.exception


def post(fleet: FleetGateway, kube: Kube, loop: str, payload: Any) -> httpx.Response:
    return httpx.post(
        f"{fleet.url}/v1/fleet/loops/{loop}/trigger",
        json=payload,
        headers={"authorization": f"Bearer {secret_token(kube, f'{loop}-trigger-token')}"},
        timeout=10,
    )


def runs_api(fleet: FleetGateway, kube: Kube, loop: str) -> httpx.Client:
    token = secret_token(kube, f"{loop}-gateway-token")
    return httpx.Client(
        base_url=fleet.url, headers={"authorization": f"Bearer {token}"}, timeout=10
    )


def jobs(kube: Kube, loop: str, active: bool = False) -> list[dict[str, Any]]:
    found = [
        j
        for j in kube.list("batch/v1", "Job", NS)
        if (j["metadata"].get("labels") or {}).get("fleetctl.dev/loop") == loop
    ]
    if active:
        found = [j for j in found if not (j.get("status") or {}).get("completionTime")]
    return sorted(found, key=lambda j: j["metadata"]["creationTimestamp"] + j["metadata"]["name"])


def by_trigger(kube: Kube, loop: str, trigger_id: str) -> list[dict[str, Any]]:
    return [
        j
        for j in jobs(kube, loop)
        if (j["metadata"].get("annotations") or {}).get("fleetctl.dev/trigger-id") == trigger_id
    ]


def finish(kube: Kube, job: dict[str, Any]) -> None:
    """What the Job controller writes when the pod exited 0."""
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


def polls(n: int = 3) -> None:
    time.sleep(n * POLL + 0.2)


def test_webhook_payloads_become_one_job_each_under_each_concurrency_policy(
    kube: Kube, fleet: FleetGateway
) -> None:
    # Forbid: the first payload starts a Job with its payload mounted, once.
    first = post(fleet, kube, "cost-report", {"n": 1})
    assert first.status_code == 202, first.text
    a = first.json()["trigger"]["id"]
    (job,) = wait_for(lambda: by_trigger(kube, "cost-report", a), 10, "the webhook's Job")
    name = job["metadata"]["name"]
    assert job["metadata"]["labels"]["fleetctl.dev/trigger"] == "webhook"
    pod = job["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["FLEET_TRIGGER"] == "webhook"
    assert env["FLEET_INPUT_FILE"] == "/etc/fleet/trigger/payload.json"
    cm = wait_for(lambda: kube.get("v1", "ConfigMap", NS, f"{name}-payload"), 5, "the payload")
    assert cm["data"] == {"payload.json": '{"n":1}'}
    assert cm["metadata"]["ownerReferences"][0]["uid"] == job["metadata"]["uid"]

    # A second payload waits while the first Job is active; the queue holds three at most.
    b = post(fleet, kube, "cost-report", {"n": 2}).json()["trigger"]["id"]
    polls()
    assert by_trigger(kube, "cost-report", b) == [] and len(jobs(kube, "cost-report")) == 1
    assert [post(fleet, kube, "cost-report", {"n": n}).status_code for n in (3, 4, 5)] == [
        202,
        202,
        429,
    ]
    finish(kube, job)
    (second,) = wait_for(
        lambda: by_trigger(kube, "cost-report", b), 10, "the waiting payload's Job"
    )
    polls()
    # Exactly once: one Job per payload, the next ones still waiting for this one.
    assert len(jobs(kube, "cost-report")) == 2 and len(by_trigger(kube, "cost-report", a)) == 1
    assert second["metadata"]["name"] != name

    # Replace: the active Job is deleted (its run ends error) and the new one starts.
    c = post(fleet, kube, "changelog", {"n": 1}).json()["trigger"]["id"]
    (old,) = wait_for(lambda: by_trigger(kube, "changelog", c), 10, "changelog's first Job")
    run = old["metadata"]["name"]
    with runs_api(fleet, kube, "changelog") as api:
        assert api.put(f"/v1/fleet/runs/{run}", json={"trigger": "webhook"}).status_code == 201
        d = post(fleet, kube, "changelog", {"n": 2}).json()["trigger"]["id"]
        wait_for(lambda: by_trigger(kube, "changelog", d), 10, "the replacing Job")
        wait_for(lambda: not by_trigger(kube, "changelog", c), 10, "the replaced Job's deletion")
        record = wait_for(
            lambda: (
                (r := api.get(f"/v1/fleet/runs/{run}").json()["run"])["status"] == "ended" and r
            ),
            10,
            "the replaced run to end",
        )
        assert record["outcome"] == "error" and "Replace" in record["detail"]

    # Allow: two payloads, two Jobs at once.
    for n in (1, 2):
        assert post(fleet, kube, "docs-drift", {"n": n}).status_code == 202
    wait_for(
        lambda: len(jobs(kube, "docs-drift", active=True)) == 2, 10, "two Jobs running at once"
    )

    # A suspended loop's payloads wait in the queue until it is resumed.
    kube.patch(API_VERSION, "AgentLoop", NS, "docs-drift", {"spec": {"trigger": {"suspend": True}}})
    wait_for(
        lambda: (kube.get("batch/v1", "CronJob", NS, "docs-drift") or {})["spec"]["suspend"],
        10,
        "the suspension to be reconciled",
    )
    e = post(fleet, kube, "docs-drift", {"n": 3}).json()["trigger"]["id"]
    polls()
    assert by_trigger(kube, "docs-drift", e) == []
    kube.patch(
        API_VERSION, "AgentLoop", NS, "docs-drift", {"spec": {"trigger": {"suspend": False}}}
    )
    wait_for(lambda: by_trigger(kube, "docs-drift", e), 10, "the payload's Job once resumed")


def pause(fleet: FleetGateway, kube: Kube, loop: str, run: str, ttl_s: float = 3600.0) -> str:
    """The harness's side of a destructive call: an approval request, the run paused on it."""

    async def request(ledger: Ledger) -> str:
        row = await ledger.create_approval(
            loop=loop,
            member=loop,
            run=run,
            server="github",
            tool="merge_pr",
            arguments={"n": 1},
            ttl_s=ttl_s,
        )
        return str(row["id"])

    approval_id = str(fleet.ledger(request))
    with runs_api(fleet, kube, loop) as api:
        if api.get(f"/v1/fleet/runs/{run}").status_code == 404:
            assert api.put(f"/v1/fleet/runs/{run}", json={"trigger": "manual"}).status_code == 201
        paused = api.patch(
            f"/v1/fleet/runs/{run}",
            json={
                "status": "awaiting_approval",
                "outcome": "awaiting_approval",
                "steps": 3,
                "approval": {
                    "approval_id": approval_id,
                    "call_id": "c1",
                    "name": "github__merge_pr",
                },
            },
        )
        assert paused.status_code == 200, paused.text
    return approval_id


def decide(fleet: FleetGateway, approval_id: str, approve: bool) -> None:
    async def act(ledger: Ledger) -> None:
        if not approve:
            assert await ledger.decide(approval_id, "denied", "alice", "no") is not None
            return
        row = await ledger.decide(approval_id, "approved", "alice", "ok")
        assert row is not None
        assert await ledger.executed(row, {"content": [{"type": "text", "text": "merged"}]})

    fleet.ledger(act)


def resumes(kube: Kube, loop: str, run: str) -> list[dict[str, Any]]:
    return [
        j
        for j in jobs(kube, loop)
        if j["metadata"]["labels"].get("fleetctl.dev/trigger") == "resume"
        and j["metadata"]["annotations"].get("fleetctl.dev/run") == run
    ]


def test_a_decided_approval_resumes_its_run_once(kube: Kube, fleet: FleetGateway) -> None:
    loop = "bug-report-triage"
    cron = kube.get("batch/v1", "CronJob", NS, loop)
    assert cron is not None
    job = kube.create(manual_job(cron, "approve1"))  # as `fleetctl trigger` makes it
    run = job["metadata"]["name"]
    approval_id = pause(fleet, kube, loop, run)
    finish(kube, job)  # the harness exits 0 once the run is paused
    polls()
    assert resumes(kube, loop, run) == []  # pending: nothing to resume yet

    decide(fleet, approval_id, approve=True)
    decided = time.monotonic()
    (resume,) = wait_for(lambda: resumes(kube, loop, run), 2 * POLL + 1.5, "the resume Job")
    took = time.monotonic() - decided
    assert took <= 2 * POLL + 1.5, took
    container = resume["spec"]["template"]["spec"]["containers"][0]
    assert container["args"][-2:] == ["--resume", run]
    assert {e["name"]: e.get("value") for e in container["env"]}["FLEET_RUN_ID"] == run
    assert resume["metadata"]["name"] == f"{run}-r1"

    # Its pod opens the run (one more attempt) before its first step changes the status:
    # polls in between see the run still paused on a decided approval, and start nothing.
    with runs_api(fleet, kube, loop) as api:
        assert api.put(f"/v1/fleet/runs/{run}").json()["run"]["attempts"] == 2
        polls()
        assert len(resumes(kube, loop, run)) == 1
        api.patch(f"/v1/fleet/runs/{run}", json={"status": "running", "approval": None})
        end = {"status": "ended", "outcome": "done", "steps": 5, "cost_usd": 0.0123}
        assert api.patch(f"/v1/fleet/runs/{run}", json=end).status_code == 200
    finish(kube, resume)

    # A denial resumes too (the maker gets the refusal as the tool's result).
    second = kube.create(manual_job(cron, "denied01"))
    denied = pause(fleet, kube, loop, second["metadata"]["name"])
    finish(kube, second)
    decide(fleet, denied, approve=False)
    wait_for(
        lambda: resumes(kube, loop, second["metadata"]["name"]),
        2 * POLL + 1.5,
        "a resume after a denial",
    )


def events(kube: Kube, loop: str) -> list[dict[str, Any]]:
    return [
        e
        for e in kube.list("v1", "Event", NS)
        if (e.get("involvedObject") or {}).get("name") == loop
        and e["metadata"]["name"].startswith(f"{loop}.run-")
    ]


def status(kube: Kube, loop: str) -> dict[str, Any]:
    found = kube.get(API_VERSION, "AgentLoop", NS, loop)
    return dict((found or {}).get("status") or {})


def test_an_approval_that_expires_ends_its_run(kube: Kube, fleet: FleetGateway) -> None:
    loop = "oncall-summary"
    run = "oncall-summary-expiring"
    pause(fleet, kube, loop, run, ttl_s=0.3)
    with runs_api(fleet, kube, loop) as api:
        record = wait_for(
            lambda: (
                (r := api.get(f"/v1/fleet/runs/{run}").json()["run"])["status"] == "ended" and r
            ),
            3 * POLL + 2,
            "the run to expire",
        )
    assert record["outcome"] == "expired" and "approval_ttl" in record["detail"]
    last = wait_for(lambda: status(kube, loop).get("lastRun"), 10, "the loop's lastRun")
    assert (last["id"], last["outcome"], last["trigger"], last["steps"]) == (
        run,
        "expired",
        "manual",
        3,
    )
    (event,) = wait_for(lambda: events(kube, loop), 10, "the run's Event")
    assert (event["type"], event["reason"]) == ("Warning", "RunExpired")
    assert run in event["message"]
    assert resumes(kube, loop, run) == []


def test_run_status_events_orphans_and_an_idle_fleet(
    cluster: Any, kube: Kube, fleet: FleetGateway
) -> None:
    import fleet_operator.runs as operator_runs

    loop = "flaky-test-hunter"
    cron = kube.get("batch/v1", "CronJob", NS, loop)
    assert cron is not None
    with runs_api(fleet, kube, loop) as api:
        outcomes = ["max_steps", "error", "done", "stalled"]
        for i, outcome in enumerate(outcomes):
            run = f"{loop}-r{i}"
            assert api.put(f"/v1/fleet/runs/{run}", json={"trigger": "cron"}).status_code == 201
            end = {"status": "ended", "outcome": outcome, "steps": i + 1, "cost_usd": 0.01 * i}
            assert api.patch(f"/v1/fleet/runs/{run}", json=end).status_code == 200
            time.sleep(0.05)  # distinct end times, in order
        # One more still running, with its Job active: counted, not ended.
        live = kube.create(manual_job(cron, "running1"))
        assert api.put(f"/v1/fleet/runs/{live['metadata']['name']}").status_code == 201

        def settled() -> dict[str, Any] | None:
            s = status(kube, loop)
            return (
                s
                if s.get("running") == 1 and (s.get("lastRun") or {}).get("outcome") == "stalled"
                else None
            )

        got = wait_for(settled, 10, "the loop's run status")
        assert got["awaitingApproval"] == 0 and got["consecutiveRunsWithoutOutcome"] == 1
        last = got["lastRun"]
        assert (last["id"], last["trigger"], last["steps"], last["costUsd"]) == (
            f"{loop}-r3",
            "cron",
            4,
            0.03,
        )
        assert last["startedAt"] <= last["finishedAt"] and last["finishedAt"].endswith("Z")
        seen = wait_for(
            lambda: len(events(kube, loop)) == 4 and events(kube, loop), 10, "four Events"
        )
        kinds = sorted((e["reason"], e["type"]) for e in seen)
        assert kinds == [
            ("RunDone", "Normal"),
            ("RunError", "Warning"),
            ("RunMaxSteps", "Warning"),
            ("RunStalled", "Warning"),
        ]

        # Its Job deleted without the harness writing an end: the run ends error.
        operator_runs.ORPHAN_GRACE_S = 0.5
        try:
            kube.delete("batch/v1", "Job", NS, live["metadata"]["name"])
            record = wait_for(
                lambda: (
                    (r := api.get(f"/v1/fleet/runs/{live['metadata']['name']}").json()["run"])[
                        "status"
                    ]
                    == "ended"
                    and r
                ),
                10,
                "the orphaned run to end",
            )
        finally:
            operator_runs.ORPHAN_GRACE_S = 30.0
    assert record["outcome"] == "error" and "Job" in record["detail"]
    wait_for(lambda: status(kube, loop).get("running") == 0, 10, "no run counted running")
    assert status(kube, loop)["consecutiveRunsWithoutOutcome"] == 2

    # An idle fleet with finished runs: no write over a resync period (and many polls).
    for name in ("cost-report", "changelog", "docs-drift", "bug-report-triage"):
        for job in jobs(kube, name, active=True):
            finish(kube, job)
    time.sleep(2 * POLL + 1)
    before = cluster.writes
    time.sleep(float(os.environ.get("FLEET_OPERATOR_DRIFT_SECONDS", "3")) + 0.5)
    assert cluster.writes - before == 0, (
        "\n".join(w[:300] for w in cluster.emulator.write_log[-20:]) if cluster.emulator else None
    )


def test_event_names_are_one_per_run() -> None:
    from fleet_operator.runs import event_name

    assert event_name("a", "r1") == event_name("a", "r1") != event_name("a", "r2")
    assert event_name("a", "r1").startswith("a.run-")
