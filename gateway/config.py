"""Load the gateway config (``fleet.gwconfig.GatewayConfig``), precompute what the
hot path looks up, and hot-reload it when the file changes.

A Kubernetes ConfigMap volume updates by swapping a symlink, so the watcher
compares the resolved file's inode, size and mtime, not the path's. A file
that fails to parse or validate is logged with the reason and the last good
config keeps serving; requests in flight finish on the config they started with.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from fleet.gwconfig import ConfigError, GatewayConfig, GwBudget, GwHarness, GwModel, GwRate, load

log = logging.getLogger("fleet.gateway")


@dataclass(frozen=True)
class Identity:
    loop: str
    member: str  # the loop, or "loop/sub-agent"
    role: str
    team: str
    models: frozenset[str]
    mcp: dict[str, list[str]]
    budget: GwBudget | None
    rate: GwRate
    harness: GwHarness
    approvals: Mapping[str, str]


@dataclass
class Runtime:
    """A view of one config, shaped for lookups; only ``by_header`` grows, as a memo."""

    config: GatewayConfig
    digest: str
    by_token: dict[str, Identity] = field(default_factory=dict)
    approvers: dict[str, str] = field(default_factory=dict)
    models: dict[str, GwModel] = field(default_factory=dict)
    prices: dict[str, tuple[float, float]] = field(default_factory=dict)
    # USD per token embedded, by provider/model (the embedding price, else the input price).
    embedding_prices: dict[str, float] = field(default_factory=dict)
    credentials: dict[str, str | None] = field(default_factory=dict)
    # Authorization header values already matched to an identity under this config. A
    # token revoked or rotated comes with a new config, and so with an empty map.
    by_header: dict[bytes, Identity] = field(default_factory=dict)

    @classmethod
    def build(cls, config: GatewayConfig, digest: str = "") -> Runtime:
        rt = cls(config, digest)
        for name, loop in config.loops.items():
            ident = Identity(
                name,
                name,
                "loop",
                loop.team,
                frozenset(loop.models),
                loop.mcp,
                loop.budget,
                loop.rate_limits,
                loop.harness,
                loop.approvals,
            )
            for h in loop.token_sha256:
                rt.by_token[h] = ident
            for sub_name, sub in loop.subagents.items():
                sub_ident = Identity(
                    name,
                    f"{name}/{sub_name}",
                    sub.role,
                    loop.team,
                    frozenset(sub.models),
                    sub.mcp,
                    loop.budget,
                    loop.rate_limits,
                    loop.harness,
                    loop.approvals,
                )
                for h in sub.token_sha256:
                    rt.by_token[h] = sub_ident
        for approver in config.approvers:
            for h in approver.token_sha256:
                rt.approvers[h] = approver.name
        rt.models = dict(config.models)
        rt.prices = {key: (p.input / 1e6, p.output / 1e6) for key, p in config.pricing.items()}
        rt.embedding_prices = {
            key: (p.input if p.embedding is None else p.embedding) / 1e6
            for key, p in config.pricing.items()
        }
        rt.credentials = {
            name: (os.environ.get(p.credentials.env) if p.credentials else None)
            for name, p in config.providers.items()
        }
        warn_missing_credentials(config)
        return rt

    def identify(self, token: str) -> Identity | None:
        return self.by_token.get(hashlib.sha256(token.encode()).hexdigest())


def warn_missing_credentials(config: GatewayConfig) -> list[str]:
    """Log one warning per credential variable the config names and the environment lacks
    (or holds empty): such a provider or MCP server would be called with no auth at all.
    Returns the variables, in the order warned."""
    wanted = [
        *(
            ("provider", name, p.credentials.env)
            for name, p in config.providers.items()
            if p.credentials
        ),
        *(
            ("MCP server", name, s.credentials.env)
            for name, s in config.mcp_servers.items()
            if s.credentials
        ),
    ]
    missing: list[str] = []
    for *_, env in wanted:
        if os.environ.get(env) or env in missing:
            continue
        missing.append(env)
        users = ", ".join(f"{w} {n}" for w, n, e in wanted if e == env)
        log.warning(
            "credential variable %s is not set: %s gets no credentials (set it in the gateway's environment)",
            env,
            users,
        )
    return missing


def load_runtime(path: Path) -> Runtime:
    """Parse and validate; raises ``ValueError`` with a human reason."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":  # a large fleet's config, gzipped by the operator
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise ValueError(f"{path}: gzip data is damaged: {exc}") from exc
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON: {exc}") from exc
    try:
        config = load(data)
    except ConfigError as exc:
        raise ValueError(f"{path}: {exc}") from exc
    return Runtime.build(config, hashlib.sha256(raw).hexdigest())


class ConfigHolder:
    """The current runtime, swapped atomically on reload."""

    def __init__(self, path: Path | None, runtime: Runtime):
        self.path = path
        self.runtime = runtime
        self._stamp = self._stat()
        self.reloads = 0
        self.rejected = 0
        self.last_error: str | None = None

    @classmethod
    def from_file(cls, path: Path) -> ConfigHolder:
        return cls(path, load_runtime(path))

    def _stat(self) -> tuple[int, int, int] | None:
        if self.path is None:
            return None
        try:
            st = self.path.resolve().stat()
        except OSError:
            return None
        return st.st_ino, st.st_size, st.st_mtime_ns

    def check(self) -> bool:
        """Reload if the file changed; True when a new config took effect."""
        stamp = self._stat()
        if stamp is None or stamp == self._stamp or self.path is None:
            return False
        self._stamp = stamp
        try:
            runtime = load_runtime(self.path)
        except (ValueError, OSError) as exc:
            self.rejected += 1
            self.last_error = str(exc)
            log.error("config rejected, keeping the last good one: %s", exc)
            return False
        if runtime.digest == self.runtime.digest:
            return False
        self.runtime = runtime
        self.reloads += 1
        self.last_error = None
        log.info("config reloaded: %s (%d loops)", runtime.digest[:12], len(runtime.config.loops))
        return True

    async def watch(self, interval: float = 1.0) -> None:
        while True:
            await asyncio.sleep(interval)
            self.check()
