"""The Parquet copy of a fleet archive's stream: `compact` writes it, `open_snapshot` reads it.

    DIR/parquet/day=YYYY-MM-DD/machine=HOST/part-N.parquet
    DIR/parquet/_sessions/part-N.parquet    session parts of the events of the parts
    DIR/parquet/manifest.json     which parts exist, and the stream offset they cover

The parts hold the events of a prefix of `agent-work-stream.jsonl`: every line before the
manifest's `offset`, in the pinned columns analytics reads (`scan.STREAM_COLUMNS`) plus
`event_id`; `day` (UTC, from the event's timestamp) and `machine` (the `<host>` of the
subject it came on, from `fleet-machines.jsonl`, which the archiver writes before the
events) are the Hive partition folders. A reader takes the parts plus the stream's lines
after the offset: every event once, however late it arrived (a late event of a day
already compacted lands in a new part of that day). Each compaction also writes the
session parts (`analytics.parts`: per attempt counts, sums, errors) of its events, so a
report merges a few of those instead of aggregating every event again; they are merged
into one once there are `MERGE_AT` (`_` hides them from Hive readers).

Crash safety rests on the manifest alone: a part is written under a temporary name, synced
and renamed into place, and only then listed, with the new offset, by replacing the
manifest atomically and durably. Parts not listed are leftovers of a crash and are deleted
by the next compaction; readers never look at them. Merging small parts lists the merged
part and retires the small ones in the same manifest write; retired parts are deleted only
while no reader holds `readers.lock` (shared), so a report never loses a file under it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from ..store import layout, modes
from ..store.atomic import replace_file, sync_dir
from ..store.reader import archives_of
from . import parts as session_parts
from .cache import PROBE, copy_out, digest, last_line_end, locked, quote, read_at
from .scan import IN_BOUNDS, STREAM_COLUMNS, relation

FOLDER = "parquet"  # under the archive dir
MACHINES = "fleet-machines.jsonl"  # {"attempt_id"|"event_id": ..., "machine": host}, by the archiver
MANIFEST = "manifest.json"
READERS = "readers.lock"
UNKNOWN = "unknown"  # the partition of events without a timestamp or a known machine
MERGE_AT = 8  # small parts in one partition before they are merged into one
SMALL = 32 << 20  # bytes: parts larger than this are left alone (no rewriting big parts again and again)

COLUMNS = {**STREAM_COLUMNS, "event_id": "VARCHAR"}
SESSIONS = "_sessions"  # under FOLDER: session parts
# Parts written for other columns or by another DuckDB are rebuilt, not misread.
FORMAT = "parquet-parts+sessions-1"  # what the manifest lists; bump when that changes
SCHEMA = hashlib.blake2b(
    (
        FORMAT + repr(COLUMNS) + IN_BOUNDS + session_parts.VERSION + session_parts.merge("x") + duckdb.__version__
    ).encode(),
    digest_size=8,
).hexdigest()


class ColumnarError(RuntimeError):
    """The archive cannot be compacted (its stream was rotated)."""


@dataclass
class Compaction:
    rows: int = 0  # events written to new parts
    parts: int = 0  # parts written (new and merged)
    merged: int = 0  # small parts merged away
    offset: int = 0  # stream bytes now covered by the parts


@dataclass
class Snapshot:
    """What a reader uses: the listed parts and the stream's complete lines after them."""

    parts: list[Path]
    sessions: list[Path]  # the session parts of the events in `parts`
    tail: Path | None  # a private copy of the stream's complete lines after the offset
    lock: int | None  # shared: no compaction deletes a listed part while it is held
    temp: Path | None = None

    def relation(self) -> str:
        """The events, in `STREAM_COLUMNS`, as one relation."""
        names = ", ".join(f'"{name}"' for name in STREAM_COLUMNS)
        tail = f"SELECT {names} FROM {relation([self.tail] if self.tail else [], STREAM_COLUMNS)}"
        if not self.parts:
            return f"({tail})"
        files = ", ".join(quote(str(p)) for p in self.parts)
        return f"(SELECT {names} FROM read_parquet([{files}], hive_partitioning=false) UNION ALL {tail})"

    def session_parts(self, con) -> str:
        """The flat session parts (`analytics.parts`) of all the events: those written with
        the parts, and the tail's (made now into the temp table `tail_parts` of `con`)."""
        session_parts.load(con, "tail_parts", [self.tail] if self.tail else [])
        tail = "SELECT * EXCLUDE (file) FROM tail_parts"
        if not self.sessions:
            return tail
        files = ", ".join(quote(str(p)) for p in self.sessions)
        return f"SELECT * FROM read_parquet([{files}], union_by_name=true) UNION ALL BY NAME ({tail})"

    def close(self) -> None:
        """Once the rows were read into tables: the files may go."""
        if self.temp is not None:
            shutil.rmtree(self.temp, ignore_errors=True)
            self.temp = None
        if self.lock is not None:
            os.close(self.lock)
            self.lock = None


@dataclass
class _Manifest:
    offset: int = 0
    head: str = field(default_factory=lambda: digest(b""))  # digests of the first and last PROBE
    tail: str = field(default_factory=lambda: digest(b""))  # bytes before the offset
    next: int = 0  # number of the next part
    parts: list[str] = field(default_factory=list)  # relative to the folder
    sessions: list[str] = field(default_factory=list)  # session parts of the events in `parts`, likewise
    retired: list[str] = field(default_factory=list)  # merged away, to delete when no reader is in

    def encode(self) -> bytes:
        return json.dumps({"schema": SCHEMA, **self.__dict__}).encode()


# --- reading --------------------------------------------------------------------------


def open_snapshot(log_dir: Path) -> Snapshot | None:
    """The Parquet parts and stream tail of a compacted archive, or None when the dir has
    none usable (never compacted, compacted by another schema, or its stream rotated or
    rewritten since: then the JSONL, which holds everything, is read as usual)."""
    folder = log_dir / FOLDER
    try:
        lock = os.open(folder / READERS, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    fcntl.flock(lock, fcntl.LOCK_SH)
    stream = log_dir / layout.STREAM
    manifest = _load(folder)
    if manifest is None or archives_of(log_dir, layout.STREAM) or not _covers(stream, manifest):
        os.close(lock)
        return None
    snapshot = Snapshot([folder / p for p in manifest.parts], [folder / p for p in manifest.sessions], None, lock)
    try:
        cut = last_line_end(stream, manifest.offset, stream.stat().st_size)
        if cut > manifest.offset:
            snapshot.temp = Path(tempfile.mkdtemp(prefix="agentlog-tail-"))
            snapshot.tail = copy_out(stream, manifest.offset, cut, snapshot.temp)
    except OSError:
        snapshot.close()
        return None
    return snapshot


def inventory(log_dir: Path) -> list[dict]:
    """Per day and machine: the parts listed and the events in them (for people, not reports)."""
    manifest = _load(Path(log_dir) / FOLDER)
    if manifest is None or not manifest.parts:
        return []
    files = ", ".join(quote(str(Path(log_dir) / FOLDER / p)) for p in manifest.parts)
    cursor = duckdb.sql(
        "SELECT day::VARCHAR AS day, machine, count(DISTINCT filename) AS parts, count(*) AS events "
        f"FROM read_parquet([{files}], hive_partitioning=true, hive_types_autocast=false, filename=true) "
        "GROUP BY ALL ORDER BY day, machine"
    )
    names = [c[0] for c in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


# --- compacting -----------------------------------------------------------------------


def compact(log_dir: Path | str, *, merge_at: int = MERGE_AT) -> Compaction:
    """Write the stream's complete lines after the last compaction into new parts, then
    merge partitions holding `merge_at` small parts or more. One compactor at a time."""
    log_dir = Path(log_dir)
    folder = log_dir / FOLDER
    stream = log_dir / layout.STREAM
    if archives_of(log_dir, layout.STREAM):
        raise ColumnarError(
            f"{log_dir}: the stream was rotated into archive/; a compacted fleet archive keeps one stream file"
        )
    modes.make_dirs(folder)
    os.close(modes.create(folder / READERS, os.O_RDONLY))
    with locked(folder / "compact.lock"):
        manifest = _load(folder) or _Manifest()
        if not _covers(stream, manifest):  # first run, new schema, or a rewritten stream: start over
            manifest = _Manifest(next=manifest.next, retired=manifest.retired + manifest.parts + manifest.sessions)
        _drop_leftovers(folder, manifest)
        result = Compaction(offset=manifest.offset)
        con = duckdb.connect(config={"preserve_insertion_order": False})
        try:
            con.execute("SET TimeZone = 'UTC'")  # days are UTC days
            _append(con, log_dir, manifest, result)
            _merge(con, folder, manifest, merge_at, result)
        finally:
            con.close()
        _retire(folder, manifest)
    return result


def _append(con, log_dir: Path, manifest: _Manifest, result: Compaction) -> None:
    """The complete lines after the offset into new parts; then the manifest says so."""
    folder, stream = log_dir / FOLDER, log_dir / layout.STREAM
    size = stream.stat().st_size if stream.exists() else 0
    cut = last_line_end(stream, manifest.offset, size) if size else 0
    if cut <= manifest.offset:
        return
    stage = folder / f".stage-{uuid.uuid4().hex}"
    modes.make_dirs(stage)
    try:
        lines = copy_out(stream, manifest.offset, cut, stage)
        result.rows = _write_partitioned(con, _events(lines, log_dir / MACHINES), stage / "out")
        for part in sorted((stage / "out").glob("day=*/machine=*/*.parquet")):
            manifest.parts.append(_place(part, folder, str(part.parent.relative_to(stage / "out")), manifest))
            result.parts += 1
        sessions = stage / "sessions.parquet"
        session_parts.load(con, "new_parts", [lines])
        con.execute(
            f"COPY (SELECT * EXCLUDE (file) FROM new_parts) TO {quote(str(sessions))} (FORMAT parquet, COMPRESSION zstd)"
        )
        manifest.sessions.append(_place(sessions, folder, SESSIONS, manifest))
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    probe = min(PROBE, cut)
    manifest.offset, result.offset = cut, cut
    manifest.head, manifest.tail = digest(read_at(stream, 0, probe)), digest(read_at(stream, cut - probe, probe))
    _save(folder, manifest)


def _events(lines: Path, machines: Path) -> str:
    """The events of `lines` with their day and machine (by attempt, else by event id)."""
    known = relation(
        [machines] if machines.exists() else [], {"attempt_id": "VARCHAR", "event_id": "VARCHAR", "machine": "VARCHAR"}
    )
    return f"""
        WITH known AS MATERIALIZED (SELECT * FROM {known} WHERE machine IS NOT NULL),
        by_attempt AS (SELECT attempt_id, min(machine) AS machine FROM known WHERE attempt_id IS NOT NULL GROUP BY 1),
        by_event AS (SELECT event_id, min(machine) AS machine FROM known WHERE event_id IS NOT NULL GROUP BY 1)
        SELECT e.*, coalesce(strftime(e.timestamp, '%Y-%m-%d'), '{UNKNOWN}') AS day,
               coalesce(a.machine, b.machine, '{UNKNOWN}') AS machine
        FROM {relation([lines], COLUMNS)} e
        LEFT JOIN by_attempt a ON e.attempt_id = a.attempt_id
        LEFT JOIN by_event b ON e.attempt_id IS NULL AND e.event_id = b.event_id"""


def _write_partitioned(con, rows: str, target: Path) -> int:
    con.execute(
        f"COPY ({rows}) TO {quote(str(target))} "
        "(FORMAT parquet, COMPRESSION zstd, PARTITION_BY (day, machine), FILENAME_PATTERN 'part-{uuid}')"
    )
    return con.execute(
        f"SELECT count(*) FROM read_parquet({quote(str(target / '**' / '*.parquet'))}, hive_partitioning=false)"
    ).fetchone()[0]


def _merge(con, folder: Path, manifest: _Manifest, merge_at: int, result: Compaction) -> None:
    """Per partition, `merge_at` or more small parts become one; one manifest write for all."""
    small: dict[str, list[str]] = {}
    for part in manifest.parts:
        if (folder / part).stat().st_size < SMALL:
            small.setdefault(str(Path(part).parent), []).append(part)
    groups = [parts for parts in small.values() if len(parts) >= max(2, merge_at)]
    merge_sessions = len(manifest.sessions) >= max(2, merge_at)
    if not groups and not merge_sessions:
        return
    stage = folder / f".stage-{uuid.uuid4().hex}"
    modes.make_dirs(stage)
    try:
        for parts in groups:
            files = ", ".join(quote(str(folder / p)) for p in parts)
            temp = stage / f"merged-{uuid.uuid4().hex}.parquet"
            con.execute(
                f"COPY (SELECT * FROM read_parquet([{files}], hive_partitioning=false)) "
                f"TO {quote(str(temp))} (FORMAT parquet, COMPRESSION zstd)"
            )
            placed = _place(temp, folder, str(Path(parts[0]).parent), manifest)
            manifest.parts = [p for p in manifest.parts if p not in parts] + [placed]
            manifest.retired += parts
            result.parts += 1
            result.merged += len(parts)
        if merge_sessions:
            files = ", ".join(quote(str(folder / p)) for p in manifest.sessions)
            temp = stage / "sessions.parquet"
            merged = session_parts.merge(f"read_parquet([{files}], union_by_name=true)")
            con.execute(f"COPY ({merged}) TO {quote(str(temp))} (FORMAT parquet, COMPRESSION zstd)")
            manifest.retired += manifest.sessions
            manifest.sessions = [_place(temp, folder, SESSIONS, manifest)]
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    _save(folder, manifest)


def _place(written: Path, folder: Path, partition: str, manifest: _Manifest) -> str:
    """Sync a written file and rename it into `folder/partition` as the next part-N (listed
    by the caller's next manifest write); its name relative to `folder`."""
    name = f"{partition}/part-{manifest.next}.parquet"
    manifest.next += 1
    fd = os.open(written, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(written, modes.file_mode())  # DuckDB creates files with the umask's mode
    modes.make_dirs((folder / name).parent)
    os.replace(written, folder / name)
    sync_dir((folder / name).parent)
    return name


def _retire(folder: Path, manifest: _Manifest) -> None:
    """Delete retired parts if no reader is in (else next time)."""
    if not manifest.retired:
        return
    fd = os.open(folder / READERS, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return
    try:
        for part in manifest.retired:
            (folder / part).unlink(missing_ok=True)
        manifest.retired = []
        _save(folder, manifest)
    finally:
        os.close(fd)


def _drop_leftovers(folder: Path, manifest: _Manifest) -> None:
    """Parts no manifest lists (written by a compaction killed before it could list them)
    and its staging folders."""
    listed = set(manifest.parts) | set(manifest.sessions) | set(manifest.retired)
    for path in [*folder.glob("day=*/machine=*/*.parquet"), *folder.glob(f"{SESSIONS}/*.parquet")]:
        if str(path.relative_to(folder)) not in listed:
            path.unlink(missing_ok=True)
    for path in folder.glob(".stage-*"):
        shutil.rmtree(path, ignore_errors=True)


# --- the manifest -----------------------------------------------------------------------


def _load(folder: Path) -> _Manifest | None:
    try:
        saved = json.loads((folder / MANIFEST).read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(saved, dict) or saved.pop("schema", None) != SCHEMA:
        return None
    try:
        manifest = _Manifest(**saved)
    except TypeError:
        return None
    return manifest if bool(manifest.parts) == bool(manifest.sessions) else None


def _save(folder: Path, manifest: _Manifest) -> None:
    replace_file(folder / MANIFEST, manifest.encode())


def _covers(stream: Path, manifest: _Manifest) -> bool:
    """Whether the stream still starts with the bytes the parts were made from."""
    try:
        size = stream.stat().st_size
    except FileNotFoundError:
        return manifest.offset == 0
    offset = manifest.offset
    if not 0 <= offset <= size:
        return False
    probe = min(PROBE, offset)
    return (digest(read_at(stream, 0, probe)), digest(read_at(stream, offset - probe, probe))) == (
        manifest.head,
        manifest.tail,
    )
