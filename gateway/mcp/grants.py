"""Least-privilege tool grants: which tools of which MCP server an identity may see and call.

Nothing on a server is reachable without a grant on it: any method, stream or
session end needs at least one grant entry for that server (:func:`server_refusal`).

A tool's class comes from the fleet's server catalog (``read``/``write``/
``destructive`` globs); the org-wide ``destructive_tools`` list and a loop's
``approvals: {tool: pause_for_human}`` make a tool destructive whatever the
catalog says. A tool the catalog does not classify is ``unclassified``: only a
grant that names it opens it. An identity's grant entries are classes or tool
names/globs. A ``checker`` may call read tools only, whatever its grants say.

Destructive globs and approval entries also match a tool's :func:`skeleton`
(NFKC, invisible characters and spaces removed, casefolded, letters that look
Latin mapped to it, a ``server.`` qualification dropped), so ``Merge_pr``,
`` merge_pr``, ``mеrge_pr`` (a Cyrillic е) and ``github.merge_pr`` are as
destructive as ``merge_pr``. Read and write globs match exactly: a look-alike of
a read tool is not read, it is unclassified. (The proxy also calls only names
the server itself lists, see :mod:`gateway.mcp.listing`.)
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import lru_cache
from typing import Any

from fleet.gwconfig import GatewayConfig
from gateway.config import Identity

CLASSES = ("read", "write", "destructive")


@dataclass(frozen=True)
class Refusal:
    grant: str
    tool_class: str
    message: str


# Letters outside Latin that look like Latin ones once casefolded (a subset of Unicode
# TR39's confusables: Cyrillic, Greek and IPA letters seen in spoofed identifiers).
CONFUSABLES = str.maketrans(
    {
        **dict.fromkeys("аɑα", "a"),
        **dict.fromkeys("вβ", "b"),
        **dict.fromkeys("сϲ", "c"),
        "ԁ": "d",
        **dict.fromkeys("еεҽ", "e"),
        "ɡ": "g",
        **dict.fromkeys("һн", "h"),
        **dict.fromkeys("іıιӏ", "i"),
        "ј": "j",
        **dict.fromkeys("кκ", "k"),
        "м": "m",
        "η": "n",
        **dict.fromkeys("оοօ", "o"),
        **dict.fromkeys("рρ", "p"),
        "ԛ": "q",
        "ѕ": "s",
        **dict.fromkeys("тτ", "t"),
        **dict.fromkeys("υս", "u"),
        "ν": "v",
        **dict.fromkeys("ԝω", "w"),
        **dict.fromkeys("хχ", "x"),
        "у": "y",
    }
)
QUALIFIERS = (".", "/", ":", "__")


@lru_cache(maxsize=4096)
def skeleton(name: str) -> str:
    """The form a destructive name is recognised in: NFKC, format characters (zero-width
    spaces, joiners) and white space removed, casefolded, look-alike letters mapped."""
    text = unicodedata.normalize("NFKC", name)
    text = "".join(c for c in text if not c.isspace() and unicodedata.category(c) != "Cf")
    return text.casefold().translate(CONFUSABLES)


@lru_cache(maxsize=4096)
def _forms(tool: str) -> tuple[str, ...]:
    """``tool`` as written, its skeleton, and the skeleton's last segment (``github.merge_pr``
    read as ``merge_pr``)."""
    forms = [tool, skeleton(tool)]
    last = forms[1]
    for sep in QUALIFIERS:
        last = last.rsplit(sep, 1)[-1]
    forms.append(last)
    return tuple(dict.fromkeys(f for f in forms if f))


def _matches(patterns: list[str], server: str, tool: str) -> bool:
    qualified = f"{server}.{tool}"
    return any(fnmatchcase(tool, p) or fnmatchcase(qualified, p) for p in patterns)


def _matches_any_form(patterns: list[str] | tuple[str, ...], server: str, tool: str) -> bool:
    """Whether ``tool`` or any look-alike reading of it matches a pattern (or its skeleton)."""
    if not patterns:
        return False
    wanted = tuple(dict.fromkeys([*patterns, *(skeleton(p) for p in patterns)]))
    return any(
        fnmatchcase(form, p) or fnmatchcase(f"{server}.{form}", p)
        for form in _forms(tool)
        for p in wanted
    )


def tool_class(config: GatewayConfig, server: str, tool: str) -> str:
    """``read``, ``write``, ``destructive`` or ``unclassified``."""
    if _matches_any_form(config.destructive_tools, server, tool):
        return "destructive"
    catalog = config.mcp_servers.get(server)
    if catalog is None:
        return "unclassified"
    # Most dangerous class first: a tool matched by two globs gets the stricter one.
    if _matches_any_form(catalog.tools.destructive, server, tool):
        return "destructive"
    for cls in ("write", "read"):
        if _matches(getattr(catalog.tools, cls), server, tool):
            return cls
    return "unclassified"


def needs_approval(
    config: GatewayConfig, ident: Identity, server: str, tool: str, cls: str
) -> bool:
    """Destructive tools always wait for a human; a loop can add more with ``approvals``."""
    if cls == "destructive":
        return True
    paused = tuple(name for name, mode in ident.approvals.items() if mode == "pause_for_human")
    return _matches_any_form(paused, server, tool)


def server_refusal(ident: Identity, server: str) -> Refusal | None:
    """None when ``ident`` holds any grant on ``server``; otherwise why it may not reach it."""
    if ident.mcp.get(server):
        return None
    return Refusal(
        server,
        "",
        f"{_who(ident)} has no grant on MCP server '{server}'; add it to {_where(ident, server)}",
    )


def _where(ident: Identity, server: str) -> str:
    if "/" in ident.member:
        sub = ident.member.split("/", 1)[1]
        return f"agent.subagents[{sub}].mcp_servers.{server}.tools"
    return f"agent.mcp_servers.{server}.tools"


def _who(ident: Identity) -> str:
    return f"sub-agent '{ident.member}'" if "/" in ident.member else f"loop '{ident.loop}'"


def check(ident: Identity, server: str, tool: str, cls: str) -> Refusal | None:
    """None when ``ident`` may call ``server.tool``; otherwise why not."""
    grant = f"{server}.{tool}"
    if ident.role == "checker" and cls != "read":
        return Refusal(
            grant,
            cls,
            f"{_who(ident)} has role checker and may call read tools only; {grant} is class {cls}",
        )
    entries = ident.mcp.get(server, [])
    if cls in CLASSES and cls in entries:
        return None
    if any(e not in CLASSES and fnmatchcase(tool, e) for e in entries):
        return None
    return Refusal(
        grant,
        cls,
        f"{_who(ident)} has no grant for {grant} (class {cls}); add it to {_where(ident, server)}",
    )


def visible(ident: Identity, server: str, tool: str, cls: str) -> bool:
    return check(ident, server, tool, cls) is None


def visible_tools(
    config: GatewayConfig, ident: Identity, server: str, tools: list[Any]
) -> tuple[list[dict[str, Any]], bool]:
    """What ``ident`` is shown of ``server``'s ``tools/list`` (on ``/mcp/<server>`` and on
    ``/mcp`` alike), and whether any of it waits for approval. A gated tool loses its output
    schema: its answer may be a pending notice, which no output schema describes."""
    shown: list[dict[str, Any]] = []
    gated = False
    for tool in tools:
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            continue  # not a tool: nothing a caller could call by name
        tname = tool["name"]
        cls = tool_class(config, server, tname)
        if not visible(ident, server, tname, cls):
            continue
        if needs_approval(config, ident, server, tname, cls):
            tool = {k: v for k, v in tool.items() if k != "outputSchema"}
            gated = True
        shown.append(tool)
    return shown, gated
