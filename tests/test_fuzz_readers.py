"""Generated hostile lines thrown at every reader (issue 16, "Done when").

Each example is a finished session's good lines with a few hostile lines among them:
nested too deep, huge, of the wrong type, with control characters or broken UTF-8, odd
times, numbers out of range, not an object, cut or glued. Every reader (`watch --replay
--once`, `cat`, `replay`, `du`, the dashboard's pages, `emit -`, `import claude-code`)
must not crash, must count and report each bad line where it is (line or byte), and must
keep every good line around it. Lines that are odd but valid (escaped control characters,
a far-future time, a BOM) are kept by all and reported by none.

AGENTLOG_FUZZ_EXAMPLES sets the number of examples (default 10: well under a minute).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections import Counter
from pathlib import Path

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
from hypothesis import HealthCheck, given, settings, strategies as st

from agentlog.events import MAX_TOKENS, MAX_USD
from agentlog.jsonline import MAX_DEPTH
from agentlog.store import layout

EXAMPLES = int(os.environ.get("AGENTLOG_FUZZ_EXAMPLES", "10"))
BAD, ODD, BLANK = "bad", "odd", "blank"  # what a line is: malformed / valid though strange / empty
# each case: (what it is, the line, why the importer skips it when it is not even a JSON object)
TEXT_FIELDS = ["timestamp", "attempt_id", "event_id", "task_id", "executor"]
DATA_TEXT = [
    "error_message",
    "error_fingerprint",
    "error_category",
    "tool_name",
    "result",
    "prompt_type",
    "status",
    "completion_status",
]
DATA_NUMBERS = {
    "cost_usd": MAX_USD,
    "duration_ms": 1e15,
    "input_tokens": MAX_TOKENS,
    "output_tokens": MAX_TOKENS,
    "cache_read_tokens": MAX_TOKENS,
    "total_tokens": MAX_TOKENS,
}


def event(**fields) -> dict:
    base = {
        "timestamp": "2026-01-01T00:00:03.500Z",
        "event_type": "agent_output",
        "attempt_id": ATTEMPT,
        "data": {"output": "x"},
    }
    return {**base, **fields}


def line(value) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


def _nest(depth: int, rnd) -> object:
    value: object = "leaf"
    for _ in range(depth):
        value = [value] if rnd.random() < 0.5 else {"k": value}
    return value


@st.composite
def too_deep(draw) -> tuple[str, bytes, str | None]:
    depth = draw(st.one_of(st.integers(MAX_DEPTH + 1, MAX_DEPTH + 80), st.integers(1000, 6000)))
    rnd = draw(st.randoms(use_true_random=False))
    where = draw(st.sampled_from(["extra", "data", "tool_params"]))
    if depth > 900:  # json.dumps itself recurses: write it by hand
        value = "[" * depth + "]" * depth
        raw = line(event()).replace(b'"data"', b'"deep": ' + value.encode() + b', "data"', 1)
        return BAD, raw, "malformed_json"
    value = _nest(depth, rnd)
    if where == "extra":
        return BAD, line(event(extra=value)), "malformed_json"
    if where == "data":
        return BAD, line(event(data={"output": "x", "deep": value})), "malformed_json"
    return BAD, line(event(event_type="tool_call", data={"tool_name": "Bash", "tool_params": value})), "malformed_json"


@st.composite
def wrong_type(draw) -> tuple[str, bytes, str | None]:
    field = draw(
        st.sampled_from(
            TEXT_FIELDS + DATA_TEXT + list(DATA_NUMBERS) + ["event_type", "data", "elapsed_ms", "sequence_num"]
        )
    )
    if field in DATA_NUMBERS or field in ("elapsed_ms", "sequence_num"):
        top = DATA_NUMBERS.get(field, 2**53)
        value = draw(
            st.one_of(
                st.text(max_size=5),
                st.booleans(),
                st.just(-1),
                st.just(-0.5),
                st.just(top * 10),
                st.just(1e308),
                st.lists(st.integers(), max_size=2),
            )
        )
        if field in ("input_tokens", "output_tokens", "cache_read_tokens", "total_tokens", "sequence_num"):
            value = draw(st.one_of(st.just(value), st.just(2.5)))
    elif field == "data":
        value = draw(st.one_of(st.none(), st.text(max_size=5), st.integers(), st.lists(st.integers(), max_size=2)))
    else:
        value = draw(
            st.one_of(
                st.integers(),
                st.floats(allow_nan=False),
                st.booleans(),
                st.lists(st.integers(), max_size=2),
                st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
            )
        )
    if field == "event_type" and draw(st.booleans()):
        return BAD, line({k: v for k, v in event().items() if k != "event_type"}), None
    if field in TEXT_FIELDS or field in ("event_type", "data", "elapsed_ms", "sequence_num"):
        return BAD, line(event(**{field: value})), None
    return BAD, line(event(data={"output": "x", field: value})), None


def glued(raw: bytes) -> bool:
    """The shape `broken` makes for a glued line: one whole record twice."""
    half = len(raw) // 2
    return raw[:1] == b"{" and raw[:half] == raw[half:]


@st.composite
def broken(draw) -> tuple[str, bytes, str | None]:
    """Not JSON, or not an object: what a crash, a bug or random bytes leave in a file."""
    whole = line(event(data={"output": draw(st.text(max_size=30))}))
    kind = draw(st.sampled_from(["cut", "glued", "array", "scalar", "control", "utf8", "garbage", "huge"]))
    if kind == "cut":
        raw = whole[: draw(st.integers(1, len(whole) - 1))]
    elif kind == "glued":
        raw = whole + whole
    elif kind == "array":
        return BAD, b"[" + whole + b"]", "not_an_object"
    elif kind == "scalar":
        return BAD, draw(st.sampled_from([b"42", b'"text"', b"null", b"true"])), "not_an_object"
    elif kind == "control":
        raw = whole.replace(b'"output": "', b'"output": "' + bytes([draw(st.sampled_from([0, 1, 7, 13, 27]))]), 1)
    elif kind == "utf8":
        raw = whole.replace(
            b'"output": "', b'"output": "' + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80"])), 1
        )
    elif kind == "garbage":
        raw = b"\x00" + draw(st.binary(max_size=200)).replace(b"\n", b"")
    else:
        raw = b'{"timestamp": "2026-01-01T00:00:03.500Z", "data": {"output": "' + b"x" * 1_500_000  # never closed
    return BAD, raw, "malformed_json"


@st.composite
def odd_but_valid(draw) -> tuple[str, bytes, str | None]:
    kind = draw(st.sampled_from(["escapes", "time", "bom", "zero", "huge", "unknown", "blank"]))
    if kind == "escapes":
        text = draw(st.text(alphabet=st.characters(max_codepoint=0x9F), max_size=30))
        return ODD, line(event(data={"output": "\x1b]0;TITLE\x07\x1b[2J" + text}, executor="X\x1b[31m")), None
    if kind == "time":
        stamp = draw(st.sampled_from(["9999-12-31T23:59:59Z", "0001-01-01", "yesterday", "", "2026-13-45T99:00:00Z"]))
        return ODD, line(event(timestamp=stamp)), None
    if kind == "bom":
        return ODD, b"\xef\xbb\xbf" + line(event()), None
    if kind == "zero":
        return ODD, line(event(event_type="usage", data={"cost_usd": -0.0, "input_tokens": 0, "x": 10**40})), None
    if kind == "huge":
        return ODD, line(event(data={"output": "y" * 1_000_000})), None
    if kind == "unknown":
        return ODD, line(event(event_type="from_the_future", data={"what": [[{"a": None}]]})), None
    return BLANK, draw(st.sampled_from([b"", b"   ", b"\t"])), None


hostile = st.one_of(too_deep(), wrong_type(), broken(), odd_but_valid())


@st.composite
def logs(draw) -> list[tuple[str, bytes, str | None]]:
    """Good lines (kind "good") with 1-4 hostile ones at random places."""
    lines = [("good", raw, None) for raw in good_lines()]
    for _ in range(draw(st.integers(1, 4))):
        lines.insert(draw(st.integers(0, len(lines))), draw(hostile))
    return lines


_clean_import: list = []


def clean_import(root: Path) -> list[tuple]:
    if not _clean_import:
        _clean_import.append(import_claude(root / "clean", root / "clean-logs", claude_records())[1])
    return _clean_import[0]


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(logs())
def test_every_reader_survives_hostile_lines_and_keeps_the_good_ones(case):
    kinds = [kind for kind, _, _ in case]
    lines = [raw for _, raw, _ in case]
    bad = [n for n, kind in enumerate(kinds, 1) if kind == BAD]
    kept = sum(kind in ("good", ODD) for kind in kinds)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        log_dir = root / "logs"
        stream = write_logs(log_dir, lines)

        seen, events, malformed = watch(log_dir)
        assert seen.error is None and seen.code == 0, seen.err
        assert (events, malformed) == (kept, len(bad)), seen.err
        assert told_offsets(seen.err, stream) == [offsets(lines)[n - 1] for n in bad]

        seen = run("cat", "--log-dir", str(log_dir))
        assert seen.error is None and seen.code == 0 and seen.out.count("\n") == kept  # not splitlines: U+0085
        assert skipped_lines(seen.err, stream) == bad

        seen = run("replay", ATTEMPT, "--log-dir", str(log_dir))
        assert seen.error is None and seen.code == 0 and "session end: failed" in seen.out
        assert skipped_lines(seen.err, layout.session_path(log_dir, ATTEMPT)) == bad

        seen = run("du", "--json", "--log-dir", str(log_dir))
        assert seen.error is None and seen.code == 0

        pages = dashboard(log_dir)
        assert [page for page, (status, _) in pages.items() if status != 200] == []
        assert (f"{len(bad)} malformed lines were skipped" in pages[f"/sessions/{ATTEMPT}"][1]) == bool(bad)

        seen = run("emit", "-", "--log-dir", str(root / "emitted"), input=b"\n".join(lines) + b"\n")
        assert seen.error is None
        rejected = [int(n) for n in re.findall(r"^stdin:(\d+): ", seen.err, flags=re.M)]
        assert set(bad) <= set(rejected) and seen.code == (1 if rejected else 0)
        emitted = (root / "emitted" / layout.STREAM).read_bytes().splitlines()
        written = {(e["event_type"], e.get("sequence_num")) for e in map(json.loads, emitted)}
        assert {(e["event_type"], e["sequence_num"]) for e in map(json.loads, good_lines())} <= written

        # an importer recovers whole records glued to each other (a crashed writer's leftovers)
        breaking = [(raw, why) for kind, raw, why in case if kind == BAD and why and not glued(raw)]
        records = claude_records()
        for n, (raw, _) in enumerate(breaking):
            records.insert(1 + n * 2 % len(records), raw)
        seen, imported = import_claude(root / "src", root / "imported", records)
        assert seen.error is None and seen.code == 0, seen.err
        assert imported == clean_import(root)
        said = dict((reason, int(n)) for reason, n in re.findall(r"(\w+) (\d+)", seen.out.split("skipped:")[-1]))
        expected = Counter(why for _, why in breaking)
        assert {r: said.get(r, 0) for r in ("malformed_json", "not_an_object")} == {
            r: expected[r] for r in ("malformed_json", "not_an_object")
        }, seen.out


@settings(max_examples=4 * EXAMPLES, deadline=None)
@given(wrong_type())
def test_what_the_writer_writes_every_reader_reads(case):
    """A line of the wrong types is malformed for every reader: the writer refuses it, or
    (`"data": null`) writes it repaired, never as it is."""
    from agentlog.events import EventError, decode_line, encode, validate

    _, raw, _ = case
    try:
        written = validate(json.loads(raw))  # as a caller of the Python API would hand it over
    except EventError:
        return
    assert decode_line(encode(written)) == written
