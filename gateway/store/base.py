"""The gateway's durable state: spend counters with reservations, rate-limit windows,
run counters and traces. Two implementations share this interface and one test
suite: SQLite (embedded default, one replica) and Redis (replicas share state).

Budgets are enforced by reservation: before a request goes upstream the
gateway reserves its maximum possible cost against every budget that applies;
the reservation is settled with the actual cost (from the usage block) when
the response is complete. So N concurrent requests can overspend a budget by
at most the difference between their reserved maximum and what one of them
could still add — never by the sum of in-flight costs.

Durability: :meth:`Store.settle` commits spend, rate and run counters and the
trace record in one transaction before the response is finished (a Redis that
does not answer in time gets it later, from the replica's local journal); a
killed process loses nothing that was settled. Nothing a trace holds can make
a settlement fail (:mod:`gateway.store.encode`). A backend that cannot be
reached raises :class:`~gateway.store.errors.StoreUnavailable` (503), and
:meth:`Store.healthy` tells readiness probes.

For the MCP half and other features: ``write_trace`` / ``query_traces`` for
trace records of any ``kind`` (``"llm"`` here, e.g. ``"mcp"`` there), and the
``row_*`` methods for durable JSON rows by (table, key) with an atomic
insert-if-absent and a compare-and-set on the row's ``state`` field, which is
what approvals (pending → approved by exactly one approver) and idempotency
keys (claim once, then store the result) need. Both backends implement them,
so replicas sharing Redis share the rows.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

    from gateway.store.report import Reports

T = TypeVar("T")


@dataclass(frozen=True)
class BudgetKey:
    key: str  # e.g. "loop:bug-report-triage:day:2026-11-22"
    limit: float  # USD
    resets_at: float  # epoch seconds


@dataclass
class Reservation:
    id: str
    keys: list[BudgetKey]
    amount: float


@dataclass(frozen=True)
class Denied:
    key: BudgetKey
    spent: float
    reserved: float


@dataclass
class Settlement:
    """What the caller records once a request is done."""

    reservation: Reservation | None
    cost: float
    loop: str
    minute: int
    tokens: int
    run: str | None
    run_tokens: int
    trace: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunState:
    steps: int
    tokens: int


class Store(Protocol):
    """What the gateway needs from its state store. All methods are coroutines."""

    async def reserve(self, keys: list[BudgetKey], amount: float) -> Reservation | Denied: ...

    async def settle(self, s: Settlement) -> dict[str, float]:
        """Release the reservation, add the actual cost, tokens and trace; return spend per budget key."""
        ...

    async def release(self, reservation: Reservation) -> None: ...

    async def spent(self, key: str) -> float: ...

    async def rate(self, loop: str, minute: int) -> tuple[int, int]:
        """(requests, tokens) counted for ``loop`` in that minute."""
        ...

    async def hit(self, loop: str, minute: int) -> int:
        """Count one request; return the minute's request count including it."""
        ...

    async def run_step(self, loop: str, run: str) -> RunState:
        """Count one step of a run; return the run's state including it."""
        ...

    async def mark_alert(self, key: str, threshold: int) -> bool:
        """True the first time (key, threshold) is marked: alert once per window."""
        ...

    async def write_trace(self, record: dict[str, Any]) -> None:
        """Append one trace record (any JSON object; ``ts``, ``loop``, ``run``, ``kind`` are indexed)."""
        ...

    async def query_traces(
        self,
        since: float = 0.0,
        loop: str | None = None,
        run: str | None = None,
        limit: int = 100_000,
    ) -> list[dict[str, Any]]: ...

    async def read_report(self, since: float, read: Callable[[Reports], T]) -> T:
        """``read`` applied to the sums of the traces and run records from ``since`` on
        (:mod:`gateway.store.report`): what ``fleetctl cost`` and ``doctor`` need, without
        handing over every record of the window."""
        ...

    # Durable rows: small JSON records that must outlive a request and be shared by
    # replicas (MCP approvals, idempotency keys). Each call is atomic and durable on return.

    async def row_insert(self, table: str, key: str, value: dict[str, Any]) -> bool:
        """Store ``value`` under ``key`` unless the key exists; True when this call stored it."""
        ...

    async def row_get(self, table: str, key: str) -> dict[str, Any] | None: ...

    async def row_update(
        self,
        table: str,
        key: str,
        value: dict[str, Any],
        *,
        if_state: str | None = None,
        if_lease: str | None = None,
    ) -> bool:
        """Replace the row; with ``if_state``, only while its ``state`` field equals it
        (compare-and-set: of N callers moving ``pending`` → ``approved``, one wins); with
        ``if_lease``, also only while its ``lease`` field equals it (a holder whose lease was
        taken over cannot overwrite the new holder's row)."""
        ...

    async def row_delete(self, table: str, key: str) -> None: ...

    async def row_list(
        self,
        table: str,
        state: str | None = None,
        limit: int = 500,
        *,
        newest_first: bool = False,
        since: float | None = None,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Rows of ``table`` (optionally only those whose ``state`` is ``state``), oldest
        first, or newest first; with ``since``, only those inserted at or after it (epoch
        seconds); ``offset`` skips that many, to read a long table a page at a time."""
        ...

    async def healthy(self) -> bool:
        """Whether the backend answers now (a short bound: readiness probes call it)."""
        ...

    async def close(self) -> None: ...


class StoreURLError(ValueError):
    """A ``--store`` value that names no store this gateway can open."""

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message + (f" ({hint})" if hint else ""))
        self.message = message
        self.hint = hint


class StoreNotFound(StoreURLError):
    """A SQLite store was expected at a path where there is none."""


class StoreInUse(StoreURLError):
    """A second gateway process on a SQLite store another one serves: each would hold
    its reservations (and rate and run counters) alone and together overspend."""


STORE_FORMS = "sqlite:PATH[?synchronous=full], redis://HOST:PORT/DB, rediss://… or unix://SOCKET"


def _near(path: Path) -> list[str]:
    """SQLite files next to ``path`` whose names are close to it, best first."""
    import difflib

    folder = path.parent
    try:
        found = [p.name for p in folder.glob("*.sqlite3")] if folder.is_dir() else []
    except OSError:
        found = []
    names = difflib.get_close_matches(path.name, found, n=3, cutoff=0.5) or sorted(found)[:3]
    return [str(folder / n) if str(folder) != "." else n for n in names]


def open_store(
    url: str, *, create: bool = True, exclusive: bool = False, announce: bool = True
) -> Store:
    """``sqlite:PATH[?synchronous=full]`` (default), or ``redis://host:port/db``,
    ``rediss://…``, ``unix://SOCKET``. Anything else is refused with
    :class:`StoreURLError`, so a mistyped URL never becomes a new empty database.

    ``create=False`` is for readers of an existing store (``fleetctl cost``, ``runs``):
    a SQLite path with nothing there raises :class:`StoreNotFound`, with the nearby
    store files as suggestions. With ``create=True`` (the gateway) a new SQLite store
    is logged once with its path, so a wrong path shows in the first lines of the log;
    ``announce=False`` where the caller made the place itself and a new store is expected
    (``fleetctl run``'s home, an eval's scratch directory).

    ``exclusive=True`` (``python -m gateway``): a SQLite store another live process
    serves raises :class:`StoreInUse` once it has not let go within
    ``FLEET_GATEWAY_STORE_WAIT_S`` seconds (default 15: a gateway being replaced
    finishes its requests first), so a second replica refuses to start instead of
    sharing budgets it cannot see.
    """
    if url.startswith(("redis://", "rediss://", "unix://")):
        from gateway.store.redis import RedisStore

        return RedisStore(url)
    scheme = re.match(r"[A-Za-z][A-Za-z0-9+.-]+(?=:)", url)
    if scheme and scheme[0] != "sqlite":
        # One letter before the colon is a drive (C:\\...); any longer "name:" is a scheme.
        raise StoreURLError(
            f"unknown store URL scheme '{scheme[0]}:' in {url!r}",
            f"the store is one of {STORE_FORMS}",
        )
    path = url.removeprefix("sqlite:").removeprefix("//")
    path, _, query = path.partition("?")
    options = dict(part.partition("=")[::2] for part in query.split("&") if part)
    unknown = set(options) - {"synchronous"}
    if unknown:
        raise StoreURLError(
            f"unknown SQLite store option(s) {', '.join(sorted(unknown))}",
            "the only one is synchronous=normal|full",
        )
    path = path or "gateway.sqlite3"
    new = path != ":memory:" and not Path(path).exists()
    if new and not create:
        near = _near(Path(path))
        raise StoreNotFound(
            f"no store at {path}; the gateway creates it at first start",
            f"did you mean {' or '.join(near)}?"
            if near
            else "point --store at the gateway's store (its --store value)",
        )
    from gateway.store.sqlite import SqliteStore

    store = SqliteStore(
        path, options.get("synchronous", "normal").lower(), migrate=create, exclusive=exclusive
    )
    if new and announce:
        logging.getLogger("fleet.gateway").warning(
            "created a new, empty store at %s (none was there)", Path(path).resolve()
        )
    return store
