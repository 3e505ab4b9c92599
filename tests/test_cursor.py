"""store/cursor.py: a reader resumes a file where it stopped, and starts over when the file at
the path is another one (replaced, truncated, rewritten), as the guard's readers do."""

from __future__ import annotations

import os

from agentlog.store import cursor


def read_all(path, state):
    cursor.resume(path, state)
    lines, end = cursor.read_lines(path, state)
    cursor.advance(path, state, end)
    return lines


def test_a_growing_file_is_read_on_and_a_half_line_waits(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_bytes(b"a\nb")
    state: dict = {}
    assert read_all(path, state) == [b"a"]
    with open(path, "ab") as out:
        out.write(b"\nc\n")
    assert read_all(path, state) == [b"b", b"c"]  # a small file that grew keeps its identity
    assert read_all(path, state) == []


def test_a_file_rewritten_longer_from_its_start_is_read_again_whole(tmp_path):
    """Truncated and written again past the old offset: an inode + size check alone would
    skip the new file's first lines."""
    path = tmp_path / "t.jsonl"
    path.write_bytes(b"old 1\nold 2\n")
    state: dict = {}
    assert read_all(path, state) == [b"old 1", b"old 2"]
    with open(path, "r+b") as out:  # the same inode
        out.truncate(0)
        out.write(b"new 1\nnew 2\nnew 3\n")
    assert read_all(path, state) == [b"new 1", b"new 2", b"new 3"]


def test_a_file_replaced_at_its_path_is_a_new_file(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_bytes(b"one\n")
    state: dict = {}
    assert read_all(path, state) == [b"one"]
    os.rename(path, tmp_path / "t.jsonl.1")
    path.write_bytes(b"two\n")
    assert read_all(path, state) == [b"two"]


def test_a_truncated_file_starts_over(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_bytes(b"one\ntwo\n")
    state: dict = {}
    read_all(path, state)
    path.write_bytes(b"x\n")
    assert read_all(path, state) == [b"x"]
