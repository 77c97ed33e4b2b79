"""The run's durable record, journal and the loop's state, kept by the gateway's runs API.

The pod's disk does not outlive it, so everything a resumed run needs goes
through here (routes in docs/harness.md). Calls are retried with backoff for a
bounded time when the gateway does not answer: an append whose answer was lost
is sent again and the gateway acknowledges the same entry with 200. Past the
bound the harness gives up with :class:`GatewayLost` (exit 1), and the next
attempt resumes from what was acknowledged.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import orjson

from harness.errors import GatewayLost, HarnessError, Nondeterminism, UsageError
from harness.http1 import Http1, Response, TransportError

RETRY_FOR_S = 60.0
BACKOFF_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0)


_TLS: ssl.SSLContext | None = None


def tls(url: str) -> ssl.SSLContext | bool:
    """What an HTTP client of the gateway verifies: nothing for plain http (building a default
    context costs 20 ms of CPU, per client), one shared default context for https."""
    global _TLS
    if not url.startswith("https:"):
        return False
    if _TLS is None:
        _TLS = ssl.create_default_context()
    return _TLS


class StateConflict(HarnessError):
    """The loop's state moved on since it was read (another writer)."""


class StateTooLarge(HarnessError):
    """The state value is over the gateway's size limit."""


def _reason(r: Response) -> str:
    try:
        err = r.json().get("error", {})
        return f"{err.get('code') or r.status_code}: {err.get('message') or r.text[:200]}"
    except (ValueError, AttributeError):
        return f"{r.status_code}: {r.text[:200]}"


class Runs:
    def __init__(
        self, base_url: str, token: str, run_id: str, loop: str, retry_for_s: float = RETRY_FOR_S
    ):
        self.run_id = run_id
        self.loop = loop
        self.retry_for_s = retry_for_s
        self.http = Http1(
            base_url,
            {"authorization": f"Bearer {token}", "content-type": "application/json"},
            timeout_s=30.0,
            connect_timeout_s=5.0,
            tls=tls(base_url),
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _send(
        self, method: str, path: str, body: Any = None, ok: tuple[int, ...] = (200, 201)
    ) -> Response:
        content = orjson.dumps(body) if body is not None else None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.retry_for_s
        attempt = 0
        while True:
            try:
                r = await self.http.request(method, path, content)
            except TransportError as exc:
                problem = f"cannot reach the gateway: {exc!r}"
            else:
                if r.status_code in ok or (r.status_code < 500 and r.status_code not in (408, 429)):
                    return r
                problem = f"the gateway answered {_reason(r)}"
            if loop.time() >= deadline:
                raise GatewayLost(
                    f"{method} {path}: {problem} (gave up after {self.retry_for_s:g} s)"
                )
            await asyncio.sleep(BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)])
            attempt += 1

    def _check(self, r: Response, what: str) -> dict[str, Any]:
        if r.status_code in (401, 403):
            raise UsageError(f"{what}: the gateway refused the loop's token ({_reason(r)})")
        if r.status_code >= 400:
            raise HarnessError(f"{what}: {_reason(r)}")
        data: dict[str, Any] = r.json()
        return data

    @property
    def _path(self) -> str:
        return f"/v1/fleet/runs/{self.run_id}"

    async def open(self, trigger: str, payload: Any) -> dict[str, Any]:
        r = await self._send("PUT", self._path, {"trigger": trigger, "input": payload})
        record: dict[str, Any] = self._check(r, "open the run")["run"]
        return record

    async def read(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        data = self._check(await self._send("GET", self._path), "read the run")
        journal = sorted(data.get("journal") or [], key=lambda e: int(e["seq"]))
        return data["run"], journal

    async def append(self, entry: dict[str, Any], patch: dict[str, Any] | None = None) -> None:
        body: dict[str, Any] = {"entry": entry}
        if patch:
            body["run"] = patch
        r = await self._send("PUT", f"{self._path}/journal/{entry['seq']}", body)
        if r.status_code in (200, 201):
            return  # stored (or already there): the record in the answer is not needed
        if r.status_code == 409:
            raise Nondeterminism(
                f"journal entry {entry['seq']} of run {self.run_id}: {_reason(r)} (is another "
                "attempt of this run still running?)"
            )
        self._check(r, f"journal entry {entry['seq']}")

    async def update(self, patch: dict[str, Any]) -> None:
        self._check(await self._send("PATCH", self._path, patch), "update the run")

    async def state(self) -> dict[str, Any]:
        r = await self._send("GET", f"/v1/fleet/loops/{self.loop}/state")
        return self._check(r, "read the loop's state")

    async def put_state(self, value: Any, if_version: int) -> dict[str, Any]:
        r = await self._send(
            "PUT", f"/v1/fleet/loops/{self.loop}/state", {"value": value, "if_version": if_version}
        )
        if r.status_code == 409:
            raise StateConflict(_reason(r))
        if r.status_code == 413:
            raise StateTooLarge(_reason(r))
        return self._check(r, "write the loop's state")
