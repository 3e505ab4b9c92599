"""`agentlog rotate`: size and age rotation, transcripts, retention, leftovers and readers across archives."""

from __future__ import annotations

import fcntl
import gzip
import json
import os
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from agentlog import config
from agentlog.cli import cli as agentlog_cli
from agentlog.recorder import Recorder
from agentlog.store import layout
from agentlog.store.reader import archives_of, read_session
from agentlog.store.retention import stamp
from agentlog.store.rotate import MANIFEST, RotationBusy, find_rotated, rotate, rotated_after
from agentlog.store.tail import FileCheckpoints, Tailer

GRACE = "0.3"


def settings(log_dir: Path, **env: str) -> config.Settings:
    return config.load(environ={"AGENT_WORK_LOG_DIR": str(log_dir), **env}, cwd=log_dir.parent)


def record(log_dir: Path, count: int, attempt: str = "a1", start: int = 0, end: bool = False, **env) -> None:
    with Recorder(settings(log_dir, **env)) as recorder:
        for i in range(start, start + count):
            recorder.record({"attempt_id": attempt, "event_type": "agent_output", "data": {"output": f"n{i}"}})
        if end:
            recorder.record(
                {"attempt_id": attempt, "event_type": "session_end", "data": {"completion_status": "success"}}
            )


def run(log_dir: Path, *args: str, **env: str):
    result = CliRunner().invoke(
        agentlog_cli, ["rotate", "--log-dir", str(log_dir), "--grace", GRACE, *args], env=env, catch_exceptions=False
    )
    return result


def cat(log_dir: Path, *args: str) -> list[dict]:
    result = CliRunner().invoke(agentlog_cli, ["cat", "--log-dir", str(log_dir), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def outputs(events) -> list[str]:
    return [e["data"]["output"] for e in events if e["event_type"] == "agent_output"]


def leftovers(log_dir: Path) -> list[str]:
    archive = log_dir / layout.ARCHIVE
    return sorted(
        p.name for p in archive.rglob("*") if p.is_file() and p.name.endswith((".jsonl", ".tmp")) and p.name != MANIFEST
    )


def test_size_rotation_keeps_every_event_readable_in_order(log_dir):
    for round_ in range(3):
        record(log_dir, 20, start=round_ * 20)
        result = run(log_dir, AGENT_WORK_LOG_MAX_SIZE_MB="0.001")
        assert result.exit_code == 0, result.output
        assert "rotate" in result.output
    record(log_dir, 5, start=60)
    archives = archives_of(log_dir, layout.STREAM)
    assert len(archives) == 3 and all(p.name.endswith(".jsonl.gz") for p in archives)
    assert [p.name for p in archives] == sorted(p.name for p in archives)
    assert outputs(cat(log_dir)) == [f"n{i}" for i in range(65)]
    assert outputs(cat(log_dir, "--no-archives")) == [f"n{i}" for i in range(60, 65)]
    assert leftovers(log_dir) == []


def test_archive_names_carry_a_fixed_width_utc_stamp(log_dir):
    record(log_dir, 3)
    run(log_dir, AGENT_WORK_LOG_MAX_SIZE_MB="0.0001")
    (name,) = [p.name for p in archives_of(log_dir, layout.STREAM)]
    stem = layout.STREAM.removesuffix(".jsonl")
    assert name.startswith(stem + "-") and name.endswith(".jsonl.gz")
    text = name[len(stem) + 1 : -len(".jsonl.gz")]
    assert len(text) == len("20260209T142345.123Z") and text[8] == "T" and text.endswith("Z")


def test_small_young_files_are_left_alone_and_dry_run_changes_nothing(log_dir):
    record(log_dir, 5)
    assert "nothing to do" in run(log_dir).output
    before = sorted(p.relative_to(log_dir) for p in log_dir.rglob("*") if p.is_file())
    result = run(log_dir, "--dry-run", AGENT_WORK_LOG_MAX_SIZE_MB="0.0001")
    assert result.exit_code == 0
    assert f"would rotate {log_dir / layout.STREAM}" in result.output
    assert sorted(p.relative_to(log_dir) for p in log_dir.rglob("*") if p.is_file()) == before


def test_age_rotation_uses_the_oldest_event(log_dir, tmp_path):
    with Recorder(settings(log_dir)) as recorder:
        recorder.record(
            {
                "attempt_id": "old",
                "event_type": "agent_output",
                "timestamp": "2020-01-01T00:00:00.000Z",
                "data": {"output": "n0"},
            }
        )
    (tmp_path / "agentlog.toml").write_text('[rotate]\nmax_age = "1d"\nstream_days = 100000\n')
    result = CliRunner().invoke(
        agentlog_cli,
        ["rotate", "--log-dir", str(log_dir), "--grace", GRACE, "--config", str(tmp_path / "agentlog.toml")],
        catch_exceptions=False,
    )
    assert "days old" in result.output
    assert not (log_dir / layout.STREAM).exists()
    assert outputs(cat(log_dir)) == ["n0"]


def test_retention_per_kind(log_dir):
    archive = log_dir / layout.ARCHIVE
    archive.mkdir(parents=True)
    now = time.time()
    ages = {"stream": 31, "errors": 31, "alerts": 29, "metrics": 3000}
    for kind, days in ages.items():
        stem = layout.KINDS[kind].removesuffix(".jsonl")
        with gzip.open(archive / f"{stem}-{stamp(now - days * 86400)}.jsonl.gz", "wb") as handle:
            handle.write(b'{"x": 1}\n')
    result = run(log_dir)
    assert result.exit_code == 0
    left = {kind for kind, name in layout.KINDS.items() if archives_of(log_dir, name)}
    assert left == {"errors", "alerts", "metrics"}  # stream keeps 30 days, errors 90, metrics forever
    assert run(log_dir, AGENT_WORK_ARCHIVE_RETENTION_DAYS="20").exit_code == 0  # caps every kind but metrics
    assert {kind for kind, name in layout.KINDS.items() if archives_of(log_dir, name)} == {"metrics"}


def test_transcripts_beyond_the_newest_are_archived_but_never_a_running_one(log_dir):
    for n in range(5):
        record(log_dir, 3, attempt=f"s{n}", end=n != 1)  # s1 never ends: still running
        time.sleep(0.01)  # distinct modification times
    result = run(log_dir, AGENT_SESSION_LOG_RETENTION="2")
    assert result.exit_code == 0, result.output
    live = sorted(p.name for p in (log_dir / layout.SESSIONS).iterdir())
    archived = sorted(p.name for p in (log_dir / layout.ARCHIVE / layout.SESSIONS).glob("*.gz"))
    assert live == ["s1.jsonl", "s3.jsonl", "s4.jsonl"]
    assert archived == ["s0.jsonl.gz", "s2.jsonl.gz"]
    assert outputs(read_session(log_dir, "s0")) == ["n0", "n1", "n2"]
    assert leftovers(log_dir) == []


def test_a_transcript_that_continues_after_its_archive_is_read_whole(log_dir):
    record(log_dir, 2, attempt="c", end=True)
    run(log_dir, AGENT_SESSION_LOG_RETENTION="0")
    record(log_dir, 2, attempt="c", start=2, end=True)  # a follow-up to an archived attempt
    assert outputs(read_session(log_dir, "c")) == ["n0", "n1", "n2", "n3"]
    run(log_dir, AGENT_SESSION_LOG_RETENTION="0")
    assert not (log_dir / layout.SESSIONS / "c.jsonl").exists()
    raw = gzip.decompress((log_dir / layout.ARCHIVE / layout.SESSIONS / "c.jsonl.gz").read_bytes())
    assert [json.loads(x)["data"].get("output") for x in raw.splitlines()] == ["n0", "n1", None, "n2", "n3", None]


def test_late_appends_by_a_paused_writer_are_archived_once(log_dir):
    """A writer that still holds the renamed file appends after pack, and even after retire."""
    record(log_dir, 10)
    paused = os.open(log_dir / layout.STREAM, os.O_WRONLY | os.O_APPEND)

    def late(i: int) -> None:
        os.write(
            paused,
            json.dumps(
                {
                    "timestamp": "2026-01-01T00:00:00Z",
                    "attempt_id": "late",
                    "event_type": "agent_output",
                    "event_id": f"late{i}",
                    "data": {"output": f"late{i}"},
                }
            ).encode()
            + b"\n",
        )

    s = settings(log_dir, AGENT_WORK_LOG_MAX_SIZE_MB="0.0001")
    rotate(s, grace_s=0.0)
    late(1)  # lands in the retired copy: only the next run can see it
    report = rotate(s, grace_s=0.0)
    assert report.count("purge") == 1 and report.late_bytes > 0
    late(2)  # the file is gone now: this is the one unrecoverable case (documented)
    os.close(paused)
    assert outputs(cat(log_dir)) == [f"n{i}" for i in range(10)] + ["late1"]
    assert leftovers(log_dir) == []


def test_a_second_rotator_is_refused(log_dir):
    record(log_dir, 3)
    (log_dir / layout.STATE).mkdir(parents=True, exist_ok=True)
    fd = os.open(log_dir / layout.STATE / "rotate.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        result = run(log_dir, AGENT_WORK_LOG_MAX_SIZE_MB="0.0001")
        assert result.exit_code == 1 and "another rotation" in result.output
        with pytest.raises(RotationBusy):
            rotate(settings(log_dir), grace_s=0)
    finally:
        os.close(fd)
    assert (log_dir / layout.STREAM).exists()


def test_errors_metrics_and_alerts_rotate_too(log_dir):
    with Recorder(settings(log_dir)) as recorder:
        for i in range(5):
            recorder.record({"attempt_id": "e", "event_type": "error", "data": {"error_message": f"boom {i}"}})
        recorder.record({"attempt_id": "e", "event_type": "session_end", "data": {"completion_status": "failed"}})
    (log_dir / layout.ALERTS).write_text('{"timestamp": "2026-01-01T00:00:00Z", "type": "error_loop"}\n')
    run(log_dir, AGENT_WORK_LOG_MAX_SIZE_MB="0.0000001")
    for kind in ("stream", "errors", "metrics", "alerts"):
        assert len(archives_of(log_dir, layout.KINDS[kind])) == 1, kind
    assert len(cat(log_dir, "--kind", "errors")) == 5
    (alerts,) = archives_of(log_dir, layout.ALERTS)
    assert b"error_loop" in gzip.decompress(alerts.read_bytes())


def test_du_reports_live_and_archived_bytes_and_the_event_span(log_dir):
    with Recorder(settings(log_dir)) as recorder:
        recorder.record(
            {
                "attempt_id": "d",
                "event_type": "agent_output",
                "timestamp": "2026-01-01T00:00:00.000Z",
                "data": {"output": "first"},
            }
        )
    run(log_dir, AGENT_WORK_LOG_MAX_SIZE_MB="0.0000001")
    with Recorder(settings(log_dir)) as recorder:
        recorder.record(
            {
                "attempt_id": "d",
                "event_type": "agent_output",
                "timestamp": "2026-01-02T00:00:00.000Z",
                "data": {"output": "last"},
            }
        )
    result = CliRunner().invoke(agentlog_cli, ["du", "--log-dir", str(log_dir), "--json"], catch_exceptions=False)
    rows = {row["kind"]: row for row in json.loads(result.stdout)}
    stream = rows["stream"]
    assert stream["live_files"] == 1 and stream["archive_files"] == 1
    assert stream["live_bytes"] == (log_dir / layout.STREAM).stat().st_size and stream["archive_bytes"] > 0
    assert stream["oldest"] == "2026-01-01T00:00:00.000Z" and stream["newest"] == "2026-01-02T00:00:00.000Z"
    assert rows["sessions"]["live_files"] == 1 and rows["errors"]["total_bytes"] == 0
    table = CliRunner().invoke(agentlog_cli, ["du", "--log-dir", str(log_dir)], catch_exceptions=False)
    assert "stream" in table.output and "2026-01-01T00:00:00.000Z" in table.output


def test_a_tailer_checkpoint_finds_its_file_after_rotation(log_dir):
    record(log_dir, 10)
    store = FileCheckpoints(log_dir / layout.STATE)
    tailer = Tailer(log_dir / layout.STREAM, store, "t", start="beginning")
    batch = next(tailer.batches(max_bytes=600))  # part of the file only
    seen = len(batch.lines)
    tailer.commit(batch.position)
    tailer.close()
    mark = batch.position[-1]
    rotate(settings(log_dir, AGENT_WORK_LOG_MAX_SIZE_MB="0.0001"), grace_s=0)
    (archived,) = archives_of(log_dir, layout.STREAM)
    assert find_rotated(log_dir, layout.STREAM, mark) == archived
    assert rotated_after(log_dir, layout.STREAM, (mark.dev, mark.ino)) == []
    record(log_dir, 5, start=10)
    resumed = Tailer(log_dir / layout.STREAM, store, "t")
    rest = [json.loads(line)["data"]["output"] for b in resumed.batches() for line in b.lines]
    resumed.close()
    assert rest == [f"n{i}" for i in range(seen, 15)]


def _outputs_of(tailer: Tailer) -> list[str]:
    return [json.loads(line)["data"]["output"] for b in tailer.batches() for line in b.lines if line]


def test_a_tailer_started_before_the_first_file_reads_a_generation_rotated_before_it_looked(log_dir):
    """The watchdog started on an empty dir; the first file filled and rotated before its
    first look: both generations are new to it."""
    tailer = Tailer(log_dir / layout.STREAM, None, "t", start="end")
    record(log_dir, 10)
    rotate(settings(log_dir, AGENT_WORK_LOG_MAX_SIZE_MB="0.0001"), grace_s=0)
    record(log_dir, 5, start=10)
    assert _outputs_of(tailer) == [f"n{i}" for i in range(15)]
    tailer.close()


def test_a_tailer_without_a_live_file_reads_what_was_rotated_before_the_next_one(log_dir):
    record(log_dir, 3)
    tailer = Tailer(log_dir / layout.STREAM, None, "t", start="beginning")
    assert _outputs_of(tailer) == ["n0", "n1", "n2"]
    (log_dir / layout.STREAM).rename(log_dir / "moved-away.jsonl")  # gone for a moment
    assert _outputs_of(tailer) == []
    record(log_dir, 4, start=3)
    rotate(settings(log_dir, AGENT_WORK_LOG_MAX_SIZE_MB="0.0001"), grace_s=0)
    record(log_dir, 2, start=7)
    assert _outputs_of(tailer) == [f"n{i}" for i in range(3, 9)]
    tailer.close()


def test_history_start_reads_packed_generations_then_pending_ones_with_late_lines_then_live(log_dir):
    """`watch --replay` on a log being rotated: the packed archives come from `history()`,
    a generation still pending (its writer may append yet) is read by `batches()`."""
    from test_rotate_crash import rotate_cli

    record(log_dir, 10)
    rotate(settings(log_dir, AGENT_WORK_LOG_MAX_SIZE_MB="0.0001"), grace_s=0)
    record(log_dir, 5, start=10)
    paused = os.open(log_dir / layout.STREAM, os.O_WRONLY | os.O_APPEND)  # a writer yet to reopen
    assert (
        rotate_cli(log_dir, {"AGENTLOG_ROTATE_FAILPOINT": "renamed", "AGENT_WORK_LOG_MAX_SIZE_MB": "0.0001"}).wait(30)
        != 0
    )  # killed after the rename
    record(log_dir, 2, start=15)
    tailer = Tailer(log_dir / layout.STREAM, None, "t", start="history")
    (packed,) = tailer.history()
    assert packed.suffix == ".gz"
    with gzip.open(packed) as handle:
        assert [json.loads(line)["data"]["output"] for line in handle] == [f"n{i}" for i in range(10)]
    os.write(paused, open(log_dir / layout.STREAM, "rb").readline().replace(b'"n15"', b'"late"'))
    os.close(paused)
    assert _outputs_of(tailer) == [f"n{i}" for i in range(10, 15)] + ["late", "n15", "n16"]
    tailer.close()
