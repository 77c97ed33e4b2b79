"""What the pod gives the harness: environment, definition file, pinned content, tokens.

Read once at start; every problem is a :class:`UsageError` that names the
variable or file and what to do (exit 2), never a traceback.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

from fleet.runtime.definition import Definition, DefinitionError, parse
from harness.errors import UsageError

RUN_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-")


@dataclass(frozen=True)
class Settings:
    definition: Definition
    gateway_url: str
    token: str
    run_id: str
    content_dir: Path
    tokens_dir: Path
    workspace: Path
    trigger: str
    input: Any
    resume: bool
    retry_s: float = 60.0
    """How long to keep retrying a gateway that does not answer before exiting 1."""
    lean_http: bool = True
    """The official clients on :mod:`harness.transport` (``FLEET_HARNESS_HTTP=lean``, the
    default) or on httpx2's own stack (``httpx``)."""


def _env(env: dict[str, str], name: str, default: str | None = None) -> str:
    value = env.get(name, "").strip() or default
    if not value:
        raise UsageError(f"${name} is not set (the loop's CronJob sets it; see docs/harness.md)")
    return value


def load(definition: str | None, resume: str | None, env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if env is None else env)
    path = Path(definition or _env(env, "FLEET_DEFINITION", "/etc/fleet/loop/definition.json"))
    try:
        doc = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise UsageError(f"{path}: no such definition file (pass --definition FILE)") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the definition: {exc.strerror}") from None
    except orjson.JSONDecodeError as exc:
        raise UsageError(f"{path}: not JSON: {exc}") from None
    try:
        defn = parse(doc)
    except DefinitionError as exc:
        raise UsageError(f"{path}: {exc}") from None
    loop = env.get("FLEET_LOOP", "").strip()
    if loop and loop != defn.loop:
        raise UsageError(f"$FLEET_LOOP is '{loop}' but {path} defines loop '{defn.loop}'")
    run_id = (resume or env.get("FLEET_RUN_ID", "").strip()) or (
        f"{defn.loop}-{time.strftime('%Y%m%d%H%M%S', time.gmtime())}-{secrets.token_hex(3)}"
    )
    if len(run_id) > 128 or not set(run_id) <= RUN_ID_CHARS or not run_id[0].isalnum():
        raise UsageError(
            f"run id {run_id!r}: use letters, digits and . _ : - (at most 128, starting with a letter or digit)"
        )
    raw_input: str | bytes | None = env.get("FLEET_INPUT")
    source = "$FLEET_INPUT"
    input_file = env.get("FLEET_INPUT_FILE", "").strip()
    if input_file:
        # A webhook's payload: the operator mounts it from a ConfigMap (too large for the env).
        source = f"$FLEET_INPUT_FILE ({input_file})"
        try:
            raw_input = Path(input_file).read_bytes()
        except OSError as exc:
            raise UsageError(f"{source}: cannot read the trigger's input: {exc.strerror}") from None
    payload: Any = None
    if raw_input:
        try:
            payload = orjson.loads(raw_input)
        except orjson.JSONDecodeError as exc:
            raise UsageError(f"{source} is not JSON: {exc}") from None
    content = Path(env.get("FLEET_CONTENT_DIR") or "/etc/fleet")
    gateway_url = _env(env, "FLEET_GATEWAY_URL").rstrip("/")
    parts = urlsplit(gateway_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"$FLEET_GATEWAY_URL is {gateway_url!r}: give the gateway's base URL, "
            "http://host:port or https://host"
        )
    return Settings(
        definition=defn,
        gateway_url=gateway_url,
        token=_env(env, "FLEET_GATEWAY_TOKEN"),
        run_id=run_id,
        content_dir=content,
        tokens_dir=Path(env.get("FLEET_TOKENS_DIR") or content / "tokens"),
        workspace=Path(env.get("FLEET_WORKSPACE") or "/workspace"),
        trigger=env.get("FLEET_TRIGGER") or ("manual" if resume else "cron"),
        input=payload,
        resume=resume is not None,
        retry_s=_float(env, "FLEET_HARNESS_RETRY_S", 60.0),
        lean_http=_http(env),
    )


def _http(env: dict[str, str]) -> bool:
    value = env.get("FLEET_HARNESS_HTTP", "").strip().lower()
    if value not in ("", "lean", "httpx"):
        raise UsageError(
            f"$FLEET_HARNESS_HTTP: expected 'lean' (the default) or 'httpx', got {value!r}"
        )
    return value != "httpx"


def _float(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise UsageError(f"${name}: expected seconds, got {raw!r}") from None
    if value <= 0:
        raise UsageError(f"${name}: expected a positive number of seconds, got {raw!r}")
    return value


def subagent_token(settings: Settings, name: str) -> str:
    """A sub-agent's own gateway token, from the file the operator mounts for it."""
    path = settings.tokens_dir / name
    try:
        token = path.read_text().strip()
    except OSError:
        raise UsageError(
            f"{path}: no token for sub-agent '{name}' (the operator mounts one per sub-agent "
            "at $FLEET_TOKENS_DIR/<name>)"
        ) from None
    if not token:
        raise UsageError(f"{path}: the token file of sub-agent '{name}' is empty")
    return token
