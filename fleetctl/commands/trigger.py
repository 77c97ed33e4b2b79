"""``fleetctl trigger LOOP [--input JSON]``: start a run of a loop now, as ``kubectl create job
--from=cronjob/LOOP`` would (the CronJob's jobTemplate, an owner reference to it,
``cronjob.kubernetes.io/instantiate: manual``), labelled ``fleetctl.dev/trigger: manual`` and
with the input in the pod's ``FLEET_INPUT`` (``FLEET_TRIGGER=manual``).

The loop's concurrency policy holds here too: ``Forbid`` refuses while a Job of the loop is
active, ``Replace`` deletes the active Jobs first, ``Allow`` starts another.

Exit codes: 0 the Job was created; 1 no such loop, or its concurrency forbids a run now;
2 usage (bad JSON, input too large) or no cluster to talk to.
"""

from __future__ import annotations

import json
import secrets
import string
from typing import Any

import typer

from fleetctl.output import EXIT_INVALID, fail


def register(app: typer.Typer) -> None:
    app.command("trigger")(trigger)


def refuse(message: str, hint: str = "") -> None:
    typer.echo(f"error: {message}" + (f" ({hint})" if hint else ""), err=True)
    raise typer.Exit(EXIT_INVALID)


def parse_input(text: str | None, limit: int) -> str | None:
    """The input as compact JSON text, or None; a usage error when it is not JSON or too large."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        fail(f"--input is not JSON: {exc}", """quote it for the shell: --input '{"issue": 42}'""")
    compact = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if len(compact.encode()) > limit:
        fail(
            f"--input is {len(compact.encode()):,} bytes of JSON, over {limit // 1024} KiB",
            "pass a reference (a URL, an issue number) instead of the data",
        )
    return compact


def trigger(
    loop: str = typer.Argument(..., help="The loop (its AgentLoop's name)."),
    input_json: str = typer.Option(
        None, "--input", help="JSON the run gets as its input (FLEET_INPUT), at most 32 KiB."
    ),
    namespace: str = typer.Option("default", "--namespace", "-n", help="The fleet's namespace."),
    context: str = typer.Option(None, "--context", help="The kubeconfig context to use."),
    output: str = typer.Option("text", "--output", "-o", help="text or json."),
) -> None:
    """Start a run of LOOP now: a Job from its CronJob."""
    from fleet_operator.kube import Kube, KubeError

    from fleet.render import (
        INPUT_ENV_MAX,
        LOOP_LABEL,
        MANAGED_BY,
        concurrency_action,
        job_active,
        manual_job,
    )

    payload = parse_input(input_json, INPUT_ENV_MAX)
    try:
        kube = Kube.from_kubeconfig(context)
        cron = kube.get("batch/v1", "CronJob", namespace, loop)
    except KubeError as exc:
        where = f"context {context!r}" if context else "the current kubeconfig context"
        fail(f"cannot reach the cluster of {where}: {exc.message[:300]}", "check kubectl works")
    labels: dict[str, Any] = (cron or {}).get("metadata", {}).get("labels") or {}
    if cron is None or labels.get("app.kubernetes.io/managed-by") != MANAGED_BY:
        refuse(
            f"no loop '{loop}' in namespace '{namespace}'"
            + (" (a CronJob of that name is not a fleet loop's)" if cron is not None else ""),
            "kubectl get agentloops -n NAMESPACE lists the loops; give -n NAMESPACE",
        )
    assert cron is not None
    policy = str(cron["spec"].get("concurrencyPolicy") or "Forbid")
    try:
        jobs = kube.list("batch/v1", "Job", namespace, f"{LOOP_LABEL}={loop}")
        active = [j for j in jobs if job_active(j)]
        action = concurrency_action(policy, active)
        names = ", ".join(sorted(j["metadata"]["name"] for j in active))
        if action == "wait":
            refuse(
                f"loop '{loop}' has an active run (Job {names}) and its concurrency is Forbid",
                "wait for it to end, or set trigger.concurrency to Allow or Replace",
            )
        replaced = []
        if action == "replace":
            for job in active:
                name = job["metadata"]["name"]
                kube.delete("batch/v1", "Job", namespace, name, propagation="Background")
                replaced.append(name)
        nonce = "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(8))
        created = kube.create(manual_job(cron, nonce, payload))
    except KubeError as exc:
        fail(f"the cluster refused: {exc.message[:300]}", "check your access to Jobs there")
    name = created["metadata"]["name"]
    if output == "json":
        typer.echo(
            json.dumps(
                {"job": name, "run": name, "namespace": namespace, "replaced": replaced},
                sort_keys=True,
            )
        )
        return
    for old in replaced:
        typer.echo(f"job.batch/{old} deleted (concurrency Replace)")
    typer.echo(f"job.batch/{name} created: run {name} of loop {loop}")
