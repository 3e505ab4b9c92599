"""The dashboard in a real browser: Debian's chromium driven by Playwright, against a real
`agentlog serve` subprocess. With AGENTLOG_SCREENSHOTS=1 the run also writes the README's
screenshots to docs/screenshots/.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from agentlog.events import Alert, encode, now_iso
from agentlog.store import layout

import viewdata
from conftest import AGENTLOG, ROOT

CHROMIUM = os.environ.get("AGENTLOG_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SHOTS = ROOT / "docs" / "screenshots" if os.environ.get("AGENTLOG_SCREENSHOTS") == "1" else None

sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
    if os.environ.get("CI"):
        raise RuntimeError(f"{CHROMIUM} is missing: apt-get install chromium")  # CI must run these
    pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)", allow_module_level=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(log_dir: Path) -> tuple[subprocess.Popen, str]:
    """A real `agentlog serve` on a free port, once it answers."""
    port = free_port()
    proc = subprocess.Popen(
        [*AGENTLOG, "serve", "--port", str(port), "--log-dir", str(log_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(base + "/static/agentlog.css", timeout=1).read()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"agentlog serve did not start: {proc.stderr.read().decode()}") from None
            time.sleep(0.1)
    return proc, base


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("browser") / "logs"
    ids = viewdata.build(log_dir)
    proc, base = serve(log_dir)
    yield base, log_dir, ids
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    pg = context.new_page()
    pg.errors = []
    pg.on("pageerror", lambda exc: pg.errors.append(str(exc)))
    yield pg
    context.close()


def shot(page, name: str) -> None:
    if SHOTS is not None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_overview_renders_kpis_and_charts(server, page):
    base, _, _ = server
    page.goto(base + "/?window=30d")
    assert page.locator("[data-kpi=sessions]").inner_text() == "13"
    page.wait_for_selector("#chart-sessions .uplot canvas")
    assert page.locator(".uplot").count() == 3  # the vendored uPlot drew all three charts
    assert not page.errors
    shot(page, "overview")


def test_sessions_filter_by_executor_and_search(server, page):
    base, _, _ = server
    page.goto(base + "/sessions")
    assert page.locator("tr.session-row").count() == 9
    page.select_option("select[name=executor]", "CLAUDE_CODE")
    page.click("#session-filters button[type=submit]")
    page.wait_for_url("**executor=CLAUDE_CODE**")
    executors = page.locator("tr.session-row").evaluate_all("rows => rows.map(r => r.dataset.executor)")
    assert executors == ["CLAUDE_CODE"] * 3
    page.fill("input[name=q]", "no-such-thing")
    page.click("#session-filters button[type=submit]")
    page.wait_for_url("**q=no-such-thing**")
    assert page.locator("tr.session-row").count() == 0
    page.goto(base + "/sessions")
    shot(page, "sessions")


def test_session_page_shows_the_replay(server, page):
    base, _, ids = server
    page.goto(f"{base}/sessions/{ids['loop']}")
    assert page.locator("ol.timeline li.alert").count() == 2
    page.locator("ol.timeline li.tool_call details summary").first.click()
    assert page.locator("ol.timeline li.tool_call pre").first.is_visible()
    assert "failed" in page.locator(".footer-stats").inner_text()
    page.wait_for_selector("#chart-step-time .uplot canvas")
    assert page.locator(".uplot").count() == 3  # cost and tokens so far, time per step
    assert not page.errors
    shot(page, "session")


def test_a_new_alert_appears_live_without_reload(server, page):
    base, log_dir, _ = server
    page.goto(base + "/alerts")
    page.wait_for_selector("#live.on")  # the event stream is open
    before = page.locator("tr.alert-row").count()
    page.evaluate("window.__marker = 'same page'")
    alert = Alert(
        timestamp=now_iso(),
        event_time=now_iso(),
        type="stuck_agent",
        attempt_id="live-alert-1",
        executor="CODEX",
        severity="high",
        recommendation="fresh_session",
        message=f"idle for 6m {viewdata.XSS}",
        idle_time_ms=360000.0,
    )
    with open(log_dir / layout.ALERTS, "ab") as handle:
        handle.write(encode(alert) + b"\n")
    row = page.locator("tr.alert-row", has_text="live-alert-1")
    row.wait_for(timeout=2000)  # the bound: within 2 s
    assert page.locator("tr.alert-row").count() == before + 1
    assert page.evaluate("window.__marker") == "same page"  # no reload happened
    assert viewdata.XSS in row.inner_text()  # shown as text ...
    assert page.evaluate("typeof window.__xss") == "undefined"  # ... and inert
    shot(page, "alerts")


def test_xss_payload_in_a_prompt_stays_inert(server, page):
    base, _, ids = server
    page.goto(f"{base}/sessions/{ids['xss']}")
    page.locator("summary", has_text="prompt").click()
    prompt = page.locator("pre.prompt")
    assert viewdata.XSS in prompt.inner_text() and viewdata.XSS_SCRIPT in prompt.inner_text()
    assert page.locator("img").count() == 0
    page.goto(base + "/sessions?q=task-xss")
    assert viewdata.XSS in page.locator("#sessions").inner_text()
    page.wait_for_timeout(300)  # give an injected handler the chance to run
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert not page.errors


def test_executor_comparison_and_error_clusters(server, page):
    base, _, _ = server
    page.goto(base + "/executors")
    assert page.locator("#by-executor tr").count() == 5  # header + 4 executors
    assert page.locator("svg.chart rect").count() >= 3
    shot(page, "executors")
    page.goto(base + "/errors")
    first = page.locator("#clusters tr").nth(1)
    assert "fatal_not_a_git" in first.inner_text() and "16" in first.inner_text()
    shot(page, "errors")


def test_no_console_error_a_favicon_and_legends_without_placeholders(server, page):
    base, _, _ = server
    problems = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("requestfailed", lambda r: problems.append(r.url))
    page.on("response", lambda r: problems.append(r.url) if r.status >= 400 else None)
    page.goto(base + "/?window=30d")
    page.wait_for_selector("#chart-cost .uplot canvas")
    page.wait_for_load_state("networkidle")
    assert not problems and not page.errors
    assert page.evaluate("document.querySelector('link[rel=icon]').href").endswith("/static/favicon.svg")
    legends = page.locator(".u-legend").all_inner_texts()
    assert legends and not any("--" in text for text in legends)
    assert "day" in legends[0]


def test_executor_chart_text_keeps_its_size_on_a_wide_page(server, browser):
    base, _, _ = server
    context = browser.new_context(viewport={"width": 2400, "height": 900})
    page = context.new_page()
    page.goto(base + "/executors")
    size = page.evaluate(
        "parseFloat(getComputedStyle(document.querySelector('svg.chart text')).fontSize)"
        " * document.querySelector('svg.chart').getBoundingClientRect().width"
        " / document.querySelector('svg.chart').viewBox.baseVal.width"
    )
    context.close()
    assert size <= 12


def test_an_empty_window_over_an_older_log_offers_all_time(tmp_path, page):
    log_dir = tmp_path / "logs"
    viewdata.build(log_dir, now=time.time() - 60 * 86400)
    proc, base = serve(log_dir)
    try:
        page.goto(base + "/")
        notice = page.locator("#empty-window")
        assert "13 older" in notice.inner_text()
        notice.locator("a").click()
        page.wait_for_url("**window=all**")
        assert page.locator("[data-kpi=sessions]").inner_text() == "13"
        assert page.locator("#empty-window").count() == 0
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_sessions_sort_by_a_column_both_ways(server, page):
    base, _, _ = server
    page.goto(base + "/sessions?window=30d")
    page.click("a.sort[data-sort=cost_usd]")
    page.wait_for_url("**sort=cost_usd**")
    costs = page.locator("tr.session-row td:nth-child(9)").all_inner_texts()
    page.click("a.sort[data-sort=cost_usd]")
    page.wait_for_url("**dir=asc**")
    ascending = page.locator("tr.session-row td:nth-child(9)").all_inner_texts()
    assert len(costs) == 13 and costs != ascending
    assert "▲" in page.locator("a.sort[data-sort=cost_usd]").inner_text()
    assert not page.errors


def test_cost_and_tokens_view_draws_both_charts_and_exports(server, page):
    base, _, _ = server
    page.goto(base + "/usage?window=30d")
    page.wait_for_selector("#chart-usage-tokens .uplot canvas")
    assert page.locator(".uplot").count() == 2
    legend = page.locator("#chart-usage-tokens .u-legend").inner_text()
    assert all(kind in legend for kind in ("input", "output", "cache write", "cache read"))
    page.select_option("select[name=by]", "executor")
    page.click("#usage-filters button[type=submit]")
    page.wait_for_url("**by=executor**")
    assert "CLAUDE_CODE" in page.locator("#usage-totals").inner_text()
    with page.expect_download() as download:
        page.click("#export-csv")
    assert download.value.suggested_filename == "agentlog-usage-by-executor.csv"
    assert not page.errors
    shot(page, "usage")
    page.goto(base + "/sessions?window=30d")
    with page.expect_download() as download:
        page.click("#export-json")
    rows = json.loads(Path(download.value.path()).read_text())
    assert len(rows) == 13 and {"attempt_id", "cost_usd", "cache_read_tokens"} <= set(rows[0])


def test_filter_alerts_and_acknowledge_one_in_the_browser(server, page):
    base, _, _ = server
    page.goto(base + "/alerts")
    page.select_option("#alert-filters select[name=type]", "error_loop")
    page.select_option("#alert-filters select[name=show]", "open")
    page.click("#alert-filters button[type=submit]")
    page.wait_for_url("**type=error_loop**")
    rows = page.locator("tr.alert-row")
    before = rows.count()
    assert before >= 1 and all("error_loop" in t for t in rows.all_inner_texts())
    rows.first.locator("form.ack button").click()
    page.wait_for_url("**show=open**")
    assert page.locator("tr.alert-row").count() == before - 1
    assert not page.errors
    shot(page, "alerts-filtered")


def test_advice_page_shows_the_advise_findings_with_evidence_links_and_guards(server, page):
    """The Advice page is `agentlog advise` over the same window: every finding, its dollars
    per week, confidence and outcome guard, and evidence that links to the sessions."""
    from conftest import run_cli

    base, log_dir, _ = server
    cli = json.loads(run_cli("advise", "--days", "0", "--format", "json", "--log-dir", str(log_dir), check=True).stdout)
    assert cli["findings"]
    page.goto(base + "/")
    page.click("header nav a:text('Advice')")
    page.wait_for_url("**/advice**")
    page.select_option("#window-select", "all")
    page.click("#window-form button[type=submit]")
    page.wait_for_url("**window=all**")
    rows = page.locator("#advice tr.finding")
    assert rows.count() == len(cli["findings"])
    for i, finding in enumerate(cli["findings"]):
        cells = rows.nth(i).locator("td")
        assert cells.nth(0).inner_text() == finding["title"]
        assert cells.nth(2).inner_text() == finding["confidence"]
        assert cells.nth(4).inner_text() == (finding["guard"] or {}).get("text", "-")
        linked = cells.nth(3).locator("a.evidence-session").all_inner_texts()
        assert linked == finding["evidence"].get("sessions_list", [])
    assert "95% CI" in page.locator("#advice").inner_text()
    assert "per week" in page.locator("#advice-total").inner_text()
    shot(page, "advice")
    first = page.locator("#advice a.evidence-session").first
    name = first.inner_text()
    first.click()
    page.wait_for_url(f"**/sessions/{name}")
    assert page.locator("ol.timeline li").count() > 0  # that session's replay
    assert not page.errors
