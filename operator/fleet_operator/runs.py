"""Runs in the cluster: once per fleet per poll period the operator asks the fleet's gateway what
happened (one request, ``GET /v1/fleet/dispatch``) and acts on the answer.

* Each queued webhook payload becomes one Job (``<loop>-w<hash of the trigger id>``) with the
  payload in a ConfigMap the Job owns, mounted read-only at ``/etc/fleet/trigger/payload.json``;
  then the trigger is taken (a compare-and-set at the gateway). A second poll that sees the
  same trigger again meets the Job's name (409) and only takes it: exactly one Job per payload.
* Each run paused for an approval that was decided (``executed`` or ``denied``) gets one resume
  Job (``<run>-r<attempts>``: the same pod with ``--resume RUN``); none while a Job of that run
  is active. A run whose request expired (or that waited longer than ``approval_ttl`` without
  one) is ended ``expired``.
* The loop's ``concurrency`` applies to every Job started here: ``Forbid`` waits for the active
  Job of the loop (a queued payload stays queued), ``Replace`` deletes it first (its run ends
  ``error``), ``Allow`` starts another. A resume never replaces: it waits. A suspended loop's
  payloads wait.
* Each loop's run summary is copied into its status (``lastRun``, ``running``,
  ``awaitingApproval``, ``consecutiveRunsWithoutOutcome``) when it differs from what the status
  holds, and each run that ended gets a Kubernetes Event (``Normal`` for ``done``, ``Warning``
  for the rest), named after the run so it is posted once.
* A run still ``running`` whose Job is gone or failed (its pods were killed past the Job's
  retry, or ``Replace`` deleted it) is ended ``error``.

Nothing is written when nothing happened: an idle fleet costs one request to its gateway per
period and no Kubernetes call.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from fleet.render import (
    FLEET_LABEL,
    LOOP_LABEL,
    OPERATOR_SECRET,
    concurrency_action,
    job_active,
    job_run,
    payload_config_map,
    resume_job,
    webhook_job,
)
from fleet.resources import API_VERSION
from fleet_operator.gwclient import GatewayClient, GatewayError, url_for
from fleet_operator.kube import Kube, KubeError
from fleet_operator.state import FleetState
from fleet_operator.tokens import secret_token

log = logging.getLogger("fleet.operator")

POLL_SECONDS = float(os.environ.get("FLEET_OPERATOR_POLL_SECONDS", "10"))
# The next poll asks for summaries changed since the last answer's time less this: a summary
# written while the last answer was read is seen again, never missed (unchanged ones cost nothing).
SINCE_SLACK = 5.0
# Runs that ended longer ago than this get no Event (a first poll of an old fleet posts none).
EVENT_WINDOW_S = 3600.0
# A run still running this long after its Job finished or vanished is ended as an error.
ORPHAN_GRACE_S = float(os.environ.get("FLEET_OPERATOR_ORPHAN_SECONDS", "30"))
# Fetch the CronJobs of this many loops one by one; more, and they are listed at once.
GET_CRONJOBS_UPTO = 20
# Loops whose Jobs are started side by side in one poll (each loop's in order).
START_WORKERS = int(os.environ.get("FLEET_OPERATOR_START_WORKERS", "8"))
RESUMABLE = ("executed", "denied")


_POOL: list[ThreadPoolExecutor] = []
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    # Long-lived threads: each keeps its own API client (and connections) between polls.
    with _POOL_LOCK:
        if not _POOL:
            _POOL.append(ThreadPoolExecutor(START_WORKERS, thread_name_prefix="fleet-runs"))
        return _POOL[0]


@dataclass
class Cursor:
    """What one fleet's poll remembers between periods."""

    since: float | None = None
    orphans: dict[str, float] = field(default_factory=dict)  # run → first seen without a Job


@dataclass
class Polled:
    """What one poll did, for the log and the benchmark."""

    started: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)
    statuses: int = 0
    events: int = 0

    def __bool__(self) -> bool:
        return bool(
            self.started
            or self.resumed
            or self.expired
            or self.ended
            or self.statuses
            or self.events
        )


def operator_token(kube: Kube, state: FleetState, ns: str, fleet: str) -> str | None:
    with state.lock:
        token = state.operator_tokens.get((ns, fleet))
    if token is None:
        token = secret_token(kube.get("v1", "Secret", ns, OPERATOR_SECRET))
        if token is not None:
            with state.lock:
                state.operator_tokens[(ns, fleet)] = token
    return token


def poll_fleet(
    kube: Kube, state: FleetState, client: GatewayClient, ns: str, fleet: str, cursor: Cursor
) -> Polled:
    """One period of one fleet: ask its gateway, start what is due, copy status, post Events."""
    done = Polled()
    token = operator_token(kube, state, ns, fleet)
    if token is None:
        return done  # the fleet's gateway objects are not reconciled yet
    base = url_for(ns)
    try:
        answer = client.dispatch(base, token, cursor.since)
    except GatewayError as exc:
        log.debug("fleet %s/%s: gateway not polled: %s", ns, fleet, exc)
        return done
    try:
        Starter(kube, state, client, base, token, ns, fleet, answer, cursor, done).run()
        write_run_status(kube, state, ns, fleet, answer.get("loops") or {}, done)
    except (GatewayError, KubeError) as exc:
        # Whatever was not done is still due next period (every step is idempotent).
        log.warning("fleet %s/%s: poll cut short: %s", ns, fleet, exc)
        return done
    cursor.since = float(answer["now"]) - SINCE_SLACK
    if done:
        log.info(
            "fleet %s/%s: started %d, resumed %d, expired %d, ended %d, %d status(es), %d event(s)",
            ns,
            fleet,
            len(done.started),
            len(done.resumed),
            len(done.expired),
            len(done.ended),
            done.statuses,
            done.events,
        )
    return done


class Starter:
    """Starts the Jobs one answer calls for, under each loop's concurrency policy."""

    def __init__(
        self,
        kube: Kube,
        state: FleetState,
        client: GatewayClient,
        base: str,
        token: str,
        ns: str,
        fleet: str,
        answer: dict[str, Any],
        cursor: Cursor,
        done: Polled,
    ):
        self.kube, self.state, self.client = kube, state, client
        self.base, self.token, self.ns, self.fleet = base, token, ns, fleet
        self.answer, self.cursor, self.done = answer, cursor, done
        self.now = float(answer["now"])
        self.active: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.jobs: dict[str, dict[str, Any]] = {}
        self.crons: dict[str, dict[str, Any] | None] = {}

    def info(self, loop: str) -> dict[str, Any] | None:
        with self.state.lock:
            found = self.state.loops.get((self.ns, loop))
        return found if found is not None and found["fleet"] == self.fleet else None

    def run(self) -> None:
        triggers = self.answer.get("triggers") or []
        waiting = self.answer.get("waiting") or []
        running = self.answer.get("running") or []
        if not (triggers or waiting or running):
            return
        for job in self.kube.list("batch/v1", "Job", self.ns, f"{FLEET_LABEL}={self.fleet}"):
            self.jobs[job["metadata"]["name"]] = job
            if job_active(job):
                self.active[(job["metadata"].get("labels") or {}).get(LOOP_LABEL, "")].append(job)
        self._fetch_crons({t["loop"] for t in triggers} | {w["loop"] for w in waiting})
        # Loops are independent: each one's payloads (oldest first), then its resumes, in
        # order on one thread, the loops side by side.
        work: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
        for trigger in triggers:
            work[trigger["loop"]].append(("webhook", trigger))
        for paused in waiting:
            work[paused["loop"]].append(("resume", paused))

        def one_loop(items: list[tuple[str, dict[str, Any]]]) -> None:
            for kind, item in items:
                if kind == "webhook":
                    self.webhook(item)
                else:
                    self.resume(item)

        if len(work) == 1:
            one_loop(next(iter(work.values())))
        elif work:
            list(_pool().map(one_loop, work.values()))  # re-raises the first failure
        self.orphans(running)

    def _fetch_crons(self, loops: set[str]) -> None:
        """The CronJobs to make Jobs from: as the loop's last reconcile applied them, else
        read (one by one for a few, listed for many)."""
        missing = set()
        for loop in loops:
            if self.info(loop) is None:
                continue
            with self.state.lock:
                known = self.state.crons.get((self.ns, loop))
            if known is not None:
                self.crons[loop] = known
            else:
                missing.add(loop)
        if len(missing) <= GET_CRONJOBS_UPTO:
            for loop in sorted(missing):
                self.crons[loop] = self.kube.get("batch/v1", "CronJob", self.ns, loop)
            return
        listed = self.kube.list("batch/v1", "CronJob", self.ns, f"{FLEET_LABEL}={self.fleet}")
        by_name = {c["metadata"]["name"]: c for c in listed}
        for loop in missing:
            self.crons[loop] = by_name.get(loop)

    def _create(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Create, or find what an earlier poll created under the same name."""
        meta = obj["metadata"]
        try:
            return self.kube.create(obj)
        except KubeError as exc:
            if exc.status != 409:
                raise
            live = self.kube.get(obj["apiVersion"], obj["kind"], self.ns, meta["name"])
            if live is None:
                raise
            return live

    def _replace(self, loop: str, by: str) -> None:
        for job in self.active.pop(loop, []):
            name = job["metadata"]["name"]
            self.kube.delete("batch/v1", "Job", self.ns, name, propagation="Background")
            detail = f"stopped by concurrency Replace: Job {by} of the loop started"
            if self.client.end_run(self.base, self.token, job_run(job), "error", detail):
                self.done.ended.append(job_run(job))

    def webhook(self, trigger: dict[str, Any]) -> None:
        loop = trigger["loop"]
        info, cron = self.info(loop), self.crons.get(loop)
        if info is None or cron is None or info["suspend"]:
            return  # not reconciled yet, or suspended: the payload waits in the queue
        job = webhook_job(cron, trigger["id"])
        name = job["metadata"]["name"]
        if name in self.jobs:
            # Started by an earlier poll that did not get to take it: finish what it began.
            self._create(payload_config_map(self.jobs[name], trigger["payload"]))
        else:
            action = concurrency_action(info["concurrency"], self.active[loop])
            if action == "wait":
                return
            if action == "replace":
                self._replace(loop, name)
            created = self._create(job)
            self._create(payload_config_map(created, trigger["payload"]))
            self.jobs[name] = created
            self.active[loop].append(created)
            self.done.started.append(name)
        if self.client.take(self.base, self.token, trigger["id"], name):
            log.info("loop %s/%s: webhook trigger %s → Job %s", self.ns, loop, trigger["id"], name)

    def resume(self, paused: dict[str, Any]) -> None:
        run, loop = paused["run"], paused["loop"]
        approval = paused.get("approval") or {}
        ttl = float(self.answer.get("approval_ttl_s") or 0)
        decision = approval.get("state")
        waited = self.now - float(paused.get("updated") or self.now)
        if decision == "expired" or (decision is None and ttl and waited > ttl):
            detail = f"the approval of {approval.get('name') or 'its tool call'} was not decided within approval_ttl ({ttl:g} s)"
            if self.client.end_run(self.base, self.token, run, "expired", detail):
                self.done.expired.append(run)
            return
        if decision not in RESUMABLE:
            return
        info, cron = self.info(loop), self.crons.get(loop)
        if info is None or cron is None:
            return
        if any(job_run(j) == run for j in self.active[loop]):
            return  # its resume Job (or its own Job) is still running
        if concurrency_action(info["concurrency"], self.active[loop]) != "start":
            return  # a resume waits for the loop's active run; it never replaces one
        job = resume_job(cron, run, int(paused.get("attempts") or 1), str(paused.get("trigger")))
        name = job["metadata"]["name"]
        if name in self.jobs:
            return  # started for this pause already; the run has not opened its attempt yet
        created = self._create(job)
        self.jobs[name] = created
        self.active[loop].append(created)
        self.done.resumed.append(name)
        log.info(
            "loop %s/%s: run %s resumed (approval %s) → Job %s", self.ns, loop, run, decision, name
        )

    def orphans(self, running: list[dict[str, Any]]) -> None:
        """End runs whose Job is gone or failed for good (the harness never wrote an end)."""
        live = {job_run(j) for js in self.active.values() for j in js}
        seen: dict[str, float] = {}
        for item in running:
            run = item["run"]
            if run in live or self.info(item["loop"]) is None:
                continue
            if self.now - float(item.get("updated") or self.now) < ORPHAN_GRACE_S:
                continue
            first = self.cursor.orphans.get(run, self.now)
            seen[run] = first
            if self.now - first < ORPHAN_GRACE_S:
                continue
            job = self.jobs.get(run)
            detail = (
                f"its Job {run} failed without the harness writing an end (pods killed past the Job's retry)"
                if job is not None
                else "its Job is gone without the harness writing an end"
            )
            if self.client.end_run(self.base, self.token, run, "error", detail):
                self.done.ended.append(run)
            seen.pop(run, None)
        self.cursor.orphans = seen


# ------------------------------------------------------------------ status and Events


def _time(epoch: Any) -> str | None:
    if epoch is None:
        return None
    return dt.datetime.fromtimestamp(float(epoch), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _last_run(brief: dict[str, Any]) -> dict[str, Any]:
    out = {
        "id": brief["id"],
        "trigger": brief.get("trigger") or "cron",
        "outcome": brief.get("outcome") or "error",
        "steps": int(brief.get("steps") or 0),
        "costUsd": round(float(brief.get("cost_usd") or 0.0), 6),
        "startedAt": _time(brief.get("started")),
        "finishedAt": _time(brief.get("ended")),
    }
    return {k: v for k, v in out.items() if v is not None}


def run_status(summary: dict[str, Any]) -> dict[str, Any]:
    """The status fields of one loop's run summary (as the gateway's dispatch gives it)."""
    status: dict[str, Any] = {
        "running": int(summary.get("running") or 0),
        "awaitingApproval": int(summary.get("awaiting_approval") or 0),
        "consecutiveRunsWithoutOutcome": int(summary.get("without_outcome") or 0),
    }
    if summary.get("last"):
        status["lastRun"] = _last_run(summary["last"])
    return status


RUN_FIELDS = ("lastRun", "running", "awaitingApproval", "consecutiveRunsWithoutOutcome")


def _held(status: dict[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (status or {}).items() if k in RUN_FIELDS}


def write_run_status(
    kube: Kube,
    state: FleetState,
    ns: str,
    fleet: str,
    loops: dict[str, dict[str, Any]],
    done: Polled,
) -> None:
    """Copy changed summaries into the loops' status; post an Event per run that ended."""
    listed: dict[str, dict[str, Any]] | None = None
    for name, summary in sorted(loops.items()):
        with state.lock:
            info = state.loops.get((ns, name))
            known = state.run_status.get((ns, name))
        if info is None or info["fleet"] != fleet:
            continue
        wanted = run_status(summary)
        if known is None:
            if listed is None:  # one list fills what a restarted operator does not remember
                listed = {
                    loop["metadata"]["name"]: loop
                    for loop in kube.list(API_VERSION, "AgentLoop", ns)
                }
            loop = listed.get(name)
            if loop is None:
                continue
            known = _held(loop.get("status"))
        if known != wanted:
            kube.patch(API_VERSION, "AgentLoop", ns, name, {"status": wanted}, sub="status")
            done.statuses += 1
            # A run that ended changes the status; an unchanged one posts nothing (runs that
            # end within the same second as the last would otherwise be posted again, 409s).
            for brief in reversed(summary.get("recent") or []):
                if _newer(brief, known.get("lastRun")):
                    done.events += post_event(kube, ns, name, info.get("uid"), brief)
        with state.lock:
            state.run_status[(ns, name)] = wanted


def _newer(brief: dict[str, Any], last: dict[str, Any] | None) -> bool:
    ended = brief.get("ended")
    if ended is None or time.time() - float(ended) > EVENT_WINDOW_S:
        return False
    if not last:
        return True
    if brief["id"] == last.get("id"):
        return False
    return (_time(ended) or "") >= str(last.get("finishedAt") or "")


def event_name(loop: str, run: str) -> str:
    return f"{loop}.run-{hashlib.sha256(run.encode()).hexdigest()[:12]}"


def post_event(kube: Kube, ns: str, loop: str, uid: str | None, brief: dict[str, Any]) -> int:
    """One Event for one ended run (a second post of the same run meets its name: 409)."""
    outcome = str(brief.get("outcome") or "error")
    when = _time(brief.get("ended")) or _time(time.time())
    reason = "Run" + "".join(part.capitalize() for part in outcome.split("_"))
    message = (
        f"run {brief['id']} ({brief.get('trigger') or 'cron'}) ended {outcome}: "
        f"{int(brief.get('steps') or 0)} step(s), ${float(brief.get('cost_usd') or 0):.4f}"
    )
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": event_name(loop, brief["id"]), "namespace": ns},
        "involvedObject": {
            "apiVersion": API_VERSION,
            "kind": "AgentLoop",
            "name": loop,
            "namespace": ns,
            **({"uid": uid} if uid else {}),
        },
        "reason": reason,
        "message": message,
        "type": "Normal" if outcome == "done" else "Warning",
        "source": {"component": "fleet-operator"},
        "reportingComponent": "fleetctl.dev/operator",
        "reportingInstance": os.environ.get("HOSTNAME", "fleet-operator"),
        "firstTimestamp": when,
        "lastTimestamp": when,
        "count": 1,
    }
    try:
        kube.create(event)
    except KubeError as exc:
        if exc.status == 409:
            return 0
        raise
    return 1
