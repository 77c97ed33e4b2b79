"""Validation as one step: load every file, then run every rule; all findings, sorted."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from fleet.errors import Diagnostic, Severity, sort_diagnostics
from fleet.load import LoadedFleet, load_fleet
from fleet.rules import run_document_rules, run_rules
from fleet.source import Source
from fleet.yamlsrc import SourceMap


@dataclass
class Report:
    fleet: LoadedFleet | None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    resolution: Any = None
    """The :class:`fleet.resolve.Resolution` when pins were resolved."""

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.WARNING]

    def ok(self, strict: bool = False) -> bool:
        return not self.errors and not (strict and self.warnings)


def validate(
    source: Source,
    *,
    agent_files: list[str] | None = None,
    fleet_file: str = "fleet.yaml",
    today: dt.date | None = None,
) -> Report:
    """Load and lint a fleet. Resolution and lockfile checks join in :func:`fleet.resolve.check`."""
    docs: list[tuple[SourceMap, Any]] = []
    loaded, diags = load_fleet(source, agent_files, fleet_file, raw_sink=docs)
    diags = diags + run_document_rules(docs)
    if loaded is not None and not any(d.severity is Severity.ERROR for d in diags):
        diags = diags + run_rules(loaded, today)
    return Report(loaded, sort_diagnostics(diags))
