"""Time in the watchdog: a replay's alerts do not depend on where read batches end or on the
order of whole attempts (imported logs are not time-ordered), live follow agrees with a
replay, approximate/synthetic times fire no time rule, and a writer's skewed clock neither
blinds the watch nor lands in its checkpoint."""

from __future__ import annotations

import json
import os
import random
import threading
import time

import msgspec
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from watchgen import attempt_events, attempt_steps
from watchkit import BASE, alerts, ev, iso, wait_for, write

from agentlog import config
from agentlog.events import encode
from agentlog.watch import Engine, WatchConfig, Watchdog, WatchOptions

STREAM = "agent-work-stream.jsonl"
FUZZ = int(os.environ.get("AGENTLOG_FUZZ_EXAMPLES", "0"))
NOW = BASE + 30 * 86_400  # the wall clock of the final check, the same for every reading


def _examples(default: int) -> int:
    return FUZZ or default


def _rows(found) -> list[str]:
    """Alerts as comparable text: everything but the time they were written, in a fixed order."""
    rows = []
    for alert in found:
        fields = alert if isinstance(alert, dict) else msgspec.structs.asdict(alert)
        rows.append(json.dumps({k: v for k, v in fields.items() if k != "timestamp" and v is not None}, sort_keys=True))
    return sorted(rows)


def _ids(found) -> list[str]:
    return sorted(a["alert_id"] if isinstance(a, dict) else a.alert_id for a in found)


def _lines(shapes: list[dict], order: list[int], pad: int = 0) -> list[bytes]:
    return [encode(e) for i in order for e in attempt_events(f"run-{i}", shapes[i], pad)]


# -- the engine: batches, order of whole attempts, restarts, parking ----------------------------


@settings(max_examples=_examples(150), deadline=None)
@given(shapes=st.lists(attempt_steps(), min_size=1, max_size=6), data=st.data())
def test_replay_alerts_do_not_depend_on_batches_attempt_order_restarts_or_parking(shapes, data):
    reference = Engine(WatchConfig())
    expected = reference.feed(_lines(shapes, list(range(len(shapes))))) + reference.tick(NOW)

    order = data.draw(st.permutations(range(len(shapes))), label="order")
    lines = _lines(shapes, order)
    batch = data.draw(st.integers(1, len(lines) + 1), label="batch")
    restart = data.draw(st.integers(0, len(lines) // batch + 1), label="restart at batch")
    sweep = data.draw(st.integers(1, 40), label="events between sweeps")
    engine, found = Engine(WatchConfig()), []
    engine.sweep_every = sweep  # park and unpack attempts all along
    for n, i in enumerate(range(0, len(lines), batch)):
        if n == restart:
            engine, snapshot = Engine(WatchConfig()), json.loads(encode(engine.snapshot()))
            engine.restore(snapshot)
            engine.sweep_every = sweep
        found += engine.feed(lines[i : i + batch])
    found += engine.tick(NOW)
    assert _rows(found) == _rows(expected)


def test_parked_attempts_come_back_whole_and_memory_stays_small():
    """An attempt quiet for long is packed away (a few hundred bytes) and comes back with its
    state: its tool loop, error counts and cost keep counting where they were."""
    engine = Engine(WatchConfig())
    engine.sweep_every = 1000
    calls = [ev("slow", "tool_call", BASE + i, tool_name="Read", tool_params={"path": "a.py"}) for i in range(6)]
    engine.feed([encode(ev("slow", "session_start", BASE)), *map(encode, calls)])
    for i in range(3000):  # others come and go, hours later on the stream's clock
        engine.feed(
            [
                encode(ev(f"o{i}", "session_start", BASE + 7200 + i)),
                encode(ev(f"o{i}", "session_end", BASE + 7200 + i)),
            ]
        )
    assert "slow" in engine.parked and "slow" not in engine.active
    later = [ev("slow", "tool_call", BASE + 9000 + i, tool_name="Read", tool_params={"path": "a.py"}) for i in range(4)]
    found = engine.feed([*map(encode, later)])
    assert [(a.type, a.attempt_id, a.occurrences) for a in found] == [
        ("stuck_agent", "slow", None),
        ("tool_loop", "slow", 10),
    ]


# -- the real watchdog: `watch --replay --once` and live follow -----------------------------------


def _replay_once(cli, log_dir, lines: list[bytes]) -> list[dict]:
    log_dir.mkdir(parents=True, exist_ok=True)
    (log_dir / STREAM).write_bytes(b"".join(line + b"\n" for line in lines))
    result = cli("watch", "--log-dir", str(log_dir), "--replay", "--once", "--quiet")
    assert result.returncode == 0, result.stderr.decode()
    return alerts(log_dir)


def test_an_old_attempt_read_across_a_batch_end_after_a_newer_one_keeps_its_alerts(cli, tmp_path):
    """Imported file by file: a March attempt, then a January one whose error loop and tool
    loop straddle the 1 MiB read boundary. Read in time order or not, the same alerts; no
    "stuck for months" from a clock the January attempt never saw."""
    newer = [
        ev("march", "session_start", BASE + 60 * 86400),
        ev("march", "session_end", BASE + 60 * 86400 + 5, completion_status="success"),
    ]
    older = [ev("january", "session_start", BASE)]
    for i in range(12):
        older.append(ev("january", "agent_output", BASE + 1 + i * 3, output="y" * 150_000))  # ~1.8 MiB in all
        older.append(ev("january", "error", BASE + 2 + i * 3, error_message="boom", error_fingerprint="f"))
        older.append(ev("january", "tool_call", BASE + 3 + i * 3, tool_name="Read", tool_params={"path": "a.py"}))
    older.append(ev("january", "session_end", BASE + 40, completion_status="failed"))
    in_order = _replay_once(cli, tmp_path / "in-order", [encode(e) for e in older + newer])
    as_imported = _replay_once(cli, tmp_path / "as-imported", [encode(e) for e in newer + older])
    assert sorted(a["type"] for a in in_order) == ["error_loop", "failed_session_high_errors", "tool_loop"]
    assert _rows(as_imported) == _rows(in_order)


STRADDLING = {
    "steps": [(0, 6, 0), (0, 0, 0), (1, 1, 0)] * 4,
    "quality": None,
    "end": "failed",
    "days_ago": 90,
    "second": 0,
}  # an error loop and a tool loop across 1.2 MiB of output


@settings(max_examples=_examples(4), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    shapes=st.lists(attempt_steps(), min_size=2, max_size=5),
    pads=st.tuples(*[st.integers(10_000, 300_000)] * 2),
    seed=st.integers(0, 2**32 - 1),
)
@example(shapes=[STRADDLING, {**STRADDLING, "days_ago": 0}], pads=(300_000, 300_000), seed=0)  # newer first
def test_watch_replay_once_same_alerts_for_any_attempt_order_and_batch_ends(cli, tmp_path_factory, shapes, pads, seed):
    """The padding of outputs moves where the tailer's 1 MiB batches end; the order is an import's."""
    order = random.Random(seed).sample(range(len(shapes)), len(shapes))
    root = tmp_path_factory.mktemp("replay")
    first = _replay_once(cli, root / "a", _lines(shapes, list(range(len(shapes))), pad=pads[0]))
    second = _replay_once(cli, root / "b", _lines(shapes, order, pad=pads[1]))
    assert _ids(second) == _ids(first)  # stuck alerts of open attempts are measured against now: ids only


def _follow(log_dir):
    """`watch` following `log_dir` in a thread, and a count of its wall-clock checks."""
    dog = Watchdog(config.load({"log_dir": str(log_dir)}, environ={}), WatchOptions(replay=True, tick_s=0.02))
    ticks, tick = [0], dog.engine.tick

    def counted(now: float):
        found = tick(now)
        ticks[0] += 1
        return found

    dog.engine.tick = counted
    thread = threading.Thread(target=dog.run, daemon=True)
    thread.start()
    assert dog.ready.wait(20)
    return dog, thread, ticks


def _stop(dog, thread) -> None:
    dog.stop.set()
    thread.join(30)
    assert not thread.is_alive()


@settings(max_examples=_examples(3), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    shapes=st.lists(attempt_steps().filter(lambda s: s["end"] is not None), min_size=2, max_size=5),
    seed=st.integers(0, 2**32 - 1),
)
@example(
    shapes=[
        {"steps": [(0, 0, 0)] * 3 + [(2, 1, 0)] * 3, "quality": None, "end": "success", "days_ago": 90, "second": 0},
        {"steps": [(0, 0, 0)] * 5, "quality": None, "end": "failed", "days_ago": 0, "second": 0},
    ],
    seed=1,
)
def test_live_follow_finds_what_a_replay_finds(tmp_path_factory, shapes, seed):
    """Old attempts appended a piece at a time while `watch` follows (an import while watching):
    after each piece the watchdog is caught up and looks at the wall clock, yet it raises
    exactly the replay's alerts, and no attempt is stuck for being months old."""
    root = tmp_path_factory.mktemp("follow")
    lines = _lines(shapes, list(range(len(shapes))))
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(lines)), min(len(lines) - 1, 6)))
    live = root / "live"
    live.mkdir()
    (live / STREAM).touch()
    dog, thread, ticks = _follow(live)
    try:
        assert wait_for(lambda: ticks[0] > 0)  # what is there at the start is history: judged against now
        for start, end in zip([0, *cuts], [*cuts, len(lines)]):
            with open(live / STREAM, "ab") as handle:
                handle.write(b"".join(line + b"\n" for line in lines[start:end]))
            assert wait_for(lambda: dog.engine.events == end, timeout=30)
            seen = ticks[0]
            assert wait_for(lambda: ticks[0] > seen, timeout=30)  # caught up, it looked at the wall clock
    finally:
        _stop(dog, thread)
    replay = root / "replay"
    replay.mkdir()
    (replay / STREAM).write_bytes((live / STREAM).read_bytes())
    Watchdog(config.load({"log_dir": str(replay)}, environ={}), WatchOptions(replay=True, once=True)).run()
    assert _rows(alerts(live)) == _rows(alerts(replay))


# -- approximate and synthetic times: repetition counts, time spans do not ------------------------


def _quality(events: list[dict], quality: str) -> list[dict]:
    return [{**e, "timestamp_quality": quality} for e in events]


@pytest.mark.parametrize("quality", ["synthetic", "approximate"])
def test_made_up_times_fire_no_time_rule_repetition_still_counts(cli, log_dir, quality):
    """SWE-agent 0.x steps placed 1 s apart: ten different edits are work, not a 10 s tool
    loop; a 20 min "gap" between made-up times is nobody's idleness; the same call ten times
    and the same error four times are loops whatever the times say."""
    edits = [ev("edits", "session_start", BASE)] + [
        ev("edits", "tool_call", BASE + 1 + i, tool_name="edit", tool_params={"line": i}) for i in range(12)
    ]
    edits += [ev("edits", "tool_call", BASE + 1200, tool_name="view"), ev("edits", "session_end", BASE + 1201)]
    same = [ev("same", "session_start", BASE)] + [
        ev("same", "tool_call", BASE + 1 + i, tool_name="edit", tool_params={"line": 1}) for i in range(10)
    ]
    errors = [ev("errors", "session_start", BASE)] + [
        ev("errors", "error", BASE + i * 1200, error_message="boom", error_fingerprint="f") for i in range(1, 5)
    ]
    write(log_dir / STREAM, *_quality(edits + same + errors, quality))
    result = cli("watch", "--log-dir", str(log_dir), "--replay", "--once", "--quiet")
    assert result.returncode == 0, result.stderr.decode()
    found = sorted((a["type"], a["attempt_id"]) for a in alerts(log_dir))
    assert found == [("error_loop", "errors"), ("tool_loop", "same")]  # not stuck, though open and "old"
    loop = next(a for a in alerts(log_dir) if a["type"] == "error_loop")
    assert loop["message"] == "error f repeated 4 times (times not measured)"


def test_real_times_still_bound_an_error_loop_with_made_up_ones_among_them():
    """The window is measured over the occurrences with real times."""
    spread = [ev("a", "error", BASE + i * 400, error_message="boom", error_fingerprint="f") for i in range(3)]
    guessed = {
        **ev("a", "error", BASE + 1, error_message="boom", error_fingerprint="f"),
        "timestamp_quality": "approximate",
    }
    engine = Engine(WatchConfig(stuck_threshold_ms=3_600_000))
    assert engine.feed([encode(e) for e in spread + [guessed]]) == []  # real ones 800 s apart: over 600 s
    close = [ev("b", "error", BASE + i, error_message="boom", error_fingerprint="f") for i in range(3)]
    found = engine.feed([encode(e) for e in close + [{**guessed, "attempt_id": "b"}]])
    assert [a.message for a in found] == ["error f repeated 4 times within 600 s"]


# -- a writer's clock: clamped on write, bounded on read, never in the checkpoint -------------------


@pytest.mark.parametrize("via", ["emit", "another writer"])
def test_one_clock_hours_ahead_blinds_nobody_and_stays_out_of_the_checkpoint(cli, log_dir, via):
    """`emit output --timestamp` two hours ahead while `watch` follows: no attempt is stuck,
    the error loop of another attempt is still found (its first errors came before the skewed
    event), and the checkpoint holds no time past the tolerance. Through the recorder the time
    is clamped on write; a writer that bypasses it is bounded on read."""
    log_dir.mkdir(parents=True)
    (log_dir / STREAM).touch()
    dog, thread, ticks = _follow(log_dir)

    def record(attempt: str, kind: str, ahead: float = 0, **data) -> None:
        count, seen = dog.engine.events + 1, ticks[0]
        if via == "emit":
            verb = {"session_start": "start", "error": "error", "agent_output": "output"}[kind]
            args = {"error": ["-m", data.get("error_message", "")], "agent_output": ["--text", "x"]}.get(kind, [])
            stamp = ["--timestamp", iso(time.time() + ahead)] if ahead else []
            assert cli("emit", verb, "-a", attempt, *args, *stamp, "--log-dir", str(log_dir)).returncode == 0
        else:
            write(log_dir / STREAM, ev(attempt, kind, time.time() + ahead, **data))
        assert wait_for(lambda: dog.engine.events == count and ticks[0] > seen, timeout=30)

    try:
        assert wait_for(lambda: ticks[0] > 0)
        record("skewed", "session_start")
        record("looping", "session_start")
        for _ in range(2):
            record("looping", "error", error_message="fatal: not a git repository")
        record("skewed", "agent_output", ahead=7200, output="from a clock two hours ahead")
        for _ in range(2):
            record("looping", "error", error_message="fatal: not a git repository")
        record("skewed", "agent_output", output="back to the real time")
    finally:
        _stop(dog, thread)
    assert sorted((a["type"], a["attempt_id"]) for a in alerts(log_dir)) == [("error_loop", "looping")]
    saved = json.loads(json.loads((log_dir / "state" / "watch.checkpoint.json").read_bytes())["extra"]["engine"])
    bound = time.time() + 300
    assert saved["clock"] <= bound and all(attempt["last_time"] <= bound for _, attempt in saved["active"])


def test_far_future_and_far_past_lines_in_the_stream(cli, log_dir):
    """Lines written by something that bypassed the recorder: 9999-12-31 is read as of when it
    was read (no "no event for 4193434415.9 min" for anyone), 0001-01-01 as untimed."""
    now = time.time()
    write(
        log_dir / STREAM,
        ev("future", "session_start", now - 5),
        {**ev("future", "agent_output", now), "timestamp": "9999-12-31T23:59:59Z"},
        ev("future", "agent_output", now - 1),
        {**ev("past", "session_start", now), "timestamp": "0001-01-01T00:00:00Z"},
        ev("past", "agent_output", now - 2),
        *[ev("loop", "error", now - 4 + i, error_message="boom", error_fingerprint="f") for i in range(4)],
    )
    result = cli("watch", "--log-dir", str(log_dir), "--replay", "--once", "--quiet")
    assert result.returncode == 0, result.stderr.decode()
    assert [(a["type"], a["attempt_id"]) for a in alerts(log_dir)] == [("error_loop", "loop")]
    assert "2 events dated before 2000 or more than 300 s after they were read" in result.stderr.decode()
    saved = json.loads(json.loads((log_dir / "state" / "watch.checkpoint.json").read_bytes())["extra"]["engine"])
    assert saved["clock"] <= time.time() + 300
