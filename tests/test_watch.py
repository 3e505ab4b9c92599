"""`agentlog watch`: what each detector catches, what is ignored, exactly-once across runs."""

from __future__ import annotations

import json
import random
import subprocess
import sys

from conftest import peak_of
from watchkit import BASE, alerts, ev, write

from agentlog.watch import Engine, WatchConfig
from agentlog.events import encode

STREAM = "agent-work-stream.jsonl"


def watch_once(cli, log_dir, *args, env=None):
    result = cli("watch", "--log-dir", str(log_dir), "--once", "--quiet", *args, env=env)
    assert result.returncode == 0, result.stderr.decode()
    return alerts(log_dir)


def types(found):
    return sorted(a["type"] if isinstance(a, dict) else a.type for a in found)


def run_engine(events, config=None, now=None):
    engine = Engine(config or WatchConfig())
    found = engine.feed([encode(e) for e in events])
    if now is not None:
        found += engine.tick(now)
    return engine, found


def test_error_loop_with_derived_fingerprints_and_separate_loops(cli, log_dir):
    events = [ev("a1", "session_start", BASE)]
    for i in range(4):  # no fingerprint given: derived from the message; paths differ
        events.append(ev("a1", "error", BASE + 1 + i, error_message=f"fatal: not a git repository: /tmp/w{i}/.git"))
        events.append(ev("a1", "error", BASE + 1.5 + i, error_message="ModuleNotFoundError: No module named 'x'"))
    events.append(ev("a1", "session_end", BASE + 20, completion_status="success"))
    write(log_dir / STREAM, *events)
    found = watch_once(cli, log_dir, "--replay")
    loops = [a for a in found if a["type"] == "error_loop"]
    assert len(loops) == 2 and len({a["error_fingerprint"] for a in loops}) == 2
    first = loops[0]
    assert first["attempt_id"] == "a1" and first["executor"] == "CODEX" and first["severity"] == "high"
    assert first["recommendation"] == "trigger_ai_autofix" and first["occurrences"] == 4
    assert first["error_fingerprint"].startswith("fatal_not_a_git")


def test_error_loop_needs_the_window_and_cooldown_suppresses_repeats():
    spread = [ev("a", "error", BASE + i * 201, error_message="boom", error_fingerprint="f") for i in range(4)]
    assert run_engine(spread)[1] == []  # 4 errors over 10 min 3 s: not within 10 min
    loop = [ev("a", "error", BASE + i, error_message="boom", error_fingerprint="f") for i in range(12)]
    assert types(run_engine(loop)[1]) == ["error_loop"]  # one alert, the repeats are cooled down
    later = loop + [ev("a", "error", BASE + 400 + i, error_message="boom", error_fingerprint="f") for i in range(4)]
    assert types(run_engine(later)[1]).count("error_loop") == 2  # after the 5 min cooldown


def test_tool_loop_rate_rule_and_repetition_rule_are_separate():
    fast = [ev("a", "tool_call", BASE + i, tool_name="grep", tool_params={"q": i}) for i in range(10)]
    found = run_engine(fast)[1]
    assert types(found) == ["tool_loop"] and "within" in found[0].message
    slow = [
        ev("a", "tool_call", BASE + i * 120, tool_name="read_file", tool_params={"path": "a.py"}) for i in range(10)
    ]
    found = run_engine(slow)[1]
    assert types(found) == ["tool_loop"] and "identical params" in found[0].message
    config = WatchConfig(tool_repeat_threshold=0)  # repetition rule off: the slow loop passes
    assert run_engine(slow, config)[1] == []
    varied = [
        ev("a", "tool_call", BASE + i * 120, tool_name="read_file", tool_params={"path": f"{i}.py"}) for i in range(10)
    ]
    assert run_engine(varied)[1] == []


def test_stuck_agent_once_per_idle_period_rearmed_by_activity():
    start = [ev("a", "session_start", BASE), ev("b", "session_start", BASE)]
    engine, found = run_engine(start + [ev("b", "session_end", BASE + 1)])
    assert engine.tick(BASE + 299) == []
    first = engine.tick(BASE + 301)
    assert [(a.type, a.attempt_id, a.severity) for a in first] == [("stuck_agent", "a", "medium")]
    assert engine.tick(BASE + 600) == []  # once per idle period, not every 5 min
    engine.feed([encode(ev("a", "agent_output", BASE + 700, output="back"))])
    second = engine.tick(BASE + 700 + 1000)
    assert [(a.type, a.severity) for a in second] == [("stuck_agent", "high")]  # re-armed; idle 3x
    assert second[0].alert_id != first[0].alert_id


def test_an_agent_waiting_for_its_user_is_not_stuck():
    """An interactive turn ended (the hooks' `turn_complete`) or the agent asked its user
    (`waiting`): idle time is the person's, not a hang. Its next event re-arms the check,
    and the wait survives a snapshot (a restart must not turn it into an alert)."""
    events = [
        ev("a", "session_start", BASE),
        ev("a", "tool_call", BASE + 1, tool_name="Bash"),
        ev("a", "status_change", BASE + 2, status="turn_complete"),
        ev("b", "session_start", BASE),
        ev("b", "status_change", BASE + 2, status="running"),
    ]
    engine, found = run_engine(events)
    restored = Engine(WatchConfig())
    restored.restore(json.loads(encode(engine.snapshot())))
    for each in (engine, restored):
        assert [(a.type, a.attempt_id) for a in each.tick(BASE + 400)] == [("stuck_agent", "b")]
    engine.feed([encode(ev("a", "followup_sent", BASE + 900, message="go on"))])  # the user is back
    assert [(a.type, a.attempt_id) for a in engine.tick(BASE + 1300)] == [("stuck_agent", "a")]
    asking = [ev("w", "session_start", BASE), ev("w", "status_change", BASE + 1, status="waiting")]
    replayed = run_engine(asking + [ev("w", "tool_call", BASE + 3000, tool_name="Bash")])[1]
    assert replayed == []  # the same on replay: the gap was the user's
    assert run_engine(asking, WatchConfig(waiting_statuses=()), now=BASE + 400)[1] != []  # configurable
    engine, _ = run_engine(asking)
    engine.tick(BASE + 400)
    engine.tick(BASE + 4000)
    assert len(engine.active) == 0  # memory: a long wait is let go like an alerted idle period


def test_stuck_found_on_replay_the_same_as_live():
    events = [
        ev("a", "session_start", BASE),
        ev("a", "tool_call", BASE + 400, tool_name="x"),
        ev("a", "session_end", BASE + 401),
    ]
    live = Engine(WatchConfig())
    live.feed([encode(events[0])])
    live_alerts = live.tick(BASE + 310)
    replay_alerts = run_engine(events)[1]  # the gap shows when the next event arrives
    assert [a.alert_id for a in live_alerts] == [a.alert_id for a in replay_alerts]


def test_cost_anomaly_when_crossed_and_again_at_twice():
    events = [ev("a", "session_start", BASE)] + [ev("a", "usage", BASE + i, cost_usd=0.3) for i in range(1, 8)]
    found = run_engine(events)[1]
    assert [(a.type, a.severity) for a in found] == [("cost_anomaly", "low"), ("cost_anomaly", "medium")]
    assert found[0].cost_usd == 1.2 and found[0].threshold == 1.0


def test_excessive_restarts_and_failed_sessions():
    events = []
    for i in range(4):
        events += [
            ev("r", "session_start", BASE + i * 10, prompt_type="retry" if i else "initial"),
            ev("r", "session_end", BASE + i * 10 + 1, completion_status="failed"),
        ]
    assert types(run_engine(events)[1]) == ["excessive_restarts"]

    def failed(attempt, messages):
        return (
            [ev(attempt, "session_start", BASE)]
            + [ev(attempt, "error", BASE + 1 + i * 20, error_message=m) for i, m in enumerate(messages)]
            + [ev(attempt, "session_end", BASE + 200, completion_status="setup_failed")]
        )

    found = run_engine(
        failed("t", ["429 Too Many Requests"] * 2 + ["ETIMEDOUT connecting", "503 Service Unavailable"])
    )[1]
    assert [(a.type, a.recommendation) for a in found] == [
        ("failed_session_transient_errors", "switch_sdk_or_backoff_retry")
    ]
    found = run_engine(failed("h", ["429 Too Many Requests", "AssertionError: 1 != 2", "x", "y"]))[1]
    assert [(a.type, a.severity) for a in found] == [("failed_session_high_errors", "high")]


def test_bad_lines_are_skipped_never_a_crash(cli, log_dir):
    loop = [ev("a", "error", BASE + i, error_message="boom", error_fingerprint="f") for i in range(4)]
    raw = (
        b"not json\n"
        b"[1, 2]\n"
        b'{"event_type": "error"}\n'  # no attempt_id
        b'{"timestamp": "2026-01-01T00:00:00.000Z", "event_type": "error", "attempt_id": "z"}\n'  # no data
        b'{"timestamp": "yesterday", "event_type": "error", "attempt_id": "z", "data": {}}\n'
        b'{"timestamp": "2026-01-01T00:00:00.000Z", "event_type": "error", "attempt_id": 7, "data": {}}\n'
        b'{"timestamp": "2026-01-01T00:00:00.000Z", "event_type": "error", "attempt_id": "z", "data": "x"}\n'
        b"\n\r\n"
    )
    path = log_dir / STREAM
    write(path, raw=b"\xef\xbb\xbf" + encode(loop[0]) + b"\r\n" + raw)  # BOM, CRLF as PowerShell writes
    write(path, *loop[1:], raw=b'{"timestamp": "2026-01-01T00:00:09')  # a partial last line
    result = cli("watch", "--log-dir", str(log_dir), "--once", "--replay", "--quiet")
    assert result.returncode == 0, result.stderr.decode()
    assert types(alerts(log_dir)) == ["error_loop", "stuck_agent"]
    err = result.stderr.decode()
    assert "4 malformed" in err  # not JSON, not an object, attempt_id not text, data not an object
    first = len(b"\xef\xbb\xbf" + encode(loop[0]) + b"\r\n")  # each is told: file, byte offset, reason
    assert f"{path}: byte {first}: not valid JSON" in err
    assert f"{path}: byte {first + len(b'not json') + 1}: expected a JSON object, got list" in err
    data_x = (
        first
        + raw.index(b'"attempt_id": "z", "data": "x"')
        - raw[: raw.index(b'"attempt_id": "z", "data": "x"')][::-1].index(b"\n")
    )
    assert f"{path}: byte {data_x}: not an event (Expected `object`, got `str`" in err


def test_out_of_order_timestamps():
    times = [BASE + 5, BASE + 1, BASE + 3, BASE + 2]  # within the window, arriving shuffled
    events = [ev("a", "error", t, error_message="boom", error_fingerprint="f") for t in times]
    events.insert(2, ev("a", "agent_output", BASE - 86400, output="a clock gone back a day"))
    found = run_engine(events)[1]
    assert types(found) == ["error_loop"]


def test_replay_twice_writes_each_alert_once_and_live_resumes(cli, log_dir):
    events = [ev("a", "error", BASE + i, error_message="boom", error_fingerprint="f") for i in range(4)]
    write(log_dir / STREAM, *events)
    first = watch_once(cli, log_dir, "--replay")
    assert watch_once(cli, log_dir, "--replay") == first  # resumes from the checkpoint
    assert watch_once(cli, log_dir, "--replay", "--reset") == first  # recomputed: same ids, not repeated
    write(log_dir / STREAM, *[ev("b", "error", BASE + i, error_message="x", error_fingerprint="g") for i in range(4)])
    later = watch_once(cli, log_dir)
    assert types(later[len(first) :]) == ["error_loop", "stuck_agent"] and len({a["alert_id"] for a in later}) == len(
        later
    )


def test_first_start_is_at_the_end_unless_replay_or_since(cli, log_dir):
    write(log_dir / STREAM, *[ev("a", "error", BASE + i, error_message="b", error_fingerprint="f") for i in range(4)])
    assert watch_once(cli, log_dir) == []
    assert types(watch_once(cli, log_dir / "other", "--since", "2026-01-01T00:00:03Z")) == []  # another dir
    (log_dir / "state" / "watch.checkpoint.json").unlink()
    assert "error_loop" in types(watch_once(cli, log_dir, "--since", "2025-12-31"))


def test_memory_is_bounded_ended_and_stuck_attempts_are_evicted():
    engine = Engine(WatchConfig())
    for i in range(2000):
        engine.feed([encode(ev(f"a{i}", "session_start", BASE + i)), encode(ev(f"a{i}", "session_end", BASE + i))])
    engine.feed([encode(ev("idle", "session_start", BASE))])
    assert list(engine.active) == ["idle"]
    assert [a.type for a in engine.tick(BASE + 400)] == ["stuck_agent"]
    assert "idle" in engine.active  # raised, but not gone yet
    engine.tick(BASE + 4000)
    assert len(engine.active) == 0 and list(engine.parked) == ["idle"]  # packed away after its stuck alert


def test_a_long_watch_holds_its_ended_attempts_and_alert_ids_compactly(tmp_path):
    """60,000 attempts, each an error loop (one alert) then its end: 50,000 (MAX_ENDED) stay
    in the engine's ended table with their cooldowns, 60,000 ids in the journal's written
    set. Held as a whole `Attempt` each and as a Python `set` of strings, they took 78 MiB
    over a small watch's peak; kept as their JSON and as 10-byte digests, 29 MiB."""
    peaks = {}
    for attempts in (100, 60_000):
        log_dir = tmp_path / str(attempts)
        events = []
        for i in range(attempts):
            events.append(ev(f"attempt-{i:06d}", "session_start", BASE + i))
            for k in range(4):
                events.append(ev(f"attempt-{i:06d}", "error", BASE + i + k / 10, error_message="boom"))
            events.append(ev(f"attempt-{i:06d}", "session_end", BASE + i + 1, completion_status="success"))
        write(log_dir / STREAM, *events)
        code, peaks[attempts], _, err = peak_of("watch", "--replay", "--once", "--quiet", "--log-dir", str(log_dir))
        assert code == 0, err
        assert len(alerts(log_dir)) == attempts
    assert peaks[60_000] - peaks[100] < 45, peaks


# Prints whether the masking pattern and the error taxonomy are compiled once the watch is ready.
COMPILED_WHEN_READY = """
import sys, threading
from agentlog import config
from agentlog.intel import mask, taxonomy
from agentlog.watch import Watchdog, WatchOptions
dog = Watchdog(config.load({"log_dir": sys.argv[1]}), WatchOptions())
thread = threading.Thread(target=dog.run)
thread.start()
dog.ready.wait(30)
print(mask._PATTERN is not None, taxonomy._default is not None)
dog.stop.set()
thread.join()
"""


def test_a_watch_compiles_the_error_taxonomy_before_it_is_ready(tmp_path):
    """An error with no fingerprint is classified by the taxonomy (~110 regexes), compiled on
    first use: on the detection thread, the first such error's alert came ~30 ms late (the
    `otel serve` received-to-alert p99 over its 20 ms target). It is compiled at start now."""
    done = subprocess.run([sys.executable, "-c", COMPILED_WHEN_READY, str(tmp_path)], capture_output=True, text=True)
    assert done.stdout.split() == ["True", "True"], done.stderr


def test_snapshot_restore_continues_exactly():
    rng = random.Random(3)
    events = [
        ev(
            f"a{rng.randint(0, 5)}",
            "error",
            BASE + i * 30,
            error_message="boom",
            error_fingerprint=f"f{rng.randint(0, 2)}",
        )
        for i in range(200)
    ]
    lines = [encode(e) for e in events]
    whole = Engine(WatchConfig()).feed(lines)
    first = Engine(WatchConfig())
    part = first.feed(lines[:77])
    snapshot = json.loads(encode(first.snapshot()))
    second = Engine(WatchConfig())
    second.restore(snapshot)  # the cooldowns travel with their attempts
    assert [a.alert_id for a in part + second.feed(lines[77:])] == [a.alert_id for a in whole]


def test_analyzer_disabled_says_so_and_exits_0(cli, log_dir):
    result = cli("watch", "--log-dir", str(log_dir), env={"AGENT_WORK_ANALYZER_ENABLED": "false"})
    assert result.returncode == 0 and "disabled" in result.stderr.decode()


def test_alerts_command_lists_and_consumer_keeps_its_position(cli, log_dir):
    write(log_dir / STREAM, *[ev("a", "error", BASE + i, error_message="b", error_fingerprint="f") for i in range(4)])
    watch_once(cli, log_dir, "--replay")
    listed = cli("alerts", "--log-dir", str(log_dir), "--json", check=True).stdout.decode().splitlines()
    assert [json.loads(x)["type"] for x in listed] == ["error_loop", "stuck_agent"]
    assert "error_loop" in cli("alerts", "--log-dir", str(log_dir), "-t", "error_loop", check=True).stdout.decode()
    first = cli("alerts", "--log-dir", str(log_dir), "--consumer", "me", check=True).stdout.decode()
    assert first.count("\n") == 2
    assert cli("alerts", "--log-dir", str(log_dir), "--consumer", "me", check=True).stdout.decode() == ""
    write(log_dir / STREAM, *[ev("b", "error", BASE + i, error_message="b", error_fingerprint="f") for i in range(4)])
    watch_once(cli, log_dir)
    assert "\tb" not in (
        out := cli("alerts", "--log-dir", str(log_dir), "--consumer", "me", check=True).stdout.decode()
    )
    assert out.count("\n") == 2 and " b " in out


def test_consumer_api(log_dir):
    from agentlog.watch import AlertFeed

    feed = AlertFeed(log_dir, "orchestrator", start="beginning")
    assert feed.poll() == []
    (log_dir / "agent-alerts.jsonl").write_bytes(
        b'{"timestamp":"t","type":"error_loop","attempt_id":"a","severity":"high","recommendation":"r"}\n'
    )
    assert [a.type for a in feed.poll()] == ["error_loop"]
    feed.ack()
    assert AlertFeed(log_dir, "orchestrator").poll() == []


def test_watch_creates_a_missing_log_dir(cli, tmp_path):
    result = cli("watch", "--log-dir", str(tmp_path / "nowhere" / "logs"), "--once", "--quiet")
    assert result.returncode == 0 and (tmp_path / "nowhere" / "logs" / "state").is_dir()


def test_second_watchdog_on_the_same_dir_refuses(log_dir, cli):
    from agentlog import config
    from agentlog.watch import Watchdog

    import threading

    dog = Watchdog(config.load({"log_dir": str(log_dir)}))
    thread = threading.Thread(target=dog.run)
    thread.start()
    assert dog.ready.wait(10)
    result = cli("watch", "--log-dir", str(log_dir), "--once", "--quiet")
    dog.stop.set()
    thread.join(10)
    assert result.returncode == 1 and "another" in result.stderr.decode()
