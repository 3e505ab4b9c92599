"""The checkpointed tailer: partial lines, restarts, rotation and copytruncate under live writers."""

from __future__ import annotations

import gzip
import io
import itertools
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from agentlog.store import reader, tail
from agentlog.store.tail import FileCheckpoints, MemoryCheckpoints, Tailer

WRITER = """
import sys, time
from pathlib import Path
from agentlog.store.writer import LogWriter
root, name, count, rate = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
w = LogWriter(root)
for i in range(count):
    w.append("agent-work-stream.jsonl", ('{"id": "%s-%06d", "pad": "%s"}\\n' % (name, i, "x" * (i % 50))).encode())
    if i % 20 == 0:
        time.sleep(20 / rate)
w.close()
"""


def read_all(tailer: Tailer) -> list[bytes]:
    return [line for batch in tailer.batches() for line in batch.lines]


def test_partial_last_line_waits_for_its_newline(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_bytes(b'{"a": 1}\n{"b":')
    tailer = Tailer(path, start="beginning")
    assert read_all(tailer) == [b'{"a": 1}']
    with open(path, "ab") as f:
        f.write(b" 2}\n")
    assert read_all(tailer) == [b'{"b": 2}']


def test_a_batch_is_its_chunk_as_read_and_where_its_lines_end(tmp_path):
    """The start of the next line stays in the chunk (cutting it off would copy the chunk)."""
    path = tmp_path / "s.jsonl"
    path.write_bytes(b'{"a": 1}\n\n{"b":')
    [batch] = list(Tailer(path, start="beginning").batches())
    assert (batch.chunk, batch.end) == (b'{"a": 1}\n\n{"b":', 10)
    assert (batch.data, batch.lines) == (b'{"a": 1}\n\n', [b'{"a": 1}', b""])


def test_the_read_buffer_grows_for_a_long_line_and_is_let_go_after_it(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_bytes(b"x" * (6 << 20) + b'\n{"a": 1}\n')
    tailer = Tailer(path, start="beginning")
    assert [len(line) for line in read_all(tailer)] == [6 << 20, 8]
    with open(path, "ab") as f:
        f.write(b'{"b": 2}\n')
    assert read_all(tailer) == [b'{"b": 2}']
    assert len(tailer._sources[-1].buffer) <= 2 * tail.CHUNK  # not the 6 MiB held for the long line


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lengths=st.lists(st.integers(0, 120), max_size=12),
    appends=st.lists(st.integers(1, 90), max_size=6),
    size=st.integers(1, 40),
)
def test_lines_over_max_line_are_skipped_and_listed_whatever_the_reads(tmp_path, monkeypatch, lengths, appends, size):
    """Written in any pieces and read in any steps: a line of at most MAX_LINE bytes comes
    out whole, in order; one past MAX_LINE + the read size is listed in `skipped` (where it
    starts, how long it is, its newline counted) and never comes out; between the two it
    is one or the other, never both. The positions end after the last complete line."""
    monkeypatch.setattr(tail, "MAX_LINE", 30)
    path = tmp_path / f"s{len(list(tmp_path.iterdir()))}.jsonl"
    lines = [bytes([97 + i % 26]) * n for i, n in enumerate(lengths)]
    body = b"".join(line + b"\n" for line in lines)
    cuts = sorted({min(len(body), sum(appends[: i + 1])) for i in range(len(appends))} | {len(body)})
    tailer = Tailer(path, start="beginning")
    path.touch()
    got, written = [], 0
    for cut in cuts:  # a writer appends in pieces; each time the tailer reads what is there
        with path.open("ab") as handle:
            handle.write(body[written:cut])
        written = cut
        for batch in tailer.batches(size):
            got += batch.lines
    starts = [sum(len(x) + 1 for x in lines[:i]) for i in range(len(lines))]
    skipped = {offset: length for _, offset, length in tailer.skipped}
    kept = iter(got)
    for line, start in zip(lines, starts):
        if len(line) <= 30:
            assert next(kept) == line
        elif start in skipped:
            assert skipped.pop(start) == len(line) + 1 and len(line) > 30
        else:
            assert len(line) <= 30 + max(size, 30) and next(kept) == line
    assert next(kept, None) is None and not skipped
    assert tailer.position()[-1].offset == len(body)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lengths=st.lists(st.integers(0, 80), max_size=10), newline_at_end=st.booleans())
def test_bounded_lines_gives_each_line_or_what_was_skipped_and_accounts_for_every_byte(
    monkeypatch, lengths, newline_at_end
):
    monkeypatch.setattr(reader, "MAX_LINE", 30)
    lines = [bytes([97 + i % 26]) * n + b"\n" for i, n in enumerate(lengths)]
    if lines and not newline_at_end:
        lines[-1] = lines[-1][:-1]
    got = list(reader.bounded_lines(io.BytesIO(b"".join(lines))))
    assert [
        line
        if len(line) <= 30 or line.endswith(b"\n") and len(line) == 31
        else reader.Skipped(len(line), line.endswith(b"\n"))
        for line in lines
        if line
    ] == got


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lengths=st.lists(st.integers(0, 80), max_size=10),
    newline_at_end=st.booleans(),
    steps=st.lists(st.integers(1, 40), min_size=1),
)
def test_line_chunks_give_whole_lines_and_what_was_skipped_whatever_the_reads(
    monkeypatch, lengths, newline_at_end, steps
):
    """`cat`'s and `emit -`'s reading: reads of any sizes (up to what is asked) give the
    lines in chunks of whole lines, a line longer than MAX_LINE (+ a read) as `Skipped`,
    and the unfinished end last."""
    monkeypatch.setattr(reader, "MAX_LINE", 30)
    lines = [bytes([97 + i % 26]) * n + b"\n" for i, n in enumerate(lengths)]
    if lines and not newline_at_end:
        lines[-1] = lines[-1][:-1]
    stream, sizes = io.BytesIO(b"".join(lines)), itertools.cycle(steps)
    got = list(reader._line_chunks(lambda n: stream.read(min(n, next(sizes))), 8))
    assert all(chunk.endswith(b"\n") for chunk in got[:-1] if not isinstance(chunk, reader.Skipped))
    seen = [x for chunk in got for x in ([chunk] if isinstance(chunk, reader.Skipped) else chunk.splitlines(True))]
    assert len(seen) == len([line for line in lines if line])
    for line, x in zip(filter(None, lines), seen):
        if isinstance(x, reader.Skipped):
            assert (x.length, x.ended) == (len(line), line.endswith(b"\n")) and len(line) > 30
        else:
            assert x == line and len(line) <= 30 + 40


def test_first_start_at_end_or_beginning_and_missing_dir_is_created(tmp_path):
    path = tmp_path / "new" / "dir" / "s.jsonl"
    tailer = Tailer(path)  # creates the folder, the file does not exist yet
    assert path.parent.is_dir() and read_all(tailer) == []
    path.write_bytes(b"one\n")
    assert read_all(tailer) == [b"one"]  # a file created later is read from its start
    assert read_all(Tailer(path, start="end")) == []
    assert read_all(Tailer(path, start="beginning")) == [b"one"]


def test_checkpoint_resumes_after_the_committed_line_and_keeps_extra(tmp_path):
    path, store = tmp_path / "s.jsonl", FileCheckpoints(tmp_path / "state")
    path.write_bytes(b"1\n2\n3\n")
    tailer = Tailer(path, store, "c", start="beginning")
    lines = list(tailer.lines())
    tailer.commit(lines[1][1], extra={"n": 2})  # acknowledged up to line "2"
    assert [p.name for p in (tmp_path / "state").iterdir()] == ["c.checkpoint.json"]  # no temp file left
    again = Tailer(path, store, "c")
    assert again.restored and again.extra == {"n": 2}
    assert read_all(again) == [b"3"]


def test_restart_finds_a_file_rotated_and_compressed_while_down(tmp_path):
    path, store = tmp_path / "agent-work-stream.jsonl", MemoryCheckpoints()
    path.write_bytes(b"a\nb\n")
    tailer = Tailer(path, store, "c", start="beginning")
    batch = next(tailer.batches())
    tailer.commit(batch.position)
    tailer.close()
    with open(path, "ab") as f:
        f.write(b"c\n")  # written after the checkpoint, then rotated away
    (tmp_path / "archive").mkdir()
    with (
        open(path, "rb") as src,
        gzip.open(tmp_path / "archive" / "agent-work-stream-20260101T000000Z.jsonl.gz", "wb") as dst,
    ):
        shutil.copyfileobj(src, dst)
    path.unlink()
    path.write_bytes(b"d\n")
    assert read_all(Tailer(path, store, "c")) == [b"c", b"d"]


def test_restart_after_rename_rotation_while_down(tmp_path):
    path, store = tmp_path / "agent-work-stream.jsonl", MemoryCheckpoints()
    path.write_bytes(b"a\n")
    tailer = Tailer(path, store, "c", start="beginning")
    tailer.commit(next(tailer.batches()).position)
    with open(path, "ab") as f:
        f.write(b"b\n")
    os.rename(path, tmp_path / "agent-work-stream.jsonl.1")
    path.write_bytes(b"c\n")
    assert read_all(Tailer(path, store, "c")) == [b"b", b"c"]


def test_wait_wakes_on_a_write(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_bytes(b"")
    tailer = Tailer(path)

    def append() -> None:  # one write: `write_bytes` truncates first, a change of its own to wake on
        with open(path, "ab") as handle:
            handle.write(b"x\n")

    threading.Timer(0.05, append).start()
    assert tailer.wait(5.0)
    assert read_all(tailer) == [b"x"]


def _writers(root: Path, count: int, rate: float, n: int = 2) -> list[subprocess.Popen]:
    return [
        subprocess.Popen([sys.executable, "-c", WRITER, str(root), f"w{i}", str(count), str(rate)]) for i in range(n)
    ]


def _follow(tailer: Tailer, seen: list[bytes], done: threading.Event) -> None:
    while True:
        finished = done.is_set()
        seen.extend(line for batch in tailer.batches() for line in batch.lines)
        if finished:
            return
        tailer.wait(0.05)


def _until_seen_first_line(path: Path, seen: list[bytes], timeout: float = 30.0) -> None:
    """Wait until the tailer has read the live file's first line. An external rotation can
    only be followed when the tailer looks at each generation at least once: a file
    renamed away unseen (no manifest names it, as agentlog's own rotation writes) or
    copied and truncated before any of it was read cannot be told from a new file."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        first, newline, _ = path.read_bytes().partition(b"\n")
        if newline and first in seen:
            return
        time.sleep(0.01)
    raise AssertionError("the tailer did not read the live file")


def _ids(lines) -> list[str]:
    import json

    return [json.loads(line)["id"] for line in lines if line.strip()]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["rename", "copytruncate"])
def test_rotation_with_writers_running_misses_nothing(tmp_path, mode):
    path = tmp_path / "agent-work-stream.jsonl"
    path.write_bytes(b"")
    tailer = Tailer(path, MemoryCheckpoints(), "c", start="beginning")
    seen: list[bytes] = []
    done = threading.Event()
    reader = threading.Thread(target=_follow, args=(tailer, seen, done))
    reader.start()
    writers = _writers(tmp_path, 3000, 2000)
    rotated = []
    for generation in range(6):
        time.sleep(0.2)
        while not path.exists() or path.stat().st_size == 0:  # writers reopen within 0.25 s
            time.sleep(0.01)
        _until_seen_first_line(path, seen)
        target = tmp_path / f"agent-work-stream.jsonl.{generation}"
        if mode == "rename":
            os.rename(path, target)
        else:
            shutil.copyfile(path, target)
            os.truncate(path, 0)
        rotated.append(target)
    for w in writers:
        assert w.wait(60) == 0
    time.sleep(0.3)  # longer than the writers' reopen check
    done.set()
    reader.join(30)
    got = _ids(seen)
    present = _ids(b"".join(p.read_bytes() for p in [*rotated, path]).split(b"\n"))
    assert len(got) == len(set(got)), f"{len(got) - len(set(got))} lines seen twice"
    if mode == "rename":
        assert len(present) == 6000  # rename loses nothing, so neither may the tailer
        assert sorted(got) == sorted(present)
    else:  # a line written between the copy and the truncate is in no file; the tailer may have seen it
        assert set(present) <= set(got), f"missed {len(set(present) - set(got))}"
