"""Rotation by rename: live logs move into gzip archives while agents write and the watchdog reads.

Per file, in this order (docs/lifecycle.md has the why of each step):

  note    archive/.rotations.jsonl gets (dev, ino) of the live file -> its archive name
  rename  live -> archive/<stem>-<stamp>.jsonl, the "pending" file: readers read it in place,
          writers still holding the old descriptor keep appending to it
  wait    GRACE_S (> writer.REOPEN_CHECK_S): every writer has reopened the live name
  pack    pending -> archive/<stem>-<stamp>.jsonl.gz (temp file, fsync, rename)
  top up  lines appended to pending meanwhile become one more gzip member
  retire  pending -> archive/.retired/ (readers now read the .gz)
  purge   next run: top up again (a writer paused mid-append may have written), then delete

Session transcripts take the same path to archive/agent-sessions/<file>.gz. What an archive
already holds is derived from the files (`archive.covered`), so a run killed between any
two steps is finished by the next one, with no line lost or doubled. A lock file keeps
two rotators apart.
"""

from __future__ import annotations

import fcntl
import os
import signal
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

import msgspec

from . import layout, modes
from .archive import add_member, complete_size, covered
from .atomic import replace_file, sync_dir
from .cursor import Mark
from .retention import Policy, due, expired, sessions_to_archive, stamp, stamp_time

GRACE_S = 1.0  # four times writer.REOPEN_CHECK_S
FAILPOINT = "AGENTLOG_ROTATE_FAILPOINT"  # tests: kill -9 ourselves at the named step
MANIFEST = ".rotations.jsonl"
RETIRED = ".retired"
LOCK = "rotate.lock"


class RotationBusy(RuntimeError):
    """Another rotation holds the lock on this log dir."""


@dataclass
class Action:
    verb: str  # rotate, archive, pack, top-up, retire, purge, delete, finish
    path: str
    detail: str = ""
    size: int = 0


@dataclass
class RotationReport:
    dry_run: bool = False
    actions: list[Action] = field(default_factory=list)

    def add(self, verb: str, path: Path, detail: str = "", size: int = 0) -> None:
        self.actions.append(Action(verb, str(path), detail, size))

    def count(self, verb: str) -> int:
        return sum(1 for a in self.actions if a.verb == verb)

    @property
    def late_bytes(self) -> int:
        """Bytes writers appended after a file was renamed and packed (caught by a top-up)."""
        return sum(a.size for a in self.actions if a.verb == "top-up")

    def to_dict(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "actions": [asdict(a) for a in self.actions]}


def rotate(
    settings: Any, dry_run: bool = False, *, grace_s: float = GRACE_S, now: float | None = None
) -> RotationReport:
    """Rotate due live files, archive old transcripts, finish leftovers, apply retention.

    Raises RotationBusy when another rotation is running on the same log dir.
    """
    log_dir = Path(settings.log_dir)
    policy = Policy.from_settings(settings)
    now = time.time() if now is None else now
    report = RotationReport(dry_run)
    if dry_run:
        _plan(log_dir, policy, now, report)
        return report
    with _locked(log_dir):
        retired = _retired(log_dir)  # by earlier runs: purged at the end of this one
        _clean_temps(log_dir)
        pending = _pending(log_dir)
        for path in pending:
            report.add("finish", path, "left by an interrupted rotation")
        pending += _rename_due(log_dir, policy, now, report)
        _failpoint("renamed")
        _wait_quiet(pending, grace_s)
        packed = {path: _top_up(path, report, "pack") for path in pending}
        _sync(pending)
        _failpoint("packed")
        for path in pending:
            _top_up(path, report, "top-up", have=packed[path])
            _retire(path, report)
        _sync(pending)
        _failpoint("retired")
        _purge(retired, grace_s, report)
        _failpoint("purged")
        for path, reason in expired(log_dir, policy, now):
            report.add("delete", path, reason, path.stat().st_size)
            path.unlink(missing_ok=True)
        _compact_manifest(log_dir)
    return report


# --- the steps ------------------------------------------------------------------------


def _rename_due(log_dir: Path, policy: Policy, now: float, report: RotationReport) -> list[Path]:
    folder = log_dir / layout.ARCHIVE
    moved = []
    for name in layout.KINDS.values():
        live = log_dir / name
        reason = due(live, policy, now)
        if reason is None:
            continue
        modes.make_dirs(folder)
        pending = folder / f"{_stem(name)}-{_next_stamp(folder, _stem(name), now)}.jsonl"
        st = live.stat()
        _note(folder, pending, st)
        _failpoint("noted")
        os.rename(live, pending)
        report.add("rotate", live, reason, st.st_size)
        moved.append(pending)
    sessions = folder / layout.SESSIONS
    for live, reason in sessions_to_archive(log_dir, policy, now):
        pending = sessions / live.name
        if pending.exists() or not live.exists():
            continue  # a leftover of this transcript is finished first; the rest goes next run
        modes.make_dirs(sessions)
        size = live.stat().st_size
        os.rename(live, pending)
        report.add("archive", live, reason, size)
        moved.append(pending)
    if moved:
        sync_dir(log_dir)
    return moved


def _wait_quiet(pending: list[Path], grace_s: float) -> None:
    """Until every pending file was renamed (or last written) more than grace_s ago."""
    changed = [_ctime(p) for p in pending]
    latest = max((t for t in changed if t is not None), default=None)
    if latest is not None:
        time.sleep(max(0.0, latest + grace_s - time.time()))


def _top_up(path: Path, report: RotationReport, verb: str, have: int | None = None) -> int:
    """Make the archive hold every complete line of `path` (pending or retired); returns
    how many bytes of `path` it holds now. `have`: what it is known to hold already."""
    archive = _archive_for(path)
    have = covered(archive, path) if have is None else have
    end = complete_size(path)
    if end > have:
        add_member(archive, path, have, end)
        report.add(verb, archive, f"from {path.name}", end - have)
    return max(end, have)


def _retire(pending: Path, report: RotationReport) -> None:
    folder = pending.parent / RETIRED
    modes.make_dirs(folder)
    os.rename(pending, folder / f"{pending.name}@{stamp(time.time())}")
    report.add("retire", pending)


def _purge(retired: list[Path], grace_s: float, report: RotationReport) -> None:
    """Delete files retired by earlier runs, after a last top-up for very late appends."""
    due = [p for p in retired if (_ctime(p) or time.time()) <= time.time() - grace_s]
    topped = len(report.actions)
    for path in due:
        if _archive_for(path).exists():
            _top_up(path, report, "top-up")
    if len(report.actions) > topped:
        _sync([_archive_for(p) for p in due])  # the topped-up archives survive a power cut first
    for path in due:
        tail = path.stat().st_size - complete_size(path)
        path.unlink()
        report.add("purge", path, f"dropped {tail} bytes of an unfinished line" if tail else "")


def _sync(paths: list[Path]) -> None:
    """Make the renames of a batch durable: once per folder, not once per file."""
    for folder in {p.parent for p in paths} | {p.parent / RETIRED for p in paths}:
        if folder.is_dir():
            sync_dir(folder)


def _archive_for(path: Path) -> Path:
    """archive/<x>.jsonl (pending) or archive/.retired/<x>.jsonl@<stamp> -> archive/<x>.jsonl.gz."""
    if path.parent.name == RETIRED:
        return path.parent.parent / (path.name.rsplit("@", 1)[0] + ".gz")
    return path.with_name(path.name + ".gz")


# --- dry run ---------------------------------------------------------------------------


def _plan(log_dir: Path, policy: Policy, now: float, report: RotationReport) -> None:
    for path in _pending(log_dir):
        report.add("finish", path, "left by an interrupted rotation", path.stat().st_size)
    for name in layout.KINDS.values():
        reason = due(log_dir / name, policy, now)
        if reason:
            report.add("rotate", log_dir / name, reason, (log_dir / name).stat().st_size)
    for path, reason in sessions_to_archive(log_dir, policy, now):
        report.add("archive", path, reason, path.stat().st_size)
    for path in _retired(log_dir):
        report.add("purge", path, "archived by an earlier run", path.stat().st_size)
    for path, reason in expired(log_dir, policy, now):
        report.add("delete", path, reason, path.stat().st_size)


# --- files of the protocol -------------------------------------------------------------


def _folders(log_dir: Path) -> tuple[Path, Path]:
    return log_dir / layout.ARCHIVE, log_dir / layout.ARCHIVE / layout.SESSIONS


def _pending(log_dir: Path) -> list[Path]:
    found = []
    for folder in _folders(log_dir):
        found += _files(folder, lambda n: n.endswith(".jsonl") and not n.startswith("."))
    return found


def _retired(log_dir: Path) -> list[Path]:
    return [p for folder in _folders(log_dir) for p in _files(folder / RETIRED, lambda n: "@" in n)]


def _clean_temps(log_dir: Path) -> None:
    """Temp archives of a killed run: never renamed into place, so never needed."""
    for folder in _folders(log_dir):
        for path in _files(folder, lambda n: n.startswith(".") and n.endswith(".tmp")):
            path.unlink(missing_ok=True)


def _files(folder: Path, keep) -> list[Path]:
    try:
        return sorted(Path(e.path) for e in os.scandir(folder) if keep(e.name) and e.is_file())
    except FileNotFoundError:
        return []


def _ctime(path: Path) -> float | None:
    try:
        return path.stat().st_ctime
    except FileNotFoundError:
        return None


def _stem(name: str) -> str:
    return name.removesuffix(".jsonl")


def _next_stamp(folder: Path, stem: str, now: float) -> str:
    """The rotation time, moved past the newest archive of the kind so names sort by time."""
    prefix = stem + "-"
    taken = [n[len(prefix) : len(prefix) + 20] for n in os.listdir(folder) if n.startswith(prefix)]
    newest = max(taken, default="")
    candidate = stamp(now)
    if candidate <= newest:
        previous = stamp_time(newest)
        candidate = stamp(previous + 0.001) if previous is not None else candidate
    return candidate


def _failpoint(step: str) -> None:
    if os.environ.get(FAILPOINT) == step:
        os.kill(os.getpid(), signal.SIGKILL)


@contextmanager
def _locked(log_dir: Path) -> Iterator[None]:
    folder = log_dir / layout.STATE
    modes.make_dirs(folder)
    fd = modes.create(folder / LOCK, os.O_RDWR)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RotationBusy(f"another rotation is running on {log_dir}") from None
        yield
    finally:
        os.close(fd)


# --- the manifest: which live inode became which archive ---------------------------------


class _Entry(msgspec.Struct):
    archive: str  # <stem>-<stamp>.jsonl.gz
    dev: int
    ino: int


def _note(folder: Path, pending: Path, st: os.stat_result) -> None:
    line = msgspec.json.encode(_Entry(pending.name + ".gz", st.st_dev, st.st_ino)) + b"\n"
    fd = modes.create(folder / MANIFEST, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def _entries(folder: Path) -> list[_Entry]:
    try:
        raw = (folder / MANIFEST).read_bytes()
    except FileNotFoundError:
        return []
    entries = []
    for line in raw.splitlines():
        try:
            entries.append(msgspec.json.decode(line, type=_Entry))
        except msgspec.DecodeError:
            continue  # a line cut by a crash while noting
    return entries


def _compact_manifest(log_dir: Path) -> None:
    """Forget rotations whose archive is gone (expired, or noted but never renamed)."""
    folder = log_dir / layout.ARCHIVE
    entries = _entries(folder)
    kept = [e for e in entries if (folder / e.archive).exists() or (folder / e.archive[:-3]).exists()]
    if len(kept) == len(entries):
        return
    replace_file(folder / MANIFEST, b"".join(msgspec.json.encode(e) + b"\n" for e in kept), durable=False)


# --- for the tailer ------------------------------------------------------------------------


def find_rotated(log_dir: Path | str, name: str, mark: Mark) -> Path | None:
    """The rotated file a tailer checkpoint mark (`store.tail.Mark`) was taken on, or None.

    A mark (`store.cursor.Mark`) holds dev, ino, offset and the fingerprint of the file's head.
    The manifest maps (dev, ino) to the archive, newest rotation first (inode numbers are
    reused); failing that, every archive of the kind is tried by its head. The pending
    file is preferred while it exists: until it is retired the .gz may lack its last lines.
    """
    folder = Path(log_dir) / layout.ARCHIVE
    stem = _stem(name) + "-"
    by_inode = [e.archive for e in reversed(_entries(folder)) if (e.dev, e.ino) == (mark.dev, mark.ino)]
    for archive in by_inode:
        for path in (folder / archive[:-3], folder / archive):
            if _holds(path, mark):
                return path
    if mark.head_len == 0:
        return None  # nothing was read from it: no head to recognise it by
    names = [n for n in os.listdir(folder) if n.startswith(stem)] if folder.is_dir() else []
    for n in sorted(names, key=lambda n: (n.removesuffix(".gz"), n.endswith(".jsonl")), reverse=True):
        if _holds(folder / n, mark):
            return folder / n
    return None


def rotations(log_dir: Path | str, name: str) -> list[tuple[str, tuple[int, int]]]:
    """(archive name, (dev, ino) of the live file it was) of each rotation of `name` the
    manifest holds, oldest first."""
    stem = _stem(name) + "-"
    return [(e.archive, (e.dev, e.ino)) for e in _entries(Path(log_dir) / layout.ARCHIVE) if e.archive.startswith(stem)]


def rotated_after(log_dir: Path | str, name: str, after: tuple[int, int] | frozenset[str]) -> list[Path]:
    """Files rotated after the live file with (dev, ino) `after`, or, given the set of
    rotations known at some moment, every rotation since: what a tailer that saw two rotations
    between two looks has not read yet, oldest first. Pending files where they exist."""
    known = rotations(log_dir, name)
    if isinstance(after, tuple):
        idents = [ident for _, ident in known]
        if after not in idents:
            return []
        newer = [archive for archive, _ in known[len(idents) - idents[::-1].index(after) :]]
    else:
        newer = [archive for archive, _ in known if archive not in after]
    folder = Path(log_dir) / layout.ARCHIVE
    return [path for path in (generation(folder / archive) for archive in newer) if path is not None]


def generation(archive: Path) -> Path | None:
    """Where a rotated generation is now: its pending `.jsonl` while it exists (until it is
    retired the `.gz` may lack its last lines), else its `.gz`; None once expired."""
    pending = archive.with_name(archive.name.removesuffix(".gz"))
    packed = pending.with_name(pending.name + ".gz")
    return next((p for p in (pending, packed) if p.exists()), None)


def _holds(path: Path, mark: Mark) -> bool:
    import gzip

    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as handle:
                head = handle.read(mark.head_len)
        else:
            if path.stat().st_size < mark.offset:
                return False
            with open(path, "rb") as handle:
                head = handle.read(mark.head_len)
    except (OSError, EOFError):
        return False
    return mark.starts(head)
