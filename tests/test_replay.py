"""`agentlog replay`: the timeline, folded tool results, interleaved alerts, follow, speed, HTML."""

from __future__ import annotations

import subprocess
import time

import pytest

from agentlog import config, replay
from agentlog.capture.api import Session
from agentlog.recorder import Recorder

import viewdata
from conftest import AGENTLOG


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("replay") / "logs"
    ids = viewdata.build(log_dir)
    return log_dir, ids


def test_timeline_folds_results_and_places_alerts_where_they_happened(logs):
    log_dir, ids = logs
    t = replay.build_timeline(log_dir, ids["loop"])
    kinds = [e.kind for e in t.entries]
    assert "tool_result" not in kinds  # every result found its call
    calls = [e for e in t.entries if e.kind == "tool_call"]
    assert all(c.result is not None for c in calls)
    assert calls[-1].result.tone == "bad"
    errors = [i for i, k in enumerate(kinds) if k == "error"]
    loop = next(i for i, e in enumerate(t.entries) if e.kind == "alert" and "error_loop" in e.title)
    assert errors[3] < loop < errors[4]  # raised by the 4th error, before the 5th
    assert t.metrics["errors"] == 5 and t.metrics["cost_usd"] == 0.3
    assert t.metrics["completion_status"] == "failed" and t.alerts == 2


def test_cli_prints_the_timeline_and_footer(cli, logs):
    log_dir, ids = logs
    result = cli("replay", ids["loop"], "--log-dir", str(log_dir), check=True)
    out = result.stdout.decode()
    assert "🔧 tool_call" in out and "└ ✗ error: fatal" in out
    assert "ALERT error_loop [high]" in out
    assert "errors 5" in out and "outcome failed" in out and "cost $0.30" in out


def test_agent_text_is_not_rich_markup(tmp_path):
    log_dir = tmp_path / "logs"
    with Recorder(config.load({"log_dir": str(log_dir)}, environ={})) as rec:
        with Session("markup", recorder=rec) as s:
            s.output("[bold red]not markup[/] [link=http://x]y[/link]")
    from rich.console import Console

    console = Console(record=True, width=200)
    replay.print_timeline(replay.build_timeline(log_dir, "markup"), console)
    assert "[bold red]not markup[/] [link=http://x]y[/link]" in console.export_text()


def test_unknown_attempt_exits_1(cli, logs):
    log_dir, _ = logs
    result = cli("replay", "no-such-attempt", "--log-dir", str(log_dir))
    assert result.returncode == 1 and b"no session" in result.stderr


def test_html_export_is_standalone_and_escapes_agent_text(cli, logs, tmp_path):
    log_dir, ids = logs
    out = tmp_path / "xss.html"
    cli("replay", ids["xss"], "--log-dir", str(log_dir), "--html", str(out), check=True)
    page = out.read_text()
    assert "<script" not in page  # no script at all: the payload is text
    assert viewdata.XSS not in page and "&lt;img src=x onerror=window.__xss=1&gt;" in page
    assert "&lt;script&gt;window.__xss=2&lt;/script&gt;" in page
    assert "http://" not in page and "https://" not in page  # opens offline


def test_play_keeps_the_timing_scaled_and_cuts_long_pauses(logs):
    log_dir, ids = logs
    t = replay.build_timeline(log_dir, ids["ok"])
    gaps = [b.t - a.t for a, b in zip(t.entries, t.entries[1:])]
    waits, shown, idles = [], [], []
    replay.play(t, shown.append, speed=10, sleep=waits.append, idle=idles.append, max_wait_s=5)
    assert shown == t.entries and not idles
    assert waits == pytest.approx([g / 10 for g in gaps])  # the session's own rhythm, 10x faster
    waits.clear()
    replay.play(t, lambda e: None, speed=1, sleep=waits.append, idle=idles.append, max_wait_s=3)
    assert waits == pytest.approx([min(g, 3) for g in gaps])
    assert idles == [g for g in gaps if g > 3]  # long pauses are cut short and reported


def test_cli_speed_replays_to_the_footer(cli, logs):
    log_dir, ids = logs
    result = cli("replay", ids["ok"], "--log-dir", str(log_dir), "--speed", "1000", check=True)
    assert "outcome success" in result.stdout.decode()


@pytest.mark.slow
def test_follow_shows_a_running_session_and_stops_at_its_end(tmp_path):
    log_dir = tmp_path / "logs"
    settings = config.load({"log_dir": str(log_dir)}, environ={})
    proc = subprocess.Popen(
        [*AGENTLOG, "replay", "live-1", "--follow", "--log-dir", str(log_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        with Recorder(settings) as rec:
            s = Session("live-1", executor="CODEX", recorder=rec)
            s.start(prompt="go")
            rec.flush()
            time.sleep(0.5)  # the follower is running while the session grows
            s.tool_call("bash", {"cmd": "make"})
            s.tool_result("bash", "success", "built")
            s.error("make: *** [all] Error 2")
            s.end("failed")
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    text = out.decode()
    assert proc.returncode == 0, err.decode()
    for expected in (
        "session start",
        "bash",
        "built",
        "make: *** [all] Error 2",
        "session end: failed",
        "outcome failed",
    ):
        assert expected in text
