"""The cron stampede: loops that start in the same minute, across time zones,
daylight saving time and dated schedules, and FL173 on a generated fleet of 1,000 loops."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from fleet.errors import Severity
from fleet.resolve import check
from fleet.source import DirSource
from fleet.starts import Crowd, Scheduled, crowds, describe
from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
from genfleet import generate

MON_FRI_0500 = tuple(d * 1440 + 5 * 60 for d in range(1, 6))


def loops(*specs: tuple[str, str, str]) -> list[Scheduled]:
    return [Scheduled(name, schedule, zone) for name, schedule, zone in specs]


def test_zones_with_one_offset_meet_in_utc() -> None:
    found = crowds(
        loops(("a", "0 6 * * 1-5", "Europe/Berlin"), ("b", "0 6 * * 1-5", "Europe/Paris")), 1
    )
    assert found == [Crowd(("a", "b"), MON_FRI_0500, "UTC")]


def test_the_same_local_time_in_other_offsets_does_not_meet() -> None:
    specs = (("a", "0 6 * * *", "Europe/Berlin"), ("b", "0 6 * * *", "Europe/London"))
    assert crowds(loops(*specs), 1) == []


def test_daylight_saving_time_moves_a_zone_onto_utc() -> None:
    """Berlin's 06:00 is 05:00 UTC in winter and 04:00 in summer, when it meets b."""
    found = crowds(loops(("a", "0 6 * * *", "Europe/Berlin"), ("b", "0 4 * * *", "UTC")), 1)
    assert found == [Crowd(("a", "b"), tuple(d * 1440 + 4 * 60 for d in range(7)), "UTC")]


def test_one_zone_is_shown_in_its_own_time() -> None:
    specs = [(f"l{i}", "0 6 * * 1-5", "America/New_York") for i in range(3)]
    (crowd,) = crowds(loops(*specs), 2)
    assert describe(crowd.minutes, crowd.timezone) == "06:00 America/New_York on mon-fri"


@pytest.mark.parametrize(
    ("a", "b", "meet"),
    [
        ("0 6 1 * *", "0 6 15 * *", False),
        ("0 6 1 * *", "0 6 * * *", True),
        ("0 6 1 * *", "0 6 1,15 * *", True),
        ("0 6 1 1 *", "0 6 1 2 *", False),
        ("0 6 * 1 *", "0 6 * 2 *", False),
        ("0 6 * 1-3 1", "0 6 * 3 *", True),
        ("0 6 * 1-3 1", "0 6 * 3 2", False),
        ("0 6 31 * *", "0 6 30 * *", False),
        ("0 6 30 2 *", "0 6 * * *", False),  # a date that never comes
        # robfig/cron: day-of-month and day-of-week both restricted: either matches
        ("0 6 1 * 1", "0 6 * * 1", True),
        ("0 6 1 * 1", "0 6 15 * *", True),  # every Monday; the 15th is a Monday some months
        ("0 6 1 * 1", "0 6 * * 2", True),  # the 1st falls on a Tuesday some months
        ("0 6 1 * 1", "0 7 * * 1", False),
        # '*/2' is no star to robfig/cron: odd days or Mondays (not odd Mondays): a Monday the 2nd
        ("0 6 */2 * 1", "0 6 2 * *", True),
        ("@daily", "0 0 * * 3", True),
    ],
)
def test_dated_schedules_meet_only_on_shared_days(a: str, b: str, meet: bool) -> None:
    found = crowds(loops(("a", a, "UTC"), ("b", b, "UTC")), 1)
    assert bool(found) is meet, found


def test_dated_and_weekly_loops_add_up_on_the_date() -> None:
    weekly = [(f"w{i}", "0 6 * * *", "UTC") for i in range(2)]
    monthly = [(f"m{i}", "0 6 1 * *", "UTC") for i in range(2)]
    (crowd,) = crowds(loops(*weekly, *monthly), 3)
    assert crowd.loops == ("m0", "m1", "w0", "w1")
    assert crowds(loops(*weekly, *monthly), 4) == []


def test_a_crowd_inside_a_larger_one_is_not_repeated() -> None:
    weekdays = [(f"l{i}", "0 6 * * 1-5", "UTC") for i in range(3)]
    found = crowds(loops(*weekdays, ("mon", "0 6 * * 1", "UTC")), 2)
    assert found == [Crowd(("l0", "l1", "l2", "mon"), (1 * 1440 + 360,), "UTC")]


@pytest.mark.parametrize(
    ("minutes", "text"),
    [
        ([d * 1440 + 360 for d in range(7)], "06:00 UTC every day"),
        ([1440 + 360, 3 * 1440 + 360, 4 * 1440 + 360, 5 * 1440 + 360], "06:00 UTC on mon, wed-fri"),
        ([360, 1440 + 365], "06:00 UTC on sun, 06:05 UTC on mon"),
        (
            [1440 + m for m in range(5)],
            "00:00 UTC on mon, 00:01 UTC on mon, 00:02 UTC on mon and 2 more times",
        ),
    ],
)
def test_describe(minutes: list[int], text: str) -> None:
    assert describe(minutes, "UTC") == text


@pytest.fixture(scope="module")
def fleet_1000(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(tmp_path_factory.mktemp("gen") / "fleet", 1000)


def _with_schedule(root: Path, schedule: str, *, every: int = 1) -> None:
    for i, path in enumerate(sorted((root / "agents").glob("*.yaml"))):
        if i % every == 0:
            text = re.sub(r'schedule: "[^"]*"', f'schedule: "{schedule}"', path.read_text())
            path.write_text(text)


def _fl173(root: Path) -> list[str]:
    report = check(DirSource(root, "fleet"))
    assert report.ok(), [d.format() for d in report.errors[:3]]
    found = [d for d in report.diagnostics if d.rule == "FL173"]
    assert all(d.severity is Severity.WARNING for d in found)
    return [d.format() for d in found]


def test_a_generated_fleet_of_1000_loops(fleet_1000: Path) -> None:
    """genfleet spreads its loops over 60 minutes of a morning (about 17 each): quiet. All on
    06:00 sharp: one warning naming the count, located at the first, the rest related. With
    'H H(5-8)' they spread over four hours and it is quiet again."""
    assert _fl173(fleet_1000) == []

    _with_schedule(fleet_1000, "0 6 * * 1-5")
    report = check(DirSource(fleet_1000, "fleet"))
    (warning,) = [d for d in report.diagnostics if d.rule == "FL173"]
    assert warning.format() == (
        "fleet/agents/loop-00000.yaml:18:24: agent.trigger.schedule: warning: 1000 loops start at "
        "06:00 Europe/Berlin on mon-fri, more than schedules.max_starts_per_minute (20): "
        "loop-00000, loop-00001, loop-00002, loop-00003, loop-00004 and 995 more (use H so each "
        "loop gets a minute of its own: 'H 6 * * 1-5' spreads them over 06:00-06:59, "
        "'H H(5-8) * * 1-5' over four hours; or raise schedules.max_starts_per_minute in "
        "fleet.yaml) [FL173]"
    )
    assert len(warning.related) == 999
    assert warning.related[0] == "fleet/agents/loop-00001.yaml:18:24"

    _with_schedule(fleet_1000, "H H(5-8) * * 1-5")
    assert _fl173(fleet_1000) == []


def test_suspended_and_webhook_only_loops_do_not_start(tmp_path: Path) -> None:
    root = generate(tmp_path / "fleet", 30)
    _with_schedule(root, "0 6 * * 1-5")
    agents = sorted((root / "agents").glob("*.yaml"))
    for path in agents[:10]:
        text = path.read_text().replace(
            "timezone: Europe/Berlin }", "timezone: Europe/Berlin, suspend: true }"
        )
        path.write_text(text)
    for path in agents[10:15]:
        path.write_text(
            re.sub(r"trigger: \{[^}]*\}", "trigger: { webhook: true }", path.read_text())
        )
    assert _fl173(root) == []  # 15 start, 20 allowed
    (root / "fleet.yaml").write_text(
        (root / "fleet.yaml").read_text() + "schedules: { max_starts_per_minute: 14 }\n"
    )
    (line,) = _fl173(root)
    assert "15 loops start at 06:00 Europe/Berlin on mon-fri" in line
    assert line.startswith("fleet/agents/loop-00015.yaml:")
