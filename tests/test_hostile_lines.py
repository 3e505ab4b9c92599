"""Hostile lines from other writers: nested too deep, wrong-typed fields, numbers out of range.

Each is one malformed line for every reader (counted, reported with file and line or byte,
skipped, the lines around it kept), and numbers are checked where they enter (issue 16).
"""

from __future__ import annotations

import json
import math
import os

import pytest
from conftest import peak_of
from hostilekit import (
    ATTEMPT,
    claude_records,
    dashboard,
    good_lines,
    import_claude,
    offsets,
    run,
    skipped_lines,
    told_offsets,
    watch,
    write_logs,
)
from hypothesis import given, settings, strategies as st

from agentlog import jsonline
from agentlog.events import EventError
from agentlog.store import layout
from agentlog.store.alerts import read_alerts
from agentlog.store.cursor import MAX_LINE

DEEP = (
    b'{"timestamp": "2026-01-01T00:00:03.500Z", "event_type": "tool_call", "attempt_id": "fz-1", '
    b'"data": {"tool_name": "Bash", "tool_params": ' + b"[" * 5000 + b"]" * 5000 + b"}}"
)
EXAMPLES = int(os.environ.get("AGENTLOG_FUZZ_EXAMPLES", "10"))


def nested(depth: int, where: str = "extra") -> bytes:
    """A valid event whose `where` field nests `depth` levels in all (the event itself is one)."""
    value: object = 1
    for i in range(depth - 1 - (where == "data")):
        value = [value] if i % 2 else {"k": value}
    event = {
        "timestamp": "2026-01-01T00:00:03.500Z",
        "event_type": "agent_output",
        "attempt_id": ATTEMPT,
        "data": {"output": "x"},
    }
    if where == "data":
        event["data"] = {"output": "x", "deep": value}
    else:
        event[where] = value
    return json.dumps(event).encode()


# --- nested too deep (issue 16 High 2) ----------------------------------------------------------


def test_a_line_nested_5000_deep_is_one_malformed_line_for_every_reader(tmp_path):
    log_dir = tmp_path / "logs"
    good = good_lines()
    lines = good[:3] + [DEEP] + good[3:] + [DEEP]
    stream = write_logs(log_dir, lines)
    bad_at = [4, len(lines)]

    seen, events, malformed = watch(log_dir)
    assert seen.error is None and seen.code == 0 and (events, malformed) == (len(good), 2)
    assert told_offsets(seen.err, stream) == [offsets(lines)[n - 1] for n in bad_at]
    assert "nested deeper than 64 levels" in seen.err
    with stream.open("ab") as handle:  # a restart continues past it, at its checkpoint
        handle.write(good[0].replace(b'"fz-1"', b'"fz-2"') + b"\n" + DEEP + b"\n")
    seen, events, malformed = watch(log_dir)
    assert seen.error is None and (events, malformed) == (1, 1)

    seen = run("cat", "--log-dir", str(log_dir))
    assert seen.error is None and seen.code == 0 and len(seen.out.splitlines()) == len(good) + 1
    assert skipped_lines(seen.err, stream) == bad_at + [len(lines) + 2]

    seen = run("replay", ATTEMPT, "--log-dir", str(log_dir))
    assert seen.error is None and seen.code == 0 and "session end: failed" in seen.out
    assert skipped_lines(seen.err, layout.session_path(log_dir, ATTEMPT)) == bad_at

    assert run("du", "--log-dir", str(log_dir)).code == 0

    pages = dashboard(log_dir)
    assert {page: status for page, (status, _) in pages.items()} == {page: 200 for page in pages}
    assert "2 malformed lines were skipped" in pages[f"/sessions/{ATTEMPT}"][1]

    seen = run("emit", "-", "--log-dir", str(tmp_path / "emitted"), input=b"\n".join(lines) + b"\n")
    assert seen.error is None and seen.code == 1
    assert [
        n for n in bad_at if f"stdin:{n}: line: not valid JSON (nested deeper than 64 levels)" in seen.err
    ] == bad_at
    assert f"recorded {len(good)} events, rejected 2" in seen.err  # the lines after it are kept


def test_a_deep_line_in_a_transcript_is_skipped_by_the_importer(tmp_path):
    clean = claude_records()
    _, expected = import_claude(tmp_path / "clean", tmp_path / "clean-logs", clean)
    seen, events = import_claude(tmp_path / "src", tmp_path / "logs", clean[:2] + [DEEP] + clean[2:] + [DEEP])
    assert seen.error is None and seen.code == 0, seen.err
    assert events == expected != [] and "malformed_json 2" in seen.out


def test_nesting_is_malformed_from_65_levels_in_any_field_and_the_same_for_every_reader(tmp_path):
    log_dir = tmp_path / "logs"
    good = good_lines()
    edge = [nested(64, "extra"), nested(64, "data"), nested(65, "extra"), nested(65, "data")]
    stream = write_logs(log_dir, good[:2] + edge + good[2:])
    seen, events, malformed = watch(log_dir)
    assert (events, malformed) == (len(good) + 2, 2)  # the watchdog skips fields it does not read, not their depth
    assert skipped_lines(run("cat", "--log-dir", str(log_dir)).err, stream) == [5, 6]


@st.composite
def json_at_depth(draw) -> tuple[bytes, int]:
    """A JSON value of a known depth, with siblings and strings full of brackets, quotes and escapes."""
    depth = draw(st.integers(1, 3 * jsonline.MAX_DEPTH))
    noise = st.text(alphabet='[]{}"\\ab\n\t\u00e9', max_size=8)
    value: object = draw(st.one_of(st.none(), st.integers(), noise))
    for _ in range(depth):
        sibling = draw(st.one_of(noise, st.lists(st.integers(), max_size=2), st.just({})))
        value = draw(
            st.sampled_from(
                [[value, sibling], [sibling, value], {"k": value, "s": sibling}, {draw(noise): sibling, "v": value}]
            )
        )
    return json.dumps(value).encode(), _depth(value)


def _depth(value: object) -> int:
    """Levels of arrays and objects, counted the plain way (the reference)."""
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


@settings(max_examples=10 * EXAMPLES, deadline=None)
@given(json_at_depth())
def test_the_nesting_check_is_exact(case):
    line, depth = case
    assert (jsonline.nesting_error(line) is None) == (depth <= jsonline.MAX_DEPTH)


# --- wrong-typed fields from other writers (issue 16 Medium) ------------------------------------

WRONG = [
    b'{"timestamp": "2026-01-01T00:00:03.100Z", "event_type": "usage", "attempt_id": "fz-1", '
    b'"data": {"cost_usd": "abc"}}',
    b'{"timestamp": "2026-01-01T00:00:03.200Z", "event_type": "error", "attempt_id": "fz-1", "data": null}',
    b'{"timestamp": "2026-01-01T00:00:03.300Z", "event_type": "usage", "attempt_id": "fz-1", '
    b'"data": {"input_tokens": "many"}}',
    b'{"timestamp": "2026-01-01T00:00:03.400Z", "event_type": "agent_output", "attempt_id": "fz-1", '
    b'"elapsed_ms": "soon", "data": {}}',
    b'{"timestamp": 5, "event_type": "error", "attempt_id": "fz-1", "data": {"error_message": "x"}}',
    b'{"timestamp": "2026-01-01T00:00:03.600Z", "event_type": "error", "attempt_id": "fz-1", '
    b'"data": {"error_message": {"text": "boom"}}}',
]


def test_wrong_typed_fields_are_malformed_lines_for_every_reader(tmp_path):
    log_dir = tmp_path / "logs"
    good = good_lines()
    lines = good[:3] + WRONG + good[3:]
    stream = write_logs(log_dir, lines)
    bad_at = list(range(4, 4 + len(WRONG)))
    seen, events, malformed = watch(log_dir)
    assert seen.error is None and (events, malformed) == (len(good), len(WRONG))
    assert told_offsets(seen.err, stream) == [offsets(lines)[n - 1] for n in bad_at]
    assert skipped_lines(run("cat", "--log-dir", str(log_dir)).err, stream) == bad_at
    seen = run("replay", ATTEMPT, "--log-dir", str(log_dir))
    assert seen.error is None and seen.code == 0, seen.error
    assert skipped_lines(seen.err, layout.session_path(log_dir, ATTEMPT)) == bad_at
    pages = dashboard(log_dir)
    assert (
        pages[f"/sessions/{ATTEMPT}"][0] == 200
        and f"{len(WRONG)} malformed lines were skipped" in pages[f"/sessions/{ATTEMPT}"][1]
    )
    seen = run("emit", "-", "--log-dir", str(tmp_path / "emitted"), input=b"\n".join(lines) + b"\n")
    assert seen.code == 1 and f"recorded {len(good)} events, rejected {len(WRONG)}" in seen.err


# --- numbers: finite, >= 0, within reason, wherever they enter (issue 16 Medium) -----------------


def _no_infinity(text: str) -> object:
    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize(
    "option,value,said",
    [
        ("--cost", "1e308", "1e+308"),
        ("--cost", "nan", "nan"),
        ("--cost", "inf", "inf"),
        ("--cost", "-3", "-3.0"),
        ("--input-tokens", "-5", "-5"),
    ],
)
def test_emit_refuses_numbers_out_of_range_saying_which(cli, tmp_path, option, value, said):
    log_dir = tmp_path / "logs"
    run("emit", "start", "-a", "A1", "--log-dir", str(log_dir))
    for _ in range(2):
        result = cli("emit", "usage", "-a", "A1", option, value, "--log-dir", str(log_dir))
        field = "cost_usd" if option == "--cost" else "input_tokens"
        assert result.returncode == 1 and f"(got {said}) at data.{field}" in result.stderr.decode()
    assert '"usage"' not in (log_dir / layout.STREAM).read_text()
    summary = run("summary", "--days", "0", "--format", "json", "--log-dir", str(log_dir))
    assert summary.code == 0 and _no_infinity(summary.out)["total_cost_usd"] == 0


def test_numbers_out_of_range_from_other_writers_are_malformed_and_sum_to_nothing(tmp_path):
    log_dir = tmp_path / "logs"
    lines = good_lines()
    huge = [
        json.dumps(
            {
                "timestamp": "2026-01-01T00:00:03.500Z",
                "event_type": kind,
                "attempt_id": ATTEMPT,
                "data": {"cost_usd": 1e308, "completion_status": "failed"},
            }
        ).encode()
        for kind in ("usage", "usage", "session_end")
    ]
    write_logs(log_dir, lines[:-1] + huge + lines[-1:])
    summary = run("summary", "--days", "0", "--format", "json", "--log-dir", str(log_dir))
    assert summary.code == 0 and _no_infinity(summary.out)["total_cost_usd"] == 0.01
    assert summary.out and _no_infinity(summary.out)["malformed"] == 3
    report = run("report", "--out", str(tmp_path / "reports"), "--log-dir", str(log_dir))
    assert report.error is None and report.code == 0, report.error
    assert watch(log_dir)[2] == 3


def test_the_python_api_refuses_non_finite_and_negative_numbers(tmp_path):
    from agentlog import Session
    from agentlog.recorder import Recorder

    with Recorder(log_dir=tmp_path / "logs") as recorder:
        session = Session("A1", recorder=recorder)
        for bad in (dict(cost_usd=math.nan), dict(cost_usd=math.inf), dict(input_tokens=-1)):
            with pytest.raises(EventError, match="got"):
                session.usage(**bad)
        session.usage(input_tokens=10, cost_usd=0.5)
    assert (tmp_path / "logs" / layout.STREAM).read_text().count('"usage"') == 1


def test_otlp_numbers_out_of_range_are_rejected_not_recorded(tmp_path):
    from test_otel import claude_code_logs

    from agentlog import config
    from agentlog.otel.receiver import Receiver

    request = claude_code_logs("sess-bad-numbers")
    for record in request.resource_logs[0].scope_logs[0].log_records:
        for attribute in record.attributes:
            if attribute.key == "cost_usd":
                attribute.value.double_value = -3.0
            elif attribute.key == "duration_ms":
                attribute.value.double_value = math.nan
    receiver = Receiver(config.load({"log_dir": str(tmp_path / "logs")}, environ={}), worker=False)
    receiver.ingest("/v1/logs", request.SerializeToString(), "application/x-protobuf")
    receiver.close()
    stored = (tmp_path / "logs" / layout.STREAM).read_text()
    assert receiver.stats["rejected_events"] >= 2 and "-3.0" not in stored and "NaN" not in stored


def test_cat_reads_alert_lines_as_alerts(tmp_path, cli):
    """agent-alerts.jsonl holds alerts, not events: each line is checked as an alert."""
    log_dir = tmp_path / "logs"
    alert = {
        "timestamp": "2026-01-01T00:00:00.000Z",
        "type": "error_loop",
        "attempt_id": "A1",
        "severity": "high",
        "recommendation": "trigger_ai_autofix",
        "occurrences": 4,
    }
    log_dir.mkdir()
    (log_dir / layout.ALERTS).write_text(json.dumps(alert) + "\n" + json.dumps({**alert, "occurrences": "x"}) + "\n")
    seen = run("cat", "--kind", "alerts", "--log-dir", str(log_dir))
    assert seen.code == 0 and [json.loads(out)["type"] for out in seen.out.splitlines()] == ["error_loop"]
    assert skipped_lines(seen.err, log_dir / layout.ALERTS) == [2]


def test_two_events_glued_on_one_line_are_one_malformed_line_for_the_watchdog_too(tmp_path):
    log_dir = tmp_path / "logs"
    good = good_lines()
    glued = [
        good[1] + good[1],
        good[1] + b"," + good[1],
        good[1] + b" " + good[1],
        b'{"event_type": "agent_output", "attempt_id": "fz-1", "data": {"output": "\xff"}}',
    ]
    stream = write_logs(log_dir, good[:3] + glued + good[3:])
    seen, events, malformed = watch(log_dir)
    assert (events, malformed) == (len(good), len(glued)), seen.err
    assert skipped_lines(run("cat", "--log-dir", str(log_dir)).err, stream) == [4, 5, 6, 7]


# --- a crash's padding --------------------------------------------------------------------------


def test_the_line_a_writer_appends_after_a_crash_s_nul_padding_is_read_by_every_reader(tmp_path):
    """A crash can leave a file's end as NUL bytes (its size written, its data not), with or
    without the start of the line being written; the next writer appends a whole line after
    them. Every reader reads that line (before, it was one malformed line, and lost)."""
    log_dir = tmp_path / "logs"
    good = good_lines()
    padded = good[:2] + [b"\0" * 4096 + good[2], good[3][:20] + b"\0" * 100 + good[3]] + good[4:]
    stream = write_logs(log_dir, padded)

    seen, events, malformed = watch(log_dir)
    assert seen.error is None and (events, malformed) == (len(good), 0), seen.err
    seen = run("cat", "--log-dir", str(log_dir))
    assert seen.code == 0 and [json.loads(line) for line in seen.out.splitlines()] == [json.loads(g) for g in good]
    assert skipped_lines(seen.err, stream) == []
    seen = run("replay", ATTEMPT, "--log-dir", str(log_dir))
    assert seen.code == 0 and "session end: failed" in seen.out and "skipped" not in seen.err
    seen = run("summary", "--days", "0", "--log-dir", str(log_dir))
    assert seen.code == 0 and json.loads(seen.out)["malformed"] == 0 and json.loads(seen.out)["total_errors"] == 1

    # the alerts journal too: an alert written after the padding is one the watch will not send again
    alert = {"timestamp": "2026-01-01T00:00:09.000Z", "type": "error_loop", "attempt_id": ATTEMPT, "severity": "high"}
    alert |= {"recommendation": "trigger_ai_autofix", "alert_id": "a1b2"}
    (log_dir / layout.ALERTS).write_bytes(b"\0" * 512 + json.dumps(alert).encode() + b"\n")
    assert [a.alert_id for a in read_alerts(log_dir)] == ["a1b2"]


# --- a line with no end -------------------------------------------------------------------------

HOLE = 1 << 30  # a gigabyte of NUL bytes and no newline: a sparse file, no disk taken


def test_a_gigabyte_without_a_newline_is_one_malformed_line_that_no_reader_holds(tmp_path):
    """The tailer (watch), the native parse (summary), the reader (cat) and `emit -` each skip
    it as one malformed line once past MAX_LINE, reading on in bounded memory and linear time:
    before, the watch copied the growing line again at each 1 MiB read (minutes for this one)
    and the others held all of it."""
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    good = good_lines()
    stream = log_dir / layout.STREAM
    with stream.open("wb") as handle:
        handle.write(b"".join(line + b"\n" for line in good[:3]))
        at = handle.tell()
        handle.seek(HOLE, os.SEEK_CUR)
        handle.write(b"\n" + b"".join(line + b"\n" for line in good[3:]))

    code, peak, out, err = peak_of("watch", "--replay", "--once", "--quiet", "--log-dir", str(log_dir))
    assert code == 0 and f"{len(good)} events, 0 new alerts, 1 malformed lines skipped" in err, err
    assert f"{stream}: byte {at}: a line of {HOLE + 1:,} bytes, over {MAX_LINE:,}; skipped" in err
    assert peak < 400

    code, peak, out, err = peak_of("summary", "--days", "0", "--log-dir", str(log_dir))
    assert code == 0 and "1 malformed line(s) skipped" in err, err
    assert json.loads(out)["sessions"] == 1 and json.loads(out)["total_errors"] == 1
    assert peak < 400

    code, peak, out, err = peak_of("cat", "--log-dir", str(log_dir))
    assert code == 0 and len(out.splitlines()) == len(good)
    assert f"skipped {stream}:4: longer than {MAX_LINE:,} bytes" in err
    assert peak < 400

    with stream.open("rb") as stdin:
        code, peak, out, err = peak_of("emit", "-", "--log-dir", str(tmp_path / "emitted"), stdin=stdin)
    assert code == 1 and f"stdin:4: line: longer than {MAX_LINE:,} bytes" in err
    assert f"recorded {len(good)} events, rejected 1" in err
    assert peak < 400


def test_a_gigabyte_line_in_a_transcript_is_skipped_by_the_importer_unheld(tmp_path):
    clean = claude_records()
    _, expected = import_claude(tmp_path / "clean", tmp_path / "clean-logs", clean)
    transcript = tmp_path / "src" / "-proj" / "c0ffee00-0000-4000-8000-00000000fa11.jsonl"
    transcript.parent.mkdir(parents=True)
    with transcript.open("wb") as handle:
        handle.write(b"".join(line + b"\n" for line in clean[:2]))
        handle.seek(HOLE, os.SEEK_CUR)
        handle.write(b"\n" + b"".join(line + b"\n" for line in clean[2:]))
    os.utime(transcript, (1_700_000_000, 1_700_000_000))  # finished long ago
    log_dir = tmp_path / "logs"
    code, peak, out, err = peak_of("import", "claude-code", str(tmp_path / "src"), "--log-dir", str(log_dir))
    assert code == 0 and "line_too_long 1" in out, out + err
    events = [json.loads(line) for line in (log_dir / layout.STREAM).read_bytes().splitlines()]
    assert [(e["event_type"], json.dumps(e["data"], sort_keys=True)) for e in events] == expected
    assert peak < 400


def test_rotating_a_stream_that_starts_with_a_gigabyte_line_holds_none_of_it(tmp_path, monkeypatch):
    """Rotation looks for the file's first line in its archive; it read that line whole, so
    a first line with no newline for a gigabyte took a gigabyte of memory."""
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    good = good_lines()
    stream = log_dir / layout.STREAM
    with stream.open("wb") as handle:
        handle.seek(HOLE)
        handle.write(b"\n" + b"".join(line + b"\n" for line in good))
    monkeypatch.setenv("AGENT_WORK_LOG_MAX_SIZE_MB", "1")
    code, peak, out, err = peak_of("rotate", "--json", "--log-dir", str(log_dir))
    assert code == 0 and '"pack"' in out, out + err
    assert peak < 400
    code, peak, out, err = peak_of("cat", "--log-dir", str(log_dir))
    assert code == 0 and [json.loads(line) for line in out.splitlines()] == [json.loads(line) for line in good]
    assert f"longer than {MAX_LINE:,} bytes" in err


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(st.binary(max_size=12).map(lambda b: b.replace(b"\n", b"") + b"\n"), min_size=1, max_size=8),
    pick=st.integers(0, 7),
)
def test_an_archive_is_searched_for_a_line_in_pieces_no_longer_than_it(lines, pick):
    """`covered` finds the source's first line in the archive reading at most its length + 1
    bytes at a time: only a whole line equal to it counts, never the end of a longer one."""
    import io

    from agentlog.store.archive import _skip_to_after

    target = lines[pick % len(lines)]
    stream = io.BytesIO(b"".join(lines))
    expected = next((i for i, line in enumerate(lines) if line == target), None)
    assert _skip_to_after(stream, target) == (expected is not None)
    if expected is not None:
        assert stream.read() == b"".join(lines[expected + 1 :])
