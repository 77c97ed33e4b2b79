"""The fleet view over a real SQLite store, through the dashboard's ASGI app in process
(httpx's ASGITransport): costs by day and by role from the store's traces, the cost page's
sums by team, model and role (the same as ``fleet.economics``), health and pins on the
fleet page, and when a page sees what was written since the view was built
(``refresh_s``)."""

from __future__ import annotations

import asyncio
import shutil
import time
from html import unescape
from pathlib import Path
from typing import Any

import httpx
import pytest

from dashboard.access import Access
from dashboard.app import Dashboard, create_app
from dashboard.attention import Finding, doctor_findings, no_findings
from fleet.source import DirSource
from fleet.validate import validate
from gateway.store import open_store

FLEET = Path(__file__).resolve().parents[2] / "examples/northwind"
LOOP = "bug-report-triage"


def call(
    loop: str, member: str, cost: float, ts: float, model: str = "triage-default"
) -> dict[str, Any]:
    return {"ts": ts, "kind": "llm", "loop": loop, "member": member, "run": "r1",
            "team": "platform", "virtual_model": model, "tokens_in": 10, "tokens_out": 1,
            "cost_usd": cost}  # fmt: skip


@pytest.fixture
def loaded() -> Any:
    report = validate(DirSource(FLEET, str(FLEET)))
    assert report.fleet is not None
    return report.fleet


async def serve(
    tmp_path: Path, loaded: Any, refresh_s: float, checks: bool = False
) -> tuple[httpx.AsyncClient, Any]:
    url = f"sqlite:{tmp_path / 'gw.sqlite3'}"
    st = open_store(url)
    now = time.time()
    await st.write_trace(call(LOOP, LOOP, 0.25, now - 60))
    await st.write_trace(call(LOOP, f"{LOOP}/reviewer", 0.05, now - 60))
    await st.write_trace(call(LOOP, LOOP, 1.0, now - 3 * 86400))
    await st.write_trace(call(LOOP, LOOP, 9.0, now - 9 * 86400))  # before the seven days
    dash = Dashboard(
        loaded=loaded, open_store=lambda: open_store(url, create=False),
        access=Access(open=True), refresh_s=refresh_s,
        findings=doctor_findings if checks else no_findings, findings_connected=checks,
    )  # fmt: skip
    app = create_app(dash)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://d"), st


def cost_cell(page: str, loop: str) -> str:
    row = page.split(f'<a href="/loops/{loop}">{loop}</a>')[1].split("</tr>")[0]
    return row.split('<td class="cost">')[1].split("</td>")[0]


async def test_seven_days_of_cost_split_by_role(tmp_path: Path, loaded: Any) -> None:
    client, st = await serve(tmp_path, loaded, refresh_s=0)
    async with client:
        page = (await client.get("/?sort=cost")).text
    await st.close()
    cell = cost_cell(page, LOOP)
    assert "<span>$1.3000</span>" in cell  # 0.25 + 0.05 + 1.0; the 9-day-old call is out
    assert "$1.2500 / $0.0500" in cell  # maker / checker
    assert "$0.30" in cell.split("<title>")[1].split("</title>")[0]  # today's point
    first = page.split("<tbody>")[1].split("</tr>")[0]
    assert LOOP in first  # sorted by cost
    assert "Spend today</dt><dd>$0.30" in page


async def test_a_page_sees_new_calls_once_the_view_is_older_than_refresh(
    tmp_path: Path, loaded: Any
) -> None:
    client, st = await serve(tmp_path, loaded, refresh_s=3600)
    async with client:
        assert "<span>$1.3000</span>" in cost_cell((await client.get("/")).text, LOOP)
        await st.write_trace(call(LOOP, LOOP, 2.0, time.time()))
        # within refresh_s: the view read before is shown, and says when it was read
        page = (await client.get("/")).text
        assert "<span>$1.3000</span>" in cost_cell(page, LOOP) and "Read from the store at" in page
        views = client._transport.app.state.views  # type: ignore[attr-defined]
        before = views.current
        views.refresh_s = 0.001
        await asyncio.sleep(0.01)
        page = (await client.get("/")).text  # finds it stale: rebuilt in the background
        assert "<span>$1.3000</span>" in cost_cell(page, LOOP)  # this page: the old view
        for _ in range(500):
            if views.current is not before:
                break
            await asyncio.sleep(0.01)
        views.refresh_s = 3600
        assert "<span>$3.3000</span>" in cost_cell((await client.get("/")).text, LOOP)
    await st.close()


async def test_bodies_past_the_form_limit_are_refused(tmp_path: Path, loaded: Any) -> None:
    client, st = await serve(tmp_path, loaded, refresh_s=0)
    async with client:
        r = await client.post("/signin", data={"token": "x" * 20_000})
        assert r.status_code == 413
        r = await client.post("/signin", data={"token": "nope"})
        assert r.status_code == 401 and "unknown token" in r.text
        r = await client.get("/approvals")  # --open: read without a token
        assert r.status_code == 200 and "No request is waiting for a human." in r.text
        assert "default-src 'none'" in r.headers["content-security-policy"]
    await st.close()


async def test_the_cost_page_sums_by_team_model_and_role(tmp_path: Path, loaded: Any) -> None:
    client, st = await serve(tmp_path, loaded, refresh_s=0)
    await st.write_trace(
        {**call("changelog", "changelog", 0.5, time.time() - 30, "cheap-backup"), "team": "product"}
    )
    async with client:
        r = await client.get("/cost")
        bad = await client.get("/cost?by=team")
    await st.close()
    assert r.status_code == 200
    page = r.text
    assert bad.status_code == 400 and "the cost page takes none" in bad.text
    sections = {
        by: page.split(f'<section aria-labelledby="by-{by}-h"')[1].split("</section>")[0]
        for by in ("team", "model", "role")
    }
    # the view's window is the longest a page needs: northwind has a monthly budget, so the
    # chart and the tables cover 30 days, the 9-day-old call too
    assert "The last 30 days (" in page
    team = sections["team"]
    chart = team.split('<svg class="chart"')[1].split("</svg>")[0]
    # platform 9 days ago, 3 days ago and today; product today, stacked on platform's
    assert chart.count("<rect ") == 4 and chart.count('fill="#b34700"') == 1
    assert '<th scope="row">platform</th>' in team and "$10.3000" in team
    assert '<th scope="row">product</th>' in team and "$0.5000" in team
    assert team.index(">platform<") < team.index(">product<")  # highest first
    model = sections["model"]
    assert "triage-default" in model and "cheap-backup" in model
    role = sections["role"]
    assert '<th scope="row">maker</th>' in role and "$10.7500" in role
    assert '<th scope="row">sub-agent</th>' in role and "$0.0500" in role
    assert "$10.80 in all" in page
    title = team.split("<title>")[1].split("</title>")[0]
    assert title.endswith("platform $10.30; product $0.50")


def scripted(loaded: Any, snap: Any) -> list[Finding]:
    """A finding source that names two loops (the doctor's own checks are tested in
    tests/cli; here the page's reading of any source is)."""
    return [
        Finding("changelog", "error", "missed-heartbeat", "no run in the records read"),
        Finding("changelog", "warning", "spend-jump", "twice last week's"),
        Finding("docs-drift", "warning", "spend-jump", "twice last week's"),
    ]


async def test_health_counts_filter_and_pins(tmp_path: Path, loaded: Any) -> None:
    client, st = await serve(tmp_path, loaded, refresh_s=0, checks=True)
    client._transport.app.state.views.findings = scripted  # type: ignore[attr-defined]
    async with client:
        page = (await client.get("/")).text
        degraded = (await client.get("/?health=degraded")).text
        warning = (await client.get("/?health=warning&sort=cost")).text
        bad = await client.get("/?health=sick")
        loop_page = unescape((await client.get("/loops/changelog")).text)
    await st.close()
    counts = page.split('<dl class="counts">')[1].split("</dl>")[0]
    healthy = len(loaded.agents) - 2
    assert f'<dt>Healthy</dt><dd><a href="/?health=healthy">{healthy}</a>' in counts
    assert '<a href="/?health=warning">1</a> with warnings' in counts
    assert '<dt>Degraded</dt><dd><a href="/?health=degraded" class="bad">1</a>' in counts

    def names(html: str) -> list[str]:
        body = html.split("<tbody>")[1].split("</tbody>")[0]
        return [p.split('">')[1].split("<")[0] for p in body.split('<a href="/loops/')[1:]]

    assert names(degraded) == ["changelog"]
    assert 'id="loop-health">degraded</span>' in loop_page
    assert "missed-heartbeat</span>: no run in the records read" in loop_page
    assert "spend-jump</span>: twice last week's" in loop_page
    assert names(warning) == ["docs-drift"]
    assert 'option value="degraded" selected' in degraded
    assert bad.status_code == 400 and "health must be one of healthy, warning, degraded" in bad.text
    row = page.split(f'<a href="/loops/{LOOP}">{LOOP}</a>')[1].split("</tr>")[0]
    assert '<span class="health healthy">healthy</span>' in row
    pins = row.split('<td class="pins">')[1].split("</td>")[0]
    assert "triage-default" in pins
    assert "<div>prompts/bug-report-triage@v6</div>" in pins
    assert "<div>triage-runbook@v3</div>" in pins
    assert "promotes" not in pins  # a production loop


async def test_without_checks_health_is_not_claimed(tmp_path: Path, loaded: Any) -> None:
    client, st = await serve(tmp_path, loaded, refresh_s=0)
    async with client:
        page = (await client.get("/")).text
    await st.close()
    assert '<dt>Health</dt><dd><span class="muted">no checks connected</span>' in page
    assert '<select id="health"' not in page and "health healthy" not in page
    assert page.count('<span class="health unknown">unknown</span>') == len(loaded.agents)


async def test_a_staging_loop_shows_what_it_would_promote(tmp_path: Path) -> None:
    fleet = tmp_path / "fleet"
    shutil.copytree(FLEET, fleet, ignore=shutil.ignore_patterns("bug-report-triage-*.yaml"))
    (fleet / "agents/triage-next.yaml").write_text(
        "agent:\n  name: triage-next\n  owner: platform-team\n  stage: staging\n"
        "  promotes_to: bug-report-triage\n  model: cheap-backup\n"
        "  instructions: prompts/bug-report-triage@v6\n  skills: [triage-runbook@v3]\n"
        "  mcp_servers: { github: { tools: [read] } }\n"
        "  harness: { max_steps: 40, max_tokens_per_run: 1000000 }\n"
        '  trigger: { schedule: "30 6 * * 1-5", timezone: Europe/Berlin }\n'
    )
    report = validate(DirSource(fleet, str(fleet)))
    assert report.fleet is not None and not report.errors, report.diagnostics
    client, st = await serve(tmp_path, report.fleet, refresh_s=0)
    async with client:
        page = (await client.get("/?stage=staging")).text
    await st.close()
    row = page.split('<a href="/loops/triage-next">triage-next</a>')[1].split("</tr>")[0]
    assert "<td>staging → bug-report-triage</td>" in row
    assert '<div class="promotes">promotes: model triage-default → cheap-backup</div>' in row


async def test_a_long_attention_panel_is_cut_and_counted(tmp_path: Path, loaded: Any) -> None:
    names = sorted(a.agent.name for a in loaded.agents)[:3]

    def many(loaded: Any, snap: Any) -> list[Finding]:
        return [Finding(names[i % 3], "error", "spend-jump", f"finding {i}") for i in range(30)]

    client, st = await serve(tmp_path, loaded, refresh_s=0, checks=True)
    client._transport.app.state.views.findings = many  # type: ignore[attr-defined]
    async with client:
        page = (await client.get("/")).text
        loop = (await client.get(f"/loops/{names[0]}")).text
    await st.close()
    panel = page.split('class="attention"')[1].split("</section>")[0]
    assert panel.count('<li class="finding') == 25
    assert "5 more findings; 3 loops have one" in panel
    assert loop.count('<li class="finding') == 10  # every one of its own


async def test_the_cost_sums_are_kept_across_builds_for_a_while(
    tmp_path: Path, loaded: Any
) -> None:
    client, st = await serve(tmp_path, loaded, refresh_s=3600)
    async with client:
        views = client._transport.app.state.views  # type: ignore[attr-defined]
        first = await views.build()
        await st.write_trace(call(LOOP, LOOP, 2.0, time.time()))
        again = await views.build()
        assert again is not first and again.cost is first.cost  # the fleet rows were remade
        assert "<span>$3.3000</span>" in again.row(LOOP).html  # 7 days: 1.3 + 2.0
        page = (await client.get("/cost")).text
        assert "$10.30 in all" in page
        views.cost_every_s = 0.0  # older than it may get: a build sums them again
        views.refresh_s = 0.001
        await asyncio.sleep(0.01)
        assert (await views.build()).cost.total_usd == pytest.approx(12.30)
        assert "$12.30 in all" in (await client.get("/cost")).text
    await st.close()
