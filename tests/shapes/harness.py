"""The invariants every importer owes its users, checked on a generated `Case`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from agentlog.agents import get
from agentlog.capture.incremental import ImportResult, import_path
from agentlog.recorder import Recorder
from agentlog.store import layout

KILLPOINT = Path(__file__).with_name("killpoint.py")
SHARED_FILES = (layout.STREAM, layout.ERRORS, layout.METRICS)


@dataclass
class Case:
    """Generated source files and what a correct import finds in them."""

    files: dict[str, bytes]  # path under the import root -> content
    counted: Counter = field(default_factory=Counter)  # skip reason -> at least this many records
    files_skipped: Counter = field(default_factory=Counter)  # reason -> at least this many files
    sessions: int = 0  # files that are sessions
    input_tokens: int = 0  # every kind of input (cache read and write included), each call once
    output_tokens: int = 0  # output and reasoning, each call once
    tool_calls: int | None = None

    def __repr__(self) -> str:  # the files can be megabytes: their start is enough to see the shape
        files = {name: content[:300] + (b"..." if len(content) > 300 else b"") for name, content in self.files.items()}
        return (
            f"Case(files={files!r}, counted={dict(self.counted)}, files_skipped={dict(self.files_skipped)}, "
            f"sessions={self.sessions}, tokens=({self.input_tokens}, {self.output_tokens}), "
            f"tool_calls={self.tool_calls})"
        )

    def add(self, other: "Case") -> "Case":
        """Both cases' files in one tree (their names must differ)."""
        assert not self.files.keys() & other.files.keys()
        total = None if self.tool_calls is None or other.tool_calls is None else self.tool_calls + other.tool_calls
        return Case(
            {**self.files, **other.files},
            self.counted + other.counted,
            self.files_skipped + other.files_skipped,
            self.sessions + other.sessions,
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            total,
        )


def several(draw: Any, session: Any, name: str, most: int = 3) -> Case:
    """One to `most` sessions of a strategy `session(name, index)` in one tree (`name` has `{}`)."""
    total = Case({})
    for index in range(draw(st.integers(1, most))):
        total = total.add(draw(session(name.format(index), index)))
    return total


def write(case: Case, root: Path, cut: float | None = None) -> Path:
    """The case's files under root; with `cut`, only that fraction of each (a file being written)."""
    for name, content in case.files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if cut is None else content[: int(len(content) * cut)])
    return root


def import_into(agent: str, src: Path, log_dir: Path, open_window_s: float = 0) -> ImportResult:
    with Recorder(log_dir=log_dir) as recorder:
        return import_path(get(agent).importer(), src, recorder, open_window_s=open_window_s)


def stream(log_dir: Path) -> list[dict]:
    return _events(log_dir / layout.STREAM)


def _events(path: Path) -> list[dict]:
    if not path.exists():
        return []
    events = []
    for raw in path.read_bytes().splitlines():
        try:
            event = json.loads(raw)
        except ValueError:
            continue  # a fragment a killed write left: one malformed line, no event
        if isinstance(event, dict):
            events.append(event)
    return events


def store(log_dir: Path) -> dict[str, Counter]:
    """Every file of the store as a multiset of what identifies its lines."""
    found = {name: Counter(e.get("event_id") for e in _events(log_dir / name)) for name in SHARED_FILES}
    found[layout.METRICS] = Counter(e.get("attempt_id") for e in _events(log_dir / layout.METRICS))
    for path in sorted((log_dir / layout.SESSIONS).glob("*.jsonl")):
        found[path.name] = Counter(e.get("event_id") for e in _events(path))
    return found


# -- the invariants ---------------------------------------------------------------------------------


def check(agent: str, case: Case, tmp: Path) -> None:
    src = write(case, tmp / "src", cut=0.5)  # first seen while half written (still open)...
    import_into(agent, src, tmp / "grown", open_window_s=1e9)
    write(case, src)
    result = import_into(agent, src, tmp / "once")
    stats = result.stats
    for reason, n in case.counted.items():
        assert stats.skipped[reason] >= n, (reason, n, stats.skipped)
    for reason, n in case.files_skipped.items():
        assert stats.skipped_files[reason] >= n, (reason, n, stats.skipped_files)
    events = stream(tmp / "once")
    check_events(events, case)
    before = (tmp / "once" / layout.STREAM).read_bytes() if events else b""
    again = import_into(agent, src, tmp / "once")
    assert again.stats.events == 0, again.summary()
    assert ((tmp / "once" / layout.STREAM).read_bytes() if events else b"") == before
    import_into(agent, src, tmp / "grown")  # ...then whole: what one import gives
    assert store(tmp / "grown") == store(tmp / "once")


def check_events(events: list[dict], case: Case) -> None:
    ids = [e["event_id"] for e in events]
    assert len(ids) == len(set(ids)), "two events share an id"
    assert len({e["attempt_id"] for e in events}) == case.sessions
    usage = [e["data"] for e in events if e["event_type"] == "usage"]
    inputs = sum(u.get(k, 0) for u in usage for k in ("input_tokens", "cache_read_tokens", "cache_creation_tokens"))
    outputs = sum(u.get(k, 0) for u in usage for k in ("output_tokens", "reasoning_tokens"))
    assert (inputs, outputs) == (case.input_tokens, case.output_tokens), "a model call counted other than once"
    if case.tool_calls is not None:
        assert sum(e["event_type"] == "tool_call" for e in events) == case.tool_calls
    for attempt in {e["attempt_id"] for e in events}:
        kinds = [e["event_type"] for e in events if e["attempt_id"] == attempt]
        assert kinds[0] == "session_start" and kinds[-1] == "session_end" and kinds.count("session_end") == 1
    for event in events:
        assert event.get("timestamp_quality") in (None, "approximate", "synthetic")


def run_import(agent: str, src: Path, log_dir: Path, kill_at: int = 0, torn: bool = False) -> int:
    """`agentlog import` as a process, killed at its `kill_at`th write; returns how many writes it made."""
    args = [
        sys.executable,
        str(KILLPOINT),
        str(kill_at),
        "1" if torn else "0",
        "import",
        agent,
        str(src),
        "--log-dir",
        str(log_dir),
        "--open-after",
        "0",
    ]
    done = subprocess.run(args, capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"})
    if done.returncode == -9:
        return kill_at
    assert done.returncode == 0, done.stderr
    return int(done.stderr.rsplit("writes=", 1)[1])


def check_kill(agent: str, case: Case, tmp: Path, points: list[float], torn: bool) -> None:
    """Killed at each of `points` (fractions of a whole run's writes), then run to the end:
    every file of the store holds what one clean import writes, each line once."""
    src = write(case, tmp / "src")
    writes = run_import(agent, src, tmp / "clean")
    for point in points:
        run_import(agent, src, tmp / "killed", kill_at=max(1, round(point * writes)), torn=torn)
    run_import(agent, src, tmp / "killed")
    assert store(tmp / "killed") == store(tmp / "clean")


def check_replaced(agent: str, first: Case, second: Case, tmp: Path) -> None:
    """Each file of `first`, once imported, replaced by a new file (another inode, another
    start) at the same path: the store then holds both files' events, each id once."""
    renamed = Case(dict(zip(first.files, second.files.values())))
    src = write(first, tmp / "src")
    import_into(agent, src, tmp / "log")
    before = len(stream(tmp / "log"))
    for name in renamed.files:
        (src / name).unlink()
    write(renamed, src)
    import_into(agent, src, tmp / "log")
    import_into(agent, write(renamed, tmp / "src2"), tmp / "alone")
    alone = len(stream(tmp / "alone"))
    events = stream(tmp / "log")
    ids = [e["event_id"] for e in events]
    assert len(ids) == len(set(ids)), "a replaced file's events took the old file's ids"
    assert len(events) == before + alone
