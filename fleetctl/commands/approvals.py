"""``fleetctl approvals list|show|approve|deny|retry``: act on tool calls that wait for a human.

``retry`` re-runs a request left ``interrupted`` (the gateway running it stopped
mid-call, so whether the tool ran is unknown); ``deny`` also closes one.

Talks to the gateway's ``/approvals`` API with an approver's token, read from
an environment variable (never a flag, so it stays out of shell history). A
loop's token is refused by the gateway.

``--local PATH`` acts on a ``fleetctl run`` home instead (PATH is the fleet
directory holding ``.fleet``, or the ``--home`` given to ``fleetctl run``): the
gateway of that home is started in-process (or the running one is used) and
the local approver's token is read from its ``tokens.json``, so an approval
runs the call once through the real gateway, as in a cluster.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

from fleetctl.output import fail

approvals_app = typer.Typer(
    help="List, inspect, approve or deny tool calls waiting for a human.", no_args_is_help=True
)

GATEWAY = typer.Option(
    "http://127.0.0.1:8080", "--gateway", envvar="FLEET_GATEWAY_URL", help="The gateway's base URL."
)
TOKEN_ENV = typer.Option(
    "FLEET_APPROVER_TOKEN", "--token-env", help="Environment variable holding an approver token."
)
OUTPUT = typer.Option("table", "--output", "-o", help="table or json.")
REASON = typer.Option(None, "--reason", help="Why; recorded with the decision.")
LOCAL = typer.Option(
    None,
    "--local",
    help="Act on the local gateway of `fleetctl run`: the fleet directory, or its --home.",
)


def register(app: typer.Typer) -> None:
    app.add_typer(approvals_app, name="approvals")


@contextlib.contextmanager
def _local_gateway(local: Path) -> Iterator[tuple[str, str]]:
    """(URL, approver token) of the gateway of a ``fleetctl run`` home, served while needed."""
    from fleetctl.local.embedded import EmbeddedGateway, running_url
    from fleetctl.local.errors import LocalError
    from fleetctl.local.home import APPROVER_KEY, Home

    try:
        home = Home.find(local)
        token = home.read_tokens().get(APPROVER_KEY)
        if not token:
            fail(f"no local approver token in {home.tokens_file}", "run `fleetctl run` again")
        url = running_url(home)
        if url:
            yield url, token
            return
        gw = EmbeddedGateway(home).start()
    except LocalError as exc:
        fail(exc.message, exc.hint)
    try:
        yield gw.url, token
    finally:
        gw.stop()


def call(
    gateway: str,
    token_env: str,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    local: Path | None = None,
) -> Any:
    if local is not None:
        with _local_gateway(local) as (url, local_token):
            return _request(url, local_token, method, path, body, "--local")
    token = os.environ.get(token_env)
    if not token:
        fail(
            f"no approver token in ${token_env}",
            "export it, or name another variable with --token-env",
        )
    return _request(gateway, token, method, path, body, "--gateway or FLEET_GATEWAY_URL")


def _request(
    gateway: str, token: str, method: str, path: str, body: dict[str, Any] | None, where: str
) -> Any:
    import httpx

    try:
        r = httpx.request(
            method,
            gateway.rstrip("/") + path,
            headers={"authorization": f"Bearer {token}"},
            json=body,
            timeout=330,  # approving runs the tool call
        )
    except httpx.HTTPError as exc:
        fail(f"cannot reach the gateway at {gateway}: {exc}", f"check {where}")
    try:
        data = r.json()
    except ValueError:
        fail(f"gateway answered {r.status_code} without JSON", "is --gateway the fleet gateway?")
    if r.status_code >= 400:
        err = data.get("error", {}) if isinstance(data, dict) else {}
        fail(str(err.get("message") or f"gateway answered {r.status_code}"))
    return data


def _ago(ts: float | None) -> str:
    if not ts:
        return "-"
    s = int(time.time() - ts)
    return (
        f"{s}s"
        if s < 120
        else f"{s // 60}m"
        if s < 7200
        else f"{s // 3600}h"
        if s < 172800
        else f"{s // 86400}d"
    )


def _args(row: dict[str, Any]) -> str:
    text = json.dumps(row.get("arguments"), sort_keys=True)
    return text if len(text) <= 60 else text[:57] + "..."


def _table(rows: list[dict[str, Any]]) -> None:
    header = ["ID", "STATE", "LOOP", "RUN", "TOOL", "ARGUMENTS", "AGE", "DECIDED BY"]
    lines = [header] + [
        [
            r["id"],
            r["state"],
            r["member"],
            r.get("run") or "-",
            f"{r['server']}.{r['tool']}",
            _args(r),
            _ago(r.get("created")),
            r.get("decided_by") or "-",
        ]
        for r in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        typer.echo("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())


def _show(row: dict[str, Any], output: str) -> None:
    if output == "json":
        typer.echo(json.dumps(row, indent=2, sort_keys=True))
        return
    for key in (
        "id",
        "state",
        "loop",
        "member",
        "run",
        "step",
        "server",
        "tool",
        "tool_class",
        "decided_by",
        "reason",
        "attempt",
        "owner",
    ):
        typer.echo(f"{key + ':':12} {row.get(key) if row.get(key) is not None else '-'}")
    typer.echo(f"{'created:':12} {_ago(row.get('created'))} ago")
    if row.get("started"):
        typer.echo(f"{'started:':12} {_ago(row.get('started'))} ago")
    for h in row.get("history") or []:
        typer.echo(
            f"{'decision:':12} {h.get('action')} by {h.get('by')} {_ago(h.get('at'))} ago"
            + (f": {h['reason']}" if h.get("reason") else "")
        )
    if row.get("state") == "interrupted":
        typer.echo(
            f"{'note:':12} the gateway running this call stopped mid-call; whether it ran is "
            f"unknown. Check the server, then: fleetctl approvals retry {row['id']} (run it "
            f"once more) or fleetctl approvals deny {row['id']} (close it)"
        )
    typer.echo(f"{'arguments:':12} {json.dumps(row.get('arguments'), sort_keys=True)}")
    for v in row.get("verdicts") or []:
        typer.echo(
            f"{'guardrail:':12} {v.get('hook')} {v.get('detector')} {v.get('action')} {','.join(v.get('kinds', []))}"
        )
    result = row.get("result")
    if result:
        texts = [c.get("text", "") for c in result.get("content", []) if c.get("type") == "text"]
        typer.echo(
            f"{'result:':12} {' '.join(texts)}" + (" (error)" if result.get("isError") else "")
        )


@approvals_app.command("list")
def list_(
    state: str = typer.Option(
        "pending",
        "--state",
        help="pending, approved, interrupted, executed, denied, expired or all.",
    ),
    gateway: str = GATEWAY,
    token_env: str = TOKEN_ENV,
    output: str = OUTPUT,
    local: Path | None = LOCAL,
) -> None:
    """Approval requests, oldest first (pending ones by default)."""
    rows = call(gateway, token_env, "GET", f"/approvals?state={state}", local=local)["approvals"]
    if output == "json":
        typer.echo(json.dumps(rows, indent=2, sort_keys=True))
    elif rows:
        _table(rows)
    else:
        typer.echo(f"no {state} approval requests" if state != "all" else "no approval requests")


@approvals_app.command("show")
def show(
    approval_id: str,
    gateway: str = GATEWAY,
    token_env: str = TOKEN_ENV,
    output: str = OUTPUT,
    local: Path | None = LOCAL,
) -> None:
    """One request: who asked, which run, tool, arguments, guardrail verdicts, decision, result."""
    _show(call(gateway, token_env, "GET", f"/approvals/{approval_id}", local=local), output)


def _decide(
    action: str,
    approval_id: str,
    reason: str | None,
    gateway: str,
    token_env: str,
    output: str,
    local: Path | None = None,
) -> None:
    """Send an approver's decision (approve, deny, retry) with its reason; show the request."""
    body = {"reason": reason}
    path = f"/approvals/{approval_id}/{action}"
    _show(call(gateway, token_env, "POST", path, body, local=local), output)


@approvals_app.command("approve")
def approve(
    approval_id: str,
    reason: str | None = REASON,
    gateway: str = GATEWAY,
    token_env: str = TOKEN_ENV,
    output: str = OUTPUT,
    local: Path | None = LOCAL,
) -> None:
    """Approve: the gateway runs the call once and stores its result for the run."""
    _decide("approve", approval_id, reason, gateway, token_env, output, local)


@approvals_app.command("deny")
def deny(
    approval_id: str,
    reason: str | None = REASON,
    gateway: str = GATEWAY,
    token_env: str = TOKEN_ENV,
    output: str = OUTPUT,
    local: Path | None = LOCAL,
) -> None:
    """Deny: the call never runs (or, if interrupted, is not run again); the run is told why."""
    _decide("deny", approval_id, reason, gateway, token_env, output, local)


@approvals_app.command("retry")
def retry(
    approval_id: str,
    reason: str | None = REASON,
    gateway: str = GATEWAY,
    token_env: str = TOKEN_ENV,
    output: str = OUTPUT,
    local: Path | None = LOCAL,
) -> None:
    """Re-run an interrupted request once more (check first that the interrupted attempt did
    not take effect); the gateway stores the new result for the run."""
    _decide("retry", approval_id, reason, gateway, token_env, output, local)
