"""The MCP proxy: ``/mcp/<server>`` for every server in the fleet catalog, speaking
streamable HTTP to the caller and to the server, with fleet policy on tool calls.

Everything except ``tools/list`` and ``tools/call`` (initialize, notifications,
the GET stream, DELETE) passes through with the caller's session id and the
server's credential, once the caller holds a grant on the server and the
session is its own (:mod:`gateway.mcp.sessions`). ``tools/list`` is filtered to
the caller's grants. ``tools/call`` runs, in order: its params checked
(:mod:`gateway.mcp.jsonrpc`), grant check, the name checked against the
server's own ``tools/list`` (:mod:`gateway.mcp.listing`), ``mcp_pre_tool``
guardrails on the arguments, approval gate (destructive tools become a pending approval request
and the caller gets a pending result), idempotency (at most once per key;
concurrent duplicates wait for the first), the call itself (progress and server
requests it sends meanwhile stream through, see :mod:`gateway.mcp.relay`),
``mcp_post_tool`` guardrails on the result, and a trace step, durable before the
answer leaves.

Pseudo-tool ``fleet_approval_result`` (listed on every server to every caller
that may call a tool needing approval): ``{"approval_id": "ap_…"}`` returns the
stored result of an approved call once it ran, or says it is still pending,
executing, interrupted (the gateway running it stopped mid-call: a human
retries or closes it), denied or expired. Only the loop that asked may fetch it.

Idempotency keys: the ``Idempotency-Key`` HTTP header, or
``params._meta["fleet/idempotency-key"]`` on the tools/call request. Without
one, write and destructive tools get a default key, sha256 of run id
(``X-Fleet-Run-Id``), step (``X-Fleet-Step``), tool and canonical arguments,
when the caller sends a run id. Keys are scoped to the caller's identity (the
loop, or ``loop/sub-agent``), the server and the tool: the same key on another
tool, server or identity is another call.

Nothing the server sends back carries a credential the gateway injects
(:mod:`gateway.mcp.redact`): answers are redacted as they arrive, so stored
results, replays and traces never hold one either.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import secrets
import time
from typing import Any

import orjson

from fleet.gwconfig import GwMcpServer
from gateway.config import Identity
from gateway.guardrails import Verdict, check_texts
from gateway.mcp import grants, jsonrpc
from gateway.mcp.answers import RESULT_TOOL, approval_answer, key_busy, pending_call
from gateway.mcp.ledger import Ledger
from gateway.mcp.listing import Listing, ListingError, Post
from gateway.mcp.redact import Redactor, redactor_for
from gateway.mcp.relay import Relay
from gateway.mcp.tasks import task_json
from gateway.mcp.wire import (
    Pool,
    Reply,
    Unreachable,
    call_once,
    credential,
    text_result,
    upstream_headers,
)

log = logging.getLogger("fleet.gateway.mcp")
# Tool results longer than this are read by the guardrails in a worker thread.
OFF_LOOP_BYTES = 64 * 1024

IDEMPOTENCY_META = "fleet/idempotency-key"
DENIED = -32003
BLOCKED = -32004
UNREACHABLE = -32006
KEY_WAIT_S = 30.0
# The headers of an answer the gateway wrote itself (compared by identity: a server's
# 5xx is reported as its failure, the gateway's own 502 goes out as written).
OWN_ANSWER = [(b"content-type", b"application/json")]
OWN_REQUEST = [
    (b"content-type", b"application/json"),
    (b"accept", b"application/json, text/event-stream"),
]


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    for k, v in headers:
        if k == name:
            return v.decode("latin-1")
    return None


def _strings(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, dict):
        for v in value.values():
            _strings(v, out)
    elif isinstance(value, list):
        for v in value:
            _strings(v, out)


def _replace(value: Any, it: Any) -> Any:
    """Rebuild ``value`` with its strings taken in order from ``it`` (same walk as :func:`_strings`)."""
    if isinstance(value, str):
        return next(it)
    if isinstance(value, dict):
        return {k: _replace(v, it) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace(v, it) for v in value]
    return value


def unreachable_error(server: str, why: str) -> dict[str, Any]:
    """The JSON-RPC error for a server the gateway could not reach (sent with HTTP 502)."""
    return {
        "code": UNREACHABLE,
        "message": f"MCP server '{server}' unreachable: {why}; retry later or ask its owners",
        "data": {"code": "mcp_upstream_unavailable", "server": server},
    }


def guard(hook: str, rules: Any, value: Any) -> tuple[Any, list[Verdict], Verdict | None]:
    """Run guardrail ``rules`` over every string inside ``value``; returns it (maybe redacted)."""
    if not rules:
        return value, [], None
    texts: list[str] = []
    _strings(value, texts)
    # Results repeat themselves (structuredContent mirrors the text content, every block
    # says "text"): scan each distinct string once; verdicts and redactions are the same.
    unique = list(dict.fromkeys(texts))
    out, verdicts, blocked = check_texts(hook, rules, unique)
    if out != unique:
        cleaned = dict(zip(unique, out, strict=True))
        value = _replace(value, iter([cleaned[t] for t in texts]))
    return value, verdicts, blocked


def default_key(run: str, step: str | None, server: str, tool: str, args: Any) -> str:
    canonical = orjson.dumps(args, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(
        b"\0".join([run.encode(), (step or "").encode(), f"{server}.{tool}".encode(), canonical])
    ).hexdigest()


def retry_key(session: str, rid: Any, server: str, tool: str, args: Any) -> str:
    """The key of a request a stock client may re-send: its session, JSON-RPC id, tool and
    canonical arguments (the same id with other arguments is another call)."""
    canonical = orjson.dumps(args, option=orjson.OPT_SORT_KEYS)
    ident = orjson.dumps(rid)
    return (
        "retry:"
        + hashlib.sha256(
            b"\0".join([session.encode(), ident, f"{server}.{tool}".encode(), canonical])
        ).hexdigest()
    )


def session_run(session: str) -> str:
    """The run of a caller that names none: one per MCP session (a valid run id)."""
    return "mcp-" + hashlib.blake2b(session.encode(), digest_size=10).hexdigest()


def scoped_key(member: str, server: str, tool: str, key: str) -> str:
    """The ledger's key for a caller's idempotency key: one identity, server and tool."""
    return hashlib.sha256(f"{member}\0{server}\0{tool}\0{key}".encode()).hexdigest()


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
        self.inflight: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.listing = Listing()

        self._policy: dict[tuple[str, str, str], tuple[str, grants.Refusal | None, bool]] = {}
        self._policy_of: Any = None
        self._trace_ids = itertools.count(1)
        self._trace_prefix = secrets.token_hex(6) + "-"

    @property
    def config(self) -> Any:
        return self.gateway.holder.runtime.config

    @property
    def redactor(self) -> Redactor:
        rt = self.gateway.holder.runtime
        return redactor_for(rt.config, getattr(rt, "credentials", None))

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

    async def trace(self, **record: Any) -> None:
        """Record a trace step, durable before the answer leaves: the SQLite store appends it
        to its journal with one write; Redis appends it in one round trip."""
        record.setdefault("id", f"{self._trace_prefix}{next(self._trace_ids):x}")
        record.setdefault("ts", time.time())
        record["kind"] = "tool"
        self.count(record)
        await self._write(self.redactor.value(record))

    def count(self, record: dict[str, Any]) -> None:
        """The call in ``/metrics``. A tool name is a label only once its server listed it
        (or it is the gateway's own): a caller cannot mint series with made-up names."""
        server, tool = str(record.get("server") or ""), str(record.get("tool") or "")
        if tool != RESULT_TOOL and not self.listing.listed(server, tool):
            tool = "(unlisted)"
        metrics = self.gateway.metrics
        outcome = str(record.get("outcome") or "unknown")
        metrics.inc(
            "fleet_gateway_mcp_tool_calls_total",
            server=server,
            tool=tool,
            tool_class=str(record.get("tool_class") or "none"),
            outcome=outcome,
        )
        if outcome in ("denied", "blocked"):
            metrics.inc(
                "fleet_gateway_mcp_denials_total",
                server=server,
                reason=str(record.get("denied_by") or outcome),
            )

    async def _write(self, record: dict[str, Any]) -> None:
        try:
            await self.gateway.store.write_trace(record)
        except Exception:  # a trace must never fail the call it describes
            log.exception("could not write a tool trace")

    async def drain(self, timeout_s: float = 10.0) -> None:
        """At shutdown, give keyed calls still running a moment to store their results."""
        if self.inflight:
            await asyncio.wait(list(self.inflight.values()), timeout=timeout_s)

    # ---------------------------------------------------------------- approvals

    async def fetch_result(self, ident: Identity, args: dict[str, Any]) -> dict[str, Any]:
        approval_id = args.get("approval_id")
        if not isinstance(approval_id, str) or not approval_id:
            return text_result(
                f'{RESULT_TOOL} takes {{"approval_id": "ap_…"}}: the id a pending call answered with',
                error=True,
            )
        row = await self.ledger.approval(approval_id)
        if row is None or row["loop"] != ident.loop:
            return text_result(
                f"no approval request {approval_id[:80]!r} for loop '{ident.loop}'", error=True
            )
        # Results stored before redaction existed are redacted on the way out too.
        return self.redactor.value(approval_answer(row))

    async def execute_approved(self, row: dict[str, Any], approver: str) -> dict[str, Any]:
        """Run an approval request that this caller just claimed (state ``approved``, under a
        lease the ledger renews while the call runs); exactly once per claim."""
        try:
            return await self._execute_approved(row, approver)
        finally:
            self.ledger.abandon(approval_id=row["id"])  # a no-op once the result is stored

    async def _execute_approved(self, row: dict[str, Any], approver: str) -> dict[str, Any]:
        server: GwMcpServer | None = self.config.mcp_servers.get(row["server"])
        started = time.perf_counter()
        if server is None:
            result = text_result(
                f"server '{row['server']}' is no longer in the catalog", error=True
            )
        elif server.credentials is not None and not credential(server):
            # As on every other call: sent without it, the call would run anonymously or fail.
            result = text_result(
                f"MCP server '{row['server']}' cannot be called: the gateway has no credential "
                f"for it, so the call did not run; set {server.credentials.env} in the "
                "gateway's environment and restart it, then make the call again",
                error=True,
                extra={
                    "fleet/error": {"code": "credentials_missing", "env": server.credentials.env}
                },
            )
        else:
            try:
                message = self.redactor.value(
                    await call_once(self.pool, server, row["tool"], row["arguments"])
                )
                result = message.get("result")
                if not isinstance(result, dict):
                    error = message.get("error")
                    why = error.get("message") if isinstance(error, dict) else None
                    result = text_result(f"server error: {why or 'unknown'}", error=True)
            except Unreachable as exc:
                result = text_result(
                    f"server unreachable: {self.redactor.text(str(exc))}", error=True
                )
        result, verdicts, _blocked = await self.post_guard_async(result, OFF_LOOP_BYTES + 1)
        await self.ledger.executed(row, result)
        await self.trace(
            loop=row["loop"],
            member=row["member"],
            run=row["run"],
            step=row["step"],
            server=row["server"],
            tool=row["tool"],
            tool_class=row["tool_class"],
            latency_ms=round((time.perf_counter() - started) * 1000, 3),
            outcome="error" if result.get("isError") else "executed",
            guardrails=[v.to_json() for v in verdicts],
            approval_id=row["id"],
            approved_by=approver,
            attempt=row.get("attempt"),
            error=bool(result.get("isError")) or None,
        )
        return result

    def screen(self, msg: dict[str, Any]) -> tuple[dict[str, Any] | None, list[Verdict]]:
        """``mcp_post_tool`` guardrails on an interim message of a call (progress, a server's
        request): redacted, or None when a rule blocks it."""
        params = msg.get("params")
        rules = self.config.guardrails.mcp_post_tool
        if not rules or not params:
            return msg, []
        if jsonrpc.too_deep(params):
            return None, []  # too deep to check: withheld
        cleaned, verdicts, blocked = guard("mcp_post_tool", rules, params)
        if blocked is not None:
            return None, verdicts
        return (msg if cleaned is params else {**msg, "params": cleaned}), verdicts

    async def post_guard_async(
        self, result: dict[str, Any], size: int
    ) -> tuple[dict[str, Any], list[Verdict], Verdict | None]:
        """:meth:`post_guard`, in a worker thread for a long result (``size`` bytes), so
        the event loop goes on answering other calls while the detectors read it."""
        if size > OFF_LOOP_BYTES and self.config.guardrails.mcp_post_tool:
            return await asyncio.to_thread(self.post_guard, result)
        return self.post_guard(result)

    def post_guard(
        self, result: dict[str, Any]
    ) -> tuple[dict[str, Any], list[Verdict], Verdict | None]:
        rules = self.config.guardrails.mcp_post_tool
        if jsonrpc.too_deep(result):
            return (
                text_result(
                    f"result withheld by the gateway: nested more than {jsonrpc.MAX_DEPTH} "
                    "deep, too deep to check",
                    error=True,
                ),
                [],
                None,
            )
        scanned = {k: result[k] for k in ("content", "structuredContent") if k in result}
        cleaned, verdicts, blocked = guard("mcp_post_tool", rules, scanned)
        if blocked is not None:
            return (
                text_result(
                    f"result withheld by the gateway: mcp_post_tool guardrail '{blocked.detector}' "
                    f"found {', '.join(blocked.kinds)}",
                    error=True,
                ),
                verdicts,
                blocked,
            )
        if cleaned is scanned:
            return (
                result,
                verdicts,
                None,
            )  # nothing redacted: the caller may send the bytes as they came
        return {**result, **cleaned}, verdicts, None

    # ---------------------------------------------------------------- tools/call

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
            trace.update(extra)
            trace["outcome"] = outcome
            trace["latency_ms"] = round((time.perf_counter() - started) * 1000, 3)
            if "error" in answer or (answer.get("result") or {}).get("isError"):
                trace["error"] = True
            await self.trace(**trace)
            error = answer.get("error")
            return (
                502 if isinstance(error, dict) and error.get("code") == UNREACHABLE else 200,
                OWN_ANSWER,
                orjson.dumps({"jsonrpc": "2.0", "id": rid, **answer}),
            )

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
        args, verdicts, blocked = guard("mcp_pre_tool", config.guardrails.mcp_pre_tool, args)
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
            row = await self.ledger.create_approval(
                loop=ident.loop,
                member=ident.member,
                run=run,
                step=trace["step"],
                server=name,
                tool=tool,
                tool_class=cls,
                arguments=args,
                verdicts=trace["guardrails"],
                idempotency_key=scoped,
                ttl_s=config.approval_ttl_s,
                task=as_task is not None,
            )
            if as_task is not None:
                # The task is the approval request: its id, its state, its result. The pending
                # notice goes along: a client that reads it as a tool result sees no success.
                result = {
                    **pending_call(row["id"], name, tool),
                    "task": task_json(row, config.approval_ttl_s),
                }
            elif row["state"] == "pending":
                result = pending_call(row["id"], name, tool)
            else:
                result = await self.fetch_result(ident, {"approval_id": row["id"]})
            return await done("pending", {"result": result}, approval_id=row["id"])

        if scoped is None:
            try:
                reply, rh = await self.forward(
                    server, headers, body_of(raw, msg, params, args, original), rid, relay
                )
            except Unreachable as exc:
                return await done("error", unreachable(exc))
            if relay is not None and relay.verdicts:
                trace["guardrails"] = trace["guardrails"] + [v.to_json() for v in relay.verdicts]
            return await self._finish(reply, rh, trace, started)

        # At most once per key: the first caller runs it; concurrent ones wait; later ones replay.
        waiting = self.inflight.get(scoped)
        if waiting is not None:
            try:
                shared = await asyncio.shield(waiting)
            except Exception as exc:
                shared = text_result(f"the first call with this key failed: {exc}", error=True)
            return await done("replayed", {"result": shared}, idempotency_key=key)
        claim = await self.ledger.begin(scoped, ident.loop, name, tool, member=ident.member)
        if claim.state == "running":
            # In flight elsewhere (another replica): wait a while for its result.
            claim = await self.ledger.wait(scoped, KEY_WAIT_S)
        if claim.state == "done":
            replay = self.redactor.value(claim.result)
            return await done("replayed", {"result": replay}, idempotency_key=key)
        if claim.state in ("running", "interrupted"):
            return await done(
                "unknown" if claim.state == "interrupted" else "in_flight",
                {"error": key_busy(claim, name, tool)},
                idempotency_key=key,
            )
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.inflight[scoped] = future
        body = body_of(raw, msg, params, args, original)
        # The call runs to completion and its result is stored even if the caller hangs up.
        task = asyncio.ensure_future(self._run_keyed(scoped, server, headers, body, rid, future))
        trace["idempotency_key"] = key
        try:
            reply, rh, verdicts = await asyncio.shield(task)
        except Unreachable as exc:
            return await done("error", unreachable(exc))
        return await self._finish(reply, rh, trace, started, verdicts)

    async def _run_keyed(
        self,
        scoped: str,
        server: GwMcpServer,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        rid: Any,
        future: asyncio.Future[dict[str, Any]],
    ) -> tuple[Reply, list[tuple[bytes, bytes]], list[Verdict]]:
        verdicts: list[Verdict] = []
        try:
            try:
                reply, rh = await self.forward(server, headers, body, rid)
            except Unreachable:
                # Nothing reached the server, or we cannot tell: for connect errors a retry is safe.
                await self.ledger.forget(scoped)
                raise
            msg = reply.message or {}
            if isinstance(msg.get("result"), dict):
                msg["result"], verdicts, _ = await self.post_guard_async(
                    msg["result"], len(reply.body)
                )
                await self.ledger.finish(scoped, msg["result"])
                future.set_result(msg["result"])
            else:
                await self.ledger.forget(scoped)
                error = msg.get("error")
                why = error.get("message") if isinstance(error, dict) else None
                future.set_result(text_result(f"server error: {why or 'no result'}", error=True))
            return reply, rh, verdicts
        except BaseException as exc:
            self.ledger.abandon(key=scoped)
            if not future.done():
                future.set_exception(exc)
                future.exception()  # retrieved: waiters re-raise it themselves
            raise
        finally:
            self.inflight.pop(scoped, None)

    async def _finish(
        self,
        reply: Reply,
        rh: list[tuple[bytes, bytes]],
        trace: dict[str, Any],
        started: float,
        verdicts: list[Verdict] | None = None,
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        msg = reply.message
        changed = True
        if msg is not None and isinstance(msg.get("result"), dict):
            if verdicts is None:
                result = msg["result"]
                msg["result"], verdicts, _ = await self.post_guard_async(result, len(reply.body))
                changed = msg["result"] is not result
            trace["guardrails"] = trace.get("guardrails", []) + [v.to_json() for v in verdicts]
            if any(v.action == "block" for v in verdicts):
                trace["outcome"] = "blocked"
            else:
                trace["outcome"] = "error" if msg["result"].get("isError") else "ok"
        else:
            trace["outcome"] = "error"
            changed = False  # an error or no JSON-RPC answer: passed on as it came (redacted)
        if trace["outcome"] != "ok":
            trace["error"] = True
        trace["latency_ms"] = round((time.perf_counter() - started) * 1000, 3)
        await self.trace(**trace)
        if reply.sse and reply.message is not None and len(reply.events) == 1:
            # An answer that is one event needs no stream: as JSON (which the streamable HTTP
            # transport allows, and every client accepts) it costs the caller's SSE parser
            # nothing, about a third of a tool call's client CPU.
            rh = [(k, v) for k, v in rh if k.lower() != b"content-type"]
            rh.append((b"content-type", b"application/json"))
            return reply.status, rh, reply.render_json()
        return reply.status, rh, reply.render() if changed else reply.body
