"""The dashboard in headless Chromium (Debian's ``chromium`` and ``chromium-driver``, driven
by Selenium): every page renders from a store a real run filled, an approver approves in
the browser and the run resumes to ``done``, a loop's token is refused, and each page has a
heading, labelled controls and is reachable from the keyboard. Screenshots of each page go
to the test's tmp dir; the fleet page's is also ``docs/img/dashboard-fleet.png``.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import httpx
import pytest

from tests.dashboard.conftest import LOOP, ROOT, Demo

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")

pytestmark = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason="needs Debian's chromium and chromium-driver (scripts/install-chromium)",
)


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    options = Options()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,1000", "--force-device-scale-factor=1"):  # fmt: skip
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def decided(driver: WebDriver) -> str:
    """The notice of the page a decision's form lands on: the decision runs the tool call,
    so the click returns before that page has loaded."""
    found = WebDriverWait(driver, 30).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "[role=status]")
    )
    return str(found[0].text)


def sign_in(driver: WebDriver, demo: Demo, token: str, then: str = "/") -> None:
    driver.delete_all_cookies()
    driver.get(f"{demo.url}/signin?next={then}")
    field = driver.find_element(By.ID, "token")
    field.send_keys(token)
    field.send_keys(Keys.ENTER)


def shot(driver: WebDriver, demo: Demo, name: str) -> Path:
    """The whole page, not just the window, with nothing focused."""
    path = demo.artifacts / f"{name}.png"
    driver.execute_script("document.activeElement && document.activeElement.blur()")
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 4000), "scale": 1}
    data = driver.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
    )
    path.write_bytes(base64.b64decode(data["data"]))
    return path


def check_accessible(driver: WebDriver) -> None:
    """One h1; every form control has a label (for= or aria-label); every image-like SVG
    has a title; the skip link is the first thing the keyboard reaches."""
    assert len(driver.find_elements(By.TAG_NAME, "h1")) == 1
    unlabelled = driver.execute_script(
        """return [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
             .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
             .map(e => e.outerHTML)"""
    )
    assert unlabelled == []
    untitled = driver.execute_script(
        "return [...document.querySelectorAll('svg[role=img]')].filter(s => !s.querySelector('title')).length"
    )
    assert untitled == 0
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    driver.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    first = driver.switch_to.active_element
    assert first.get_attribute("class") == "skip"


def test_a_loop_token_is_refused(demo: Demo, browser: WebDriver) -> None:
    """The loop's own token neither signs in nor reads, nor approves at the gateway."""
    sign_in(browser, demo, demo.loop_token)
    alert = browser.find_element(By.CSS_SELECTOR, "[role=alert]").text
    assert f"token of loop {LOOP}" in alert
    assert browser.get_cookie("fleet_dashboard") is None
    r = httpx.get(f"{demo.url}/", headers={"authorization": f"Bearer {demo.loop_token}"})
    assert r.status_code == 403 and "can neither read" in r.text
    r = httpx.post(f"{demo.url}/signin", data={"token": demo.loop_token})
    assert r.status_code == 403 and "fleet_dashboard" not in r.headers.get("set-cookie", "")
    # without any token: to the sign-in page
    r = httpx.get(f"{demo.url}/approvals")
    assert r.status_code == 303 and r.headers["location"] == "/signin?next=/approvals"


def test_a_viewer_reads_but_cannot_decide(demo: Demo, browser: WebDriver) -> None:
    sign_in(browser, demo, demo.viewer, "/approvals")
    assert "vic (viewer)" in browser.find_element(By.CSS_SELECTOR, "header .who").text
    assert browser.find_elements(By.CSS_SELECTOR, "article.approval")
    assert browser.find_elements(By.CSS_SELECTOR, "form.decide") == []
    # a forged form from a viewer's session, even with its CSRF token, is refused
    with httpx.Client(base_url=demo.url) as client:
        client.post("/signin", data={"token": demo.viewer})
        page = client.get("/approvals").text
        approval = page.split('id="ap-')[1].split('"')[0]
        csrf = page.split('name="csrf" value="')[1].split('"')[0]
        r = client.post(f"/approvals/{approval}", data={"action": "approve", "csrf": csrf})
        assert r.status_code == 403 and "only an approver may decide" in r.text


def test_deny_in_the_browser_with_a_reason(demo: Demo, browser: WebDriver) -> None:
    sign_in(browser, demo, demo.approver, "/approvals")
    card = next(
        c
        for c in browser.find_elements(By.CSS_SELECTOR, "article.approval")
        if demo.denied_run in c.text
    )
    approval = card.get_attribute("aria-labelledby").removeprefix("ap-")
    card.find_element(By.CSS_SELECTOR, "input[name=reason]").send_keys(
        "second merge of the same fix"
    )
    card.find_element(By.CSS_SELECTOR, "button.deny").click()
    notice = decided(browser)
    assert notice == f"Decided: {approval}: denied by local"
    assert approval not in browser.find_element(By.TAG_NAME, "main").text.replace(notice, "")
    shown = subprocess.run(
        [demo.run_cmd[0], "approvals", "show", approval, "--local", str(demo.home), "-o", "json"],
        capture_output=True, text=True, env=demo.env, timeout=60,
    )  # fmt: skip
    row = json.loads(shown.stdout)
    assert row["state"] == "denied" and row["reason"] == "second merge of the same fix"
    assert row["decided_by"] == "local"
    # the denied run resumes, is told why, and ends
    cmd = [*demo.run_cmd[:4], "--resume", demo.denied_run, *demo.run_cmd[6:]]
    resumed = subprocess.run(cmd, capture_output=True, text=True, env=demo.env, timeout=120)
    assert json.loads(resumed.stdout)["outcome"] != "awaiting_approval", resumed.stderr


def test_approve_in_the_browser_and_the_run_resumes_to_done(demo: Demo, browser: WebDriver) -> None:
    sign_in(browser, demo, demo.approver, "/approvals")
    assert "local (approver)" in browser.find_element(By.CSS_SELECTOR, "header .who").text
    cards = [
        c for c in browser.find_elements(By.CSS_SELECTOR, "article.approval") if demo.run in c.text
    ]
    assert len(cards) == 1
    card = cards[0]
    assert "github.merge_pr" in card.find_element(By.TAG_NAME, "h2").text
    assert demo.run in card.text and "Expires" in card.text
    assert '"number": 57' in card.find_element(By.TAG_NAME, "pre").text
    check_accessible(browser)
    shot(browser, demo, "approvals")
    # a post without the session's CSRF token is refused, and decides nothing
    with httpx.Client(base_url=demo.url) as client:
        client.post("/signin", data={"token": demo.approver})
        approval = card.get_attribute("aria-labelledby").removeprefix("ap-")
        r = client.post(f"/approvals/{approval}", data={"action": "approve", "csrf": "forged"})
        assert r.status_code == 403 and "CSRF" in r.text
    # the keyboard reaches the reason field and the approve button
    reason = card.find_element(By.CSS_SELECTOR, "input[name=reason]")
    reason.click()
    reason.send_keys("fix reviewed in the dashboard")
    reason.send_keys(Keys.TAB)
    approve = browser.switch_to.active_element
    assert approve.text == "Approve"
    approve.click()
    notice = decided(browser)
    assert notice == f"Decided: {approval}: executed by local"
    assert browser.find_elements(By.CSS_SELECTOR, "article.approval") == []
    executed = [
        json.loads(line) for line in (demo.home.parent / "executed.jsonl").read_text().splitlines()
    ]
    assert [c["tool"] for c in executed].count("merge_pr") == 1
    # the run resumes as it does after `fleetctl approvals approve --local`
    resumed = subprocess.run(
        demo.run_cmd, capture_output=True, text=True, env=demo.env, timeout=120
    )
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["outcome"] == "done"

    browser.get(f"{demo.url}/runs/{demo.run}")
    assert browser.find_element(By.ID, "run-outcome").text == "done"
    # a replayed model's output says so wherever it is shown
    assert "bug-report-triage.replay.yaml" in browser.find_element(By.ID, "run-replay").text
    timeline = browser.find_element(By.CSS_SELECTOR, "table.timeline").text
    for seen in (
        "github.merge_pr",
        "executed",
        "approval",
        "verdict pass (round 2)",
        "outcome done",
        "tok; $",
    ):
        assert seen in timeline
    check_accessible(browser)
    shot(browser, demo, "run")

    browser.get(f"{demo.url}/loops/{LOOP}")
    assert browser.find_element(By.TAG_NAME, "h1").text == f"Loop {LOOP}"
    definition = browser.find_element(By.CSS_SELECTOR, "dl.definition").text
    assert "owner" in definition and "platform-team" in definition
    runs = browser.find_element(By.CSS_SELECTOR, "section[aria-labelledby=runs-h] table").text
    assert demo.run in runs and "done" in runs
    check_accessible(browser)
    shot(browser, demo, "loop")

    browser.get(f"{demo.url}/?sort=cost")
    rows = browser.find_elements(By.CSS_SELECTOR, "table.loops tbody tr")
    assert len(rows) == 11
    top = rows[0].text
    assert top.startswith(LOOP) and "done" in top and "100%" in top
    assert (
        rows[0]
        .find_element(By.CSS_SELECTOR, "svg.spark title")
        .get_attribute("textContent")
        .startswith(f"{LOOP}: cost per day over 7 days")
    )
    # the needs-attention panel shows the doctor's findings: a store begun minutes ago is no
    # evidence that a loop which has not run yet missed its heartbeat, and the loop that ran
    # is healthy
    attention = browser.find_element(By.CSS_SELECTOR, "section.attention")
    assert "No lifecycle checks" not in attention.text
    assert not attention.find_elements(By.CSS_SELECTOR, "li.finding a[href='/loops/changelog']")
    assert not attention.find_elements(By.CSS_SELECTOR, f"li.finding a[href='/loops/{LOOP}']")
    counts = browser.find_element(By.CSS_SELECTOR, "dl.counts").text
    assert "Loops\n11" in counts and "Awaiting approval\n0" in counts
    check_accessible(browser)
    fleet_png = shot(browser, demo, "fleet")
    target = ROOT / "docs/img/dashboard-fleet.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(fleet_png, target)


def test_filters_and_errors_are_pages(demo: Demo, browser: WebDriver) -> None:
    sign_in(browser, demo, demo.viewer)
    browser.find_element(By.ID, "team").send_keys("security")
    browser.find_element(By.CSS_SELECTOR, "form.filters button").click()
    assert "team=security" in browser.current_url
    names = [
        r.find_element(By.TAG_NAME, "th").text
        for r in browser.find_elements(By.CSS_SELECTOR, "table.loops tbody tr")
    ]
    assert names and all(n for n in names)
    assert LOOP not in names
    with httpx.Client(base_url=demo.url, headers={"authorization": f"Bearer {demo.viewer}"}) as c:
        r = c.get("/?sort=price")
        assert r.status_code == 400 and "sort must be one of name, cost, budget" in r.text
        r = c.get("/loops/nope")
        assert r.status_code == 404 and "no loop 'nope' in fleet northwind" in unescape(r.text)
        r = c.get("/runs/nope")
        assert r.status_code == 404 and "no run 'nope'" in unescape(r.text)
        r = c.get("/static/dashboard.css")
        assert r.status_code == 200 and "--focus" in r.text
