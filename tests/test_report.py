"""`agentlog report`: figures, trend, recommendations, the three formats, the weekly schedule."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml

from agentlog import config
from agentlog.capture.api import Session
from agentlog.recorder import Recorder
from agentlog.report import WeeklySchedule, build_report, next_due, report_text, write_report
from agentlog.report.recommend import Thresholds, recommend
from agentlog.report.render import md_code, md_text

import viewdata


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("report") / "logs"
    now = time.time()
    viewdata.build(log_dir, now)
    return log_dir, now


def settings_for(log_dir, tmp_path=None, toml: str | None = None):
    config_file = None
    if toml is not None:
        config_file = tmp_path / "agentlog.toml"
        config_file.write_text(toml)
    return config.load({"log_dir": str(log_dir)}, config_file=config_file, environ={}, cwd=log_dir.parent)


def test_figures_trend_and_breakdowns(logs):
    log_dir, now = logs
    report = build_report(settings_for(log_dir), days=7, now=now)
    t = report.totals
    assert (t["sessions"], t["completed"], t["succeeded"], t["open"]) == (9, 8, 4, 1)
    assert t["success_pct"] == 50.0 and t["errors"] == 16
    assert t["cost_usd"] == pytest.approx(3 * 0.02 + 3 * 0.30 + 0.05 + 0.04 + 0.02)
    assert t["agent_hours"] > 0
    assert report.previous["sessions"] == 4 and report.previous["success_pct"] == 75.0
    assert report.trend("success_pct") == -25.0 and report.trend("sessions") == 5
    assert {r["executor"] for r in report.executors} == {"CODEX", "CLAUDE_CODE", "GEMINI", "COPILOT"}
    assert {r["model"] for r in report.models} >= {"gpt-5-codex", "claude-sonnet-4-5"}
    top = report.top_errors[0]
    assert top["occurrences"] == 16 and "<PATH>" in top["template"]  # variables masked
    assert any(task["task_id"] == "task-git" for task in report.insights)
    assert sum(day["sessions"] for day in report.daily) == 9


def test_recommendations_follow_the_thresholds(logs, tmp_path):
    log_dir, now = logs
    rules = {r.rule for r in build_report(settings_for(log_dir), now=now).recommendations}
    assert rules == {"low_success", "high_cost", "prefer_executor"}  # 1.8 errors/session is under 2
    strict = settings_for(
        log_dir, tmp_path, "[report]\nmin_success_pct = 40\nmax_cost_per_session = 1\nmax_errors_per_session = 1\n"
    )
    rules = {r.rule for r in build_report(strict, now=now).recommendations}
    assert rules == {"many_errors", "prefer_executor"}  # CLAUDE_CODE at 0% is still below 40%


def test_an_empty_log_dir_gives_an_empty_report(tmp_path):
    report = build_report(settings_for(tmp_path / "none"))
    assert report.totals["sessions"] == 0 and report.totals["success_pct"] is None
    assert [r.rule for r in report.recommendations] == ["ok"]
    paths = write_report(report, tmp_path / "out")
    assert json.loads(paths["json"].read_text())["totals"]["sessions"] == 0


def test_cli_writes_html_markdown_and_json(cli, logs, tmp_path):
    log_dir, _ = logs
    out = tmp_path / "reports"
    result = cli("report", "--weekly", "--days", "7", "--out", str(out), "--log-dir", str(log_dir), check=True)
    text = result.stdout.decode()
    assert "9 sessions" in text and "success 50%" in text and "wrote" in text
    html = next(out.glob("*.html")).read_text()
    assert "<svg" in html and "<script" not in html  # charts inline, nothing to run
    assert "http://" not in html and "https://" not in html  # opens offline
    assert viewdata.XSS not in html and "&lt;img src=x onerror=window.__xss=1&gt;" in html
    md = next(out.glob("*.md")).read_text()
    assert "| CODEX | 4 | 100% |" in md and not re.search(r"(?<!\\)<img", md)
    body = json.loads(next(out.glob("*.json")).read_text())
    assert body["period"]["days"] == 7 and body["totals"]["sessions"] == 9
    assert body["trend"]["success_pct"] == -25.0
    assert {r["rule"] for r in body["recommendations"]} >= {"low_success"}


MARKDOWN = MarkdownIt("commonmark").enable("table")
FUZZ = int(os.environ.get("AGENTLOG_FUZZ_EXAMPLES", "200"))
LINK, IMAGE = "[click me](http://evil.example/)", "![pixel](http://evil.example/p.png)"
FINGERPRINT = "npm_err-<b>&amp;`x`"


@settings(max_examples=FUZZ, deadline=None)
@given(st.text(st.sampled_from("ab <>&*_`[]()!#|~\\:/.=-\"'\n{}+"), max_size=40))
def test_recorded_text_renders_as_written_in_markdown(text):
    flat = " ".join(text.split("\n"))
    assert MARKDOWN.renderInline(md_text(text)) == escapeHtml(flat)
    assert MARKDOWN.renderInline(md_code(text)) == (f"<code>{escapeHtml(flat)}</code>" if flat else "")


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory):
    """A week whose task titles, executor and error fingerprint are Markdown and HTML."""
    log_dir = tmp_path_factory.mktemp("hostile-report") / "logs"
    now = time.time()
    with Recorder(settings_for(log_dir)) as rec:
        for i in range(3):
            s = Session(
                f"h{i}",
                executor="EXEC_[x](http://evil.example/)",
                task_id=f"t{i}",
                task_title=f"Fix {LINK} and {IMAGE} <script>alert(1)</script> *now*",
                recorder=rec,
            )
            s.emit("session_start", {"prompt": "p"}, timestamp=viewdata.Clock(now - 3600 * (i + 1))())
            for _ in range(3):
                s.emit(
                    "error",
                    {"error_message": "npm ERR! <b>", "error_fingerprint": FINGERPRINT},
                    timestamp=viewdata.Clock(now - 3600 * (i + 1) + 10)(),
                )
            s.emit("session_end", {"completion_status": "failed"}, timestamp=viewdata.Clock(now - 3600 * i - 60)())
    return build_report(settings_for(log_dir), now=now)


def test_markdown_report_shows_links_images_and_html_from_data_as_text(hostile_report, tmp_path):
    md = write_report(hostile_report, tmp_path, ("md",))["md"].read_text()
    html = MARKDOWN.render(md)
    assert "<a " not in html and "<img" not in html and "<script" not in html and "<em>now" not in html
    assert escapeHtml(LINK) in html and escapeHtml(IMAGE) in html
    # the fingerprint in a code span shows as written: no entity spelled out in it
    assert f"<code>{escapeHtml(FINGERPRINT)}</code>" in html


def test_html_report_shows_code_as_code_not_backticks(hostile_report, tmp_path):
    html = write_report(hostile_report, tmp_path, ("html",))["html"].read_text()
    recs = html[html.index('<ul class="recs">') : html.index("</ul>", html.index('<ul class="recs">'))]
    assert "`" not in recs.replace(escapeHtml("`x`"), "")  # the only backticks are the fingerprint's own
    assert f"<code>{escapeHtml(FINGERPRINT)}</code>" in recs
    assert [r["text"] for r in hostile_report.to_dict()["recommendations"]][0].count("`") >= 2  # chat and JSON


def test_weakest_executor_is_the_one_that_never_succeeded():
    executors = [
        {"executor": "BUSY", "ended": 10, "success_pct": 60.0},
        {"executor": "NEW", "ended": 2, "success_pct": 0.0},
    ]
    [low] = [r for r in recommend({"success_pct": 50.0}, executors, [], [], Thresholds()) if r.rule == "low_success"]
    assert "weakest: NEW at 0% of 2 sessions" in low.text


def test_report_text_is_a_short_headline(logs):
    log_dir, now = logs
    text = report_text(build_report(settings_for(log_dir), now=now))
    assert len(text.splitlines()) <= 6
    assert "9 sessions" in text and "success 50% (-25 pts)" in text and "Top error" in text


# --- the weekly schedule ---------------------------------------------------------------


def utc(*args) -> float:
    return dt.datetime(*args, tzinfo=dt.timezone.utc).timestamp()


SUNDAY_9 = utc(2026, 2, 8, 9, 0)  # 2026-02-08 is a Sunday


def test_next_due_sends_each_slot_once_and_only_the_latest_after_downtime():
    spec = "SUN 09:00"
    assert next_due(spec, None, utc(2026, 2, 4, 12)) == SUNDAY_9  # nothing to catch up: the next one
    assert next_due(spec, utc(2026, 2, 4), utc(2026, 2, 8, 9, 1)) == SUNDAY_9  # due now
    assert next_due(spec, SUNDAY_9, utc(2026, 2, 8, 9, 1)) == SUNDAY_9 + 7 * 86400  # sent: next week
    # down for three weeks: one report for the latest missed week, not three
    assert next_due(spec, SUNDAY_9, SUNDAY_9 + 22 * 86400) == SUNDAY_9 + 21 * 86400
    assert next_due("mon 08:30 Europe/Berlin", None, utc(2026, 2, 8)) == utc(2026, 2, 9, 7, 30)
    with pytest.raises(ValueError):
        next_due("someday 25:00", None, 0)


def test_schedule_state_survives_a_restart(tmp_path):
    state = tmp_path / "state"
    first = WeeklySchedule("SUN 09:00", state)
    assert first.due(utc(2026, 2, 4)) is None  # armed on first use
    # the process is down over Sunday 09:00; a new one starts Monday
    second = WeeklySchedule("SUN 09:00", state)
    slot = second.due(utc(2026, 2, 9, 10))
    assert slot == SUNDAY_9
    second.mark_sent(slot)
    third = WeeklySchedule("SUN 09:00", state)
    assert third.due(utc(2026, 2, 9, 11)) is None  # not repeated
    assert third.next_time(utc(2026, 2, 9, 11)) == SUNDAY_9 + 7 * 86400
