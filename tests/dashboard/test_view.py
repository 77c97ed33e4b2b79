"""The fleet view over a real SQLite store, through the dashboard's ASGI app in process
(httpx's ASGITransport): costs by day and by role from the store's traces, and when a page
sees what was written since the view was built (``refresh_s``)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from dashboard.access import Access
from dashboard.app import Dashboard, create_app
from fleet.source import DirSource
from fleet.validate import validate
from gateway.store import open_store

FLEET = Path(__file__).resolve().parents[2] / "examples/northwind"
LOOP = "bug-report-triage"


def call(loop: str, member: str, cost: float, ts: float) -> dict[str, Any]:
    return {"ts": ts, "kind": "llm", "loop": loop, "member": member, "run": "r1",
            "virtual_model": "triage-default", "tokens_in": 10, "tokens_out": 1, "cost_usd": cost}  # fmt: skip


@pytest.fixture
def loaded() -> Any:
    report = validate(DirSource(FLEET, str(FLEET)))
    assert report.fleet is not None
    return report.fleet


async def serve(tmp_path: Path, loaded: Any, refresh_s: float) -> tuple[httpx.AsyncClient, Any]:
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
