"""The dashboard's parts without a browser: who may sign in, the CSRF check, the viewers
file's errors, the sparkline and the cost chart, the fleet page's query, health from
findings, pins and what a staging loop would promote, redaction of arguments, and the
``fleetctl dashboard`` command's refusals (one line, exit 2)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from dashboard.access import Access, AccessError, ConfigError, csrf_ok, read_viewers
from dashboard.attention import Finding
from dashboard.pages.approvals import hide_secrets
from dashboard.pages.cost import summarize
from dashboard.pages.fleet import LoopRow, QueryError, judge, promotion, select
from dashboard.snapshot import Snapshot
from dashboard.svg import PALETTE, meter, sparkline, stacked_bars
from fleetctl.cli import app

ROOT = Path(__file__).resolve().parents[2]


def h(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def config() -> SimpleNamespace:
    sub = SimpleNamespace(token_sha256=[h("checker-token")])
    loop = SimpleNamespace(
        token_sha256=[h("loop-token")],
        subagents={"reviewer": sub},
        trigger=SimpleNamespace(token_sha256=[h("hook-token")]),
    )
    return SimpleNamespace(
        loops={"triage": loop},
        approvers=[SimpleNamespace(name="ana", token_sha256=[h("approver-token")])],
    )


@pytest.mark.parametrize(
    ("token", "status", "text"),
    [
        ("loop-token", 403, "token of loop triage:"),
        ("checker-token", 403, "token of loop triage/reviewer:"),
        ("hook-token", 403, "token of loop triage (trigger):"),
        ("nobody", 401, "unknown token"),
        ("  ", 401, "no token given"),
        ("x" * 2000, 401, "no token given"),
    ],
)
def test_tokens_that_cannot_sign_in(token: str, status: int, text: str) -> None:
    access = Access.from_config(config(), {})
    with pytest.raises(AccessError) as exc:
        access.sign_in(token)
    assert exc.value.status == status and text in exc.value.message
    assert access.sessions == {}


def test_sessions_roles_expiry_and_csrf() -> None:
    access = Access.from_config(config(), {h("viewer-token"): "vic"})
    sid, session = access.sign_in(" approver-token\n", now=1000.0)
    assert session.person.name == "ana" and session.person.approver
    assert session.token == "approver-token"  # sent on to the gateway as typed, trimmed
    assert access.session(sid, now=1001.0) is session
    assert access.session(sid, now=1000.0 + 8 * 3600) is None  # expired, and forgotten
    assert sid not in access.sessions
    _, viewer = access.sign_in("viewer-token")
    assert viewer.person.role == "viewer" and not viewer.person.approver
    assert csrf_ok(viewer, viewer.csrf)
    assert (
        not csrf_ok(viewer, session.csrf) and not csrf_ok(viewer, "") and not csrf_ok(viewer, None)
    )


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("{", "not JSON"),
        ("[]", "expected an object"),
        ('{"vic": "abc"}', "vic: expected a list of hex sha256 hashes"),
        ('{"vic": ["short"]}', "vic: expected a list of hex sha256 hashes"),
    ],
)
def test_viewers_file_errors_name_the_file_and_field(tmp_path: Path, text: str, error: str) -> None:
    path = tmp_path / "viewers.json"
    path.write_text(text)
    with pytest.raises(ConfigError) as exc:
        read_viewers(path)
    assert str(exc.value).startswith(f"{path}: ") and error in str(exc.value)
    path.write_text(json.dumps({"vic": [h("t").upper()]}))
    assert read_viewers(path) == {h("t"): "vic"}


def test_sparkline_and_meter() -> None:
    svg = sparkline([0.0, 1.0, 0.5, 2.0], "cost <per> day")
    assert "<title>cost &lt;per&gt; day</title>" in svg
    points = svg.split('points="')[1].split('"')[0].split()
    assert len(points) == 4
    assert points[-1] == "94.0,2.0"  # the highest value at the top, last at the right
    assert points[0] == "2.0,22.0"
    flat = sparkline([0.0] * 7, "nothing spent")
    assert all(p.endswith(",22.0") for p in flat.split('points="')[1].split('"')[0].split())
    assert "circle" not in sparkline([], "no data")
    assert 'class="meter-over"' in meter(1.5, "150%") and 'width="80.0"' in meter(1.5, "x")
    assert 'class="meter-warn"' in meter(0.8, "80%")
    assert "no budget" in meter(None, "")


def test_stacked_bars_scale_to_a_round_top_and_stack_bottom_up() -> None:
    series = [
        SimpleNamespace(key="a", colour=PALETTE[0], daily=[1.0, 0.0, 3.0]),
        SimpleNamespace(key="b", colour=PALETTE[1], daily=[0.5, 0.0, 1.0]),
    ]
    svg = stacked_bars(["2026-11-30", "2026-12-01", "2026-12-02"], series, "by <team>")
    assert "<title>by &lt;team&gt;</title>" in svg
    # 4.0 a day at most: gridlines every $1.00 up to $4.00
    assert [t.split(">")[-1] for t in svg.split("</text>")[:5]] == [
        "$0.00", "$1.00", "$2.00", "$3.00", "$4.00"
    ]  # fmt: skip
    rects = [r.split("/>")[0] for r in svg.split("<rect ")[1:]]
    assert len(rects) == 4  # the empty day draws nothing
    # plot height 190 from y=8: day 3's a (3.0 of 4) sits on the axis, b (1.0) on top of it
    assert 'y="55.5" width="' in rects[2] and 'height="142.5"' in rects[2]
    assert 'y="8.0"' in rects[3] and 'height="47.5"' in rects[3]
    assert "12-02</text>" in svg and "</svg>" in svg
    assert ">$1.00</text>" in stacked_bars(["d"], [], "nothing")  # no spend: a unit axis
    small = stacked_bars(["d"], [SimpleNamespace(key="a", colour="#000", daily=[0.0009])], "x")
    assert ">$0.00025</text>" in small and ">$0.00100</text>" in small


def test_health_is_the_worst_finding_and_unknown_without_checks() -> None:
    rows = [row(n, "t", "production", 0.0, None) for n in ("a", "b", "c", "d")]
    found = [
        Finding("a", "warning", "spend-jump", "x"),
        Finding("a", "error", "missed-heartbeat", "y"),
        Finding("b", "warning", "spend-jump", "z"),
        Finding("c", "info", "note", "i"),
    ]
    judge(rows, found, connected=True)
    assert [r.health for r in rows] == ["degraded", "warning", "healthy", "healthy"]
    assert [r.name for r in select(rows, {"health": "degraded"})[0]] == ["a"]
    with pytest.raises(QueryError, match="health must be one of healthy, warning, degraded"):
        select(rows, {"health": "sick"})
    judge(rows, found, connected=False)
    assert {r.health for r in rows} == {"unknown"}


def test_what_a_staging_loop_would_promote() -> None:
    prod = SimpleNamespace(
        model="triage-default", instructions="prompts/triage@v6",
        skills=["runbook@v3", "labels@v1"],
    )  # fmt: skip
    cand = SimpleNamespace(
        model="triage-next", instructions="prompts/triage@v7", promotes_to="triage",
        skills=["runbook@v4", "search@v2"],
    )  # fmt: skip
    assert promotion(cand, prod) == [
        "model triage-default → triage-next",
        "instructions @v6 → @v7",
        "skill labels dropped (@v1)",
        "skill runbook @v3 → @v4",
        "skill search added @v2",
    ]
    other = SimpleNamespace(**{**vars(prod), "instructions": "prompts/triage-next@v1"})
    assert "instructions prompts/triage@v6 → prompts/triage-next@v1" in promotion(other, prod)
    same = SimpleNamespace(**{**vars(prod), "promotes_to": "triage"})
    assert promotion(same, prod) == []
    assert promotion(cand, None) == ["its production loop 'triage' is not in the fleet"]


def row(name: str, team: str, stage: str, cost: float, used: float | None) -> LoopRow:
    return LoopRow(
        name=name, owner=team, team=team, stage=stage, model="m", deprecated="", touches={},
        pins=["prompts/p@v1"], promotes=[],
        last_outcome="-", last_run="", runs=0, useful=0, maker_usd=cost, checker_usd=0.0,
        daily=[0.0] * 7, budget_limit=None if used is None else 1.0, budget_window="day",
        budget_spent=used or 0.0,
    )  # fmt: skip


def test_fleet_query_filters_sorts_and_refuses() -> None:
    rows = [
        row("a", "platform", "production", 1.0, 0.2),
        row("b", "platform", "staging → a", 3.0, None),
        row("c", "security", "production", 2.0, 0.9),
    ]
    assert [r.name for r in select(rows, {"sort": "cost"})[0]] == ["b", "c", "a"]
    assert [r.name for r in select(rows, {"sort": "budget"})[0]] == ["c", "a", "b"]
    assert [r.name for r in select(rows, {"stage": "staging"})[0]] == ["b"]
    shown, query = select(rows, {"team": "platform", "stage": "production"})
    assert [r.name for r in shown] == ["a"]
    assert query == {"team": "platform", "stage": "production", "health": "", "sort": "name"}
    with pytest.raises(QueryError, match="sort must be one of name, cost, budget, not 'price'"):
        select(rows, {"sort": "price"})
    with pytest.raises(QueryError, match="unknown query parameter 'owner'"):
        select(rows, {"owner": "x"})


def test_arguments_hide_values_under_secret_keys() -> None:
    args = {
        "number": 57,
        "headers": {"Authorization": "Bearer abc", "accept": "json"},
        "items": [{"api_key": "k"}, {"password": ""}],
        "github_token": None,
    }
    assert hide_secrets(args) == {
        "number": 57,
        "headers": {"Authorization": "[REDACTED:credential]", "accept": "json"},
        "items": [{"api_key": "[REDACTED:credential]"}, {"password": ""}],
        "github_token": None,
    }


runner = CliRunner()


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        (["--store", "sqlite:x", "--open", "--host", "0.0.0.0"], "--open serves every reader without a token, so not on 0.0.0.0"),
        (["--open"], "no --store"),
        (["--store", "sqlite:x"], "nobody could sign in"),
        (["--store", "sqlite:x", "--open", "--port", "0"], "--port 0 is not a port"),
        (["--store", "sqlite:x", "--gateway", "http://g", "--local", "."], "give --gateway or --local, not both"),
        (["--store", "mysql://x", "--open"], "mysql://x"),
    ],
)  # fmt: skip
def test_command_refusals_are_one_line(extra: list[str], error: str) -> None:
    result = runner.invoke(app, ["dashboard", "--fleet", str(ROOT / "examples/northwind"), *extra])
    assert result.exit_code == 2, result.output
    assert error in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_missing_store_is_not_created(tmp_path: Path) -> None:
    store = tmp_path / "none.sqlite3"
    args = [
        "dashboard",
        "--fleet",
        str(ROOT / "examples/northwind"),
        "--store",
        f"sqlite:{store}",
        "--open",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "cannot read the store" not in result.stdout
    assert not store.exists()
    assert len(result.stderr.strip().splitlines()) == 1


def test_the_cost_chart_draws_the_six_that_spent_most_and_sums_the_rest() -> None:
    now = 1_764_633_600.0 + 12 * 3600  # 2025-12-02 12:00 UTC
    calls = [
        {"ts": now - day * 86400, "kind": "llm", "loop": f"l{t}", "member": f"l{t}",
         "team": f"team-{t}", "virtual_model": "m", "run": f"r{t}", "cost_usd": 1.0 + t}
        for t in range(8)
        for day in (0, 2)
    ]  # fmt: skip
    runs = [
        {"id": f"r{t}", "loop": f"l{t}", "outcome": "done" if t % 2 else "max_steps"}
        for t in range(8)
    ]
    view = summarize(Snapshot(now, now - 7 * 86400, runs, calls, []))
    # seven days back from noon: eight dates, the first one's afternoon and today's morning
    assert view.days[0] == "2025-11-25" and view.days[-1] == "2025-12-02" and len(view.days) == 8
    team = next(b for b in view.breakdowns if b.by == "team")
    assert [s.key for s in team.series] == [f"team-{t}" for t in range(7, 1, -1)] + ["other (2)"]
    assert team.series[-1].daily == [0, 0, 0, 0, 0, 3.0, 0, 3.0]  # teams 0 and 1: 1 + 2, twice
    assert team.series[0].daily[-1] == 8.0 and team.series[0].colour == PALETTE[0]
    # the bars and the table count the same calls
    assert {s.key: s.total for s in team.series[:-1]} == {
        g.key: g.cost_usd for g in team.report.groups[:6]
    }
    assert len(team.report.groups) == 8 and view.total_usd == sum(2 * (1.0 + t) for t in range(8))
    top = team.report.groups[0]
    assert (top.key, top.runs, top.useful, top.per_useful_usd) == ("team-7", 1, 1, 16.0)
    role = next(b for b in view.breakdowns if b.by == "role")
    assert [s.key for s in role.series] == ["maker"]
