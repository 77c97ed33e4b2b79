"""The tool names each catalog server lists, so that a ``tools/call`` names a tool
the server itself offers and nothing else.

Globs in grants and catalogs match names; a look-alike name (``Merge_pr``,
`` merge_pr``, ``mеrge_pr`` with a Cyrillic е) can slip past every glob while a
server that normalises names would run the real tool. So the proxy calls only
names the server lists in ``tools/list``. Each server's names are remembered
for :data:`TTL_S` from any listing that passes through (a caller's
``tools/list``) or that the gateway asks for itself: a call to a name not
remembered makes one refresh (a ``tools/list``, every page, through the
caller's own session), at most one per server every :data:`REFRESH_GAP_S`
and one at a time, and is refused if the name is still not listed.

Memory is bounded: at most :data:`MAX_NAMES` names per catalog server.
"""

from __future__ import annotations

import asyncio
import difflib
import itertools
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from gateway.mcp.grants import skeleton

TTL_S = 30.0
REFRESH_GAP_S = 1.0
MAX_PAGES = 20
MAX_NAMES = 10_000


class ListingError(Exception):
    """The server did not answer ``tools/list`` with a list of tools."""


# Sends one JSON-RPC request to the server (body, its id) and returns the answer message.
Post = Callable[[bytes, str], Awaitable[dict[str, Any] | None]]


def names_of(tools: Any) -> list[str]:
    if not isinstance(tools, list):
        return []
    return [t["name"] for t in tools if isinstance(t, dict) and isinstance(t.get("name"), str)]


class Listing:
    def __init__(self) -> None:
        self.names: dict[str, dict[str, float]] = {}  # server -> name -> until (monotonic)
        self.refreshed: dict[str, float] = {}
        self._inflight: dict[str, asyncio.Future[None]] = {}
        self._ids = itertools.count(1)

    def note(self, server: str, names: list[str], complete: bool) -> None:
        """Remember names a server listed; ``complete``: the whole list (no pages before or
        after), which replaces what was remembered."""
        until = time.monotonic() + TTL_S
        fresh = dict.fromkeys(names[:MAX_NAMES], until)
        known = self.names.get(server)
        if complete or known is None:
            self.names[server] = fresh
        elif len(known) + len(fresh) <= MAX_NAMES:
            known.update(fresh)

    def listed(self, server: str, tool: str) -> bool:
        until = self.names.get(server, {}).get(tool)
        return until is not None and until > time.monotonic()

    async def check(self, server: str, tool: str, post: Post) -> bool:
        """Whether ``server`` lists ``tool``, refreshing once if it is not remembered."""
        if self.listed(server, tool):
            return True
        await self.refresh(server, post)
        return self.listed(server, tool)

    async def refresh(self, server: str, post: Post) -> None:
        waiting = self._inflight.get(server)
        if waiting is not None:
            await asyncio.shield(waiting)
            return
        if time.monotonic() - self.refreshed.get(server, float("-inf")) < REFRESH_GAP_S:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._inflight[server] = future
        try:
            self.note(server, await self._fetch(post), complete=True)
            self.refreshed[server] = time.monotonic()
            future.set_result(None)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it themselves
            raise
        finally:
            self._inflight.pop(server, None)

    async def _fetch(self, post: Post) -> list[str]:
        names: list[str] = []
        cursor: Any = None
        for _ in range(MAX_PAGES):
            rid = f"fleet-gateway-tools-{next(self._ids)}"
            msg: dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "method": "tools/list"}
            if cursor is not None:
                msg["params"] = {"cursor": cursor}
            answer = await post(orjson.dumps(msg), rid)
            result = (answer or {}).get("result")
            if not isinstance(result, dict) or not isinstance(result.get("tools"), list):
                error = (answer or {}).get("error")
                why = error.get("message") if isinstance(error, dict) else None
                raise ListingError(str(why or "no list of tools in its answer"))
            names.extend(names_of(result["tools"]))
            cursor = result.get("nextCursor")
            if not isinstance(cursor, str) or not cursor:
                break
        return names

    def suggest(self, server: str, tool: str) -> str | None:
        """The listed name ``tool`` most likely meant."""
        known = list(self.names.get(server, {}))
        if not known:
            return None
        want = skeleton(tool)
        by_form = {skeleton(n): n for n in known}
        for cut in (want, want.rsplit(".", 1)[-1]):
            if cut in by_form:
                return by_form[cut]
        close = difflib.get_close_matches(want, list(by_form), n=1, cutoff=0.75)
        return by_form[close[0]] if close else None
