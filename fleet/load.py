"""Load a fleet (``fleet.yaml`` + ``agents/*.yaml``) into models, every mistake located.

Shape and type errors from pydantic are mapped back to ``file:line:col`` with
the user's field path and a hint ("did you mean", expected values). All files
are read and all errors collected; nothing stops at the first one.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from pydantic import BaseModel, ValidationError

from fleet.errors import Diagnostic, ReadError, did_you_mean, sort_diagnostics
from fleet.source import Source
from fleet.spec import DNS_LABEL, REF_PATTERN, Agent, AgentFile, Fleet, ref_problem
from fleet.yamlsrc import Path, SourceMap, format_path, parse

FLEET_FILE = "fleet.yaml"
AGENTS_DIR = "agents"


@dataclass
class LoadedAgent:
    agent: Agent
    file: str
    smap: SourceMap
    raw: dict[str, Any]


@dataclass
class LoadedFleet:
    """A fleet whose files all parsed; rules run over this."""

    source: Source
    fleet: Fleet
    fleet_file: str
    fleet_map: SourceMap
    agents: list[LoadedAgent] = field(default_factory=list)
    raw_fleet: dict[str, Any] = field(default_factory=dict)

    def agent(self, name: str) -> LoadedAgent | None:
        return next((a for a in self.agents if a.agent.name == name), None)


_PATTERN_HINTS = {
    DNS_LABEL: "use lowercase letters, digits and '-' (a DNS-1123 label)",
    r"^https?://\S+$": "use an http:// or https:// URL",
    r"^\d+(ms|s|m|h|d)$": "use a duration such as 30s, 15m, 1h or 7d",
}


def _unwrap(annotation: Any) -> list[Any]:
    """The concrete types inside Optional/Union/Annotated/list/dict annotations."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        out: list[Any] = []
        for arg in typing.get_args(annotation):
            out.extend(_unwrap(arg))
        return out
    return [annotation]


def _model_at(model: type[BaseModel], path: Path) -> type[BaseModel] | None:
    """The model class that describes the mapping at ``path`` (for "did you mean")."""
    current: list[Any] = [model]
    for part in path:
        nxt: list[Any] = []
        for item in current:
            if isinstance(item, type) and issubclass(item, BaseModel):
                if isinstance(part, str) and part in item.model_fields:
                    nxt.extend(_unwrap(item.model_fields[part].annotation))
            else:
                origin = typing.get_origin(item)
                args = typing.get_args(item)
                if origin is list and args and isinstance(part, int):
                    nxt.extend(_unwrap(args[0]))
                elif origin is dict and len(args) == 2:
                    nxt.extend(_unwrap(args[1]))
        current = nxt
    for item in current:
        if isinstance(item, type) and issubclass(item, BaseModel):
            return item
    return None


_SCALAR_TAGS = {"str", "int", "float", "bool", "date", "none"}


def _is_tag(part: str) -> bool:
    """pydantic's names for union members and validators, e.g. ``str``, ``constrained-str``."""
    return (
        part in _SCALAR_TAGS
        or "[" in part
        or part.startswith("constrained-")
        or not part[:1].islower()
    )


def _data_path(data: Any, loc: tuple[str | int, ...]) -> tuple[Path, bool]:
    """Drop pydantic's union/validator tags from ``loc`` so it names data only.

    Returns the data path and whether a union member tag was skipped.
    """
    out: list[str | int] = []
    node = data
    tagged = False
    for i, part in enumerate(loc):
        if (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        ):
            out.append(part)
            node = node[part]  # type: ignore[index]
        elif (
            i == len(loc) - 1
            and isinstance(node, dict)
            and isinstance(part, str)
            and not _is_tag(part)
        ):
            out.append(part)  # a missing or unknown key
        else:
            tagged = True
    return tuple(out), tagged


_SCALAR_ERRORS = {
    "string_type",
    "int_type",
    "float_type",
    "bool_type",
    "int_parsing",
    "float_parsing",
    "bool_parsing",
    "string_pattern_mismatch",
    "date_type",
    "date_from_datetime_parsing",
    "date_parsing",
}


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def diagnostics_from_validation(
    exc: ValidationError, data: Any, smap: SourceMap, model: type[BaseModel]
) -> list[Diagnostic]:
    """Turn pydantic's errors into located diagnostics in the user's terms."""
    out: list[Diagnostic] = []
    for err in exc.errors(include_url=False):
        kind = err["type"]
        path, tagged = _data_path(data, err["loc"])
        value = err.get("input")
        if tagged:
            # One member of a union failed; report only the member that fits the input's shape.
            if isinstance(value, dict) and kind in _SCALAR_ERRORS:
                continue
            if not isinstance(value, dict) and kind in ("model_type", "dict_type"):
                continue
        where = format_path(path)
        if kind == "extra_forbidden":
            line, col = smap.locate(path, key=True)
            parent = _model_at(model, path[:-1])
            choices = list(parent.model_fields) if parent else []
            out.append(
                Diagnostic(
                    smap.file,
                    line,
                    col,
                    where,
                    f"unknown field '{path[-1]}'",
                    did_you_mean(str(path[-1]), choices),
                )
            )
            continue
        if kind == "missing":
            line, col = smap.locate(path[:-1], key=True)
            parent_path = format_path(path[:-1]) or "the document"
            out.append(
                Diagnostic(
                    smap.file,
                    line,
                    col,
                    where,
                    f"missing required field '{path[-1]}'",
                    f"add '{path[-1]}' under {parent_path}",
                )
            )
            continue
        line, col = smap.locate(path)
        ctx = err.get("ctx") or {}
        hint = ""
        if kind == "string_pattern_mismatch" and ctx.get("pattern") == REF_PATTERN:
            message, hint = ref_problem(str(value))
        elif kind == "string_pattern_mismatch":
            hint = _PATTERN_HINTS.get(
                str(ctx.get("pattern")), f"expected the form {ctx.get('pattern')}"
            )
            message = f"invalid value {_describe(value)}"
        elif kind == "literal_error":
            expected = str(ctx.get("expected", ""))
            options = [o.strip(" '") for o in expected.replace(" or ", ",").split(",") if o.strip()]
            message = f"invalid value {_describe(value)}"
            hint = (
                did_you_mean(str(value), options)
                if isinstance(value, str)
                else f"expected {expected}"
            )
        elif kind in ("model_type", "dict_type"):
            message = f"expected a mapping, got {_describe(value)}"
            hint = "write 'key: value' pairs indented under this field"
        elif kind == "list_type":
            message = f"expected a list, got {_describe(value)}"
            hint = "write [a, b] or one '- item' per line"
        else:
            message = err["msg"][0].lower() + err["msg"][1:] if err["msg"] else kind
            if value is not None and kind not in ("value_error",):
                message += f", got {_describe(value)}"
            message = message.replace("Value error, ", "").replace("value error, ", "")
        out.append(Diagnostic(smap.file, line, col, where, message, hint))
    return out


def parse_model(
    text: bytes, file: str, model: type[BaseModel]
) -> tuple[Any, SourceMap, dict[str, Any], list[Diagnostic]]:
    """Parse and validate one file against ``model``; returns (instance | None, map, raw, diagnostics)."""
    data, smap, diags = parse(text, file)
    if data is None:
        return None, smap, {}, diags
    if not isinstance(data, dict):
        diags.append(
            Diagnostic(
                file,
                1,
                1,
                "",
                f"expected a mapping at the top of the file, got {type(data).__name__}",
                "see examples/minimal for the layout",
            )
        )
        return None, smap, {}, diags
    try:
        instance = model.model_validate(data)
    except ValidationError as exc:
        diags.extend(diagnostics_from_validation(exc, data, smap, model))
        return None, smap, data, diags
    return instance, smap, data, diags


def _agent_files(source: Source) -> list[str]:
    return [
        f"{AGENTS_DIR}/{name}"
        for name in source.listdir(AGENTS_DIR)
        if name.endswith((".yaml", ".yml"))
        and not name.startswith(".")
        and not source.isdir(f"{AGENTS_DIR}/{name}")
    ]


def load_fleet(
    source: Source,
    agent_files: list[str] | None = None,
    fleet_file: str = FLEET_FILE,
    raw_sink: list[tuple[SourceMap, Any]] | None = None,
) -> tuple[LoadedFleet | None, list[Diagnostic]]:
    """Load every file of a fleet. Returns the fleet (``None`` if any file is unusable) and all diagnostics.

    ``raw_sink`` receives every parsed document, valid or not, for document rules.
    """
    diags: list[Diagnostic] = []
    sink = raw_sink if raw_sink is not None else []
    shown = _display(source, fleet_file)
    fleet_text, refused = _read(source, fleet_file)
    diags += refused
    fleet: Fleet | None = None
    fleet_map = SourceMap(shown)
    raw_fleet: dict[str, Any] = {}
    if fleet_text is None and not refused:
        diags.append(
            Diagnostic(
                shown,
                0,
                0,
                "",
                "no fleet.yaml here",
                "a fleet is a directory with fleet.yaml and agents/*.yaml; see examples/minimal",
            )
        )
    elif fleet_text is not None:
        fleet, fleet_map, raw_fleet, d = parse_model(fleet_text, shown, Fleet)
        diags.extend(d)
        if raw_fleet:
            sink.append((fleet_map, raw_fleet))
    agents: list[LoadedAgent] = []
    try:
        files = agent_files if agent_files is not None else _agent_files(source)
    except ReadError as exc:
        files = []
        diags.append(_refused(source, exc))
    for rel in files:
        text, refused = _read(source, rel)
        diags += refused
        shown_agent = _display(source, rel)
        if refused:
            continue
        if text is None:
            diags.append(Diagnostic(shown_agent, 0, 0, "", "file not found", "check the path"))
            continue
        parsed, smap, raw, d = parse_model(text, shown_agent, AgentFile)
        diags.extend(d)
        if raw:
            sink.append((smap, raw))
        if parsed is not None:
            agents.append(LoadedAgent(parsed.agent, shown_agent, smap, raw))
    has_errors = any(d.severity.value == "error" for d in diags)
    if fleet is None or has_errors:
        return None, sort_diagnostics(diags)
    loaded = LoadedFleet(
        source, fleet, shown, fleet_map, sorted(agents, key=lambda a: a.file), raw_fleet
    )
    return loaded, sort_diagnostics(diags)


def _read(source: Source, rel: str) -> tuple[bytes | None, list[Diagnostic]]:
    try:
        return source.read(rel), []
    except ReadError as exc:
        return None, [_refused(source, exc)]


def _refused(source: Source, exc: ReadError) -> Diagnostic:
    """A file the source would not read: about the whole file (or the link that leaves the fleet)."""
    return Diagnostic(_display(source, exc.path), 0, 0, "", exc.message, exc.hint)


def _display(source: Source, rel: str) -> str:
    """The path users see: relative to where they pointed us."""
    label = source.label.rstrip("/")
    if not label or label == ".":
        return rel
    return str(PurePosixPath(label) / rel)
