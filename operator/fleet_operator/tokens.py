"""Gateway tokens in Secrets: minted by the operator, rotated on request, only hashes shared.

Each loop's token Secret holds the loop's own gateway token and one per
sub-agent (:func:`fleet.render.token_keys`); the operator mints a missing one,
drops the key of a removed sub-agent, rotates them all together when the
``fleetctl.dev/rotate-token`` annotation changes, and puts their sha256 hashes
(never the tokens) into the fleet's gateway config. A loop's trigger token and the
operator's own token per fleet are one-token Secrets kept the same way.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any

from fleet.render import SUBAGENT_TOKEN_PREFIX, TOKEN_KEY, token_keys
from fleet_operator.applier import apply, patch_for
from fleet_operator.kube import Kube, KubeError
from fleet_operator.state import FleetState

ROTATE = "fleetctl.dev/rotate-token"
ROTATED_FOR = "fleetctl.dev/rotated-for"


def _sha256(encoded: str) -> str:
    return hashlib.sha256(base64.b64decode(encoded)).hexdigest()


def secret_hashes(loop: dict[str, Any], secret: dict[str, Any] | None) -> dict[str, list[str]]:
    """Identity key → hash of each token of ``loop`` that ``secret`` holds."""
    data = (secret or {}).get("data") or {}
    return {
        identity: [_sha256(data[key])]
        for key, identity in token_keys(loop).items()
        if data.get(key)
    }


def _mint() -> str:
    token = "fgw_" + secrets.token_urlsafe(32)
    return base64.b64encode(token.encode()).decode()


def ensure_token(
    kube: Kube,
    loop: dict[str, Any],
    desired: dict[str, Any],
    state: FleetState,
    live: dict[str, Any] | None,
) -> str:
    """Give the loop's token Secret one token per identity: the loop's own and each sub-agent's.

    A missing token is minted, the key of a removed sub-agent dropped, and when the rotate
    annotation changed every token is minted anew. ``live`` is the Secret as the caller's
    view has it (``None``: absent). Returns ``created``, ``rotated``, ``updated`` (tokens
    minted or dropped), ``token-known`` (only the remembered hashes changed) or ``unchanged``.
    """
    meta = desired["metadata"]
    ns, name = meta["namespace"], meta["name"]
    rotate = (loop["metadata"].get("annotations") or {}).get(ROTATE, "")
    key = (ns, loop["metadata"]["name"])
    wanted = token_keys(loop)
    body = {
        **desired,
        "metadata": {**meta, "annotations": {**meta["annotations"], ROTATED_FOR: rotate}},
    }
    data: dict[str, str] = dict((live or {}).get("data") or {})
    rotated = (
        live is not None
        and (live["metadata"].get("annotations") or {}).get(ROTATED_FOR, "") != rotate
    )
    keep = {} if rotated else {k: v for k, v in data.items() if k in wanted and v}
    minted = {k: _mint() for k in wanted if k not in keep}
    # Only sub-agent keys are dropped: a key someone else put in the Secret stays.
    dropped = [k for k in data if k.startswith(SUBAGENT_TOKEN_PREFIX) and k not in wanted]
    if live is not None and not minted and not dropped:
        outcome, _ = apply(kube, body, live)
    elif live is None:
        try:
            kube.create({**body, "data": minted})
        except KubeError as exc:
            if exc.status != 409:
                raise
            # It exists after all (minted by an earlier run, or the view was out of date):
            # decide again on what is really there.
            live = kube.get("v1", "Secret", ns, name)
            if live is None:
                raise
            return ensure_token(kube, loop, desired, state, live)
        outcome = "created"
    else:
        changes: dict[str, str | None] = {**minted, **dict.fromkeys(dropped)}
        kube.patch("v1", "Secret", ns, name, {**patch_for(body), "data": changes})
        outcome = "rotated" if rotated or TOKEN_KEY in minted else "updated"
    final = {**keep, **minted}
    hashes = {identity: [_sha256(final[k])] for k, identity in wanted.items()}
    if state.token_hashes.get(key) != hashes:
        state.token_hashes[key] = hashes
        if outcome == "unchanged":
            outcome = "token-known"
    return outcome


def ensure_single_token(
    kube: Kube, desired: dict[str, Any], rotate: str, live: dict[str, Any] | None
) -> tuple[str, str]:
    """Give a one-token Secret (a loop's trigger token, the operator's token) its token under
    key ``token``: minted when missing, anew when ``rotate`` differs from the one it was
    minted for. Returns the outcome (``created``, ``rotated``, ``updated``, ``unchanged``)
    and the token."""
    meta = desired["metadata"]
    ns, name = meta["namespace"], meta["name"]
    body = {
        **desired,
        "metadata": {**meta, "annotations": {**meta["annotations"], ROTATED_FOR: rotate}},
    }
    if live is None:
        minted = _mint()
        try:
            kube.create({**body, "data": {TOKEN_KEY: minted}})
        except KubeError as exc:
            if exc.status != 409:
                raise
            live = kube.get("v1", "Secret", ns, name)
            if live is None:
                raise
            return ensure_single_token(kube, desired, rotate, live)
        return "created", base64.b64decode(minted).decode()
    rotated = (live["metadata"].get("annotations") or {}).get(ROTATED_FOR, "") != rotate
    current = None if rotated else ((live.get("data") or {}).get(TOKEN_KEY) or None)
    if current is not None:
        outcome, _ = apply(kube, body, live)
        return outcome, base64.b64decode(current).decode()
    minted = _mint()
    kube.patch("v1", "Secret", ns, name, {**patch_for(body), "data": {TOKEN_KEY: minted}})
    return "rotated", base64.b64decode(minted).decode()


def secret_token(secret: dict[str, Any] | None) -> str | None:
    """The token a one-token Secret holds, or None."""
    value = ((secret or {}).get("data") or {}).get(TOKEN_KEY)
    return base64.b64decode(value).decode() if value else None
