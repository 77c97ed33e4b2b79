"""An approver's decision, sent where ``fleetctl approvals approve|deny`` sends it: the
gateway's ``POST /approvals/<id>/approve|deny`` with ``{"reason": …}`` and the approver's
own bearer token, so the gateway checks the token again, claims the request once, runs the
call and stores its result for the run, exactly as for the CLI.

Two ways to reach it: a gateway URL (in a cluster, ``--gateway``), or a ``fleetctl run``
home (``--local``): its running gateway if a process serves one, else the home's gateway
started in this process for the one decision, as ``fleetctl approvals --local`` does.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

# Approving runs the tool call: as long as the CLI waits for it.
TIMEOUT_S = 330.0


class DecisionError(Exception):
    """The gateway refused or could not be reached; the message is the gateway's reason."""


async def post(url: str, token: str, approval_id: str, action: str, reason: str | None) -> Any:
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT_S) as client:
            r = await client.post(
                f"{url.rstrip('/')}/approvals/{approval_id}/{action}",
                headers={"authorization": f"Bearer {token}"},
                json={"reason": reason},
            )
    except httpx.HTTPError as exc:
        raise DecisionError(f"cannot reach the gateway at {url}: {exc}") from None
    try:
        data = r.json()
    except ValueError:
        raise DecisionError(f"the gateway answered {r.status_code} without JSON") from None
    if r.status_code >= 400:
        err = data.get("error", {}) if isinstance(data, dict) else {}
        raise DecisionError(str(err.get("message") or f"the gateway answered {r.status_code}"))
    return data


@dataclass
class Gateway:
    url: str

    async def decide(self, approval_id: str, action: str, token: str, reason: str | None) -> Any:
        return await post(self.url, token, approval_id, action, reason)


@dataclass
class LocalHome:
    path: Path

    async def decide(self, approval_id: str, action: str, token: str, reason: str | None) -> Any:
        from fleetctl.local.embedded import EmbeddedGateway, running_url
        from fleetctl.local.errors import LocalError
        from fleetctl.local.home import Home

        try:
            home = Home.find(self.path)
            url = running_url(home)
            if url:
                return await post(url, token, approval_id, action, reason)
            gw = await asyncio.to_thread(EmbeddedGateway(home).start)
        except LocalError as exc:
            raise DecisionError(
                f"{exc.message} ({exc.hint})" if exc.hint else exc.message
            ) from None
        try:
            return await post(gw.url, token, approval_id, action, reason)
        finally:
            await asyncio.to_thread(gw.stop)


@dataclass
class Nowhere:
    """Read-only: no gateway was named, so there is nowhere to send a decision."""

    async def decide(self, approval_id: str, action: str, token: str, reason: str | None) -> Any:
        raise DecisionError(
            "this dashboard reads the store only: start it with --gateway URL (or --local HOME) "
            "to decide here, or use fleetctl approvals"
        )


def local_replay(home: Path, run_id: str) -> str | None:
    """The transcript a ``fleetctl run`` in ``home`` replayed for ``run_id``, if it did."""
    if "/" in run_id or run_id.startswith("."):
        return None
    try:
        options = json.loads((home / "runs" / run_id / "options.json").read_text())
    except (OSError, ValueError):
        return None
    provider = options.get("provider") if isinstance(options, dict) else None
    if isinstance(provider, str) and provider.startswith("replay:"):
        return Path(provider.removeprefix("replay:")).name
    return None
