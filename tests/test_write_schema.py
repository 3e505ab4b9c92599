"""The recorder's native schema check never takes what msgspec (events.validate) refuses,
and takes what it accepts when the values are plain; lines recorded as they came
(`agentlog emit -`) are the events the dict path writes; and a plain event, its stamps
appended to msgspec's line, is written as the dict path writes it."""

from __future__ import annotations

import json
import math

import msgspec
from hypothesis import HealthCheck, given, settings, strategies as st

from agentlog import _core, config
from agentlog.events import _CHECKS, DATA_SPECS, EventError, write_schema
from agentlog.recorder import Recorder
from agentlog.store import layout

from conftest import read_jsonl

ENVELOPE = ["timestamp", "timestamp_quality", "timestamp_original", "event_id", "session_id", "task_id"]
ENVELOPE += ["executor", "model", "branch", "elapsed_ms", "sequence_num"]
DATA = sorted({name for spec in DATA_SPECS.values() for name in spec.__struct_fields__} | {"outcome", "custom"})

# every kind of value a writer sends, the edges of the bounds among them
NUMBERS = st.sampled_from(
    [0, 1, -1, 0.5, -0.0, 10**12, 10**12 + 1, 2**53, 2**53 + 1, 2**70, 1e6, 1e6 + 1, 3.15e11, 4e11]
)
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    NUMBERS,
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.just({}),
    st.just({"k": 1}),
    st.just({1: "int key"}),
    st.just([1, "x"]),
)


@st.composite
def events(draw, plain: bool = False):
    values = st.one_of(st.none(), st.text(max_size=8), NUMBERS) if plain else VALUES
    event = {"event_type": draw(st.sampled_from(sorted(_CHECKS) + ["nonsense"]))}
    if draw(st.booleans()):
        event["attempt_id"] = draw(st.text(max_size=4) if not plain else st.just("a"))
    for name in draw(st.lists(st.sampled_from(ENVELOPE), max_size=4, unique=True)):
        event[name] = draw(values)
    shape = draw(st.sampled_from(["dict", "absent"] + ([] if plain else ["null", "list"])))
    if shape != "absent":
        data = {name: draw(values) for name in draw(st.lists(st.sampled_from(DATA), max_size=5, unique=True))}
        event["data"] = {"dict": data, "null": None, "list": [data]}[shape]
    return event


def msgspec_accepts(event: dict) -> bool:
    kind = event.get("event_type")
    if kind not in _CHECKS:
        return False
    event = {**event, "data": {} if event.get("data") is None else event["data"]}  # as validate does
    try:
        msgspec.convert(event, _CHECKS[kind])
        return True
    except msgspec.ValidationError:
        return False


@settings(max_examples=1500, deadline=None)
@given(events())
def test_the_native_check_never_takes_what_msgspec_refuses(event):
    if write_schema().accepts({**event, "data": {} if event.get("data") is None else event["data"]}):
        assert msgspec_accepts(event), event


@settings(max_examples=800, deadline=None)
@given(events(plain=True))
def test_the_native_check_takes_what_msgspec_takes_when_values_are_plain(event):
    event = {**event, "data": event.get("data") or {}}
    assert write_schema().accepts(event) == msgspec_accepts(event), event


@settings(max_examples=800, deadline=None)
@given(events())
def test_a_json_line_is_checked_as_its_decoded_dict_is(event):
    try:
        line = json.dumps(event, allow_nan=False).encode()
    except (ValueError, TypeError):
        return  # not JSON: the reader refuses it before any check
    if write_schema().accepts_line(line):
        assert msgspec_accepts(json.loads(line)), line


def test_the_check_refuses_what_the_schema_bounds_and_types_forbid():
    base = {"event_type": "usage", "attempt_id": "a"}
    assert write_schema().accepts({**base, "data": {"input_tokens": 5, "cost_usd": 0.25}})
    assert write_schema().accepts({"event_type": "tool_result", "attempt_id": "a", "data": {"result_data": None}})
    for data in ({"input_tokens": True}, {"input_tokens": 1.0}, {"input_tokens": -1}, {"cost_usd": math.nan}):
        assert not write_schema().accepts({**base, "data": data}), data
    assert not write_schema().accepts({"event_type": "tool_call", "attempt_id": "a", "data": {}})  # tool_name


# --- lines as they came, beside the dict path ------------------------------------------------

TIMES = st.sampled_from(["2026-01-05T10:00:00.000Z", "2026-01-05T10:00:01.250Z", "2026-01-05T11:00:00+01:00"])


@st.composite
def stream_lines(draw):
    """Lines `agentlog emit -` meets: mostly events, some refused, some needing the dict path."""
    lines = []
    for _ in range(draw(st.integers(1, 12))):
        kind = draw(st.sampled_from(["tool_call", "agent_output", "usage", "error", "session_end", "bad"]))
        event = {
            "attempt_id": draw(st.sampled_from(["a", "b", "c/../d"])),
            "event_type": kind,
            "timestamp": draw(TIMES),
        }
        data = {
            "tool_call": {"tool_name": draw(st.sampled_from(["bash", 7])), "tool_params": {"cmd": "ls -la"}},
            "agent_output": {"output": draw(st.text(max_size=20))},
            "usage": {"input_tokens": draw(st.sampled_from([10, -1, 2.5])), "cost_usd": 0.001},
            "error": {"error_message": "npm ERR! code E404"},
            "session_end": {"completion_status": draw(st.sampled_from(["success", "done", "weird"]))},
            "bad": {},
        }[kind]
        if kind == "bad":
            event["event_type"] = "nonsense"
        if draw(st.booleans()):
            event["data"] = data
        for name, value in draw(
            st.dictionaries(
                st.sampled_from(["executor", "model", "sequence_num", "custom"]),
                st.sampled_from(["CODEX", None, 3, {"n": [1, 2.5]}]),
                max_size=2,
            )
        ).items():
            event[name] = value
        lines.append(json.dumps(event, ensure_ascii=draw(st.booleans())))
        if draw(st.integers(0, 9)) == 0:
            lines.append(draw(st.sampled_from(["", "not json", "[1]", '{"event_type": "tool_call", "attempt_id": 5}'])))
    return lines


def _written(log_dir) -> dict[str, list[dict]]:
    files = {}
    for path in sorted(log_dir.rglob("*.jsonl")):
        drop = ("event_id", "generated_at")
        files[str(path.relative_to(log_dir))] = [
            {k: v for k, v in e.items() if k not in drop} for e in read_jsonl(path)
        ]
    return files


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stream_lines())
def test_lines_recorded_as_they_came_are_what_the_dict_path_writes(tmp_path_factory, lines):
    """`Recorder.record_chunk` (serde, no dicts) against decoding each line and `record_many`."""
    fast, slow = tmp_path_factory.mktemp("fast"), tmp_path_factory.mktemp("slow")
    data = ("\n".join(lines) + "\n").encode()
    refused_fast, refused_slow = [], []
    with Recorder(config.load(environ={}), log_dir=fast) as rec:
        recorded = rec.record_chunk(data, 1, lambda n, exc: refused_fast.append((n, str(exc))))
    events, numbers = [], []
    with Recorder(config.load(environ={}), log_dir=slow) as rec:
        for number, item in enumerate(_core.decode_chunk(data), 1):
            if isinstance(item, dict):
                events.append(item)
                numbers.append(number)
            elif item is not None:
                refused_slow.append((number, str(EventError(*item))))
        done = rec.record_many(events, lambda i, exc: refused_slow.append((numbers[i], str(exc))))
    assert recorded == len(done)
    assert sorted(refused_fast) == sorted(refused_slow)
    assert _written(fast) == _written(slow)
    assert (fast / layout.STREAM).exists() == bool(recorded)


# --- the plain path, beside the dict path --------------------------------------------------

CONTEXT_TEXT = st.one_of(st.none(), st.text(max_size=6), st.sampled_from(['q"u\\o\n\u2028', "\x00\x1f\x7f", "é😀"]))


@st.composite
def attempt_events(draw):
    """Events as writers send them one at a time: plain ones (the pipeline appends its stamps to
    msgspec's line) among those the dict path takes (errors, ends, a time to clamp, a stamped
    field given as null, values the native check refuses)."""
    event = {
        "attempt_id": draw(st.sampled_from(["a", "b"])),
        "event_type": draw(st.sampled_from(["tool_call", "agent_output", "usage", "error", "session_end"])),
    }
    data = {
        "tool_call": {"tool_name": "bash", "tool_params": {"cmd": draw(st.text(max_size=8))}},
        "agent_output": {"output": draw(st.text(max_size=8))},
        "usage": {"input_tokens": draw(st.sampled_from([10, 2**60])), "cost_usd": 0.25},
        "error": {"error_message": "npm ERR! code E404"},
        "session_end": {"completion_status": draw(st.sampled_from(["success", "done"]))},
    }[event["event_type"]]
    if draw(st.booleans()):
        event["data"] = draw(st.sampled_from([data, None]))
    fields = st.sampled_from(["executor", "model", "task_title", "session_id", "timestamp", "event_id"])
    for name in draw(st.lists(fields | st.sampled_from(["sequence_num", "elapsed_ms"]), max_size=4, unique=True)):
        event[name] = {
            "timestamp": draw(
                st.sampled_from(
                    ["2026-01-05T10:00:00.000Z", "2026-01-05T11:00:00+01:00", "2999-01-01T00:00:00.000Z", None]
                )
            ),
            "event_id": draw(st.sampled_from(["given-id", None])),
            "sequence_num": draw(st.sampled_from([7, None])),
            "elapsed_ms": draw(st.sampled_from([5, None])),
        }.get(name, draw(CONTEXT_TEXT))
    return event


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(attempt_events(), min_size=1, max_size=8))
def test_the_plain_path_writes_the_bytes_the_dict_path_writes(tmp_path_factory, events):
    """Each line is msgspec's encoding of the event returned, and the dict path (which every
    event takes when a processor is added) gives the same keys in the same order, the same
    values but for the clock's."""
    returned = {}
    for path in ("plain", "dict"):
        log_dir = tmp_path_factory.mktemp(path)
        with Recorder(config.load(environ={"AGENT_WORK_REDACT": "false"}), log_dir=log_dir) as rec:
            if path == "dict":
                rec.processors.append(lambda event: event)
            returned[path] = []
            for event in json.loads(json.dumps(events)):
                try:
                    returned[path].append(rec.record(event))
                except EventError as exc:
                    returned[path].append(str(exc))
        written = (log_dir / layout.STREAM).read_bytes().split(b"\n")[:-1] if (log_dir / layout.STREAM).exists() else []
        assert written == [msgspec.json.encode(e) for e in returned[path] if isinstance(e, dict)]

    def shape(event):  # the clock's values (arrival times, fresh ids) left out
        clock = ("timestamp", "event_id", "elapsed_ms")
        return [(k, None if k in clock else v) for k, v in event.items()] if isinstance(event, dict) else event

    assert [shape(e) for e in returned["plain"]] == [shape(e) for e in returned["dict"]]
