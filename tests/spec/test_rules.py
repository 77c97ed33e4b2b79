"""Every lint rule: a fixture that triggers it (golden text) and one that does not."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from fleet.errors import Severity
from fleet.resolve import RESOLVE_RULES, check
from fleet.rules import DOCUMENT_RULES, RULES
from fleet.source import DirSource
from tests.conftest import FIXTURES, overlay

RULE_DIR = FIXTURES / "rules"
TODAY = dt.date(2027, 3, 1)
ALL_IDS = sorted(
    {r.id for r in RULES} | {r.id for r in DOCUMENT_RULES} | {r[0] for r in RESOLVE_RULES}
)


def run(tmp_path: Path, *layers: Path, today: dt.date = TODAY) -> list[str]:
    root = overlay(tmp_path / "fleet", FIXTURES / "base", *layers)
    report = check(DirSource(root, "fleet"), today=today)
    return [d.format() for d in report.diagnostics]


def test_every_rule_has_fixtures() -> None:
    assert sorted(p.name for p in RULE_DIR.iterdir()) == ALL_IDS


def test_base_fleet_is_clean(tmp_path: Path) -> None:
    assert run(tmp_path) == []


@pytest.mark.parametrize("rule_id", ALL_IDS)
def test_rule_triggers(rule_id: str, tmp_path: Path) -> None:
    lines = [
        line for line in run(tmp_path, RULE_DIR / rule_id / "bad") if line.endswith(f"[{rule_id}]")
    ]
    golden = RULE_DIR / rule_id / "expected.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text("".join(f"{line}\n" for line in lines))
    assert lines, f"{rule_id} did not fire on its bad fixture"
    assert lines == golden.read_text().splitlines()


@pytest.mark.parametrize("rule_id", ALL_IDS)
def test_rule_quiet_on_good(rule_id: str, tmp_path: Path) -> None:
    good = RULE_DIR / rule_id / "good"
    layers = [good] if good.is_dir() else []
    assert [line for line in run(tmp_path, *layers) if line.endswith(f"[{rule_id}]")] == []


def test_deprecation_warns_within_30_days(tmp_path: Path) -> None:
    lines = run(tmp_path, RULE_DIR / "FL122" / "bad", today=dt.date(2027, 1, 15))
    assert lines == [
        "fleet/agents/beta.yaml:6:10: agent.model: warning: model 'sunset' is deprecated after 2027-01-31 (16 days left) (switch to 'main') [FL122]"
    ]
    root = tmp_path / "fleet"
    report = check(DirSource(root, "fleet"), today=dt.date(2027, 1, 15))
    assert report.ok() and not report.ok(strict=True)
    assert report.diagnostics[0].severity is Severity.WARNING
    assert run(tmp_path, RULE_DIR / "FL122" / "bad", today=dt.date(2026, 11, 1)) == []


def test_credential_values_are_masked(tmp_path: Path) -> None:
    text = "\n".join(run(tmp_path, RULE_DIR / "FL141" / "bad"))
    assert "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8" not in text
    assert "Zq8vN3xR7tK2mP9wL4sB6yH1cF5jD0gA" not in text


def test_owns_conflict_names_both_places(tmp_path: Path) -> None:
    (line,) = [x for x in run(tmp_path, RULE_DIR / "FL101" / "bad") if "[FL101]" in x]
    assert line.startswith("fleet/agents/beta.yaml:")
    assert "fleet/agents/alpha.yaml:5:" in line
