"""The bounds on one YAML file: size, nodes, nesting depth, aliases counted as copies.

A fleet file is untrusted input. Its size is checked before parsing; nodes
and depth are counted while the document is composed (by the pure parser's
composer here, by the libyaml event builder in :mod:`fleet.yamlsrc_events`),
an alias costing what its anchor holds, so a billion-laughs bomb stops at the
alias that would cross the node limit. Each limit is a located error with a
hint naming the variable that raises it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.composer import Composer
from ruamel.yaml.events import (
    AliasEvent,
)

from fleet.errors import Diagnostic
from fleet.source import DEFAULT_MAX_FILE_BYTES, MAX_FILE_BYTES_ENV, env_limit

MAX_NODES_ENV = "FLEET_MAX_YAML_NODES"
MAX_DEPTH_ENV = "FLEET_MAX_YAML_DEPTH"
DEFAULT_MAX_NODES = 100_000
DEFAULT_MAX_DEPTH = 64


@dataclass(frozen=True)
class Limits:
    """How much YAML one file may hold. Defaults are far above any real fleet file."""

    max_bytes: int = DEFAULT_MAX_FILE_BYTES
    max_nodes: int = DEFAULT_MAX_NODES
    """Scalars, sequences and mappings (keys too); an alias counts as the nodes it names."""
    max_depth: int = DEFAULT_MAX_DEPTH
    """Nesting, the document's root being depth 1; through aliases too."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Limits:
        """``FLEET_MAX_FILE_BYTES``, ``FLEET_MAX_YAML_NODES``, ``FLEET_MAX_YAML_DEPTH``."""
        return cls(
            max_bytes=env_limit(MAX_FILE_BYTES_ENV, DEFAULT_MAX_FILE_BYTES, environ),
            max_nodes=env_limit(MAX_NODES_ENV, DEFAULT_MAX_NODES, environ),
            max_depth=env_limit(MAX_DEPTH_ENV, DEFAULT_MAX_DEPTH, environ),
        )


class LimitExceeded(Exception):
    """A limit was crossed; carries the located diagnostic. Never falls back to another parser."""

    def __init__(self, diagnostic: Diagnostic):
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


class Budget:
    """Counts nodes and tracks depth, aliases included, for one document."""

    def __init__(self, file: str, limits: Limits):
        self.file = file
        self.limits = limits
        self.nodes = 0
        self.deepest = 0
        self.sizes: dict[Any, tuple[int, int] | None] = {}  # anchor → (nodes, height); None: open

    def _fail(self, mark: Any, message: str, hint: str) -> LimitExceeded:
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        return LimitExceeded(Diagnostic(self.file, line, col, "", message, hint))

    def node(self, depth: int, mark: Any) -> None:
        self.nodes += 1
        if self.nodes > self.limits.max_nodes:
            raise self._fail(
                mark,
                f"more than {self.limits.max_nodes:,} YAML nodes in one file",
                f"a fleet file holds far fewer; {MAX_NODES_ENV} raises the limit",
            )
        if depth > self.limits.max_depth:
            raise self._fail(
                mark,
                f"nested more than {self.limits.max_depth} levels deep",
                f"flatten the structure; {MAX_DEPTH_ENV} raises the limit",
            )
        self.deepest = max(self.deepest, depth)

    def open_anchor(self, anchor: Any) -> tuple[int, int]:
        """Start measuring what ``anchor`` holds; pass the result to :meth:`close_anchor`."""
        self.sizes[anchor] = None
        before = (self.nodes, self.deepest)
        self.deepest = 0
        return before

    def close_anchor(self, anchor: Any, depth: int, before: tuple[int, int]) -> None:
        self.sizes[anchor] = (self.nodes - before[0], max(self.deepest - depth, 0))
        self.deepest = max(before[1], self.deepest)

    def alias(self, anchor: Any, depth: int, mark: Any) -> None:
        """An alias costs what its anchor holds, and reaches as deep as it does from here."""
        if anchor not in self.sizes:
            return  # undefined: the parser reports it
        size = self.sizes[anchor]
        if size is None:
            raise self._fail(
                mark,
                f"alias '*{anchor}' refers to a node that contains it",
                "YAML data cannot contain itself; write the value out",
            )
        nodes, height = size
        self.nodes += max(nodes, 1)
        if self.nodes > self.limits.max_nodes:
            raise self._fail(
                mark,
                f"alias '*{anchor}' expands the file past {self.limits.max_nodes:,} YAML nodes",
                "an alias counts as a copy of what it names, so a few lines can expand to billions; "
                f"write the data out, or raise {MAX_NODES_ENV}",
            )
        if depth + height > self.limits.max_depth:
            raise self._fail(
                mark,
                f"alias '*{anchor}' nests the data more than {self.limits.max_depth} levels deep",
                f"flatten the structure; {MAX_DEPTH_ENV} raises the limit",
            )
        self.deepest = max(self.deepest, depth + height)


class _LimitedComposer(Composer):
    """ruamel's composer, counting every node and alias against a :class:`Budget` as it goes."""

    def __init__(self, loader: Any = None):
        super().__init__(loader)
        self.warn_double_anchors = False  # a redefined anchor is valid YAML
        self.budget: Budget = loader.fleet_budget
        self.level = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.parser.peek_event()
        if type(event) is AliasEvent:
            self.budget.alias(event.anchor, self.level + 1, event.start_mark)
            return super().compose_node(parent, index)
        self.level += 1
        self.budget.node(self.level, event.start_mark)
        anchor = event.anchor
        before = self.budget.open_anchor(anchor) if anchor is not None else (0, 0)
        node = super().compose_node(parent, index)
        if anchor is not None:
            self.budget.close_anchor(anchor, self.level, before)
        self.level -= 1
        return node


def pure_yaml(budget: Budget) -> YAML:
    # libyaml (the C parser) is ~6x faster but stricter than YAML 1.2 in places
    # (``{url: https://x}`` in flow style); the pure parser is the arbiter.
    yaml = YAML(typ="safe", pure=True)
    yaml.Composer = _LimitedComposer
    yaml.fleet_budget = budget  # type: ignore[attr-defined]
    return yaml
