"""Approver identities in a cluster: who may decide a fleet's approvals, read from Secrets.

A platform team declares approvers without putting a human's token in git: any Secret in
the fleet's namespace labelled ``fleetctl.dev/approvers: <fleet>`` whose keys are approver
names and whose values are ``sha256:<hex>`` hashes of their tokens (preferred: the operator
needs nothing more) or the tokens themselves. A value may hold several entries separated by
whitespace or commas, so an approver can hold two tokens while a rotation is handed over.
``fleetctl approvers token NAME`` mints a token and prints such a Secret, one per approver
(``<fleet>-approver-<name>``), so removing an approver is deleting one Secret.

The gateway enforces the approver list fleet-wide: an approver decides for every loop of the
fleet (the gateway config has no per-team scope for approvers). What the operator renders
from these Secrets is the gateway config's ``approvers``; an entry it cannot read is left out
and named on the FleetPolicy's ``Approvers`` condition with the Secret and key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from fleet_operator.kube import Kube

APPROVERS_LABEL = "fleetctl.dev/approvers"
HASH_PREFIX = "sha256:"
TOKEN_PREFIX = "fga_"
MIN_TOKEN = 24
"""Characters a plain token needs at least: shorter ones are guessable and refused."""
MAX_SHOWN = 3
"""Problems named on the FleetPolicy condition (the rest are counted)."""
MAX_NAMED = 10
"""Approvers named on the FleetPolicy condition (the rest are counted)."""

_HEX = re.compile(r"[0-9a-f]{64}")
_SPLIT = re.compile(r"[\s,]+")
NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,48}[a-z0-9])?")
"""What the CLI accepts as an approver name: a Secret key and part of a Secret name."""


def mint_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """The value to put in an approvers Secret for ``token``."""
    return HASH_PREFIX + hashlib.sha256(token.encode()).hexdigest()


def secret_name(fleet: str, approver: str) -> str:
    return f"{fleet}-approver-{approver}"


def approver_secret(fleet: str, approver: str, hashed: str, namespace: str) -> dict[str, Any]:
    """The Secret that makes ``approver`` one of ``fleet``'s approvers (hash only)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": secret_name(fleet, approver),
            "namespace": namespace,
            "labels": {APPROVERS_LABEL: fleet},
        },
        "type": "Opaque",
        "stringData": {approver: hashed},
    }


@dataclass
class Approvers:
    """A fleet's approvers as its Secrets declare them, and what could not be read."""

    hashes: dict[str, list[str]] = field(default_factory=dict)
    """Approver name → hex sha256 of each of their tokens."""
    problems: list[str] = field(default_factory=list)
    secrets: int = 0

    def condition(self) -> tuple[bool, str, str]:
        """(ok, reason, message) of the FleetPolicy's ``Approvers`` condition."""
        if self.problems:
            shown = "; ".join(self.problems[:MAX_SHOWN])
            more = len(self.problems) - MAX_SHOWN
            return (
                False,
                "InvalidApproverSecret",
                shown + (f" (and {more} more)" if more > 0 else ""),
            )
        if not self.hashes:
            return (
                True,
                "NoApprovers",
                f"no Secret labelled {APPROVERS_LABEL} for this fleet: nobody can decide its "
                "approvals; add one with `fleetctl approvers token NAME`",
            )
        names = ", ".join(sorted(self.hashes)[:MAX_NAMED])
        if len(self.hashes) > MAX_NAMED:
            names += f" and {len(self.hashes) - MAX_NAMED} more"
        return (
            True,
            "Loaded",
            f"{len(self.hashes)} approver(s) from {self.secrets} Secret(s): {names}",
        )


def _values(secret: dict[str, Any]) -> dict[str, bytes | None]:
    """Each key's value as bytes (``None``: not base64); ``stringData`` as a client wrote it."""
    out: dict[str, bytes | None] = {}
    for key, value in (secret.get("data") or {}).items():
        try:
            out[key] = base64.b64decode(str(value or ""), validate=True)
        except (binascii.Error, ValueError):
            out[key] = None
    for key, value in (secret.get("stringData") or {}).items():
        out[key] = str(value or "").encode()
    return out


def _entry(raw: str) -> tuple[str | None, str | None]:
    """(hex hash, None) for one entry of a value, or (None, why it cannot be used)."""
    if raw.lower().startswith(HASH_PREFIX):
        digest = raw[len(HASH_PREFIX) :].lower()
        if _HEX.fullmatch(digest):
            return digest, None
        shown = raw[:20] + ("…" if len(raw) > 20 else "")
        return None, f"{shown!r} is not '{HASH_PREFIX}' followed by 64 hex digits"
    if len(raw) < MIN_TOKEN:
        return None, f"a token of {len(raw)} characters is too short (at least {MIN_TOKEN})"
    return hashlib.sha256(raw.encode()).hexdigest(), None


def read_secret(secret: dict[str, Any], into: Approvers) -> None:
    """Add one approvers Secret's entries (and its problems) to ``into``."""
    name = (secret.get("metadata") or {}).get("name", "?")
    into.secrets += 1
    for key, value in sorted(_values(secret).items()):
        where = f"Secret {name} key {key}"
        hint = f"put {HASH_PREFIX}<hex> there: `fleetctl approvers token {key}` prints one"
        if value is None:
            into.problems.append(f"{where}: the value is not base64 ({hint})")
            continue
        try:
            text = value.decode()
        except UnicodeDecodeError:
            into.problems.append(f"{where}: the value is not UTF-8 text ({hint})")
            continue
        entries = [e for e in _SPLIT.split(text) if e]
        if not entries:
            into.problems.append(f"{where}: empty ({hint}, or delete the key)")
            continue
        for raw in entries:
            digest, why = _entry(raw)
            if digest is None:
                into.problems.append(f"{where}: {why} ({hint})")
                continue
            held = into.hashes.setdefault(key, [])
            if digest not in held:
                held.append(digest)


def parse(listed: list[dict[str, Any]]) -> Approvers:
    """The approvers of the Secrets ``listed`` (one fleet's), in a stable order: the same
    Secrets always render the same gateway config."""
    found = Approvers()
    for secret in sorted(listed, key=lambda s: str(s["metadata"].get("name"))):
        read_secret(secret, found)
    owner: dict[str, str] = {}
    for name in sorted(found.hashes):
        kept = []
        for digest in sorted(found.hashes[name]):
            if digest in owner:
                # The gateway maps a token to one name: two approvers sharing one is a mistake.
                found.problems.append(
                    f"approvers {owner[digest]} and {name} hold the same token; "
                    f"mint {name} its own with `fleetctl approvers token {name}`"
                )
                continue
            owner[digest] = name
            kept.append(digest)
        found.hashes[name] = kept
    found.hashes = {n: found.hashes[n] for n in sorted(found.hashes) if found.hashes[n]}
    return found


def fleet_approvers(kube: Kube, namespace: str, fleet: str) -> Approvers:
    """One list call: the Secrets labelled for ``fleet`` in its namespace."""
    return parse(kube.list("v1", "Secret", namespace, f"{APPROVERS_LABEL}={fleet}"))


def fingerprint(secret: dict[str, Any]) -> str:
    """What of an approvers Secret the gateway config depends on (its fleet and values), so
    a watch event that changes neither re-renders nothing."""
    labels = (secret.get("metadata") or {}).get("labels") or {}
    parts = [str(labels.get(APPROVERS_LABEL, ""))]
    for key, value in sorted(_values(secret).items()):
        parts.append(f"{key}={value!r}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


__all__ = [
    "APPROVERS_LABEL",
    "Approvers",
    "approver_secret",
    "fingerprint",
    "fleet_approvers",
    "mint_token",
    "parse",
    "token_hash",
]
