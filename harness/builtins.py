"""The harness's built-in tools: their schemas, and the ones that act inside the pod.

``load_skill`` reads pinned content, ``state`` reads and writes the loop's
state through the gateway, ``run_command`` runs a command in the workspace
(bounded time and output). ``delegate``, ``finish`` and the checker's
``verdict`` drive the loop itself and live in :mod:`harness.runner`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path
from typing import Any

from fleet.runtime.verdict import VERDICT_SCHEMA, VERDICT_TOOL
from harness.runs import Runs, StateConflict, StateTooLarge

COMMAND_TIMEOUT_S = 120.0
COMMAND_MAX_TIMEOUT_S = 600.0
OUTPUT_HEAD = 16 * 1024
OUTPUT_TAIL = 48 * 1024
STATE_RETRIES = 3


def function(name: str, description: str, parameters: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {"name": name, "description": description, "parameters": parameters},
    }


LOAD_SKILL = function(
    "load_skill",
    "Load one of your skills: its full text and the list of files beside it, or one of those files.",
    {
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": "The skill's name."},
            "file": {"type": "string", "description": "A file of the skill (optional)."},
        },
        "required": ["name"],
    },
)
STATE = function(
    "state",
    "Read or change the loop's state, kept across runs (what is done, what is next). "
    "action get reads it; set replaces it with value; merge sets the keys of value "
    "(a null value deletes its key).",
    {
        "type": "object",
        "properties": {
            "action": {"type": "string", "enum": ["get", "set", "merge"]},
            "value": {"type": "object"},
        },
        "required": ["action"],
    },
)
RUN_COMMAND = function(
    "run_command",
    "Run a shell command in the workspace (/workspace, your own sandbox; it does not survive "
    "a pause). Returns the exit code and the output.",
    {
        "type": "object",
        "properties": {
            "command": {"type": "string"},
            "timeout_s": {"type": "number", "description": f"At most {COMMAND_MAX_TIMEOUT_S:g}."},
        },
        "required": ["command"],
    },
)
FINISH = function(
    "finish",
    "Claim the task is done, with a summary of what you did and the artifacts you touched.",
    {
        "type": "object",
        "properties": {
            "summary": {"type": "string"},
            "artifacts": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["summary"],
    },
)
VERDICT = function(
    VERDICT_TOOL, "Give your verdict on the claim: pass or fail, with reasons.", VERDICT_SCHEMA
)


def delegate_tool(agents: dict[str, str]) -> dict[str, Any]:
    listed = "; ".join(f"{n}: {d}" for n, d in agents.items())
    return function(
        "delegate",
        "Hand a task to one of your sub-agents, which works in its own context and returns only "
        f"its final answer. Sub-agents: {listed}",
        {
            "type": "object",
            "properties": {
                "agent": {"type": "string", "enum": sorted(agents)},
                "task": {"type": "string"},
            },
            "required": ["agent", "task"],
        },
    )


def _cap(data: bytes) -> str:
    if len(data) <= OUTPUT_HEAD + OUTPUT_TAIL:
        return data.decode("utf-8", "replace")
    cut = len(data) - OUTPUT_HEAD - OUTPUT_TAIL
    return (
        data[:OUTPUT_HEAD].decode("utf-8", "replace")
        + f"\n…[{cut:,} bytes left out]…\n"
        + data[-OUTPUT_TAIL:].decode("utf-8", "replace")
    )


async def run_command(
    workspace: Path, command: str, timeout_s: float = COMMAND_TIMEOUT_S
) -> tuple[int | None, str]:
    """(exit code or None on timeout, capped output) of ``command`` in ``workspace``."""
    workspace.mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "HOME": str(workspace),
        "LANG": "C.UTF-8",
    }
    proc = await asyncio.create_subprocess_shell(
        command,
        cwd=workspace,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    assert proc.stdout is not None
    head = bytearray()
    tail = bytearray()
    total = 0

    async def drain() -> None:
        nonlocal total
        assert proc.stdout is not None
        while chunk := await proc.stdout.read(65536):
            total += len(chunk)
            room = OUTPUT_HEAD - len(head)
            if room > 0:
                head.extend(chunk[:room])
                chunk = chunk[room:]
            tail.extend(chunk)
            del tail[:-OUTPUT_TAIL]

    try:
        await asyncio.wait_for(drain(), timeout=min(max(timeout_s, 1.0), COMMAND_MAX_TIMEOUT_S))
        code: int | None = await proc.wait()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        code = None
    cut = total - len(head) - len(tail)
    text = head.decode("utf-8", "replace")
    if cut > 0:
        text += f"\n…[{cut:,} bytes left out]…\n"
    text += tail.decode("utf-8", "replace")
    return code, text


async def state(runs: Runs, action: str, value: Any) -> tuple[str, bool, int]:
    """(text, is_error, version after) of one state action. Writing again what a crashed
    attempt already wrote is a no-op, so a re-sent write is harmless."""
    import orjson

    if action not in ("get", "set", "merge"):
        return "action must be get, set or merge", True, -1
    if action != "get" and not isinstance(value, dict):
        return f"state {action} needs value, a JSON object", True, -1
    for _ in range(STATE_RETRIES):
        current = await runs.state()
        version = int(current.get("version") or 0)
        stored = current.get("value") or {}
        if action == "get":
            return orjson.dumps({"version": version, "value": stored}).decode(), False, version
        if action == "set":
            new = value
        else:
            new = {**stored, **value}
            new = {k: v for k, v in new.items() if v is not None}
        if new == stored:
            return orjson.dumps({"version": version, "unchanged": True}).decode(), False, version
        try:
            written = await runs.put_state(new, version)
        except StateTooLarge as exc:
            return f"state not written: {exc}", True, version
        except StateConflict:
            continue  # another writer moved it: read again
        after = int(written.get("version") or version + 1)
        return orjson.dumps({"version": after}).decode(), False, after
    return "state not written: it kept changing under this run; read it again", True, -1
