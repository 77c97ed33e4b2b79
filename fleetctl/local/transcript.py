"""A replay transcript: recorded model replies, one list per caller identity.

The file (YAML or JSON, read with the fleet's own source-mapped loader) is::

    replay: a title, printed with every replayed run
    tracks:
      <loop>:            # the request's ``user`` field: the maker ...
        - content: "text"
          tool_calls: [{ name: github__get_issue, arguments: { number: 42 } }]
          usage: { prompt_tokens: 900, completion_tokens: 40 }   # else estimated
          delay_ms: 250                                          # optional
        - { status: 503, content: "an error message" }           # answer an error instead
      <loop>/<sub>:      # ... or one of its sub-agents
        - …

Every mistake is a located diagnostic (``file:line:col: field.path: message
(hint)``), all of them at once; nothing in a transcript produces a traceback.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from fleet.errors import Diagnostic, did_you_mean
from fleet.yamlsrc import Path as DataPath
from fleet.yamlsrc import SourceMap, format_path, parse
from fleetctl.local.errors import TranscriptError

_TOP = ("replay", "tracks")
_REPLY = ("content", "tool_calls", "usage", "status", "delay_ms")
_CALL = ("name", "arguments")
_USAGE = ("prompt_tokens", "completion_tokens")


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Reply:
    """One recorded answer of the model (or, with ``status``, of a failing provider)."""

    content: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    usage: tuple[int, int] | None = None  # prompt, completion
    status: int | None = None
    delay_ms: int = 0
    line: int = 0  # where it is written, for messages


@dataclass(frozen=True)
class Replay:
    """A loaded transcript: its title, its tracks, and a digest of what it says."""

    title: str
    tracks: dict[str, tuple[Reply, ...]]
    file: str = "<data>"
    digest: str = field(default="")
    positions: dict[str, tuple[int, int]] = field(default_factory=dict, compare=False)

    @classmethod
    def from_file(cls, path: str | Path) -> Replay:
        """Load a YAML or JSON transcript; raises :class:`TranscriptError` with every mistake."""
        p = Path(path)
        try:
            text = p.read_bytes()
        except OSError as exc:
            raise TranscriptError(
                [
                    Diagnostic(
                        str(p),
                        0,
                        0,
                        "",
                        f"cannot read the transcript: {exc.strerror or exc}",
                        "check the path given to --provider replay:FILE",
                    )
                ]
            ) from None
        data, smap, diags = parse(text, str(p))
        if diags or data is None:
            raise TranscriptError(diags)
        return _build(data, smap)

    @classmethod
    def from_dict(cls, data: Any, file: str = "<data>") -> Replay:
        """A transcript given as data (tests); mistakes are reported against ``file``."""
        return _build(data, SourceMap(file))

    def track_names(self) -> list[str]:
        return sorted(self.tracks)


def _build(data: Any, smap: SourceMap) -> Replay:
    diags: list[Diagnostic] = []

    def err(path: DataPath, message: str, hint: str = "", *, key: bool = False) -> None:
        line, col = smap.locate(path, key=key)
        if not smap.values:
            line = col = 0
        diags.append(Diagnostic(smap.file, line, col, format_path(path), message, hint))

    def unknown_keys(value: dict[Any, Any], path: DataPath, known: tuple[str, ...]) -> None:
        for k in value:
            if k not in known:
                err((*path, str(k)), f"unknown field '{k}'", did_you_mean(str(k), known), key=True)

    def nonneg_int(value: Any, path: DataPath) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            err(path, f"expected a whole number ≥ 0, got {value!r}", "for example 120")
            return None
        return value

    if not isinstance(data, dict):
        err(
            (),
            "a transcript is a mapping with 'replay' and 'tracks'",
            "see examples/northwind/demo/bug-report-triage.replay.yaml",
        )
        raise TranscriptError(diags)
    unknown_keys(data, (), _TOP)
    title = data.get("replay")
    if not isinstance(title, str) or not title.strip():
        if "replay" in data:
            err(("replay",), "expected a title (text)", "say what the recorded run is")
        else:
            err((), "missing field 'replay'", "add 'replay: <a title for the recorded run>'")
        title = ""
    raw_tracks = data.get("tracks")
    tracks: dict[str, tuple[Reply, ...]] = {}
    if not isinstance(raw_tracks, dict) or not raw_tracks:
        if "tracks" in data:
            err(
                ("tracks",),
                "expected a mapping of caller identities to lists of replies",
                "for example 'tracks: { my-loop: [{ content: hi }] }'",
            )
        else:
            err((), "missing field 'tracks'", "add 'tracks:' with one list of replies per caller")
        raw_tracks = {}
    for name, replies in raw_tracks.items():
        tpath: DataPath = ("tracks", str(name))
        if not isinstance(name, str) or not name or name.count("/") > 1:
            err(
                tpath,
                f"track name {name!r} is not a caller identity",
                "use the loop's name, or '<loop>/<sub-agent>'",
                key=True,
            )
            continue
        if not isinstance(replies, list) or not replies:
            err(tpath, "expected a non-empty list of replies", "one item per model call")
            continue
        out: list[Reply] = []
        for i, raw in enumerate(replies):
            reply = _reply(raw, (*tpath, i), smap, err, unknown_keys, nonneg_int)
            if reply is not None:
                out.append(reply)
        tracks[name] = tuple(out)
    if diags:
        raise TranscriptError(diags)
    digest = hashlib.sha256(
        orjson.dumps(
            {"replay": data.get("replay"), "tracks": data.get("tracks")},
            option=orjson.OPT_SORT_KEYS,
            default=str,
        )
    ).hexdigest()
    positions = {name: smap.keys.get(("tracks", name), (0, 0)) for name in tracks}
    return Replay(title.strip(), tracks, smap.file, digest, positions)


def _reply(
    raw: Any, path: DataPath, smap: SourceMap, err: Any, unknown_keys: Any, nonneg_int: Any
) -> Reply | None:
    if not isinstance(raw, dict):
        err(path, "a reply is a mapping", "give 'content', 'tool_calls' or 'status'")
        return None
    unknown_keys(raw, path, _REPLY)
    ok = True
    content = raw.get("content")
    if content is not None and not isinstance(content, str):
        err((*path, "content"), "expected text", "quote it")
        ok = False
    calls: list[ToolCall] = []
    raw_calls = raw.get("tool_calls")
    if raw_calls is not None:
        if not isinstance(raw_calls, list):
            err(
                (*path, "tool_calls"),
                "expected a list of {name, arguments}",
                "for example [{ name: finish, arguments: { summary: done } }]",
            )
            ok = False
            raw_calls = []
        for j, call in enumerate(raw_calls):
            cpath = (*path, "tool_calls", j)
            if not isinstance(call, dict):
                err(cpath, "a tool call is a mapping", "give 'name' and 'arguments'")
                ok = False
                continue
            unknown_keys(call, cpath, _CALL)
            name = call.get("name")
            if not isinstance(name, str) or not name:
                err(
                    cpath if "name" not in call else (*cpath, "name"),
                    "a tool call needs a 'name'",
                    "the function name the model calls, e.g. github__get_issue",
                )
                ok = False
                continue
            args = call.get("arguments", {})
            if args is None:
                args = {}
            if not isinstance(args, dict):
                err(
                    (*cpath, "arguments"),
                    "expected a mapping of argument names to values",
                    "for example { number: 42 }",
                )
                ok = False
                continue
            calls.append(ToolCall(name, args))
    usage: tuple[int, int] | None = None
    raw_usage = raw.get("usage")
    if raw_usage is not None:
        if not isinstance(raw_usage, dict):
            err(
                (*path, "usage"),
                "expected { prompt_tokens, completion_tokens }",
                "or leave it out to have it estimated",
            )
            ok = False
        else:
            unknown_keys(raw_usage, (*path, "usage"), _USAGE)
            p = nonneg_int(raw_usage.get("prompt_tokens", 0), (*path, "usage", "prompt_tokens"))
            c = nonneg_int(
                raw_usage.get("completion_tokens", 0), (*path, "usage", "completion_tokens")
            )
            if p is None or c is None:
                ok = False
            else:
                usage = (p, c)
    status = raw.get("status")
    if status is not None:
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
            err(
                (*path, "status"),
                f"expected an HTTP error status 400-599, got {status!r}",
                "for example 503; leave it out for a normal reply",
            )
            ok = False
        elif calls:
            err(
                (*path, "tool_calls"),
                "a reply with 'status' answers an error and calls no tool",
                "move the tool calls to the next reply",
            )
            ok = False
    delay = raw.get("delay_ms", 0)
    delay_ok = nonneg_int(delay, (*path, "delay_ms"))
    if delay_ok is None:
        ok = False
    if content is None and not calls and status is None and ok:
        err(path, "an empty reply", "give 'content', 'tool_calls' or 'status'")
        ok = False
    if not ok:
        return None
    line = smap.locate(path)[0] if smap.values else 0
    return Reply(content, tuple(calls), usage, status, delay_ok or 0, line)
