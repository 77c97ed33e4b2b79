"""``fleetctl trigger`` against the emulated API server through a kubeconfig, as a user runs it:
the Job ``kubectl create job --from=cronjob/…`` would make, labelled and with its input; the
loop's concurrency policy; every error a user can cause, with its exit code."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fleet_operator.kube import Kube
from typer.testing import CliRunner

from fleet.render import INPUT_ENV_MAX, render_loop
from fleetctl.cli import app
from tests.e2e.conftest import RealCluster

pytestmark = pytest.mark.e2e
NS = "trigger-cli"
POLICIES = {"cost-report": "Forbid", "changelog": "Replace", "docs-drift": "Allow"}


@pytest.fixture(scope="module")
def kubeconfig(cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("kube") / "config"
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "e2e",
                        "cluster": {"server": cluster.url, "insecure-skip-tls-verify": True},
                    }
                ],
                "users": [{"name": "e2e", "user": {"token": "e2e"}}],
                "contexts": [{"name": "e2e", "context": {"cluster": "e2e", "user": "e2e"}}],
                "current-context": "e2e",
            }
        )
    )
    return path


@pytest.fixture(scope="module")
def loops(cluster: Any, kube: Kube, northwind: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The loops' children as the operator renders them (no operator needed for a trigger)."""
    if isinstance(cluster, RealCluster) and kube.get("v1", "Namespace", None, NS) is None:
        kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    policy = next(d for d in northwind if d["kind"] == "FleetPolicy")
    out = {}
    for name, concurrency in POLICIES.items():
        loop = copy.deepcopy(next(d for d in northwind if d["metadata"]["name"] == name))
        loop["metadata"] = {**loop["metadata"], "namespace": NS, "uid": f"uid-{name}"}
        loop["spec"]["trigger"]["concurrency"] = concurrency
        for child in render_loop(loop, policy, namespace=NS):
            if child["kind"] == "CronJob":
                out[name] = kube.create(child)
    yield out


def trigger(kubeconfig: Path, *args: str) -> Any:
    return CliRunner().invoke(
        app, ["trigger", *args], env={"KUBECONFIG": str(kubeconfig)}, catch_exceptions=False
    )


def jobs(kube: Kube, loop: str) -> list[dict[str, Any]]:
    return [
        j
        for j in kube.list("batch/v1", "Job", NS)
        if (j["metadata"].get("labels") or {}).get("fleetctl.dev/loop") == loop
        and not j["metadata"].get("deletionTimestamp")
    ]


def finish(kube: Kube, job: dict[str, Any]) -> None:
    kube.patch(
        "batch/v1",
        "Job",
        NS,
        job["metadata"]["name"],
        {
            "status": {
                "completionTime": "2026-01-01T00:00:00Z",
                "conditions": [{"type": "Complete", "status": "True"}],
            }
        },
        sub="status",
    )


def test_trigger_creates_the_job_kubectl_would(
    kube: Kube, kubeconfig: Path, loops: dict[str, Any]
) -> None:
    result = trigger(kubeconfig, "cost-report", "-n", NS, "--input", '{"issue": 42}', "-o", "json")
    assert result.exit_code == 0, result.output
    made = json.loads(result.output)
    job = kube.get("batch/v1", "Job", NS, made["job"])
    assert job is not None and made["run"] == made["job"]
    cron = loops["cost-report"]
    meta = job["metadata"]
    assert meta["ownerReferences"][0]["uid"] == cron["metadata"]["uid"]
    assert meta["ownerReferences"][0]["kind"] == "CronJob"
    assert meta["annotations"]["cronjob.kubernetes.io/instantiate"] == "manual"
    assert meta["labels"]["fleetctl.dev/trigger"] == "manual"
    env = {
        e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["FLEET_INPUT"] == '{"issue":42}' and env["FLEET_TRIGGER"] == "manual"
    assert job["spec"]["template"]["spec"] == {
        **cron["spec"]["jobTemplate"]["spec"]["template"]["spec"],
        "containers": job["spec"]["template"]["spec"]["containers"],
    }

    # Forbid: a second run is refused while the first is active, allowed once it finished.
    again = trigger(kubeconfig, "cost-report", "-n", NS)
    assert again.exit_code == 1 and "concurrency is Forbid" in again.output
    assert made["job"] in again.output
    finish(kube, job)
    later = trigger(kubeconfig, "cost-report", "-n", NS)
    assert later.exit_code == 0, later.output
    assert "created: run cost-report-m" in later.output


def test_replace_and_allow(kube: Kube, kubeconfig: Path, loops: dict[str, Any]) -> None:
    first = json.loads(trigger(kubeconfig, "changelog", "-n", NS, "-o", "json").output)["job"]
    second = trigger(kubeconfig, "changelog", "-n", NS, "-o", "json")
    assert second.exit_code == 0 and json.loads(second.output)["replaced"] == [first]
    assert [j["metadata"]["name"] for j in jobs(kube, "changelog")] == [
        json.loads(second.output)["job"]
    ]
    for _ in range(2):
        assert trigger(kubeconfig, "docs-drift", "-n", NS).exit_code == 0
    assert len(jobs(kube, "docs-drift")) == 2


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["no-such-loop"], 1, "no loop 'no-such-loop' in namespace 'trigger-cli'"),
        (["cost-report", "-n", "elsewhere"], 1, "no loop 'cost-report' in namespace 'elsewhere'"),
        (["cost-report", "--input", "{issue: 42"], 2, "--input is not JSON"),
        (["cost-report", "--input", json.dumps("x" * INPUT_ENV_MAX)], 2, "over 32 KiB"),
        (["cost-report", "--context", "nope"], 2, "cannot reach the cluster of context 'nope'"),
    ],
)
def test_trigger_errors(
    kubeconfig: Path, loops: dict[str, Any], args: list[str], code: int, says: str
) -> None:
    if "-n" not in args:
        args = [*args, "-n", NS]
    result = trigger(kubeconfig, *args)
    assert result.exit_code == code, result.output
    assert says in result.output and "Traceback" not in result.output


def test_trigger_without_a_cluster(tmp_path: Path) -> None:
    result = trigger(tmp_path / "missing", "cost-report")
    assert result.exit_code == 2 and "cannot reach the cluster" in result.output
