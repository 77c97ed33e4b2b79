"""A loop's state: one small JSON object that outlives its runs (the pod's disk does
not), versioned, written by compare-and-set, with its last versions kept.

Tables (``row_*`` of :class:`gateway.store.Store`)::

    fleet_state                   key <loop>         {"state": "<version>", "data": "<state JSON>"}
    fleet_state_history:<loop>    key <version, 12>  {"data": "<state JSON>"}

A write names the version it read (``if_version``); the current row moves from
that version to the next by compare-and-set (insert-if-absent from version 0),
so of two writers that read the same version one wins and the other gets a 409
with the version to read again. The history holds the last ``KEEP`` versions,
the current one included; each write deletes the version that falls out. A
version missing there (a gateway killed between the two writes) reads as gone,
like one that fell out: the window, not the rows, decides what is readable.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import orjson

from gateway.errors import NotFoundError
from gateway.runs.validate import ConflictError
from gateway.store import Store

STATE = "fleet_state"
KEEP = 20


def history_table(loop: str) -> str:
    return f"fleet_state_history:{loop}"


def _key(version: int) -> str:
    return f"{version:012d}"


@dataclass(frozen=True)
class State:
    loop: str
    version: int
    value: bytes  # canonical JSON of the object
    updated: float | None

    def json(self) -> bytes:
        head = orjson.dumps({"loop": self.loop, "version": self.version, "updated": self.updated})
        return head[:-1] + b',"value":' + self.value + b"}"

    def data(self) -> str:
        return self.json().decode()


def _state(data: str) -> State:
    raw = orjson.loads(data)
    return State(raw["loop"], raw["version"], orjson.dumps(raw["value"]), raw["updated"])


def empty(loop: str) -> State:
    return State(loop, 0, b"{}", None)


async def current(store: Store, loop: str) -> State:
    row = await store.row_get(STATE, loop)
    return _state(row["data"]) if row else empty(loop)


async def read(store: Store, loop: str, version: int | None = None) -> State:
    """The current state, or version ``version`` while it is among the last ``KEEP``."""
    now = await current(store, loop)
    if version is None or version == now.version:
        return now
    first = max(0, now.version - KEEP + 1)
    if first <= version < now.version:
        if version == 0:
            return empty(loop)
        row = await store.row_get(history_table(loop), _key(version))
        if row is not None:
            return _state(row["data"])
    raise NotFoundError(
        "version_not_found",
        f"loop '{loop}' has no state version {version}: the current one is {now.version} and "
        f"the last {KEEP} are kept ({first} to {now.version}); read one of those",
    )


async def write(store: Store, loop: str, value: bytes, if_version: int) -> State:
    """Store ``value`` as the version after ``if_version``, if that is still the current one."""
    now = await current(store, loop)
    new = State(loop, if_version + 1, value, time.time())
    row = {"state": str(new.version), "data": new.data()}
    if now.version == if_version:
        if if_version == 0:
            stored = await store.row_insert(STATE, loop, row)
        else:
            stored = await store.row_update(STATE, loop, row, if_state=str(if_version))
        if stored:
            await store.row_insert(history_table(loop), _key(new.version), {"data": new.data()})
            if new.version > KEEP:
                await store.row_delete(history_table(loop), _key(new.version - KEEP))
            return new
        now = await current(store, loop)
    raise ConflictError(
        "state_conflict",
        f"loop '{loop}' state is at version {now.version}, not {if_version}: read it again "
        f"(GET /v1/fleet/loops/{loop}/state), apply your change to it, and write with "
        f"if_version {now.version}",
        extra={"version": now.version},
    )
