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


CRON_CASES = [
    ("30 25 * * *", "hour '25' is out of range: hour is 0-23"),
    ("60 * * * *", "minute '60' is out of range: minute is 0-59"),
    ("0 0 0 * *", "day-of-month '0' is out of range: day-of-month is 1-31"),
    ("0 0 * 13 *", "month '13' is out of range: month is 1-12 or jan-dec"),
    ("0 0 * * 7", "day-of-week '7' is out of range: day-of-week is 0-6 or sun-sat"),
    (
        "0 0 * * fry",
        "day-of-week 'fry' is not a number, range, list or step: day-of-week is 0-6 or sun-sat",
    ),
    ("*/0 * * * *", "minute '*/0' has a bad step: a step is a whole number, at least 1"),
    ("0 5-1 * * *", "hour '5-1' runs backwards: write the smaller number first"),
    (
        "0 0 * * ²",
        "day-of-week '²' is not a number, range, list or step: day-of-week is 0-6 or sun-sat",
    ),
    (
        "0 0 * * " + "9" * 5000,
        "day-of-week '999999999999999999999...' is out of range: day-of-week is 0-6 or sun-sat",
    ),
    ("? 0 * * *", "minute '?': '?' is only allowed in day-of-month and day-of-week"),
    ("30 25 * *", "expected 5 fields (minute hour day-of-month month day-of-week), got 4"),
]


@pytest.mark.parametrize(("expr", "problem"), CRON_CASES, ids=[c[0][:20] for c in CRON_CASES])
def test_cron_names_the_bad_field_and_its_range(expr: str, problem: str) -> None:
    from fleet.rules import cron_problem

    assert cron_problem(expr) == problem


@pytest.mark.parametrize(
    "expr",
    [
        "0 6 * * 1-5",
        "*/30 7-19 * * 1-5",
        "15 */4 * * *",
        "0 0 ? * MON-fri",
        "0 0 1,15 jan-mar *",
        "@daily",
    ],
)
def test_cron_accepts_what_a_cronjob_accepts(expr: str) -> None:
    from fleet.rules import cron_problem

    assert cron_problem(expr) is None


@pytest.mark.parametrize(
    ("zone", "hint"),
    [
        ("Europe/Berln", "did you mean 'Europe/Berlin'?"),
        ("europe/berlin", "did you mean 'Europe/Berlin'?"),
        ("Berlin", "did you mean 'Europe/Berlin'?"),
        ("Amerika/New_York", "did you mean 'America/New_York'?"),
        ("Mars/Olympus_Mons", "use an IANA name such as Europe/Berlin, America/New_York or UTC"),
    ],
)
def test_unknown_time_zone_did_you_mean(zone: str, hint: str, tmp_path: Path) -> None:
    root = overlay(tmp_path / "fleet", FIXTURES / "base")
    beta = root / "agents" / "beta.yaml"
    beta.write_text(beta.read_text().replace("timezone: UTC", f"timezone: {zone}"))
    assert [line for line in run_root(root) if "[FL172]" in line] == [
        f"fleet/agents/beta.yaml:12:48: agent.trigger.timezone: unknown time zone '{zone}' ({hint}) [FL172]"
    ]


def run_root(root: Path) -> list[str]:
    return [d.format() for d in check(DirSource(root, "fleet"), today=TODAY).diagnostics]


def test_destructive_grant_without_approvals_entry_is_not_an_error(tmp_path: Path) -> None:
    """The org-wide gate applies by itself: FL151 only refuses switching it off."""
    root = overlay(tmp_path / "fleet", FIXTURES / "base")
    alpha = root / "agents" / "alpha.yaml"
    alpha.write_text(
        alpha.read_text().replace("[read, create_pr]", "[read, create_pr, merge_pr, destructive]")
    )
    assert [line for line in run_root(root) if "[FL151]" in line] == []
    alpha.write_text(
        alpha.read_text().replace("  trigger:", '  approvals: { "*": auto }\n  trigger:')
    )
    assert [line for line in run_root(root) if "[FL151]" in line] == [
        "fleet/agents/alpha.yaml:15:21: agent.approvals.\"*\": '*' covers destructive 'merge_pr': "
        "its approval gate cannot be switched off (destructive tools always wait for a person: "
        "remove the entry, or write pause_for_human) [FL151]"
    ]
