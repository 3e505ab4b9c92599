"""An incremental cache of the stream's session parts under `state/analytics-cache/`.

Parsing the JSON is nearly all of a report's time, and the stream only grows, so each
file's parts (`analytics.parts`) are kept as Parquet and only bytes appended since the
last run are parsed.  A file is known by its identity (device, inode), not its name, so
a live file renamed aside by a rotation keeps its parts.  Nothing is trusted blindly:

- plain files: the cached stretch [0, offset) must still be there, checked by hashing
  its first and last 4 KiB (`store.cursor.digest`, the fingerprint every file reader uses;
  the last bytes too, because the parts cover the whole stretch); then only complete
  lines after it are copied out and parsed.
  A file that shrank or was rewritten is parsed again from the start.
- gzip archives change only by replacement (`store.archive`): size, mtime and the hash
  of the first 4 KiB must match, else the archive is parsed again.
- a file parsed whole is cached only if it did not change while it was read and ends
  with a complete line; otherwise the next run copies its complete lines out first.
- entries of files that are gone (retention, a finished rotation) are dropped with their
  Parquet files; a manifest written for other part columns is ignored.

One process refreshes at a time (a flock); the parts are copied into the connection
before the lock is released, so no reader sees a half-written or deleted part.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from ..store import modes
from ..store.cursor import digest
from ..store.atomic import replace_file
from . import parts
from .scan import ends_complete

FOLDER = "analytics-cache"  # under the log dir's state/
MANIFEST = "manifest.json"
PROBE = 4096  # bytes hashed at each end of a cached stretch
ROW_GROUP = 16_384  # rows of a part's Parquet row group
# Parts written for other columns, native code or SQL are not reused.
SCHEMA = hashlib.blake2b((parts.VERSION + parts.merge("x") + duckdb.__version__).encode(), digest_size=8).hexdigest()


@dataclass
class _Plan:
    path: Path
    key: str
    entry: dict  # what the manifest says about the file: after the run, the new entry
    before: os.stat_result
    read_whole: bool = False  # parse the file itself (else its copied-out new lines, if any)
    copy: Path | None = None
    file: int = -1  # its index in `new_parts` (the file's or its copied lines'), if parsed now
    cut: int = 0  # plain files: the offset after the copied lines
    head: bytes = b""  # plain files: the first and last PROBE bytes of the cached stretch
    tail: bytes = b""


def refresh(con: duckdb.DuckDBPyConnection, files: list[Path], folder: Path) -> list[Path]:
    """Build `stream_sessions` and `stream_errors` (`parts.build`) for `files`, parsing
    only what the cache lacks.

    Returns the files read whole this time (their unfinished last line, if any, was read
    as a malformed line).
    """
    modes.make_dirs(folder)
    with locked(folder / "lock"):
        manifest = _load(folder / MANIFEST)
        plans = [p for p in (_plan(path, manifest) for path in files) if p is not None]
        try:
            for plan in plans:
                if plan.cut > plan.entry.get("offset", 0):
                    plan.copy = copy_out(plan.path, plan.entry["offset"], plan.cut, folder)
            _parse(con, plans)
            _store(con, plans, folder)
        finally:
            for plan in plans:
                if plan.copy is not None:
                    plan.copy.unlink(missing_ok=True)
        parts.build(con, _collect(plans, folder))  # before another process may delete a part
        _save(folder, manifest, plans)
    return [p.path for p in plans if p.read_whole]


def forget(folder: Path) -> bool:
    """Drop the manifest (the parts go at the next refresh); False if that failed."""
    try:
        (folder / MANIFEST).unlink(missing_ok=True)
    except OSError:
        return False
    return True


def remembered(folder: Path, name: str, version: str, keys: list[str], compute) -> list:
    """`compute(key)` for each key, remembered in `<name>.json` for this `version` of it.

    For values derived by slow pure functions (an error's category): a later run pays
    only for keys it has not seen.  Only this run's keys are kept, so the file follows
    the logs instead of growing forever.  Concurrent writers write whole files: last wins.
    """
    path = folder / f"{name}.json"
    try:
        saved = json.loads(path.read_bytes())
        known = saved["values"] if saved.get("version") == version and isinstance(saved["values"], dict) else {}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        known = {}
    values = {k: known[k] if k in known else compute(k) for k in keys}
    if values.keys() != known.keys():
        try:
            replace_file(path, json.dumps({"version": version, "values": values}).encode(), durable=False)
        except OSError:
            pass  # a read-only log dir: computed again next time
    return list(values.values())


# --- deciding what to parse -------------------------------------------------------


def _plan(path: Path, manifest: dict) -> _Plan | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:  # rotated away since it was listed
        return None
    key = f"{st.st_dev}:{st.st_ino}"
    entry = manifest.get(key)
    plan = _Plan(path, key, {"path": str(path)}, st)
    if path.suffix == ".gz":
        plan.read_whole = not (
            entry
            and (entry.get("size"), entry.get("mtime_ns")) == (st.st_size, st.st_mtime_ns)
            and entry.get("head") == digest(read_at(path, 0, PROBE))
        )
    else:
        plan.read_whole = entry is None or not _still_there(plan, entry, st.st_size)
    if not plan.read_whole:
        plan.entry = entry
        if path.suffix != ".gz":
            plan.cut = last_line_end(path, entry["offset"], st.st_size)
    return plan


def _still_there(plan: _Plan, entry: dict, size: int) -> bool:
    """Whether the cached stretch [0, offset) is unchanged: its first and last bytes hash the same."""
    offset = entry.get("offset", -1)
    if not isinstance(offset, int) or not 0 <= offset <= size:
        return False
    probe = min(PROBE, offset)
    plan.head, plan.tail = read_at(plan.path, 0, probe), read_at(plan.path, offset - probe, probe)
    return len(plan.head) == len(plan.tail) == probe and (entry.get("head"), entry.get("tail")) == (
        digest(plan.head),
        digest(plan.tail),
    )


# --- parsing and storing ----------------------------------------------------------


def _parse(con, plans: list[_Plan]) -> None:
    """The parts of every file read whole and every copied-out stretch, in one native pass."""
    sources = []
    for plan in plans:
        if plan.read_whole or plan.copy:
            plan.file = len(sources)
            sources.append(plan.path if plan.read_whole else plan.copy)
    parts.load(con, "new_parts", sources)


def _store(con, plans: list[_Plan], folder: Path) -> None:
    """Write a Parquet part for every file parsed (merged with its cached part)."""
    for plan in plans:
        if plan.read_whole:
            after = _stat(plan.path)
            plan.entry = {}
            if after is None or _changed(plan.before, after) or not ends_complete(plan.path, after.st_size):
                if plan.path.suffix != ".gz":  # next time: copy its complete lines out first
                    plan.entry = {"path": str(plan.path), "offset": 0, "head": digest(b""), "tail": digest(b"")}
                continue
            if plan.path.suffix == ".gz":
                plan.entry = {
                    "size": after.st_size,
                    "mtime_ns": after.st_mtime_ns,
                    "head": digest(read_at(plan.path, 0, PROBE)),
                }
            else:
                probe = min(PROBE, after.st_size)
                plan.entry = {
                    "offset": after.st_size,
                    "head": digest(read_at(plan.path, 0, probe)),
                    "tail": digest(read_at(plan.path, after.st_size - probe, probe)),
                }
            plan.entry.update(path=str(plan.path), part=_write(con, folder, _rows(plan)))
        elif plan.copy is not None:
            rows = _rows(plan)
            if plan.entry.get("part"):
                rows = parts.merge(
                    f"(SELECT * FROM read_parquet({quote(str(folder / plan.entry['part']))}) UNION ALL BY NAME {rows})"
                )
            first, last = read_at(plan.copy, 0, PROBE), _read_end(plan.copy, PROBE)
            plan.entry = {
                "path": str(plan.path),
                "part": _write(con, folder, rows),
                "offset": plan.cut,
                "head": digest((plan.head + first)[:PROBE]),
                "tail": digest((plan.tail + last)[-PROBE:]),
            }


def _rows(plan: _Plan) -> str:
    return f"SELECT * EXCLUDE (file) FROM new_parts WHERE file = {plan.file}"


def _write(con, folder: Path, rows: str) -> str:
    """A part as Parquet, its rows grouped by kind in row groups of ROW_GROUP rows: a
    report's queries, each of one kind, then skip the other kinds' groups and share the
    rest between the cores (one group is read by one thread)."""
    name = f"part-{uuid.uuid4().hex}.parquet"
    con.execute(
        f"COPY (SELECT * FROM ({rows}) ORDER BY kind) TO {quote(str(folder / name))} (FORMAT parquet, ROW_GROUP_SIZE {ROW_GROUP})"
    )
    os.chmod(folder / name, modes.file_mode())  # DuckDB creates it with the umask's mode
    return name


def _collect(plans: list[_Plan], folder: Path) -> str:
    """The parts of every file as one relation: those parsed whole now from `new_parts`."""
    selects = [
        _rows(p) if p.read_whole else f"SELECT * FROM read_parquet({quote(str(folder / p.entry['part']))})"
        for p in plans
        if p.read_whole or p.entry.get("part")
    ]
    return "(" + (" UNION ALL BY NAME ".join(selects) or "SELECT * EXCLUDE (file) FROM new_parts WHERE false") + ")"


def _save(folder: Path, manifest: dict, plans: list[_Plan]) -> None:
    """Keep entries of files listed now or still at their path; delete unreferenced parts."""
    entries = {p.key: p.entry for p in plans if p.entry}
    for key, entry in manifest.items():
        if key not in entries and _identity(entry.get("path")) == key:
            entries[key] = entry
    replace_file(folder / MANIFEST, json.dumps({"schema": SCHEMA, "files": entries}).encode(), durable=False)
    keep = {e.get("part") for e in entries.values()}
    for path in folder.glob("part-*.parquet"):
        if path.name not in keep:
            path.unlink(missing_ok=True)


# --- files ------------------------------------------------------------------------


@contextmanager
def locked(path: Path) -> Iterator[None]:
    fd = modes.create(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _load(path: Path) -> dict:
    try:
        saved = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    files = saved.get("files") if isinstance(saved, dict) and saved.get("schema") == SCHEMA else None
    return files if isinstance(files, dict) else {}


def read_at(path: Path, start: int, length: int) -> bytes:
    with open(path, "rb") as handle:
        return os.pread(handle.fileno(), length, start)


def _read_end(path: Path, length: int) -> bytes:
    size = path.stat().st_size
    return read_at(path, max(0, size - length), min(length, size))


def last_line_end(path: Path, start: int, size: int) -> int:
    """The offset just after the last newline in [start, size), or `start` if none."""
    end = size
    while end > start:
        begin = max(start, end - (1 << 16))
        found = read_at(path, begin, end - begin).rfind(b"\n")
        if found >= 0:
            return begin + found + 1
        end = begin
    return start


def copy_out(path: Path, start: int, end: int, folder: Path) -> Path:
    """Bytes [start, end) of `path` into a file in the cache folder, to be parsed."""
    target = folder / f"new-{uuid.uuid4().hex}.jsonl"
    with open(path, "rb") as src, os.fdopen(modes.create(target, os.O_WRONLY | os.O_TRUNC), "wb") as dst:
        done = start
        while done < end:
            try:
                copied = os.copy_file_range(src.fileno(), dst.fileno(), end - done, done)
            except OSError:  # not supported between these file systems
                copied = dst.write(os.pread(src.fileno(), min(end - done, 1 << 20), done))
            if not copied:
                raise OSError(f"{path} shrank while it was copied")
            done += copied
    return target


def _stat(path: Path) -> os.stat_result | None:
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None


def _changed(before: os.stat_result, after: os.stat_result) -> bool:
    return (before.st_ino, before.st_size, before.st_mtime_ns) != (after.st_ino, after.st_size, after.st_mtime_ns)


def _identity(path: str | None) -> str | None:
    st = _stat(Path(path)) if path else None
    return f"{st.st_dev}:{st.st_ino}" if st else None


def quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
