"""Jenkins' H in cron fields: the forms, their ranges and steps, the errors
naming the field and its range, and a hash that is the same on every machine and run."""

from __future__ import annotations

import hashlib
import itertools
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from fleet import cron
from fleet.resolve import check
from fleet.rules import cron_problem
from fleet.source import DirSource
from tests.conftest import FIXTURES, overlay

SEED = cron.seed("northwind", "bug-report-triage")

# The values are what SHA-256 gives this seed: a change here breaks every fleet's minutes.
RESOLVED = [
    ("H 6 * * 1-5", "13 6 * * 1-5"),
    ("H(0-29) 6 * * *", "13 6 * * *"),
    ("H/15 * * * *", "13,28,43,58 * * * *"),
    ("H(0-29)/10 * * * *", "3,13,23 * * * *"),
    ("0 H * * *", "0 9 * * *"),
    ("0 H(8-17) * * *", "0 13 * * *"),
    ("0 H/6 * * *", "0 3,9,15,21 * * *"),
    ("0 6 H * *", "0 6 20 * *"),
    ("0 6 H/7 * *", "0 6 6,13,20,27 * *"),
    ("0 6 1 H *", "0 6 1 11 *"),
    ("0 6 * * H", "0 6 * * 5"),
    ("0 6 * * H(mon-fri)", "0 6 * * 3"),
    ("H/2 * * * *", "1-59/2 * * * *"),
    ("H(0-29),H(30-59) * * * *", "13,46 * * * *"),
    ("H H H H H", "13 9 20 11 5"),
    ("0 6 * * 1-5", "0 6 * * 1-5"),
    ("@daily", "@daily"),
    ("0 0 * * THU", "0 0 * * THU"),
]


@pytest.mark.parametrize(("expr", "concrete"), RESOLVED, ids=[c[0] for c in RESOLVED])
def test_h_resolves_to_the_loops_own_values(expr: str, concrete: str) -> None:
    assert cron.resolve(expr, SEED) == concrete
    assert cron_problem(concrete) is None


def test_the_hash_is_sha256_of_fleet_loop_field_and_place() -> None:
    digest = hashlib.sha256(b"northwind/bug-report-triage\x00minute\x000").digest()
    assert cron.resolve("H * * * *", SEED) == f"{int.from_bytes(digest[:8], 'big') % 60} * * * *"


def test_the_same_minute_in_every_process() -> None:
    """Python's str hash is salted per process; the minute must not be."""
    code = "from fleet import cron; print(cron.resolve('H H * * *', cron.seed('f', 'loop-7')))"
    outs = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": str(salt)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for salt in (1, 2, 3)
    }
    assert outs == {cron.resolve("H H * * *", cron.seed("f", "loop-7")) + "\n"}


def test_moving_the_hour_keeps_the_minute() -> None:
    minute = cron.resolve("H 6 * * 1-5", SEED).split()[0]
    assert cron.resolve("H 7 * * *", SEED).split()[0] == minute


def test_loops_spread_over_the_field() -> None:
    minutes = Counter(
        int(cron.resolve("H 6 * * 1-5", cron.seed("f", f"loop-{i}")).split()[0])
        for i in range(1200)
    )
    assert sorted(minutes) == list(range(60))
    assert max(minutes.values()) < 2.5 * 1200 / 60
    days = {
        int(cron.resolve("0 0 H * *", cron.seed("f", f"loop-{i}")).split()[2]) for i in range(600)
    }
    assert days == set(range(1, 29)), "a bare H in day-of-month stays in 1-28: every month has it"


@pytest.mark.parametrize(
    ("expr", "lo", "hi", "step"),
    [
        ("H/15 * * * *", 0, 59, 15),
        ("H(0-29)/10 * * * *", 0, 29, 10),
        ("H(10-50)/7 * * * *", 10, 50, 7),
    ],
)
def test_steps_stay_in_the_range(expr: str, lo: int, hi: int, step: int) -> None:
    for i in range(200):
        values = cron.expand(cron.resolve(expr, cron.seed("f", f"l{i}"))).minutes
        assert lo <= values[0] < lo + step and values[-1] <= hi
        assert all(b - a == step for a, b in itertools.pairwise(values))
        assert values[-1] + step > hi


ERRORS = [
    ("H(70-80) * * * *", "minute 'H(70-80)' is out of range: minute is 0-59"),
    ("0 H(20-25) * * *", "hour 'H(20-25)' is out of range: hour is 0-23"),
    ("0 0 H(0-10) * *", "day-of-month 'H(0-10)' is out of range: day-of-month is 1-31"),
    ("0 0 * H(1-13) *", "month 'H(1-13)' is out of range: month is 1-12 or jan-dec"),
    ("0 0 * * H(1-7)", "day-of-week 'H(1-7)' is out of range: day-of-week is 0-6 or sun-sat"),
    ("H(30-10) * * * *", "minute 'H(30-10)' runs backwards: write the smaller number first"),
    ("H/0 * * * *", "minute 'H/0' has a bad step: a step is a whole number, at least 1"),
    (
        "H/90 * * * *",
        "minute 'H/90' has a step larger than its range 0-59: a step is at most 60 there",
    ),
    (
        "H(0-29)/40 * * * *",
        "minute 'H(0-29)/40' has a step larger than its range 0-29: a step is at most 30 there",
    ),
    (
        "H(5 * * * *",
        "minute 'H(5' is not a form of H: write H, H(a-b), H/n or H(a-b)/n, e.g. H(0-29)",
    ),
    (
        "HH * * * *",
        "minute 'HH' is not a form of H: write H, H(a-b), H/n or H(a-b)/n, e.g. H(0-29)",
    ),
    (
        "H(a-b) * * * *",
        "minute 'H(a-b)' is not a number, range, list or step: minute is 0-59",
    ),
    ("h 6 * * *", "minute 'h': write H in capitals (H, H(a-b), H/n or H(a-b)/n)"),
    ("H 6 * *", "expected 5 fields (minute hour day-of-month month day-of-week), got 4"),
]


@pytest.mark.parametrize(("expr", "problem"), ERRORS, ids=[e[0] for e in ERRORS])
def test_h_errors_name_the_field_and_its_range(expr: str, problem: str) -> None:
    assert cron_problem(expr) == problem
    with pytest.raises(cron.CronProblem, match=r"."):
        cron.resolve(expr, SEED)


def test_an_h_error_is_located_with_an_h_hint(tmp_path: Path) -> None:
    root = overlay(tmp_path / "fleet", FIXTURES / "base")
    beta = root / "agents" / "beta.yaml"
    beta.write_text(beta.read_text().replace('"30 7 * * *"', '"H(70-80) 7 * * *"'))
    report = check(DirSource(root, "fleet"))
    assert [d.format() for d in report.errors] == [
        "fleet/agents/beta.yaml:12:24: agent.trigger.schedule: schedule 'H(70-80) 7 * * *': "
        "minute 'H(70-80)' is out of range: minute is 0-59 (H is H, H(a-b), H/n or H(a-b)/n, "
        "a value of the loop's own in that range; e.g. 'H 6 * * 1-5' is one minute of 06:00 "
        "on weekdays, the same on every compile) [FL171]"
    ]


@pytest.mark.parametrize(
    ("concrete", "minutes", "hours", "doms", "dows", "stars"),
    [
        (
            "5/15 */6 ? * mon-fri",
            (5, 20, 35, 50),
            (0, 6, 12, 18),
            range(1, 32),
            range(1, 6),
            (True, False),
        ),
        ("0 6 1,15 * *", (0,), (6,), (1, 15), range(7), (False, True)),
        ("0-58/2 1-3 1 * 0", tuple(range(0, 59, 2)), (1, 2, 3), (1,), (0,), (False, False)),
        ("@weekly", (0,), (0,), range(1, 32), (0,), (True, False)),
        ("0 0 */2 * */1", (0,), (0,), range(1, 32, 2), range(7), (False, True)),
    ],
)
def test_expand_gives_each_fields_values(
    concrete: str,
    minutes: tuple[int, ...],
    hours: tuple[int, ...],
    doms: range | tuple[int, ...],
    dows: range | tuple[int, ...],
    stars: tuple[bool, bool],
) -> None:
    e = cron.expand(concrete)
    assert (e.minutes, e.hours, e.doms, e.dows) == (
        minutes,
        hours,
        frozenset(doms),
        frozenset(dows),
    )
    assert (e.dom_star, e.dow_star) == stars
