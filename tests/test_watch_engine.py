"""The native engine's public behaviour: odd and malformed lines inside a big batch, event
identities in snapshots, Python detectors on the slow path, snapshots of older engines."""

from __future__ import annotations

import json
import os
import random
import signal
import time

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from watchkit import BASE, ev, iso
from watchgen import stream

from agentlog.events import Alert, encode
from agentlog.watch import Engine, WatchConfig
from agentlog.watch.detectors import BaseDetector, Finding, load_detectors
from agentlog.watch.view import Malformed

ODD = [
    b"not json",
    b"[1, 2]",
    b"",
    b"   ",
    b'{"data": "x", "attempt_id": "a"}',
    b"\xef\xbb\xbf" + encode(ev("bom", "session_start", BASE)),
    encode({**ev("x", "error", BASE, error_message="boom"), "attempt_id": 7}),
    encode({**ev("x", "error", BASE, error_message="boom"), "data": None}),
    encode({**ev("x", "session_start", BASE), "attempt_id": ""}),
]


def _rows(alerts) -> list[list]:
    return [[a.alert_id, a.type, a.attempt_id, a.severity, a.event_time, a.message] for a in alerts]


def _reference(lines: list[bytes]) -> tuple[list, Engine]:
    """Every line on its own."""
    engine, found = Engine(WatchConfig()), []
    for line in lines:
        found += engine.feed([line])
    return found, engine


def test_a_few_odd_lines_in_a_big_batch_keep_order_counts_and_alerts():
    lines = [encode(ev("loop", "session_start", BASE))]
    lines += [
        encode(ev("loop", "error", BASE + i, error_message=f"fatal: repo {i % 2} missing")) for i in range(1, 2000)
    ]
    rng = random.Random(3)
    for odd in ODD:  # scattered: each breaks the batch's one-call decoding
        lines.insert(rng.randrange(len(lines)), odd)
    expected, reference = _reference(lines)
    engine = Engine(WatchConfig())
    found = engine.feed(lines)
    assert _rows(found) == _rows(expected) and found
    assert (engine.events, engine.malformed, engine.ignored) == (
        reference.events,
        reference.malformed,
        reference.ignored,
    )
    assert engine.malformed == 5  # not JSON, not an object, no event_type, attempt_id not text, data null


def test_malformed_lines_are_reported_with_their_index_and_reason():
    good = [encode(ev(f"a{i}", "agent_output", BASE + i, output="x")) for i in range(1000)]
    told: list[Malformed] = []
    engine = Engine(WatchConfig())
    engine.feed(good[:500] + [b"not json", b"   "] + good[500:] + [ODD[6]], told.append)
    assert told == [
        Malformed(500, "not valid JSON (expected ident at byte 1)"),
        Malformed(1002, "not an event (Expected `str | null`, got `int` at attempt_id)"),
    ]
    assert (engine.events, engine.malformed, engine.ignored, len(engine.active)) == (1000, 2, 0, 1000)


def test_a_chunk_is_read_up_to_the_end_given():
    lines = [encode(ev(f"a{i}", "agent_output", BASE + i, output="x")) for i in range(3)]
    chunk = b"\n".join(lines) + b'\n{"timestamp": "2026-01-0'  # as read: the next line begun
    told: list[Malformed] = []
    engine = Engine(WatchConfig())
    engine.feed(chunk, told.append, end=chunk.rindex(b"\n") + 1)
    assert (engine.events, engine.malformed, told) == (3, 0, [])
    with pytest.raises(ValueError, match="past the"):
        engine.feed(chunk, end=len(chunk) + 1)
    with pytest.raises(ValueError, match="one bytes object"):
        engine.feed(lines, end=1)
    assert engine.events == 3


def test_a_chunk_in_a_reused_buffer_is_judged_as_the_same_bytes():
    """The tailer reads into one buffer and hands out views of it: the engine judges what the
    view held when given, whatever the buffer holds later."""
    lines = stream(seed=3)
    chunks = [b"\n".join(lines[i : i + 50]) + b"\n" for i in range(0, len(lines), 50)]
    reference = Engine(WatchConfig())
    from_bytes = [alert for chunk in chunks for alert in reference.feed(chunk)]
    engine, buffer, found = Engine(WatchConfig()), bytearray(max(map(len, chunks)) + 9), []
    for chunk in chunks:
        buffer[: len(chunk) + 9] = chunk + b'{"event_'  # the next line begun
        found += engine.feed(memoryview(buffer)[: len(chunk) + 9], end=len(chunk))
        buffer[:] = bytes(len(buffer))  # the next read
    assert found and _rows(found) == _rows(from_bytes)
    assert (engine.events, engine.malformed) == (reference.events, reference.malformed)


@pytest.mark.skipif(not hasattr(os, "fork") or (os.cpu_count() or 1) < 2, reason="needs fork and two cores")
def test_a_forked_child_judges_big_batches_on_threads_of_its_own():
    """A big batch is judged on threads that live on; a forked child has none of them, and
    must neither wait for them forever nor judge differently."""
    lines = [encode(ev(f"a{i % 50}", "agent_output", BASE + i, output="x")) for i in range(5000)]
    chunk = b"\n".join(lines) + b"\n"
    engine = Engine(WatchConfig())
    engine.feed(chunk)  # the parent's threads are started
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        child = Engine(WatchConfig())
        child.feed(chunk)
        os._exit(0 if child.events == 5000 else 1)
    deadline = time.monotonic() + 60
    while (done := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    if done[0] == 0:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail("the forked child never finished its batch")
    assert os.waitstatus_to_exitcode(done[1]) == 0
    engine.feed(chunk)
    assert engine.events == 10_000


def test_messy_stream_in_one_batch_agrees_with_small_batches():
    lines = stream(seed=3)
    whole = Engine(WatchConfig())
    found = whole.feed(lines)
    small = Engine(WatchConfig())
    parts = []
    for i in range(0, len(lines), 7):
        parts += small.feed(lines[i : i + 7])
    assert _rows(found) == _rows(parts)
    assert (whole.events, whole.malformed, whole.ignored) == (small.events, small.malformed, small.ignored)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 50), st.lists(st.integers(0, 400), max_size=6), st.booleans())
def test_lines_given_as_one_bytes_object_are_the_lines_given_as_a_list(seed, cuts, last_newline):
    """The tailer hands the engine whole lines in one bytes object: cut at the newlines, they
    are the same lines, with the same alerts, counts and malformed indices."""
    lines = stream(seed=seed)
    for i, odd in enumerate(ODD):
        lines.insert((seed * 7 + i * 31) % (len(lines) + 1), odd)
    bounds = [0, *sorted(min(c, len(lines)) for c in cuts), len(lines)]
    as_list, as_bytes = Engine(WatchConfig()), Engine(WatchConfig())
    told_list: list[Malformed] = []
    told_bytes: list[Malformed] = []
    found_list, found_bytes = [], []
    for start, end in zip(bounds, bounds[1:]):
        part = lines[start:end]
        found_list += as_list.feed(part, told_list.append)
        data = b"".join(line + b"\n" for line in part)
        if not last_newline and end == len(lines):
            data = data[:-1]  # an archive's last line may lack it
        found_bytes += as_bytes.feed(data, told_bytes.append)
    assert _rows(found_bytes) == _rows(found_list)
    assert told_bytes == told_list
    assert (as_bytes.events, as_bytes.malformed, as_bytes.ignored) == (
        as_list.events,
        as_list.malformed,
        as_list.ignored,
    )


def test_a_snapshot_round_trips_through_json_with_event_ids():
    engine = Engine(WatchConfig())
    a = ev("a", "session_start", BASE)
    engine.feed([encode(a), encode({**ev("b", "session_start", BASE), "event_id": None, "sequence_num": 4})])
    assert engine.active.get("b").last_id == f"{a['timestamp']}#4"
    assert engine.active.get("a").last_id == a["event_id"]
    snapshot = json.loads(msgspec.json.encode(engine.snapshot()))  # as the checkpoint stores it
    restored = Engine(WatchConfig())
    assert restored.restore(snapshot)
    stuck = [a.alert_id for a in engine.tick(BASE + 1000)]
    assert stuck and [a.alert_id for a in restored.tick(BASE + 1000)] == stuck


class _Spender(BaseDetector):
    """A Python detector (as a plugin writes one): a method per event type, state kept across
    sessions, a clock check, one executor only."""

    name = "spender"
    keep_after_end = True
    idle_after_s = 50.0
    executors = frozenset({"CODEX"})

    class State(msgspec.Struct):
        calls: int = 0

    State = State

    def handlers(self):
        return {"tool_call": self.on_call}

    def on_call(self, event, t, attempt):
        state = self.state(attempt)
        state.calls += 1
        if state.calls % 3:
            return None
        return Finding("spender", event.data.tool_name, "low", "manual_review", {"occurrences": state.calls})

    def on_clock(self, attempt, now):
        attempt.idle_alerted = True
        return Finding("quiet_spender", "", "low", "manual_review", {"message": "quiet"}, trigger=attempt.last_id)


def test_a_python_detector_runs_on_the_slow_path_with_the_same_rules():
    config = WatchConfig(stuck_threshold_ms=0)
    engine = Engine(config, [_Spender(config)])
    calls = [ev("a", "tool_call", BASE + i, tool_name="bash", executor="CODEX") for i in range(6)]
    other = [ev("b", "tool_call", BASE + i, tool_name="bash", executor="CLAUDE_CODE") for i in range(6)]
    found = engine.feed([encode(e) for e in calls + other])
    # the second alert of one key falls within the cooldown; another executor's events never reach it
    assert [(a.type, a.attempt_id, a.occurrences, a.tool_name) for a in found] == [("spender", "a", 3, None)]
    assert found[0].key == "spender|a|bash" and found[0].event_time == iso(BASE + 2)
    assert engine.active.get("a").slots["spender"].calls == 6
    # its state outlives the session (keep_after_end) and travels in the snapshot
    engine.feed([encode(ev("a", "session_end", BASE + 7, executor="CODEX"))])
    restored = Engine(config, [_Spender(config)])
    assert restored.restore(json.loads(msgspec.json.encode(engine.snapshot())))
    restored.feed([encode(ev("a", "session_start", BASE + 8, executor="CODEX"))])
    assert restored.active.get("a").slots["spender"].calls == 6
    quiet = restored.tick(BASE + 100)
    assert sorted((a.type, a.attempt_id) for a in quiet) == [("quiet_spender", "a"), ("quiet_spender", "b")]


def test_odd_values_that_used_to_crash_a_detector_are_malformed_lines():
    engine = Engine(WatchConfig())
    found = engine.feed(
        [
            encode(ev("a", "session_start", BASE, prompt_type=["retry"])),
            encode(ev("b", "usage", BASE, cost_usd=1e308)),
            encode(ev("b", "usage", BASE, cost_usd=1e308)),
            encode(ev("c", "usage", BASE, cost_usd=3.0)),
        ]
    )
    # a list for a text, costs past any real one: skipped as malformed; c is still judged
    assert [(a.type, a.attempt_id) for a in found] == [("cost_anomaly", "c")]
    assert engine.malformed == 3


def test_a_snapshot_of_an_older_engine_is_not_restored():
    """The Python engine's snapshots (version 2, or none) are left out: the caller rebuilds the
    cooldowns from the journal (`remember`), test_watch_crash proves no alert is sent twice."""
    legacy = {
        "version": 2,
        "clock": BASE + 100,
        "active": [["live", {"executor": "CODEX", "last_time": BASE + 100, "last_id": "e1"}]],
        "parked": [],
        "ended": [["done", {"slots": {"excessive_restarts": [2]}}]],
    }
    engine = Engine(WatchConfig())
    assert not engine.restore(json.loads(encode(legacy)))
    assert not engine.restore({"clock": BASE, "cooldowns": []})
    assert len(engine.active) == 0 and engine.clock == 0


def test_cooldowns_outlive_the_session_and_come_back_with_a_new_one():
    """An attempt that ends within the cooldown of an alert and starts again does not repeat
    the alert, also when the cooldown came from the journal and the session left no state."""
    config = WatchConfig(stuck_threshold_ms=0)
    engine = Engine(config, load_detectors(config, ["error_loop"]))  # nothing keeps state past the session
    engine.remember(
        Alert(
            timestamp="t",
            type="error_loop",
            attempt_id="a",
            severity="high",
            recommendation="r",
            key="error_loop|a|f",
            event_time=iso(BASE),
        )
    )
    engine.feed([encode(ev("a", "session_start", BASE)), encode(ev("a", "session_end", BASE + 1))])
    again = [ev("a", "session_start", BASE + 2)] + [
        ev("a", "error", BASE + 3 + i, error_message="boom", error_fingerprint="f") for i in range(4)
    ]
    assert engine.feed([encode(e) for e in again]) == []
    later = [ev("a", "error", BASE + 400 + i, error_message="boom", error_fingerprint="f") for i in range(4)]
    assert [a.type for a in engine.feed([encode(e) for e in later])] == ["error_loop"]


def test_python_detectors_on_a_batch_read_on_every_core_agree_with_one_line_at_a_time():
    """A big batch is read on every core: a Python detector is then called from the reading
    threads (one attempt's events in order); its alerts are those of one line at a time, and
    an exception it raises comes out of `feed`."""
    config = WatchConfig(stuck_threshold_ms=0)
    lines = [
        encode(ev(f"a{i % 40}", "tool_call", BASE + i, tool_name=f"t{i % 3}", executor="CODEX")) for i in range(3000)
    ]
    expected, parallel = [], Engine(config, [_Spender(config), *load_detectors(config, ["tool_loop"])])
    one = Engine(config, [_Spender(config), *load_detectors(config, ["tool_loop"])])
    for line in lines:
        expected += one.feed([line])
    found = parallel.feed(b"\n".join(lines))
    assert _rows(found) == _rows(expected) and {a.type for a in found} == {"spender", "tool_loop"}
    assert [parallel.active.get(f"a{i}").slots["spender"].calls for i in range(40)] == [75] * 40

    class Failing(_Spender):
        def on_call(self, event, t, attempt):
            if event.attempt_id == "a7" and self.state(attempt).calls == 5:
                raise ValueError("a bug in a plugin")
            return super().on_call(event, t, attempt)

    with pytest.raises(ValueError, match="^a bug in a plugin$"):
        Engine(config, [Failing(config)]).feed(b"\n".join(lines))
