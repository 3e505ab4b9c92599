"""`agentlog mcp`: the watchdog's verdicts, asked by the agent through a real MCP client."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

import anyio
import msgspec
import pytest
from conftest import ROOT, run_cli
from mcp import Client, StdioServerParameters
from test_detectors_backtest import CONFIGS
from watchgen import stream
from watchkit import BASE, ev, iso, write

from agentlog.mcp.indexes import ErrorIndex
from agentlog.mcp.records import event, events
from agentlog.mcp.server import build
from agentlog.mcp.verdicts import MAX_BYTES, Telemetry, fit
from agentlog.store import layout
from agentlog.watch import Engine, WatchConfig
from agentlog.web import acks


def _attempt(line: bytes) -> str | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    found = value.get("attempt_id") if isinstance(value, dict) else None
    return found if isinstance(found, str) and found else None


async def _ask(client: Client, tool: str, **arguments) -> dict:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    text = result.content[0].text
    assert len(text.encode()) <= MAX_BYTES
    return json.loads(text)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_am_i_looping_says_yes_exactly_from_the_step_watch_alerts(tmp_path, name):
    """The messy stream written event by event into its sessions' transcripts: after each
    event, the agent of that session asks. Every alert the watchdog's engine raises on the
    whole stream is in the answer from that very step, none before, and `looping` is false
    until the session's first alert."""
    config = WatchConfig(**CONFIGS[name])
    lines = stream(events=3000, attempts=120)
    watch = Engine(config)
    raised_at: dict[str, int] = {}  # alert id -> the step that raised it
    for step, line in enumerate(lines):
        for alert in watch.feed([line], now=time.time()):
            raised_at[alert.alert_id] = step
    assert len({t for t in raised_at}) > 20
    telemetry = Telemetry(tmp_path, config)
    folder = tmp_path / layout.SESSIONS
    folder.mkdir()
    seen_at: dict[str, int] = {}
    first_yes: dict[str, int] = {}

    async def replay():
        async with Client(build(telemetry)) as client:
            for step, line in enumerate(lines):
                attempt = _attempt(line)
                if attempt is None:
                    continue
                with open(layout.session_path(tmp_path, attempt), "ab") as handle:
                    handle.write(line + b"\n")
                answer = await _ask(client, "am_i_looping", session_id=attempt)
                for alert in answer["alerts"]:
                    seen_at.setdefault(alert["id"], step)
                if answer["looping"]:
                    first_yes.setdefault(attempt, step)

    anyio.run(replay)
    assert seen_at == raised_at
    first_alert: dict[str, int] = {}
    by_id = {a: s for a, s in raised_at.items()}
    for _alert_id, step in sorted(by_id.items(), key=lambda item: item[1]):
        attempt = _attempt(lines[step])
        first_alert.setdefault(attempt, step)
    assert first_yes == first_alert


def _session(log_dir: Path, attempt: str, cwd: str, *events: dict) -> None:
    start = ev(attempt, "session_start", BASE, working_dir=cwd)
    write(layout.session_path(log_dir, attempt), start, *events)


def test_the_calling_session_is_found_from_its_working_directory(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    _session(tmp_path, "old", str(repo), ev("old", "tool_call", BASE + 1, tool_name="Bash", tool_params={"c": 1}))
    _session(tmp_path, "elsewhere", str(tmp_path))
    time.sleep(0.01)
    calls = [ev("new", "tool_call", BASE + i, tool_name="Bash", tool_params={"c": "same"}) for i in range(12)]
    _session(tmp_path, "new", str(repo), *calls)
    os.utime(layout.session_path(tmp_path, "elsewhere"))  # the newest file is another directory's
    telemetry = Telemetry(tmp_path, WatchConfig(tool_repeat_threshold=10))
    answer = telemetry.am_i_looping(cwd=str(repo))
    assert answer["session"] == "new"
    assert answer["looping"] and answer["alerts"][0]["type"] == "tool_loop"
    assert answer["recommended_action"] == "fresh_session"
    assert {"rule": "tool_loop", "count": 12, "threshold": 10} in answer["rules"]
    with pytest.raises(LookupError, match="session_id"):
        telemetry.am_i_looping(cwd=str(tmp_path / "nowhere"))


def test_rules_tell_how_close_a_loop_is_before_it_fires(tmp_path):
    calls = [ev("s", "tool_call", BASE + i, tool_name="Bash", tool_params={"c": "same"}) for i in range(1, 4)]
    _session(tmp_path, "s", "/r", *calls)
    answer = Telemetry(tmp_path, WatchConfig(tool_repeat_threshold=5)).am_i_looping(session_id="s")
    assert not answer["looping"] and answer["recommended_action"] == "continue"
    assert {"rule": "tool_loop", "count": 3, "threshold": 5} in answer["rules"]


def _errors(log_dir: Path, *events: dict) -> None:
    write(log_dir / layout.ERRORS, *events)


def test_seen_this_error_tells_how_often_where_and_what_came_next(tmp_path):
    message = "ModuleNotFoundError: No module named 'requests'"
    for attempt, status, fix in (("a1", "success", "pip install requests"), ("a2", "failed", "cat setup.py")):
        error = ev(attempt, "error", BASE + 1, error_message=message)
        _session(
            tmp_path,
            attempt,
            "/r",
            ev(attempt, "tool_call", BASE, tool_name="Bash", tool_params={"c": "pytest"}),
            error,
            ev(attempt, "tool_call", BASE + 2, tool_name="Bash", tool_params={"c": fix}),
            ev(attempt, "session_end", BASE + 3, completion_status=status),
        )
        _errors(tmp_path, error, error)
    telemetry = Telemetry(tmp_path)
    answer = telemetry.seen_this_error("ModuleNotFoundError: No module named 'numpy'", session_id="me")
    assert answer["seen"] == 4 and answer["sessions"] == 2
    assert answer["recent_sessions"] == ["a2", "a1"]
    past = {p["session"]: p for p in answer["got_past_it"]}
    assert past["a1"]["outcome"] == "success" and "pip install requests" in past["a1"]["next"]
    assert past["a2"]["outcome"] == "failed"
    assert telemetry.seen_this_error("never seen anything like it 42")["seen"] == 0
    similar = telemetry.similar_failures(k=1, session_id="a1")
    assert similar["similar"] == [{"session": "a2", "shared_errors": 1, "outcome": "failed"}]


def test_session_health_reports_cost_budget_progress_and_logged_alerts(tmp_path):
    now = BASE + 100
    _session(
        tmp_path,
        "s",
        "/r",
        ev("s", "usage", BASE + 1, cost_usd=0.3),
        ev("s", "tool_call", BASE + 10, tool_name="Read", tool_params={"f": 1}),
        ev("s", "tool_call", BASE + 40, tool_name="Read", tool_params={"f": 1}),
    )
    write(
        tmp_path / layout.ALERTS,
        {
            "timestamp": iso(BASE),
            "type": "guard_spend",
            "attempt_id": "s",
            "severity": "high",
            "recommendation": "stop",
            "alert_id": "a1b2c3d4",
            "decision": "deny",
        },
    )
    answer = Telemetry(tmp_path, budget_usd=0.5, clock=lambda: now).session_health(session_id="s")
    assert answer["cost_usd"] == 0.3 and answer["budget_used"] == 0.6
    assert answer["s_since_progress"] == 90.0 and answer["s_since_last_event"] == 60.0
    assert answer["alerts_logged"] == 1 and answer["alerts"][0]["decision"] == "deny"
    acks.acknowledge(tmp_path, "a1b2c3d4")
    assert Telemetry(tmp_path, clock=lambda: now).session_health(session_id="s")["alerts"][0]["acknowledged"]
    assert answer["status"] == "open"


def test_answers_stay_within_2_kb_however_long_the_log_strings_are():
    huge = {"session": "x" * 10_000, "alerts": [{"id": "y" * 500, "type": "z"}] * 50, "rules": [1] * 400}
    cut = fit(huge)
    assert len(msgspec.json.encode(cut)) <= MAX_BYTES and cut["truncated"]
    assert cut["alerts"] and cut["session"].startswith("xxx")


def test_hostile_error_text_and_session_ids_are_answered_within_2_kb(tmp_path):
    long_id = "../" + "é" * 5000
    _session(
        tmp_path,
        long_id,
        "/r",
        *[ev(long_id, "error", BASE + i, error_message="E" * 50_000 + str(i)) for i in range(30)],
    )
    _errors(tmp_path, *[ev(f"s{i}-" + "q" * 300, "error", BASE, error_message="E" * 50_000 + "1") for i in range(40)])
    telemetry = Telemetry(tmp_path)
    for answer in (
        telemetry.am_i_looping(session_id=long_id),
        telemetry.session_health(session_id=long_id),
        telemetry.seen_this_error("E" * 100_000 + "1"),
        telemetry.similar_failures(10, session_id=long_id),
    ):
        assert len(msgspec.json.encode(answer)) <= MAX_BYTES
    assert not list(tmp_path.glob("*/*.tmp"))


def test_cli_serves_stdio_read_only_and_finds_the_session_from_cwd(tmp_path):
    """The real command, spoken to over stdio by the SDK's client from the agent's directory."""
    logs, repo = tmp_path / "logs", tmp_path / "repo"
    repo.mkdir()
    _session(
        logs, "sess-1", str(repo), *[ev("sess-1", "error", BASE + i, error_message="boom: disk full") for i in range(5)]
    )
    before = sorted((p, p.stat().st_mtime_ns, p.stat().st_size) for p in logs.rglob("*"))
    script = Path(sys.executable).with_name("agentlog")
    params = StdioServerParameters(
        command=str(script),
        args=["mcp", "--log-dir", str(logs)],
        cwd=str(repo),
        env={**os.environ, "AGENT_WORK_LOG_DIR": ""},
    )

    async def ask():
        async with Client(params) as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
            assert set(tools) == {"am_i_looping", "seen_this_error", "session_health", "similar_failures"}
            assert all(t.annotations.read_only_hint for t in tools.values())
            return await _ask(client, "am_i_looping")

    answer = anyio.run(ask)
    assert answer["session"] == "sess-1" and answer["looping"]
    assert answer["alerts"][0]["type"] == "error_loop"
    assert sorted((p, p.stat().st_mtime_ns, p.stat().st_size) for p in logs.rglob("*")) == before


def test_unknown_session_is_a_tool_error_that_says_what_to_pass(tmp_path):
    (tmp_path / layout.SESSIONS).mkdir()

    async def ask():
        async with Client(build(Telemetry(tmp_path))) as client:
            return await client.call_tool("session_health", {"cwd": str(tmp_path)})

    result = anyio.run(ask)
    assert result.is_error and "session_id" in result.content[0].text


def test_mcp_help_shows_the_claude_registration():
    out = run_cli("mcp", "--help")
    assert "claude mcp add agentlog -- agentlog mcp" in out.stdout.decode()
    assert "claude mcp add agentlog -- agentlog mcp" in (ROOT / "README.md").read_text()


def test_http_transport_binds_localhost_and_answers(tmp_path):
    import socket
    import subprocess

    _session(tmp_path, "h1", "/r")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    script = Path(sys.executable).with_name("agentlog")
    proc = subprocess.Popen(
        [str(script), "mcp", "--http", str(port), "--log-dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )

    async def ask():
        for _ in range(300):
            try:
                async with Client(f"http://127.0.0.1:{port}/mcp") as client:
                    return await _ask(client, "session_health", session_id="h1"), await client.call_tool(
                        "am_i_looping", {"session_id": "not-recorded"}
                    )
            except Exception:  # not listening yet
                if proc.poll() is not None:
                    raise
                await anyio.sleep(0.1)
        raise TimeoutError("agentlog mcp --http did not answer")

    try:
        health, unknown = anyio.run(ask)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert health["session"] == "h1" and health["status"] == "open"
    assert unknown.is_error and "not-recorded" in unknown.content[0].text
    assert f"http://127.0.0.1:{port}" in proc.stderr.read().decode()


def test_session_questions_answer_while_the_errors_index_is_still_being_built(tmp_path, monkeypatch):
    """At start the server indexes the errors file on a thread of its own; meanwhile the
    questions that read only the caller's session answer, and those about errors wait for
    the whole index (never a partial count)."""
    calls = [ev("s", "tool_call", BASE + i, tool_name="Bash", tool_params={"c": "same"}) for i in range(3)]
    _session(tmp_path, "s", "/r", *calls)
    message = "ModuleNotFoundError: No module named 'requests'"
    _errors(tmp_path, *[ev(f"a{i}", "error", BASE, error_message=message) for i in range(3)])
    telemetry = Telemetry(tmp_path)
    building, release = threading.Event(), threading.Event()
    index = ErrorIndex.refresh

    def slow_index(self):
        building.set()
        release.wait(60)
        index(self)

    monkeypatch.setattr(ErrorIndex, "refresh", slow_index)
    warm = threading.Thread(target=telemetry.warm)
    warm.start()
    assert building.wait(30)
    answers: dict[str, dict] = {}

    async def ask(*tools):
        async with Client(build(telemetry)) as client:
            for tool, arguments in tools:
                answers[tool] = await _ask(client, tool, **arguments)

    session_questions = (("am_i_looping", {"session_id": "s"}), ("session_health", {"session_id": "s"}))
    asking = threading.Thread(target=anyio.run, args=(ask, *session_questions))
    asking.start()
    asking.join(60)  # only a hang takes this long
    answered_while_building = not asking.is_alive()
    errors = threading.Thread(target=anyio.run, args=(ask, ("seen_this_error", {"text": message})))
    errors.start()
    errors.join(0.2)
    waited_for_the_index = errors.is_alive()
    release.set()
    for thread in (warm, asking, errors):
        thread.join(60)
    assert answered_while_building and waited_for_the_index
    assert answers["am_i_looping"]["events"] == 4 and answers["session_health"]["status"] == "open"
    assert answers["seen_this_error"]["seen"] == 3


def test_lines_decoded_as_a_batch_are_the_lines_decoded_one_by_one():
    good = [msgspec.json.encode(ev(f"a{i}", "error", BASE + i, error_message=f"boom {i}")) for i in range(40)]
    odd = [
        b"",
        b"not json",
        b"\xef\xbb\xbf" + good[0],
        good[1] + b"," + good[2],
        b'{"event_type": "error", "data": "a string"}',
        b'{"event_type": 7, "data": {}}',
        b'{"event_type": "error", "data": {"error_message": "\xff\xfe"}}',
        b'{"event_type": "error", "data": {"x": ' + b"[" * 100 + b"]" * 100 + b"}}",
        b"[1, 2]",
    ]
    for lines in (good, good[:3] + odd + good[3:], odd, [odd[2]] * 20):
        assert events(lines) == [event(line) for line in lines]


def test_the_errors_index_read_in_steps_counts_every_line_however_long(tmp_path, monkeypatch):
    from agentlog.mcp import indexes

    monkeypatch.setattr(indexes, "CHUNK", 64)  # shorter than any line
    message = "ModuleNotFoundError: No module named 'requests'"
    _errors(tmp_path, *[ev(f"a{i}", "error", BASE, error_message=message + " " * i * 40) for i in range(30)])
    answer = Telemetry(tmp_path).seen_this_error(message)
    assert answer["seen"] == 30 and answer["sessions"] == 30
