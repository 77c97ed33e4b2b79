"""The MCP proxy: ``/mcp/<server>`` for every server in the fleet catalog, speaking
streamable HTTP to the caller and to the server, with fleet policy on tool calls.

Everything except ``tools/list`` and ``tools/call`` (initialize, notifications,
the GET stream, DELETE) passes through with the caller's session id and the
server's credential, once the caller holds a grant on the server and the
session is its own (:mod:`gateway.mcp.sessions`). ``tools/list`` is filtered to
the caller's grants. ``tools/call`` runs, in order: its params checked
(:mod:`gateway.mcp.jsonrpc`), grant check, the name checked against the
server's own ``tools/list`` (:mod:`gateway.mcp.listing`), ``mcp_pre_tool``
guardrails on the arguments (:mod:`gateway.mcp.screening`), approval gate (destructive
tools become a pending approval request and the caller gets a pending result, see
:mod:`gateway.mcp.approved`), idempotency (at most once per key; concurrent duplicates
wait for the first, see :mod:`gateway.mcp.once`), the call itself (progress and server
requests it sends meanwhile stream through, see :mod:`gateway.mcp.relay`),
``mcp_post_tool`` guardrails on the result, and a trace step, durable before the
answer leaves (:mod:`gateway.mcp.outcome`). This module holds that order; each step
is in the module named.

Pseudo-tool ``fleet_approval_result`` (listed on every server to every caller
that may call a tool needing approval): ``{"approval_id": "ap_…"}`` returns the
stored result of an approved call once it ran, or says it is still pending,
executing, interrupted (the gateway running it stopped mid-call: a human
retries or closes it), denied or expired. Only the loop that asked may fetch it.

Nothing the server sends back carries a credential the gateway injects
(:mod:`gateway.mcp.redact`): answers are redacted as they arrive, so stored
results, replays and traces never hold one either.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson

from fleet.gwconfig import GwMcpServer
from gateway.config import Identity
from gateway.guardrails import Verdict
from gateway.mcp import grants, jsonrpc, screening
from gateway.mcp.answers import RESULT_TOOL
from gateway.mcp.approved import Approvals
from gateway.mcp.ledger import Ledger
from gateway.mcp.listing import Listing, ListingError, Post
from gateway.mcp.once import (
    IDEMPOTENCY_META,
    Once,
    default_key,
    retry_key,
    scoped_key,
    session_run,
)
from gateway.mcp.outcome import OWN_ANSWER, UNREACHABLE, Records, unreachable_error
from gateway.mcp.redact import Redactor
from gateway.mcp.relay import Relay
from gateway.mcp.wire import Pool, Reply, Unreachable, upstream_headers

DENIED = -32003
BLOCKED = -32004
OWN_REQUEST = [
    (b"content-type", b"application/json"),
    (b"accept", b"application/json, text/event-stream"),
]


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    for k, v in headers:
        if k == name:
            return v.decode("latin-1")
    return None


def body_of(
    raw: bytes | None, msg: dict[str, Any], params: dict[str, Any], args: Any, original: Any
) -> bytes:
    """The request to send on: as received unless a guardrail redacted the arguments."""
    if raw is not None and args is original:
        return raw
    return orjson.dumps({**msg, "params": {**params, "arguments": args}})


class ToolCalls:
    """Policy and execution of tools/call; shared by the proxy endpoint and the approvals API."""

    def __init__(self, gateway: Any, ledger: Ledger, pool: Pool):
        self.gateway = gateway
        self.ledger = ledger
        self.pool = pool
        self.listing = Listing()
        self.records = Records(gateway, self.listing)
        self.approvals = Approvals(gateway, ledger, pool, self.records)
        self.once = Once(gateway, ledger, self.records, self.forward)

        self._policy: dict[tuple[str, str, str], tuple[str, grants.Refusal | None, bool]] = {}
        self._policy_of: Any = None

    @property
    def config(self) -> Any:
        return self.gateway.holder.runtime.config

    @property
    def redactor(self) -> Redactor:
        return self.records.redactor

    def policy(
        self, config: Any, ident: Identity, server: str, tool: str
    ) -> tuple[str, grants.Refusal | None, bool]:
        """(tool class, refusal or None, needs approval) for ``ident`` calling ``server.tool``;
        memoised per config (identities come from the same config, so member names are keys)."""
        if self._policy_of is not config or len(self._policy) > 50_000:
            self._policy_of = config
            self._policy = {}
        key = (ident.member, server, tool)
        found = self._policy.get(key)
        if found is None:
            cls = grants.tool_class(config, server, tool)
            found = self._policy[key] = (
                cls,
                grants.check(ident, server, tool, cls),
                grants.needs_approval(config, ident, server, tool, cls),
            )
        return found

    async def drain(self, timeout_s: float = 10.0) -> None:
        """At shutdown, give keyed calls still running a moment to store their results."""
        await self.once.drain(timeout_s)

    async def fetch_result(self, ident: Identity, args: dict[str, Any]) -> dict[str, Any]:
        """What ``fleet_approval_result`` answers (:meth:`Approvals.fetch_result`)."""
        return await self.approvals.fetch_result(ident, args)

    async def execute_approved(self, row: dict[str, Any], approver: str) -> dict[str, Any]:
        """Run a claimed approval request (:meth:`Approvals.execute_approved`)."""
        return await self.approvals.execute_approved(row, approver)

    def screen(self, msg: dict[str, Any]) -> tuple[dict[str, Any] | None, list[Verdict]]:
        """``mcp_post_tool`` guardrails on an interim message of a call (progress, a server's
        request): redacted, or None when a rule blocks it."""
        return screening.screen(self.config.guardrails.mcp_post_tool, msg)

    async def forward(
        self,
        server: GwMcpServer,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        request_id: Any,
        relay: Relay | None = None,
    ) -> tuple[Reply, list[tuple[bytes, bytes]]]:
        r = await self.pool.request(
            "POST",
            server.url,
            body,
            upstream_headers(headers, server),
            relay.feed if relay is not None else None,
        )
        content = r.body
        if relay is not None:
            content = content or relay.rest()
            await relay.flush()
        # Redacted before anything reads it: guardrails, the stored result, replays, the caller.
        content = self.redactor.data(content)
        return Reply(r.status, r.content_type, content, request_id), r.headers

    def lister(self, server: GwMcpServer, headers: list[tuple[bytes, bytes]]) -> Post:
        """How :class:`Listing` asks ``server`` for its tools: in the caller's session."""
        own = [(k, v) for k, v in headers if k not in (b"content-type", b"accept")] + OWN_REQUEST

        async def post(body: bytes, request_id: str) -> dict[str, Any] | None:
            reply, _ = await self.forward(server, own, body, request_id)
            return reply.message

        return post

    async def tools_call(
        self,
        ident: Identity,
        name: str,
        server: GwMcpServer,
        msg: dict[str, Any],
        headers: list[tuple[bytes, bytes]],
        raw: bytes | None = None,
        relay: Relay | None = None,
        *,
        session: str | None = None,
        as_task: dict[str, Any] | None = None,
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """Answer one tools/call request (``raw``: its body as received): (HTTP status, headers,
        body). With ``relay``, interim events of the server's answer may already have gone to
        the caller (``relay.started``); the body is then the rest of the stream. ``session``:
        the caller's MCP session id (its run when it sends no ``X-Fleet-Run-Id``, and the
        scope of retry keys); ``as_task``: the call asked to run as an MCP task (a gated call
        then answers with the task of its approval request)."""
        started = time.perf_counter()
        config = self.config
        rid = msg.get("id")
        # Malformed params or headers are refused before anything runs or is recorded.
        tool, args, meta = jsonrpc.call_params(msg)
        params: dict[str, Any] = msg.get("params") or {}
        sent_run = jsonrpc.text_header("x-fleet-run-id", _header(headers, b"x-fleet-run-id"), rid)
        run = sent_run or (session_run(session) if session else None)
        step = _header(headers, b"x-fleet-step")
        step_number = jsonrpc.step_header(step, rid)
        key = jsonrpc.text_header(
            "idempotency-key", _header(headers, b"idempotency-key"), rid
        ) or jsonrpc.key_meta(meta, IDEMPOTENCY_META, rid)
        trace: dict[str, Any] = {
            "loop": ident.loop,
            "member": ident.member,
            "team": ident.team,
            "run": run,
            "step": step_number,
            "server": name,
            "tool": tool,
        }

        async def done(
            outcome: str, answer: dict[str, Any], **extra: Any
        ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
            return await self.records.answer(trace, started, rid, outcome, answer, **extra)

        if tool == RESULT_TOOL:
            if not isinstance(args.get("approval_id"), str) or not args["approval_id"]:
                raise jsonrpc.RpcError(
                    200,
                    jsonrpc.INVALID_PARAMS,
                    f'{RESULT_TOOL} takes {{"approval_id": "ap_…"}}: the id a pending call '
                    "answered with",
                    request_id=rid,
                )
            return await done("fetched", {"result": await self.fetch_result(ident, args)})

        cls, refusal, gated = self.policy(config, ident, name, tool)
        trace["tool_class"] = cls
        if refusal is not None:
            return await done(
                "denied",
                {
                    "error": {
                        "code": DENIED,
                        "message": refusal.message,
                        "data": {"grant": refusal.grant, "class": cls},
                    }
                },
                denied_by="grant",
            )

        def unreachable(exc: Unreachable) -> dict[str, Any]:
            return {"error": unreachable_error(name, self.redactor.text(str(exc)))}

        try:
            listed = self.listing.listed(name, tool) or await self.listing.check(
                name, tool, self.lister(server, headers)
            )
        except Unreachable as exc:
            return await done("error", unreachable(exc))
        except ListingError as exc:
            return await done(
                "denied",
                {
                    "error": {
                        "code": jsonrpc.INVALID_PARAMS,
                        "message": f"cannot check that MCP server '{name}' lists {tool!r}: its "
                        f"tools/list failed ({self.redactor.text(str(exc))[:200]}); initialize "
                        "a session first, or retry",
                    }
                },
                denied_by="listing",
            )
        if not listed:
            hint = self.listing.suggest(name, tool)
            return await done(
                "denied",
                {
                    "error": {
                        "code": jsonrpc.INVALID_PARAMS,
                        "message": f"MCP server '{name}' lists no tool {tool!r} in tools/list"
                        + (f"; did you mean {hint!r}?" if hint else "; call one it lists"),
                        "data": {"tool": tool, "listed": False},
                    }
                },
                denied_by="listing",
            )

        original = args
        args, verdicts, blocked = screening.guard(
            "mcp_pre_tool", config.guardrails.mcp_pre_tool, args
        )
        trace["guardrails"] = [v.to_json() for v in verdicts]
        if blocked is not None:
            return await done(
                "blocked",
                {
                    "error": {
                        "code": BLOCKED,
                        "message": f"mcp_pre_tool guardrail '{blocked.detector}' blocked {name}.{tool} "
                        f"({', '.join(blocked.kinds)} in the arguments)",
                        "data": {"hook": "mcp_pre_tool", "detector": blocked.detector},
                    }
                },
                denied_by="guardrail",
            )

        if key is None and sent_run and cls != "read":
            key = default_key(sent_run, step, name, tool, args)
        elif key is None and session and jsonrpc.usable_id(rid) and cls != "read":
            # A stock client sends no key; re-sending the same request in its session is a retry.
            key = retry_key(session, rid, name, tool, args)
        scoped = scoped_key(ident.member, name, tool, key) if key else None

        if gated:
            result, approval_id = await self.approvals.request(
                ident,
                run=run,
                step=trace["step"],
                server=name,
                tool=tool,
                tool_class=cls,
                arguments=args,
                verdicts=trace["guardrails"],
                scoped=scoped,
                as_task=as_task,
            )
            return await done("pending", {"result": result}, approval_id=approval_id)

        if scoped is None:
            try:
                reply, rh = await self.forward(
                    server, headers, body_of(raw, msg, params, args, original), rid, relay
                )
            except Unreachable as exc:
                return await done("error", unreachable(exc))
            if relay is not None and relay.verdicts:
                trace["guardrails"] = trace["guardrails"] + [v.to_json() for v in relay.verdicts]
            return await self.records.finish(reply, rh, trace, started)

        # At most once per key: the first caller runs it; concurrent ones wait; later ones replay.
        settled = await self.once.settled(scoped, ident.loop, ident.member, name, tool)
        if settled is not None:
            return await done(*settled, idempotency_key=key)
        body = body_of(raw, msg, params, args, original)
        # The call runs to completion and its result is stored even if the caller hangs up.
        task = self.once.start(scoped, server, headers, body, rid)
        trace["idempotency_key"] = key
        try:
            reply, rh, verdicts = await asyncio.shield(task)
        except Unreachable as exc:
            return await done("error", unreachable(exc))
        return await self.records.finish(reply, rh, trace, started, verdicts)


__all__ = [
    "BLOCKED",
    "DENIED",
    "OWN_ANSWER",
    "RESULT_TOOL",
    "UNREACHABLE",
    "ToolCalls",
    "unreachable_error",
]
