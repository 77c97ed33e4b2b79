"""The Jobs of a loop, rendered from its CronJob as ``kubectl create job --from`` makes them
(manual, webhook, resume), the trigger section's effect on the CronJob and the children, and
the concurrency decision every trigger kind shares."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from fleet.gwrender import OPERATOR_KEY, gateway_config, trigger_key
from fleet.render import (
    INSTANTIATE,
    NO_SCHEDULE,
    PAYLOAD_FILE,
    RUN_LABEL,
    TRIGGER_LABEL,
    concurrency_action,
    job_active,
    job_run,
    manual_job,
    operator_secret,
    payload_config_map,
    render_fleet,
    render_loop,
    resume_job,
    resume_job_name,
    webhook_job,
    webhook_job_name,
)
from tests.fleet_operator.test_render import LOOPS, POLICY


def loop_with(**trigger: Any) -> dict[str, Any]:
    loop = copy.deepcopy(LOOPS["cost-report"])
    loop["spec"]["trigger"] = trigger
    return loop


def children(loop: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        f"{c['kind']}/{c['metadata']['name']}": c for c in render_loop(loop, POLICY, namespace="ns")
    }


def cronjob(**trigger: Any) -> dict[str, Any]:
    cron = children(loop_with(**({"schedule": "0 6 * * *"} | trigger)))["CronJob/cost-report"]
    cron["metadata"]["uid"] = "uid-cron"
    return cron


def container(job: dict[str, Any]) -> dict[str, Any]:
    (c,) = job["spec"]["template"]["spec"]["containers"]
    return dict(c)


def env(job: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(job)["env"]}


def test_a_manual_job_is_what_kubectl_create_job_from_makes() -> None:
    cron = cronjob()
    job = manual_job(cron, "abc12345", '{"issue":42}')
    meta = job["metadata"]
    assert (job["apiVersion"], job["kind"], meta["name"]) == (
        "batch/v1",
        "Job",
        "cost-report-mabc12345",
    )
    assert meta["ownerReferences"] == [
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "name": "cost-report",
            "uid": "uid-cron",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert meta["annotations"][INSTANTIATE] == "manual"
    template = cron["spec"]["jobTemplate"]
    assert meta["labels"] == {**template["metadata"]["labels"], TRIGGER_LABEL: "manual"}
    # The same pod, but for the trigger and the input; the run id is still the Job's name.
    assert env(job)["FLEET_TRIGGER"] == "manual" and env(job)["FLEET_INPUT"] == '{"issue":42}'
    assert env(job)["FLEET_RUN_ID"] == {"fieldRef": {"fieldPath": "metadata.labels['job-name']"}}
    assert job["spec"]["backoffLimit"] == 1
    rest = {k: v for k, v in container(job).items() if k != "env"}
    assert rest == {k: v for k, v in container({"spec": template["spec"]}).items() if k != "env"}
    assert job["spec"]["template"]["metadata"]["labels"][TRIGGER_LABEL] == "manual"
    assert "FLEET_INPUT" not in env(manual_job(cron, "abc12345"))
    assert template == cronjob()["spec"]["jobTemplate"], "the CronJob is not changed"


def test_a_webhook_job_mounts_its_payload_read_only() -> None:
    job = webhook_job(cronjob(), "tg_0001")
    name = job["metadata"]["name"]
    assert (
        name
        == webhook_job_name("cost-report", "tg_0001")
        == webhook_job(cronjob(), "tg_0001")["metadata"]["name"]
    )
    assert name != webhook_job_name("cost-report", "tg_0002") and len(name) <= 63
    assert env(job)["FLEET_TRIGGER"] == "webhook" and env(job)["FLEET_INPUT_FILE"] == PAYLOAD_FILE
    mount = next(m for m in container(job)["volumeMounts"] if m["name"] == "trigger")
    assert mount == {"name": "trigger", "mountPath": "/etc/fleet/trigger", "readOnly": True}
    volume = next(v for v in job["spec"]["template"]["spec"]["volumes"] if v["name"] == "trigger")
    assert volume["configMap"]["name"] == f"{name}-payload"
    live = {**job, "metadata": {**job["metadata"], "uid": "uid-job"}}
    cm = payload_config_map(live, '{"a":1}')
    assert cm["metadata"]["name"] == f"{name}-payload" and cm["data"] == {"payload.json": '{"a":1}'}
    assert cm["immutable"] is True
    assert cm["metadata"]["ownerReferences"][0]["uid"] == "uid-job"  # collected with the Job


def test_a_resume_job_resumes_its_run_under_its_own_id() -> None:
    job = resume_job(cronjob(), "cost-report-29000000", 2, "cron")
    meta = job["metadata"]
    assert meta["name"] == "cost-report-29000000-r2"
    assert (
        meta["labels"][TRIGGER_LABEL] == "resume"
        and meta["labels"][RUN_LABEL] == "cost-report-29000000"
    )
    assert container(job)["args"][-2:] == ["--resume", "cost-report-29000000"]
    assert (
        env(job)["FLEET_RUN_ID"] == "cost-report-29000000" and env(job)["FLEET_TRIGGER"] == "cron"
    )
    assert job_run(job) == "cost-report-29000000" and job_run(manual_job(cronjob(), "x")) == (
        "cost-report-mx"
    )
    # Ids that are no DNS label or too long get a hashed name, stable per run and attempt.
    odd = resume_job_name("cost-report", "Run:1", 1)
    assert odd.startswith("cost-report-r") and odd == resume_job_name("cost-report", "Run:1", 1)
    assert odd != resume_job_name("cost-report", "Run:1", 2)
    assert len(resume_job_name("cost-report", "x" * 62, 3)) <= 63


@pytest.mark.parametrize(
    ("policy", "active", "action"),
    [
        ("Forbid", 0, "start"),
        ("Forbid", 1, "wait"),
        ("Allow", 2, "start"),
        ("Replace", 0, "start"),
        ("Replace", 1, "replace"),
    ],
)
def test_concurrency_policy(policy: str, active: int, action: str) -> None:
    assert concurrency_action(policy, [{}] * active) == action


@pytest.mark.parametrize(
    ("status", "active"),
    [
        ({}, True),
        ({"active": 1}, True),
        ({"completionTime": "2026-01-01T00:00:00Z"}, False),
        ({"conditions": [{"type": "Failed", "status": "True"}]}, False),
        ({"conditions": [{"type": "Complete", "status": "False"}]}, True),
    ],
)
def test_job_active(status: dict[str, Any], active: bool) -> None:
    assert job_active({"metadata": {"name": "j"}, "status": status}) is active
    assert not job_active({"metadata": {"name": "j", "deletionTimestamp": "now"}, "status": status})


def test_the_trigger_section_shapes_the_cronjob_and_children() -> None:
    assert cronjob(concurrency="Replace")["spec"]["concurrencyPolicy"] == "Replace"
    assert cronjob()["spec"]["concurrencyPolicy"] == "Forbid"
    hook = {"maxPayload": 4096, "maxQueue": 7}
    only_hook = children(loop_with(webhook=hook))
    cron = only_hook["CronJob/cost-report"]["spec"]
    assert (cron["schedule"], cron["suspend"]) == (NO_SCHEDULE, True)  # a template only
    secret = only_hook["Secret/cost-report-trigger-token"]
    assert "data" not in secret and secret["type"] == "Opaque"  # the operator mints the token
    assert "Secret/cost-report-trigger-token" not in children(loop_with(schedule="0 6 * * *"))
    both = children(loop_with(schedule="0 6 * * *", webhook=hook))["CronJob/cost-report"]["spec"]
    assert (both["schedule"], both["suspend"]) == ("0 6 * * *", False)


def test_trigger_and_operator_hashes_reach_the_gateway_config_only_as_hashes() -> None:
    loop = loop_with(schedule="0 6 * * *", webhook={"maxPayload": 4096, "maxQueue": 7})
    hashes = {
        "cost-report": ["a" * 64],
        trigger_key("cost-report"): ["b" * 64],
        OPERATOR_KEY: ["c" * 64],
    }
    cfg = gateway_config(POLICY, [loop, LOOPS["changelog"]], hashes)
    trigger = cfg.loops["cost-report"].trigger
    assert trigger is not None and trigger.token_sha256 == ["b" * 64]
    assert (trigger.max_payload, trigger.max_queue) == (4096, 7)
    assert cfg.loops["changelog"].trigger is None and cfg.operator_sha256 == ["c" * 64]
    secret = operator_secret(POLICY, namespace="ns")
    assert secret["metadata"]["name"] == "fleet-operator-token" and "data" not in secret
    assert render_fleet(POLICY, [loop], hashes, namespace="ns")[-1] == secret


def test_rbac_lets_the_operator_start_and_stop_jobs_and_post_events() -> None:
    from tests.fleet_operator.test_deploy import rules

    granted = rules()
    assert {"get", "list", "create", "delete"} <= granted[("batch", "jobs")]
    assert "patch" not in granted[("batch", "jobs")]
    assert "create" in granted[("", "events")] and "create" in granted[("", "configmaps")]
