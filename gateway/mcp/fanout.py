"""The sessions of the aggregated ``/mcp`` endpoint: one session per caller, and
behind it one session per catalog server, opened only when a request needs that
server.

A caller's ``/mcp`` session id is a random id of the gateway's with the MAC of
:class:`gateway.mcp.sessions.Sessions` appended (bound to the identity that
opened it, under the pseudo-server ``/mcp``, which no catalog server can be
named). What the session holds is a row of the gateway's store, so it survives a
restart and is shared by replicas on one Redis: the caller's ``initialize``
params (replayed to each server when its session opens, without the ``tasks``
capability, which the gateway answers itself) and, per server, the server's
own session id and the protocol version it chose. A memo of the rows seen
lately (at most :data:`MEMO`) saves the store read on the hot path.

A server that forgot its session (it restarted: HTTP 404) gets a new one, once,
through :meth:`Fanout.reopen`.

A session unused for ``FLEET_MCP_SESSION_IDLE_S`` (default a day) is gone: its id is
answered 404, after which an MCP client opens a new one. Use is written back at most
once every :data:`TOUCH_S`, so the hot path stays a memo lookup; each new session
sweeps a few of the oldest rows (:data:`SWEEP`), so rows of clients that never DELETE
do not pile up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import time
from typing import Any

import orjson

from fleet.gwconfig import GwMcpServer
from gateway.mcp.sessions import SESSION_HEADER, Sessions
from gateway.mcp.wire import PROTOCOL_VERSION, Pool, Reply, Unreachable, upstream_headers

log = logging.getLogger("fleet.gateway.mcp")

TABLE = "mcp_aggregate_sessions"
LABEL = "/mcp"  # the MAC's server field: no catalog server is named with a slash
MEMO = 10_000
TOUCH_S = 600.0
SWEEP = 20
VERSION_HEADER = b"mcp-protocol-version"
OWN = [
    (b"content-type", b"application/json"),
    (b"accept", b"application/json, text/event-stream"),
]


def idle_seconds() -> float:
    """How long a ``/mcp`` session lives unused (``FLEET_MCP_SESSION_IDLE_S``, default 1 day)."""
    try:
        value = float(os.environ.get("FLEET_MCP_SESSION_IDLE_S", "86400"))
    except ValueError:
        value = 86400.0
    return value if value > 0 else 86400.0


class Fanout:
    def __init__(self, store: Any, pool: Pool, sessions: Sessions):
        self.store = store
        self.pool = pool
        self.sessions = sessions
        self._memo: dict[str, dict[str, Any]] = {}
        self._opening: dict[tuple[str, str], asyncio.Lock] = {}
        self._swept = 0  # where the next sweep starts reading

    async def create(self, member: str, init: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """A new session for ``member``: (the id the caller sees, its row)."""
        await self.sessions.ready()
        sid = secrets.token_hex(16)
        now = time.time()
        row = {
            "member": member,
            "init": init,
            "servers": {},
            "created": now,
            "seen": now,
            "id": sid,
        }
        await self.sweep(now)
        await self.store.row_insert(TABLE, sid, row)
        self._remember(sid, row)
        return self.sessions.wrap(member, LABEL, sid), row

    async def load(self, member: str, shown: str) -> dict[str, Any] | None:
        """The row behind ``shown`` if ``member`` opened it, else None (answer 404)."""
        await self.sessions.ready()
        sid = self.sessions.unwrap(member, LABEL, shown)
        if sid is None:
            return None
        row = self._memo.get(sid)
        if row is None:
            row = await self.store.row_get(TABLE, sid)
            if row is None or row.get("member") != member:
                return None
            self._remember(sid, row)
        now = time.time()
        seen = float(row.get("seen") or row.get("created") or 0.0)
        if now - seen > idle_seconds():
            self._memo.pop(sid, None)
            await self.store.row_delete(TABLE, sid)
            return None
        if now - seen > TOUCH_S:
            row["seen"] = now
            await self._save(row)
        return row

    async def sweep(self, now: float) -> None:
        """Delete the idle ones among a few rows, a different few each time."""
        try:
            rows = await self.store.row_list(TABLE, None, SWEEP, offset=self._swept)
            self._swept = self._swept + len(rows) if len(rows) == SWEEP else 0
            for old in rows:
                if now - float(old.get("seen") or old.get("created") or 0.0) > idle_seconds():
                    self._memo.pop(str(old.get("id")), None)
                    await self.store.row_delete(TABLE, str(old.get("id")))
        except Exception:  # a sweep must never fail an initialize
            log.exception("could not sweep idle /mcp sessions")

    async def _save(self, row: dict[str, Any]) -> None:
        try:
            await self.store.row_update(TABLE, row["id"], row)
        except Exception:  # the session still works through this process
            log.exception("could not store the /mcp session %s", row["id"])

    def _remember(self, sid: str, row: dict[str, Any]) -> None:
        if len(self._memo) >= MEMO:
            self._memo.clear()
        self._memo[sid] = row

    def headers(
        self, row: dict[str, Any], name: str, caller: list[tuple[bytes, bytes]]
    ) -> list[tuple[bytes, bytes]] | None:
        """The caller's headers as the server's session expects them, if it is open."""
        up = row["servers"].get(name)
        if up is None:
            return None
        out = [(k, v) for k, v in caller if k not in (SESSION_HEADER, VERSION_HEADER)]
        if up.get("sid"):
            out.append((SESSION_HEADER, str(up["sid"]).encode("latin-1")))
        out.append((VERSION_HEADER, str(up["version"]).encode("latin-1")))
        return out

    async def upstream(
        self,
        row: dict[str, Any],
        name: str,
        server: GwMcpServer,
        caller: list[tuple[bytes, bytes]],
    ) -> list[tuple[bytes, bytes]]:
        """Headers for a request to ``name`` in this session, opening the server's session
        first if the caller has not reached that server yet."""
        found = self.headers(row, name, caller)
        if found is not None:
            return found
        lock = self._opening.setdefault((row["id"], name), asyncio.Lock())
        try:
            async with lock:
                found = self.headers(row, name, caller)
                if found is None:
                    await self._open(row, name, server)
                    found = self.headers(row, name, caller)
        finally:
            self._opening.pop((row["id"], name), None)
        assert found is not None
        return found

    async def reopen(
        self,
        row: dict[str, Any],
        name: str,
        server: GwMcpServer,
        caller: list[tuple[bytes, bytes]],
    ) -> list[tuple[bytes, bytes]]:
        """A new session on a server that answered 404 (it forgot the one it had)."""
        row["servers"].pop(name, None)
        return await self.upstream(row, name, server, caller)

    async def _open(self, row: dict[str, Any], name: str, server: GwMcpServer) -> None:
        init = dict(row.get("init") or {})
        caps = init.get("capabilities")
        # Tasks are the gateway's own (approvals); a server is not asked to run tasks for it.
        capabilities = (
            {k: v for k, v in caps.items() if k != "tasks"} if isinstance(caps, dict) else {}
        )
        version = init.get("protocolVersion") or PROTOCOL_VERSION
        message = {
            "jsonrpc": "2.0",
            "id": f"fleet-gateway-init-{secrets.token_hex(4)}",
            "method": "initialize",
            "params": {
                "protocolVersion": version,
                "capabilities": capabilities,
                "clientInfo": init.get("clientInfo") or {"name": "fleet-gateway", "version": "1"},
            },
        }
        r = await self.pool.request(
            "POST", server.url, orjson.dumps(message), upstream_headers(OWN, server)
        )
        if r.status >= 400:
            raise Unreachable(f"{server.url} answered HTTP {r.status} to initialize")
        reply = Reply(r.status, r.content_type, r.body, message["id"])
        result = (reply.message or {}).get("result")
        if not isinstance(result, dict):
            raise Unreachable(f"{server.url} gave no initialize result")
        sid = dict(r.headers).get(SESSION_HEADER)
        chosen = result.get("protocolVersion")
        caps_back = result.get("capabilities")
        up: dict[str, Any] = {
            "sid": sid.decode("latin-1") if sid else None,
            "version": chosen if isinstance(chosen, str) and chosen.isascii() else str(version),
            "capabilities": caps_back if isinstance(caps_back, dict) else {},
        }
        headers = [*OWN, (VERSION_HEADER, str(up["version"]).encode())]
        if up["sid"]:
            headers.append((SESSION_HEADER, str(up["sid"]).encode("latin-1")))
        done = await self.pool.request(
            "POST",
            server.url,
            orjson.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}),
            upstream_headers(headers, server),
        )
        if done.status >= 400:
            raise Unreachable(f"{server.url} answered HTTP {done.status} to initialized")
        row["servers"][name] = up
        await self._save(row)

    async def close(self, row: dict[str, Any], catalog: dict[str, GwMcpServer]) -> None:
        """DELETE every server session behind ``row``, then forget it."""
        for name in list(row["servers"]):
            server = catalog.get(name)
            headers = self.headers(row, name, OWN)
            if server is None or headers is None or not row["servers"][name].get("sid"):
                continue
            with contextlib.suppress(Unreachable):
                await self.pool.request(
                    "DELETE", server.url, None, upstream_headers(headers, server)
                )
        row["servers"] = {}
        self._memo.pop(row["id"], None)
        await self.store.row_delete(TABLE, row["id"])
