"""MCP sessions bound to the identity that opened them.

Every caller reaches a server with the same credential (the server's), so the
server cannot tell one loop's session from another's; the gateway must. The
session id a caller sees is the server's id with a MAC of (identity, server,
id, keyed BLAKE2b) appended: ``<server's id>.<22 characters>``. A request carrying a session
id is forwarded only when the MAC checks out for the caller's own identity
(the loop, or ``loop/sub-agent``) on that server; any other (another
identity's, made up, the server's bare id) is answered 404 ``Session not
found``, exactly as the server answers a session it does not know, and nothing
is forwarded. That covers POST, the GET stream and DELETE alike.

The binding lives in the id itself, so it needs no table of sessions (a memo
of the ids seen lately, at most 10,000, saves recomputing MACs); the one key (32 random bytes) is a row of the
gateway's store, created by whichever process needs it first. Replicas sharing
a store (Redis) share the key, so a session opened through one replica works
through any other and survives restarts; replicas with a store each (SQLite
files) do not, and a session moved to another replica answers 404, after
which an MCP client opens a new one. If the store cannot be read when the key
is first needed, this process uses a key of its own (logged): its sessions
then work through it alone.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import secrets
from typing import Any

import orjson

from gateway.mcp.jsonrpc import INVALID_REQUEST

log = logging.getLogger("fleet.gateway.mcp")

TABLE = "mcp_keys"
ROW = "session-mac"
SESSION_HEADER = b"mcp-session-id"
# The server's own answer to a session it does not know (mcp's streamable_http_manager).
NOT_FOUND = orjson.dumps(
    {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": INVALID_REQUEST, "message": "Session not found"},
    }
)


MEMO = 10_000


class Sessions:
    def __init__(self, store: Any):
        self.store = store
        self.key: bytes | None = None
        self._loading: asyncio.Lock | None = None
        # (identity, server, id) -> the id shown, for ids seen lately: one lookup instead of a
        # MAC per request. Bounded: past MEMO entries it starts over.
        self._shown: dict[tuple[str, str, str], str] = {}
        self._behind: dict[tuple[str, str, str], str] = {}

    async def ready(self) -> None:
        """Load (or create) the shared key once."""
        if self.key is not None:
            return
        if self._loading is None:
            self._loading = asyncio.Lock()
        async with self._loading:
            if self.key is None:
                self.key = await self._load()

    async def _load(self) -> bytes:
        fresh = secrets.token_hex(32)
        try:
            await self.store.row_insert(TABLE, ROW, {"key": fresh})
            row = await self.store.row_get(TABLE, ROW)
            return bytes.fromhex(str((row or {})["key"]))
        except Exception:
            log.exception("cannot read the session key from the store; this process uses its own")
            return bytes.fromhex(fresh)

    def _mac(self, member: str, server: str, sid: str) -> str:
        assert self.key is not None
        # Keyed BLAKE2b is a MAC by design, and 3x faster here than HMAC through OpenSSL 3.
        digest = hashlib.blake2b(
            f"{member}\0{server}\0{sid}".encode(), key=self.key, digest_size=16
        ).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def wrap(self, member: str, server: str, sid: str) -> str:
        found = self._shown.get((member, server, sid))
        if found is None:
            found = f"{sid}.{self._mac(member, server, sid)}"
            self._remember(self._shown, (member, server, sid), found)
        return found

    def unwrap(self, member: str, server: str, shown: str) -> str | None:
        """The server's session id behind ``shown``, if ``member`` opened it; else None."""
        found = self._behind.get((member, server, shown))
        if found is not None:
            return found
        sid, dot, mac = shown.rpartition(".")
        if not dot or not sid:
            return None
        ok = hmac.compare_digest(mac.encode("latin-1"), self._mac(member, server, sid).encode())
        if not ok:
            return None
        self._remember(self._behind, (member, server, shown), sid)
        return sid

    @staticmethod
    def _remember(
        memo: dict[tuple[str, str, str], str], key: tuple[str, str, str], value: str
    ) -> None:
        if len(memo) >= MEMO:
            memo.clear()
        memo[key] = value

    def inbound(
        self, headers: list[tuple[bytes, bytes]], member: str, server: str
    ) -> list[tuple[bytes, bytes]] | None:
        """The caller's headers with its session id replaced by the server's; None when the
        id is not the caller's (answer :data:`NOT_FOUND`)."""
        for i, (k, v) in enumerate(headers):
            if k == SESSION_HEADER:
                sid = self.unwrap(member, server, v.decode("latin-1"))
                if sid is None:
                    return None
                out = list(headers)
                out[i] = (k, sid.encode("latin-1"))
                return out
        return headers

    def outbound(
        self, headers: list[tuple[bytes, bytes]], member: str, server: str
    ) -> list[tuple[bytes, bytes]]:
        """The server's answer headers with its session id shown as the caller's."""
        for i, (k, v) in enumerate(headers):
            if k == SESSION_HEADER:
                out = list(headers)
                out[i] = (k, self.wrap(member, server, v.decode("latin-1")).encode("latin-1"))
                return out
        return headers
