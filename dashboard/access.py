"""Who may read the dashboard and who may decide: tokens checked against sha256 hashes.

Approvers come from the gateway config (``approvers``, what ``fleetctl gateway config
--approver`` mints), viewers from a file of their own (``{"name": ["<sha256>", …]}``),
since the gateway has no read-only identity. A loop's or sub-agent's token is known
too, so it can be refused by name: a loop never reads the queue it waits in, and never
approves its own call. ``open`` (local use on loopback only) lets anyone read; deciding
still needs an approver's token.

A signed-in person holds a session: a random id in an ``HttpOnly``, ``SameSite=Strict``
cookie, mapped in this process to who they are, their token (an approver's is sent on to
the gateway with each decision, so the gateway checks it again) and a CSRF token every
form must carry back.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Role = Literal["viewer", "approver"]
SESSION_COOKIE = "fleet_dashboard"
SESSION_S = 8 * 3600
MAX_SESSIONS = 10_000
MAX_TOKEN = 1024


class AccessError(Exception):
    """A token that may not read or decide: ``status`` 401 (unknown) or 403 (refused)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class ConfigError(Exception):
    """A tokens file the dashboard cannot use: the file, the field and what to do."""


@dataclass(frozen=True)
class Person:
    name: str
    role: Role

    @property
    def approver(self) -> bool:
        return self.role == "approver"


@dataclass
class Session:
    person: Person
    token: str
    csrf: str
    until: float


def sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _hashes(path: Path, where: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(h, str) and len(h) == 64 for h in value):
        raise ConfigError(
            f"{path}: {where}: expected a list of hex sha256 hashes (64 characters each)"
        )
    return [h.lower() for h in value]


def read_viewers(path: Path) -> dict[str, str]:
    """hash → viewer name from ``{"name": ["<sha256>", …]}``."""
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ConfigError(f"{path}: not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f'{path}: expected an object like {{"ana": ["<sha256>"]}}')
    return {h: str(name) for name, hashes in data.items() for h in _hashes(path, name, hashes)}


@dataclass
class Access:
    """The tokens the dashboard knows, and the sessions it has handed out."""

    approvers: dict[str, str] = field(default_factory=dict)
    viewers: dict[str, str] = field(default_factory=dict)
    loops: dict[str, str] = field(default_factory=dict)
    open: bool = False
    sessions: dict[str, Session] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: Any, viewers: dict[str, str], open_: bool = False) -> Access:
        """From a :class:`fleet.gwconfig.GatewayConfig`: approvers, and every loop's and
        sub-agent's token hash (to refuse them by name)."""
        loops: dict[str, str] = {}
        for name, loop in config.loops.items():
            for h in loop.token_sha256:
                loops[h] = name
            for sub, ident in loop.subagents.items():
                for h in ident.token_sha256:
                    loops[h] = f"{name}/{sub}"
            if loop.trigger is not None:
                for h in loop.trigger.token_sha256:
                    loops[h] = f"{name} (trigger)"
        approvers = {h: a.name for a in config.approvers for h in a.token_sha256}
        return cls(approvers=approvers, viewers=viewers, loops=loops, open=open_)

    def identify(self, token: str) -> Person:
        """The person a token names, or :class:`AccessError`."""
        token = token.strip()
        if not token or len(token) > MAX_TOKEN:
            raise AccessError(401, "no token given: paste a viewer's or an approver's token")
        h = sha256(token)
        if h in self.approvers:
            return Person(self.approvers[h], "approver")
        if h in self.viewers:
            return Person(self.viewers[h], "viewer")
        if h in self.loops:
            raise AccessError(
                403,
                f"that is a token of loop {self.loops[h]}: a loop's token can neither read "
                "the dashboard nor approve; sign in with a viewer's or an approver's token",
            )
        raise AccessError(
            401,
            "unknown token: use a viewer token from the dashboard's --viewers file or an "
            "approver token from the gateway config (fleetctl gateway config --approver)",
        )

    def sign_in(self, token: str, now: float | None = None) -> tuple[str, Session]:
        person = self.identify(token)
        now = time.time() if now is None else now
        if len(self.sessions) >= MAX_SESSIONS:
            self.sessions = {k: s for k, s in self.sessions.items() if s.until > now}
            if len(self.sessions) >= MAX_SESSIONS:
                oldest = min(self.sessions, key=lambda k: self.sessions[k].until)
                del self.sessions[oldest]
        sid = secrets.token_urlsafe(32)
        session = Session(person, token.strip(), secrets.token_urlsafe(32), now + SESSION_S)
        self.sessions[sid] = session
        return sid, session

    def session(self, sid: str | None, now: float | None = None) -> Session | None:
        if not sid:
            return None
        found = self.sessions.get(sid)
        now = time.time() if now is None else now
        if found is None or found.until <= now:
            self.sessions.pop(sid, None)
            return None
        return found

    def sign_out(self, sid: str | None) -> None:
        if sid:
            self.sessions.pop(sid, None)


def csrf_ok(session: Session, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(session.csrf.encode(), str(sent).encode())
