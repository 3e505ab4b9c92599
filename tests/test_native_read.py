"""The native line decoder (native/src/read.rs) against the Python one it replaced.

`previous_decode_line` is the decoder every reader used before the port (msgspec, bounded by
`jsonline`, checked against ReadEvent / Alert): on the hostile-line corpus and on random
bytes the native one keeps and skips the same lines, keeps them as the same dicts, and
blames the same field with the same words (the wording of JSON syntax errors aside: that was
msgspec's and is serde_json's now). The schema the native decoder checks is the Python
structs' one: a field added to ReadEvent, ReadData or Alert and not to read.rs fails here.
"""

from __future__ import annotations

import gzip
import json
import os

import msgspec
import pytest
from hostilekit import ATTEMPT, good_lines, run, skipped_lines, watch, write_logs
from hypothesis import HealthCheck, given, settings, strategies as st
from test_fuzz_readers import hostile

from agentlog import _core, jsonline
from agentlog.events import Alert, EventError, ReadData, ReadEvent, decode_line
from agentlog.store import layout
from agentlog.store.reader import ReadReport, read_file
from agentlog.watch.view import decode_or_why

EXAMPLES = int(os.environ.get("AGENTLOG_FUZZ_EXAMPLES", "10"))
_any = msgspec.json.Decoder()


def previous_decode_line(line: bytes, schema: type = ReadEvent) -> dict:
    """events.decode_line before the native decoder (the reference)."""
    from agentlog.events import _field_error

    line = line.removeprefix(b"\xef\xbb\xbf")
    try:
        obj = jsonline.decode(line, _any)
    except msgspec.DecodeError as exc:
        raise EventError("line", f"not valid JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise EventError("line", f"expected a JSON object, got {type(obj).__name__}")
    try:
        msgspec.convert(obj, schema)
    except msgspec.ValidationError as exc:
        raise _field_error(exc, obj) from None
    return obj


def outcome(decode, line: bytes, schema: type = ReadEvent):
    try:
        return "kept", decode(line, schema)
    except EventError as exc:
        json_syntax = exc.field == "line" and exc.reason.startswith("not valid JSON")
        return "skipped", exc.field, None if json_syntax else exc.reason


def same_as_before(line: bytes, schema: type = ReadEvent) -> None:
    assert outcome(decode_line, line, schema) == outcome(previous_decode_line, line, schema), line[:300]


@settings(max_examples=20 * EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile)
def test_hostile_lines_are_kept_or_skipped_as_before(case):
    _, raw, _ = case
    if raw.strip():
        same_as_before(raw)


@settings(max_examples=50 * EXAMPLES, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_are_kept_or_skipped_as_before(raw):
    same_as_before(raw)
    same_as_before(raw, Alert)


_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 10**13),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=5),
)
_value = st.recursive(
    _scalar,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=3), inner, max_size=3)),
    max_leaves=8,
)
_EVENT_FIELDS = list(ReadEvent.__struct_fields__)
_DATA_FIELDS = list(ReadData.__struct_fields__) + ["output", "tool_params"]
_ALERT_FIELDS = list(Alert.__struct_fields__)


@settings(max_examples=50 * EXAMPLES, deadline=None)
@given(
    st.dictionaries(st.sampled_from(_EVENT_FIELDS + ["model", "x"]), _value, max_size=6),
    st.dictionaries(st.sampled_from(_DATA_FIELDS), _value, max_size=4),
    st.booleans(),
)
def test_every_field_of_the_schema_is_checked_as_before(envelope, data, with_data):
    if with_data:
        envelope["data"] = data
    same_as_before(json.dumps(envelope).encode())


@settings(max_examples=30 * EXAMPLES, deadline=None)
@given(st.dictionaries(st.sampled_from(_ALERT_FIELDS + ["x"]), _value, max_size=8))
def test_alert_lines_are_checked_as_before(alert):
    same_as_before(json.dumps(alert).encode(), Alert)


@pytest.mark.parametrize(
    "schema, fields", [(ReadEvent, _EVENT_FIELDS), (ReadData, list(ReadData.__struct_fields__)), (Alert, _ALERT_FIELDS)]
)
def test_the_native_schema_is_the_python_structs_one(schema, fields):
    """Each field of the struct is checked (a wrong type is blamed on it); others are not."""
    base = {"event_type": "x"} if schema is not Alert else {name: "x" for name in fields[:5]}
    for name in fields:
        wrong = {**base, "data": {name: [1]}} if schema is ReadData else {**base, name: [1]}
        with pytest.raises(EventError, match=f"at {'data.' if schema is ReadData else ''}{name}$"):
            decode_line(json.dumps(wrong).encode(), Alert if schema is Alert else ReadEvent)
    assert decode_line(json.dumps({**base, "not_in_the_schema": [1]}).encode(), Alert if schema is Alert else ReadEvent)


def test_the_watchdog_skips_what_cat_skips_for_the_same_reason():
    wrong = (
        b'{"timestamp": "2026-01-01T00:00:03.100Z", "event_type": "usage", "attempt_id": "a", "data": {"cost_usd": -2}}'
    )
    assert decode_or_why(wrong) == "not an event (Expected `float` >= 0.0 (got -2) at data.cost_usd)"
    with pytest.raises(EventError, match=r"data: Expected `float` >= 0.0 \(got -2\) at data.cost_usd"):
        decode_line(wrong)
    assert decode_or_why(b"[1]") == "expected a JSON object, got list"
    assert decode_or_why(b"\xef\xbb\xbf" + good_lines()[0]).attempt_id == ATTEMPT


def test_a_damaged_archive_keeps_what_was_read_and_says_where_it_broke(tmp_path):
    """A cut .gz archive is reported (file, line; the watchdog: file, byte) and reading goes
    on with the next file."""
    log_dir = tmp_path / "logs"
    good = good_lines()
    stream = write_logs(log_dir, good[3:])
    folder = log_dir / layout.ARCHIVE
    folder.mkdir(parents=True)
    packed = gzip.compress(b"\n".join(good[:3] * 20000) + b"\n")
    archive = folder / "agent-work-stream-20260101T000000Z.jsonl.gz"
    archive.write_bytes(packed[: len(packed) // 2])
    report = ReadReport()
    kept = list(read_file(archive, report))
    assert kept and len(report.bad) == 1 and report.bad[0].reason.startswith("unreadable: ")
    assert report.bad[0].line == len(kept) + 1
    seen = run("cat", "--log-dir", str(log_dir))
    assert seen.error is None and seen.code == 0, seen.err
    assert skipped_lines(seen.err, archive) == [len(kept) + 1]
    assert seen.out.count(ATTEMPT) >= len(kept) + len(good) - 3
    assert stream.exists()
    # the watchdog's first replay reads the archive too: it reports the damage and goes on
    seen, events, malformed = watch(log_dir)
    assert seen.error is None and seen.code == 0, seen.err
    assert f"{archive}: unreadable after uncompressed byte " in seen.err
    assert events >= len(good) - 3 and malformed == 0


def test_the_worst_lines_are_answered_in_python_terms():
    """Huge depth, unclosed openings, broken UTF-8: every entry point reports, none aborts
    (a panic, should one happen, is caught per line in read.rs: `decode_guarded`)."""
    worst = [b"[" * 1_000_000, b"{" * 100_000, b'{"a":' * 200_000, b"\xff" * 10, b"1" * 100_000, b'"' + b"\\" * 9999]
    items = _core.decode_chunk(b"\n".join(worst) + b"\n")
    assert [type(item) for item in items] == [tuple] * len(worst)
    assert all(_core.line_problem(line) is not None for line in worst)
    with pytest.raises(_core.LineError):
        _core.decode_line(worst[0])
