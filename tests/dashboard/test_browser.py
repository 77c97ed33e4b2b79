"""The dashboard in headless Chromium (Debian's ``chromium`` and ``chromium-driver``, driven
by Selenium): every page renders from a store a real run filled, an approver approves in
the browser and the run resumes to ``done``, a loop's token is refused, and each page has a
heading, labelled controls, every link and control reachable with Tab in order, with a
focus outline, and every visible text at
WCAG AA contrast against what is behind it (from Chromium's computed styles). Screenshots
of every page (fleet, loop, run, approvals, cost) go to ``$DASHBOARD_ARTIFACTS`` or the
test's tmp dir; the fleet and cost pages' are also ``docs/img/dashboard-*.png``.
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
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
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


# Each visible text's colour against the background it is drawn on: the first opaque
# background up its ancestors, with the translucent ones between composited over it. SVG
# text is painted with ``fill``. Form controls' own text (a select's chosen option) counts.
CONTRAST_JS = """
const parse = c => { const m = /rgba?\\(([^)]+)\\)/.exec(c || ''); if (!m) return null;
  const p = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number);
  return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
const lum = rgb => { const [r, g, b] = rgb.map(v => { v /= 255;
  return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
const behind = el => { const layers = [];
  for (let e = el; e; e = e.parentElement) { const c = parse(getComputedStyle(e).backgroundColor);
    if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; } }
  let out = [255, 255, 255];
  for (const c of layers.reverse()) out = out.map((v, i) => v * (1 - c[3]) + c[i] * c[3]);
  return out; };
const seen = new Set();
const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
for (let n = walk.nextNode(); n; n = walk.nextNode())
  if (n.textContent.trim() && n.parentElement) seen.add(n.parentElement);
document.querySelectorAll('select, input[type=text]').forEach(e => seen.add(e));
const checked = [], failed = [];
for (const el of seen) {
  const cs = getComputedStyle(el);
  if (cs.visibility === 'hidden' || cs.display === 'none') continue;
  const r = el.getBoundingClientRect();
  if (r.width <= 1 || r.height <= 1 || r.right <= 0 || r.bottom <= 0) continue;
  if (el.closest('option, title, script, style')) continue;
  const svg = el instanceof SVGElement;
  const fg = parse(svg ? cs.fill : cs.color);
  if (!fg) continue;
  const bg = behind(svg ? el.closest('svg').parentElement : el);
  const shown = fg.slice(0, 3).map((v, i) => v * fg[3] + bg[i] * (1 - fg[3]));
  const [a, b] = [lum(shown), lum(bg)].sort((x, y) => y - x);
  const ratio = (a + 0.05) / (b + 0.05);
  const size = parseFloat(cs.fontSize), bold = parseInt(cs.fontWeight, 10) >= 700;
  const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
  checked.push(el.tagName);
  if (ratio < need) failed.push([el.tagName, (el.textContent || '').trim().slice(0, 40),
    ratio.toFixed(2), need, svg ? cs.fill : cs.color, JSON.stringify(bg.map(Math.round))]);
}
return [checked.length, failed];
"""


def check_contrast(driver: WebDriver) -> int:
    """Every visible text meets WCAG 2 AA: 4.5:1, or 3:1 for large text (24 px, or 18.66 px
    bold). Returns how many elements were checked."""
    checked, failed = driver.execute_script(CONTRAST_JS)
    assert failed == [], f"{driver.current_url}: text below AA contrast: {failed}"
    assert checked > 5
    return int(checked)


def check_accessible(driver: WebDriver) -> None:
    """One h1; every form control has a label (for= or aria-label); every image-like SVG
    has a title; every text has AA contrast; the skip link is the first thing the keyboard
    reaches."""
    check_contrast(driver)
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
    check_keyboard(driver)


FOCUSABLE = (
    "a[href], button:not([disabled]), select:not([disabled]), textarea, "
    "input:not([type=hidden]):not([disabled]), [tabindex]:not([tabindex='-1'])"
)


def check_keyboard(driver: WebDriver) -> None:
    """Tab from the skip link reaches every link and control of the page, each once, in
    the page's order (nothing is a mouse-only target), and each shows a focus outline."""
    total = driver.execute_script(
        "const f = [...document.querySelectorAll(arguments[0])];"
        "f.forEach((e, i) => e.setAttribute('data-kb', i));"
        "window.kb = [];"  # what each Tab focused, noted as it happens
        "document.addEventListener('focusin', ev => { const s = getComputedStyle(ev.target);"
        "  window.kb.push([ev.target.getAttribute('data-kb'), s.outlineStyle, s.outlineWidth]);"
        "});"
        "return f.length",
        FOCUSABLE,
    )
    keys = ActionChains(driver)
    for _ in range(total - 1):
        keys.send_keys(Keys.TAB)
    keys.perform()
    seen = driver.execute_script("return window.kb")
    assert all(style != "none" and width != "0px" for _, style, width in seen), seen
    order = [0] + [int(k) if k is not None else -1 for k, _, _ in seen]  # 0: the skip link
    assert order == list(range(total)), f"{driver.current_url}: Tab order {order}"


def test_the_contrast_check_finds_text_below_aa(browser: WebDriver) -> None:
    """The check itself, on a page made to fail it: what it passes on the dashboard's pages
    means something."""
    page = (
        "<html lang=en><body><p style='color:#999'>grey on white</p>"
        "<div style='background:#333'><span style='color:#555'>dark on dark</span></div>"
        "<div style='background:rgba(0,0,0,0.5)'><b style='color:#444'>on half black</b></div>"
        "<p style='color:#767676'>4.54 to 1</p><h2 style='color:#888;font-size:30px'>large</h2>"
        "<svg><text x='5' y='15' fill='#ccc'>light svg</text></svg>"
        "<p style='position:absolute;left:-999px;color:#eee'>off screen</p>"
        "<p style='color:#eee;display:none'>not shown</p></body></html>"
    )
    browser.get("data:text/html;base64," + base64.b64encode(page.encode()).decode())
    checked, failed = browser.execute_script(CONTRAST_JS)
    assert checked == 6
    assert [(f[1], f[2]) for f in failed] == [
        ("grey on white", "2.85"),
        ("dark on dark", "1.69"),
        ("on half black", "2.45"),  # #444 on white through 50% black: on #808080
        ("light svg", "1.61"),
    ]


def test_a_loop_token_is_refused(demo: Demo, browser: WebDriver) -> None:
    """The loop's own token neither signs in nor reads, nor approves at the gateway."""
    sign_in(browser, demo, demo.loop_token)
    alert = browser.find_element(By.CSS_SELECTOR, "[role=alert]").text
    assert f"token of loop {LOOP}" in alert
    check_accessible(browser)
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
    assert browser.find_element(By.ID, "loop-health").text == "healthy"
    runs = browser.find_element(By.CSS_SELECTOR, "section[aria-labelledby=runs-h] table").text
    assert demo.run in runs and "done" in runs
    check_accessible(browser)
    shot(browser, demo, "loop")

    browser.get(f"{demo.url}/?sort=cost")
    rows = browser.find_elements(By.CSS_SELECTOR, "table.loops tbody tr")
    loops = len(list((ROOT / "examples/northwind/agents").glob("*.yaml")))
    assert len(rows) == loops
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
    assert f"Loops\n{loops}" in counts and "Awaiting approval\n0" in counts
    health = browser.find_element(By.CSS_SELECTOR, "dl.counts").text
    assert "Healthy\n" in health and "Degraded\n" in health
    assert rows[0].find_element(By.CSS_SELECTOR, ".health").text == "healthy"
    pins = rows[0].find_element(By.CSS_SELECTOR, "td.pins").text
    assert "prompts/bug-report-triage@v6" in pins and "triage-runbook@v3" in pins
    # northwind's candidate for this loop says what promoting it would change
    staged = browser.find_element(By.XPATH, "//tr[th/a[text()='bug-report-triage-staging']]")
    assert "staging → bug-report-triage" in staged.text
    promotes = staged.find_element(By.CSS_SELECTOR, ".promotes").text
    assert promotes.startswith("promotes: ") and " → @" in promotes
    check_accessible(browser)
    fleet_png = shot(browser, demo, "fleet")
    target = ROOT / "docs/img/dashboard-fleet.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(fleet_png, target)

    # the cost page: this run's spend, by team, model and role, from the same store
    browser.find_element(By.LINK_TEXT, "Cost").click()
    assert browser.find_element(By.TAG_NAME, "h1").text == "Cost"
    charts = browser.find_elements(By.CSS_SELECTOR, "svg.chart")
    assert len(charts) == 3 and all(c.find_elements(By.TAG_NAME, "rect") for c in charts)
    role = browser.find_element(By.CSS_SELECTOR, "section[aria-labelledby=by-role-h] table").text
    assert "maker" in role and "sub-agent" in role  # the reviewer's calls are the checker's
    model = browser.find_element(By.CSS_SELECTOR, "section[aria-labelledby=by-model-h]").text
    assert "triage-default" in model
    check_accessible(browser)
    shutil.copyfile(shot(browser, demo, "cost"), ROOT / "docs/img/dashboard-cost.png")
    assert {p.stem for p in demo.artifacts.glob("*.png")} >= {
        "fleet", "loop", "run", "approvals", "cost"
    }  # fmt: skip


def test_filters_and_errors_are_pages(demo: Demo, browser: WebDriver) -> None:
    sign_in(browser, demo, demo.viewer)
    browser.find_element(By.ID, "team").send_keys("security")
    browser.find_element(By.CSS_SELECTOR, "form.filters button").click()
    # the click returns before the filtered page has loaded
    WebDriverWait(browser, 30).until(lambda d: "team=security" in d.current_url)
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "table.loops"))
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
