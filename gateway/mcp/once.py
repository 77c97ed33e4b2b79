"""Idempotency of tools/call: which key a call has, and running a keyed call at most once.

Idempotency keys: the ``Idempotency-Key`` HTTP header, or
``params._meta["fleet/idempotency-key"]`` on the tools/call request. Without
one, write and destructive tools get a default key, sha256 of run id
(``X-Fleet-Run-Id``), step (``X-Fleet-Step``), tool and canonical arguments,
when the caller sends a run id; a stock client that sends neither gets one from its
session and JSON-RPC id, so re-sending the same request is a retry. Keys are scoped
to the caller's identity (the loop, or ``loop/sub-agent``), the server and the tool:
the same key on another tool, server or identity is another call.

The first call with a key runs; concurrent ones in this gateway wait for it, one in
flight on another replica is waited for a while, later ones replay the stored result.
A keyed call runs to completion and stores its result even if its caller hangs up.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from gateway.guardrails import Verdict
from gateway.mcp.answers import key_busy
from gateway.mcp.ledger import Ledger
from gateway.mcp.outcome import Records
from gateway.mcp.screening import post_guard_async
from gateway.mcp.wire import Reply, Unreachable, text_result

IDEMPOTENCY_META = "fleet/idempotency-key"
KEY_WAIT_S = 30.0

Forward = Callable[..., Awaitable[tuple[Reply, list[tuple[bytes, bytes]]]]]
Ran = tuple[Reply, list[tuple[bytes, bytes]], list[Verdict]]


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


class Once:
    """Keyed calls: the ones running in this gateway, and the ledger's record of all."""

    def __init__(self, gateway: Any, ledger: Ledger, records: Records, forward: Forward):
        self.gateway = gateway
        self.ledger = ledger
        self.records = records
        self.forward = forward
        self.inflight: dict[str, asyncio.Future[dict[str, Any]]] = {}

    async def settled(
        self, scoped: str, loop: str, member: str, server: str, tool: str
    ) -> tuple[str, dict[str, Any]] | None:
        """(outcome, answer) when the key's call was made already or is still running, or
        None: this caller claimed the key and runs the call (:meth:`start`, at once)."""
        waiting = self.inflight.get(scoped)
        if waiting is not None:
            try:
                shared = await asyncio.shield(waiting)
            except Exception as exc:
                shared = text_result(f"the first call with this key failed: {exc}", error=True)
            return "replayed", {"result": shared}
        claim = await self.ledger.begin(scoped, loop, server, tool, member=member)
        if claim.state == "running":
            # In flight elsewhere (another replica): wait a while for its result.
            claim = await self.ledger.wait(scoped, KEY_WAIT_S)
        if claim.state == "done":
            return "replayed", {"result": self.records.redactor.value(claim.result)}
        if claim.state in ("running", "interrupted"):
            return (
                "unknown" if claim.state == "interrupted" else "in_flight",
                {"error": key_busy(claim, server, tool)},
            )
        return None

    def start(
        self, scoped: str, server: Any, headers: list[tuple[bytes, bytes]], body: bytes, rid: Any
    ) -> asyncio.Future[Ran]:
        """Run the claimed call as a task of its own: concurrent callers with the key wait
        for it, and it stores its result even if the caller that started it hangs up."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.inflight[scoped] = future
        return asyncio.ensure_future(self._run(scoped, server, headers, body, rid, future))

    async def _run(
        self,
        scoped: str,
        server: Any,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        rid: Any,
        future: asyncio.Future[dict[str, Any]],
    ) -> Ran:
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
                rules = self.gateway.holder.runtime.config.guardrails.mcp_post_tool
                msg["result"], verdicts, _ = await post_guard_async(
                    rules, msg["result"], len(reply.body)
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

    async def drain(self, timeout_s: float = 10.0) -> None:
        """At shutdown, give keyed calls still running a moment to store their results."""
        if self.inflight:
            await asyncio.wait(list(self.inflight.values()), timeout=timeout_s)
