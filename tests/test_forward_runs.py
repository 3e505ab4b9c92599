"""`fleet forward`'s native grouping of a batch by partition (native/src/forward.rs) against
the line-by-line Python read it stands in for: whenever the native read vouches for a batch,
it groups, joins and numbers it exactly as Python would, and it never vouches for a batch
holding a line Python would skip as malformed or blank."""

from __future__ import annotations

import json
import os

from hostilekit import good_lines
from hypothesis import given, settings, strategies as st
from test_fuzz_readers import hostile

from agentlog import _core
from agentlog.fleet import bus
from agentlog.fleet.forward import Forwarder

EXAMPLES = int(os.environ.get("AGENTLOG_FUZZ_EXAMPLES", "10"))
PARTITIONS = 8

_attempt = st.one_of(st.none(), st.text(max_size=6), st.integers(), st.sampled_from(["a", "b", "fz-1", ""]))
_extra = st.dictionaries(st.text(max_size=4), st.one_of(st.none(), st.floats(), st.text(max_size=4)), max_size=3)


@st.composite
def _object_line(draw) -> bytes:
    """An object with an attempt id of any type, sometimes named twice."""
    text = json.dumps({"attempt_id": draw(_attempt), **draw(_extra)})
    if draw(st.booleans()):
        text = text[:-1] + ', "attempt_id": "x"}'
    return text.encode()


_line = st.one_of(
    _object_line(),
    st.sampled_from(good_lines()),
    hostile.map(lambda case: case[1]),
    st.binary(max_size=60),
)


def _python_runs(lines: list[bytes]) -> tuple[list, int]:
    forwarder = Forwarder("/nonexistent", bus.NatsOptions())
    forwarder.partitions = PARTITIONS
    runs = forwarder._runs_one_by_one(lines)
    return runs, forwarder.result.malformed


@settings(max_examples=60 * EXAMPLES, deadline=None)
@given(st.lists(_line, min_size=1, max_size=8))
def test_a_batch_the_native_read_vouches_for_is_grouped_as_python_groups_it(lines):
    lines = [line.replace(b"\n", b" ") for line in lines]  # the tailer splits on newlines
    native = _core.partition_runs(lines, PARTITIONS)
    if native is None:
        return  # Python reads this batch itself, line by line
    runs, malformed = _python_runs(lines)
    assert malformed == 0 and all(line.strip() for line in lines)
    assert [(p, payload, list(ends)) for p, payload, ends in native] == runs


def test_ordinary_batches_take_the_native_way_and_partition_as_everyone_does():
    lines = good_lines() * 50 + [json.dumps({"attempt_id": f"a-{i}", "event_type": "x"}).encode() for i in range(99)]
    native = _core.partition_runs(lines, PARTITIONS)
    assert native is not None
    assert [(p, payload, list(ends)) for p, payload, ends in native] == _python_runs(lines)[0]
    assert bus.partition_of("a-7", PARTITIONS) == next(p for p, payload, _ in native if b'"a-7"' in payload)


def test_a_line_after_a_crash_s_nul_padding_is_forwarded_without_it():
    """As every local reader reads it (read.rs: after_padding): the padding, and the cut line
    before it, stay behind."""
    good = good_lines()
    padded = [good[0], b"\0" * 64 + good[1], good[2][:15] + b"\0" * 8 + good[2]]
    assert _core.partition_runs(padded, PARTITIONS) is None  # not vouched for: read by Python
    runs, malformed = _python_runs(padded)
    assert malformed == 0 and sorted(line for _, payload, _ in runs for line in payload.split(b"\n")) == sorted(
        good[:3]
    )
