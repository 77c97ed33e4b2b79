"""HTTP API for approvers: ``/approvals`` (list), ``/approvals/<id>`` (show),
``/approvals/<id>/approve``, ``/approvals/<id>/deny`` and ``/approvals/<id>/retry``
(POST, optional JSON ``{"reason": "…"}``). ``retry`` re-runs an ``interrupted``
request (the gateway running it stopped mid-call, outcome unknown) once more;
``deny`` also closes an interrupted one. Every decision lands in the request's
``history`` with who, when and why.

Only an approver token (sha256 in the config's ``approvers``) is accepted; a
loop's or sub-agent's token is refused outright, so a loop can never approve
its own call. Approving (or retrying) claims the request atomically and runs the
call once; the response carries the stored result.
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import parse_qs

import orjson

from gateway.asgi import header, text_value
from gateway.auth import MAX_AUTHORIZATION
from gateway.errors import AuthError, BadRequestError, ForbiddenError, GatewayError, NotFoundError
from gateway.mcp.calls import ToolCalls
from gateway.mcp.endpoint import JSON, Receive, Scope, Send, read_body, respond
from gateway.mcp.jsonrpc import RpcError
from gateway.mcp.wire import credential

STATES = ("pending", "approved", "executed", "interrupted", "denied", "expired", "cancelled")
MAX_REASON = 2000


class ConflictError(GatewayError):
    status = 409
    type = "conflict"


class TooLargeError(GatewayError):
    status = 413
    type = "invalid_request_error"


def reason_of(body: bytes) -> str | None:
    """The optional ``{"reason": "…"}`` of a decision."""
    if not body.strip():
        return None
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        raise BadRequestError("bad_body", 'body must be a JSON object like {"reason": "…"}')
    reason = data.get("reason")
    if reason is not None and (not isinstance(reason, str) or len(reason) > MAX_REASON):
        raise BadRequestError(
            "bad_reason", f"reason must be a string of at most {MAX_REASON} characters"
        )
    return reason


class ApprovalsApi:
    def __init__(self, gateway: Any, calls: ToolCalls):
        self.gateway = gateway
        self.calls = calls

    def approver(self, scope: Scope) -> str:
        rt = self.gateway.holder.runtime
        auth = text_value("authorization", header(scope, b"authorization"), MAX_AUTHORIZATION) or ""
        if not auth.lower().startswith("bearer "):
            raise AuthError(
                "missing_token",
                "no bearer token: send an approver token as 'Authorization: Bearer <token>'",
            )
        token = auth[7:].strip()
        name = rt.approvers.get(hashlib.sha256(token.encode()).hexdigest())
        if name is not None:
            return str(name)
        if rt.identify(token) is not None:
            raise ForbiddenError(
                "not_an_approver",
                "loop and sub-agent tokens cannot list or decide approvals; use an approver's token",
            )
        raise AuthError(
            "invalid_token",
            "unknown approver token: check the approvers list in the gateway config",
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        who = self.approver(scope)
        parts = [p for p in scope["path"].split("/") if p][1:]
        method = scope["method"]
        ledger = self.calls.ledger
        if not parts and method == "GET":
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            state = query.get("state", ["pending"])[0]
            if state != "all" and state not in STATES:
                raise BadRequestError(
                    "bad_state",
                    f"state must be all or one of {', '.join(STATES)}, not {state[:40]!r}",
                )
            rows = await ledger.approvals(None if state == "all" else state)
            shown = self.calls.redactor.value(rows)
            await respond(send, 200, orjson.dumps({"approvals": shown}), JSON)
            return
        if not parts:
            raise BadRequestError("bad_method", f"{method} /approvals is not supported; use GET")
        row = await ledger.approval(parts[0])
        if row is None:
            raise NotFoundError("approval_not_found", f"no approval request {parts[0][:80]!r}")
        if len(parts) == 1 and method == "GET":
            await respond(send, 200, orjson.dumps(self.calls.redactor.value(row)), JSON)
            return
        if len(parts) != 2 or method != "POST" or parts[1] not in ACTIONS:
            raise BadRequestError(
                "bad_route",
                "use GET /approvals/<id>, or POST /approvals/<id>/approve, /deny or /retry",
            )
        try:
            body = await read_body(receive)
        except RpcError as exc:
            raise TooLargeError("body_too_large", exc.message) from None
        reason = reason_of(body)
        action = parts[1]
        if action != "deny":
            missing = credentials_missing(self.gateway.holder.runtime.config, row)
            if missing is not None:
                raise missing
        if action == "retry":
            claimed = await ledger.retry(row["id"], who, reason)
        else:
            to = "approved" if action == "approve" else "denied"
            claimed = await ledger.decide(row["id"], to, who, reason)
        if claimed is None:
            now = await ledger.approval(row["id"]) or row
            raise ConflictError(
                "already_decided" if action != "retry" else "not_interrupted", refusal(now, action)
            )
        self.gateway.metrics.inc(
            "fleet_gateway_mcp_approvals_decided_total",
            server=str(row["server"]),
            decision=action,
        )
        if claimed["state"] == "approved":
            await self.calls.execute_approved(claimed, who)
        decided = self.calls.redactor.value(await ledger.approval(row["id"]))
        await respond(send, 200, orjson.dumps(decided), JSON)


ACTIONS = ("approve", "deny", "retry")


class UnavailableError(GatewayError):
    status = 503
    type = "server_error"


def credentials_missing(config: Any, row: dict[str, Any]) -> GatewayError | None:
    """Approving a call the gateway cannot make (its server's credential is unset) is refused
    before anything is claimed: the request stays pending, and nothing reaches the server."""
    server = config.mcp_servers.get(row["server"])
    if server is None or server.credentials is None or credential(server):
        return None
    env = server.credentials.env
    return UnavailableError(
        "credentials_missing",
        f"cannot run approval {row['id']}: the gateway has no credential for MCP server "
        f"'{row['server']}'; set {env} in the gateway's environment and restart it, then "
        "approve again (the request stays as it is)",
    )


def refusal(row: dict[str, Any], action: str) -> str:
    """Why ``action`` cannot apply to ``row`` now, and what can."""
    state = row["state"]
    head = f"cannot {action} approval {row['id']}: it is {state}" + (
        f" (by {row['decided_by']})" if row.get("decided_by") else ""
    )
    if state == "interrupted":
        hint = "its outcome is unknown; re-run it with retry or close it with deny"
    elif state == "approved":
        hint = (
            f"it is executing on {row.get('owner') or 'a gateway'}; if that gateway stops, the "
            "request is reported interrupted once its lease runs out and can be retried then"
        )
    elif state == "pending":
        hint = "only an interrupted request can be retried; approve or deny it"
    elif state == "executed":
        hint = "the call already ran and its result is stored for the run"
    else:
        hint = "it is closed; the loop can make the call again to open a new request"
    return f"{head}; {hint}"
