"""The engine's batch decoding and dispatch: odd and malformed lines inside a big batch, lazy
event identities in snapshots, detectors with a method per event type."""

from __future__ import annotations

import json
import random

import msgspec
from watchkit import BASE, ev, iso
from watchgen import stream

from agentlog.events import Alert, encode
from agentlog.watch import Engine, WatchConfig
from agentlog.watch.detectors import Attempt, load_detectors
from agentlog.watch.engine import decode_batch
from agentlog.watch.view import Malformed, UsualEvent, WatchEvent, decode

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
    """Every line on its own through the general path."""
    engine, found = Engine(WatchConfig()), []
    for line in lines:
        event = decode(line) if line.strip() else None
        if event is None:
            engine.malformed += bool(line.strip())
            continue
        found += engine.process(event) or []
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


def test_decode_batch_splits_only_around_the_odd_lines():
    good = [encode(ev(f"a{i}", "agent_output", BASE + i, output="x")) for i in range(1000)]
    parts = decode_batch(good[:500] + [b"not json"] + good[500:], [])
    runs = [p for p in parts if type(p) is list]
    assert sum(len(r) for r in runs) == 1000
    assert [p for p in parts if type(p) is Malformed] == [Malformed(500, "not valid JSON (expected ident at byte 1)")]
    assert len(runs) < 40  # runs of usual events, not one line each
    flat = [e for p in parts if type(p) is list for e in p]
    assert [e.attempt_id for e in flat] == [f"a{i}" for i in range(1000)]
    assert all(type(e) is UsualEvent for e in flat)
    odd = decode_batch([ODD[8]], [])
    assert len(odd) == 1 and type(odd[0]) is WatchEvent  # decoded leniently, for the general path


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


def test_snapshot_holds_event_ids_not_events():
    engine = Engine(WatchConfig())
    engine.feed(
        [
            encode(ev("a", "session_start", BASE)),
            encode({**ev("b", "session_start", BASE), "event_id": None, "sequence_num": 4}),
        ]
    )
    snapshot = json.loads(msgspec.json.encode(engine.snapshot()))
    ids = {attempt_id: raw["last_id"] for attempt_id, raw in snapshot["active"]}
    assert ids["b"] == f"{ev('b', 'session_start', BASE)['timestamp']}#4"
    assert isinstance(ids["a"], str) and ids["a"]
    restored = Engine(WatchConfig())
    restored.restore(snapshot)
    stuck = [a.alert_id for a in engine.tick(BASE + 1000)]
    assert stuck and [a.alert_id for a in restored.tick(BASE + 1000)] == stuck


def test_detectors_with_a_method_per_type_answer_on_event_the_same():
    config = WatchConfig(cost_anomaly_threshold=0.5)
    detectors = {d.name: d for d in load_detectors(config)}
    cost = detectors["cost_anomaly"]
    assert set(cost.handlers()) == cost.event_types
    attempt = Attempt()
    usage = msgspec.json.decode(encode(ev("a", "usage", BASE, cost_usd=0.6)), type=WatchEvent)
    assert cost.on_event(usage, BASE, attempt).type == "cost_anomaly"
    assert attempt.slots["cost_anomaly"].cost == 0.6
    other = msgspec.json.decode(encode(ev("a", "agent_output", BASE, output="x")), type=WatchEvent)
    assert cost.on_event(other, BASE, attempt) is None
    for detector in detectors.values():
        assert set(detector.handlers()) == set(detector.event_types)


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


def test_a_checkpoint_from_before_attempts_kept_their_own_cooldowns_restores_the_same():
    """An upgrade continues from the old checkpoint: its global cooldowns go to their attempts
    (active, ended, or not seen yet) and the ended table's kept states come back."""
    legacy = {
        "clock": BASE + 100,
        "active": [["live", {"executor": "CODEX", "last_time": BASE + 100, "last_id": "e1"}]],
        "ended": [["done", {"excessive_restarts": [2]}], ["quiet", None]],
        "cooldowns": [
            ["error_loop|live|f", BASE + 90],
            ["error_loop|done|f", BASE + 50],
            ["error_loop|later|f", BASE + 95],
        ],
    }
    engine = Engine(WatchConfig())
    engine.restore(json.loads(encode(legacy)))
    assert engine.active["live"].cooldowns == {"error_loop|live|f": BASE + 90}
    assert engine.ended["done"].cooldowns == {"error_loop|done|f": BASE + 50} and engine.ended["quiet"] is None
    loops = [
        ev(a, "error", BASE + 100 + i, error_message="boom", error_fingerprint="f")
        for a in ("live", "later")
        for i in range(4)
    ]
    assert engine.feed([encode(e) for e in loops]) == []  # within the cooldown of the alerts already raised
    found = engine.feed([encode(ev("done", "session_start", BASE + 120, prompt_type="retry"))])
    assert [(a.type, a.occurrences) for a in found] == [("excessive_restarts", 3)]  # counted on from 2


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
