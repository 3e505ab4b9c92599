"""The detectors on recorded and real data: the fast engine against a recording and against its
own general path, and tool_loop on real agent transcripts (busy is not a loop; repetition is)."""

from __future__ import annotations

import json
import re
import os
import shutil
import time
from pathlib import Path

import msgspec
import pytest
from conftest import ROOT, SHARED, run_cli
from watchgen import stream

from agentlog.watch import Engine, WatchConfig

DATA = ROOT / "tests" / "data"
FIXTURES = SHARED / "fixtures"
OURS = DATA / "transcripts" / "backtest"
# every threshold spelled out, so a change of defaults does not move the recording
CONFIGS = {
    "seed": dict(
        error_loop_threshold=4,
        error_loop_window_ms=600000,
        tool_loop_threshold=10,
        tool_loop_window_ms=60000,
        tool_repeat_threshold=10,
        stuck_threshold_ms=300000,
        cost_anomaly_threshold=1.0,
        alert_cooldown_ms=300000,
        restart_threshold=3,
        failed_session_errors=4,
    ),
    "tight": dict(
        error_loop_threshold=3,
        error_loop_window_ms=120000,
        tool_loop_threshold=4,
        tool_loop_window_ms=20000,
        tool_repeat_threshold=3,
        stuck_threshold_ms=120000,
        cost_anomaly_threshold=0.5,
        alert_cooldown_ms=60000,
        restart_threshold=2,
        failed_session_errors=2,
    ),
}


def _rows(alerts) -> list[list]:
    return [[a.alert_id, a.type, a.attempt_id, a.severity, a.event_time, a.message] for a in alerts]


def _replay(engine: Engine, lines: list[bytes], batch: int = 500) -> list:
    """As `watch --replay --once` reads: batch by batch, the wall clock only once caught up."""
    found = []
    for i in range(0, len(lines), batch):
        found += engine.feed(lines[i : i + batch])
    return found + engine.tick(engine.clock + 4000)


# -- the optimised engine gives exactly the recorded alerts ----------------------------------


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_engine_gives_the_recorded_alerts(name):
    """The recording was made by the engine before its hot path was rewritten (tool_loop rows
    re-recorded once, when its repetition rule changed to 'nothing new in between')."""
    expected = json.loads((DATA / "watch" / "engine_expected.json").read_text())[name]
    engine = Engine(WatchConfig(**CONFIGS[name]))
    found = _replay(engine, stream())
    assert [engine.events, engine.malformed, engine.ignored] == expected["counts"]
    assert _rows(found) == expected["alerts"]


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_one_line_at_a_time_agrees_with_batches(name):
    """Every line fed on its own (as the guard and the fleet feed them) gives what batches give."""
    lines = stream(seed=11)
    fast = Engine(WatchConfig(**CONFIGS[name]))
    reference = Engine(WatchConfig(**CONFIGS[name]))
    expected = []
    for line in lines:
        expected += reference.feed([line])
    expected += reference.tick(reference.clock + 4000)
    assert _rows(_replay(fast, lines)) == _rows(expected)
    assert (fast.events, fast.malformed, fast.ignored) == (reference.events, reference.malformed, reference.ignored)


def test_snapshot_in_the_middle_of_a_messy_stream():
    lines = stream(seed=5)
    config = WatchConfig(**CONFIGS["tight"])
    whole = _replay(Engine(config), lines)
    first = Engine(config)
    part = []
    for i in range(0, 3000, 500):
        part += first.feed(lines[i : i + 500])
    second = Engine(config)
    second.restore(json.loads(msgspec.json.encode(first.snapshot())))
    rest = []
    for i in range(3000, len(lines), 500):
        rest += second.feed(lines[i : i + 500])
    rest += second.tick(second.clock + 4000)
    assert _rows(part + rest) == _rows(whole)


# -- tool_loop on real transcripts --------------------------------------------------------------


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> Path:
    """The shared fixtures and our own transcripts imported once, as finished sessions."""
    root = tmp_path_factory.mktemp("backtest")
    sources = {
        "claude-code": [FIXTURES / "claude-code", OURS / "claude-code"],
        "codex": [FIXTURES / "codex", OURS / "codex"],
        "swe-agent": [FIXTURES / "swe-agent"],
    }
    log_dir = root / "logs"
    old = time.time() - 2 * 86400  # not written to lately: the importers close the sessions
    for agent, paths in sources.items():
        for i, path in enumerate(paths):
            copy = root / "src" / f"{agent}-{i}"
            shutil.copytree(path, copy)
            for file in copy.rglob("*"):
                os.utime(file, (old, old))
            run_cli("import", agent, str(copy), "--log-dir", str(log_dir), check=True)
    return log_dir


def _watch(imported: Path, tmp_path: Path, config: str = "", env: dict | None = None) -> dict[str, list[dict]]:
    """Alerts per attempt of `agentlog watch --replay --once` on a copy of the imported logs."""
    log_dir = tmp_path / "logs"
    shutil.copytree(imported, log_dir)
    args = ["watch", "--log-dir", str(log_dir), "--replay", "--once", "--quiet"]
    if config:
        (tmp_path / "agentlog.toml").write_text(config)
        args += ["--config", str(tmp_path / "agentlog.toml")]
    run_cli(*args, env=env, check=True)
    found: dict[str, list[dict]] = {}
    alerts = log_dir / "agent-alerts.jsonl"
    for line in alerts.read_text().splitlines() if alerts.exists() else []:
        alert = json.loads(line)
        found.setdefault(_source(alert["attempt_id"]), []).append(alert)
    return found


BUSY = "b05e0000-0000-4000-8000-000000000018"  # Claude Code: Bash ~13 times a minute, an edit-test cycle
LOOP = "0199bbbb-cccc-7ddd-8eee-ffffffff0013"  # Codex: the same failing shell command 13 times in a row
FIXTURE_SESSIONS = {
    "edge_cases",
    "representative_messages",
    "session_b",
    "todowrite_examples",
    "sample_session",
    "11111111-1111-4111-8111-111111111111",
    "rollout-token-count",
    "BabyEncryption",
    "function_calling_simple",
    "humanevalfix-python-0",
    "marshmallow-1867-function_calling_replace",
    "warmup",
}


def _source(attempt_id: str) -> str:
    """The transcript an imported attempt came from: its id without the hash of the file's path."""
    return re.sub(r"-[0-9a-f]{8}$", "", attempt_id)


def _tool_loops(found: dict[str, list[dict]]) -> dict[str, list[dict]]:
    return {
        attempt: loops
        for attempt, alerts in found.items()
        if (loops := [a for a in alerts if a["type"] == "tool_loop"])
    }


def test_defaults_busy_real_sessions_do_not_alert_thirteen_identical_actions_do(imported, tmp_path):
    events = [json.loads(x) for x in (imported / "agent-work-stream.jsonl").read_text().splitlines()]
    assert FIXTURE_SESSIONS | {BUSY, LOOP} <= {_source(e["attempt_id"]) for e in events}
    loops = _tool_loops(_watch(imported, tmp_path))
    assert list(loops) == [LOOP]  # not one fixture session, not the busy one
    (alert,) = loops[LOOP]
    assert alert["tool_name"] == "shell" and alert["occurrences"] == 10 and "identical params" in alert["message"]
    assert alert["severity"] == "medium" and alert["recommendation"] == "fresh_session"


def test_the_seed_rate_rule_is_one_setting_away(imported, tmp_path):
    loops = _tool_loops(_watch(imported, tmp_path, env={"AGENT_TOOL_LOOP_WINDOW_MS": "60000"}))
    assert sorted(loops) == sorted([BUSY, LOOP])  # 10 Bash calls within 60 s: a busy agent trips it
    assert [a["message"] for a in loops[BUSY]] == ["Bash called 10 times within 60 s"]


def test_an_edit_test_cycle_is_progress_not_repetition(imported, tmp_path):
    """SWE-agent's BabyEncryption runs `python decrypt.py` 4 times, a new edit before each run:
    the same command, but never with nothing new in between."""
    loops = _tool_loops(_watch(imported, tmp_path, config="[watch]\ntool_repeat_threshold = 3\n"))
    assert list(loops) == [LOOP] and loops[LOOP][0]["occurrences"] == 3
    off = _tool_loops(_watch(imported, tmp_path / "off", config="[watch]\ntool_repeat_threshold = 0\n"))
    assert off == {}  # repetition rule off, rate rule at its default: nothing real is that fast
