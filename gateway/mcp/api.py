"""HTTP API for approvers: ``/approvals`` (list), ``/approvals/<id>`` (show),
``/approvals/<id>/approve`` and ``/approvals/<id>/deny`` (POST, optional JSON
``{"reason": "…"}``).

Only an approver token (sha256 in the config's ``approvers``) is accepted; a
loop's or sub-agent's token is refused outright, so a loop can never approve
its own call. Approving claims the request atomically and runs the call once;
the response carries the stored result.
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import parse_qs

import orjson

from gateway.errors import AuthError, BadRequestError, ForbiddenError, GatewayError, NotFoundError
from gateway.mcp.calls import ToolCalls
from gateway.mcp.endpoint import JSON, Receive, Scope, Send, read_body, respond


class ConflictError(GatewayError):
    status = 409
    type = "conflict"


class ApprovalsApi:
    def __init__(self, gateway: Any, calls: ToolCalls):
        self.gateway = gateway
        self.calls = calls

    def approver(self, scope: Scope) -> str:
        rt = self.gateway.holder.runtime
        auth = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
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
            query = parse_qs(scope.get("query_string", b"").decode())
            state = query.get("state", ["pending"])[0]
            rows = await ledger.approvals(None if state == "all" else state)
            await respond(send, 200, orjson.dumps({"approvals": rows}), JSON)
            return
        if not parts:
            raise BadRequestError("bad_method", f"{method} /approvals is not supported; use GET")
        row = await ledger.approval(parts[0])
        if row is None:
            raise NotFoundError("approval_not_found", f"no approval request '{parts[0]}'")
        if len(parts) == 1 and method == "GET":
            await respond(send, 200, orjson.dumps(row), JSON)
            return
        if len(parts) != 2 or method != "POST" or parts[1] not in ("approve", "deny"):
            raise BadRequestError(
                "bad_route",
                "use GET /approvals/<id>, POST /approvals/<id>/approve or POST /approvals/<id>/deny",
            )
        body = await read_body(receive)
        reason = None
        if body.strip():
            try:
                reason = orjson.loads(body).get("reason")
            except (orjson.JSONDecodeError, AttributeError) as exc:
                raise BadRequestError("bad_body", 'body must be JSON like {"reason": "…"}') from exc
        to = "approved" if parts[1] == "approve" else "denied"
        if not await ledger.decide(row["id"], to, who, reason):
            now = await ledger.approval(row["id"]) or row
            raise ConflictError(
                "already_decided",
                f"approval {row['id']} is {now['state']}"
                + (f" (by {now['decided_by']})" if now["decided_by"] else ""),
            )
        if to == "approved":
            await self.calls.execute_approved({**row, "state": "approved"}, who)
        await respond(send, 200, orjson.dumps(await ledger.approval(row["id"])), JSON)
