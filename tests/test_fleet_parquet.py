"""A fleet archive's Parquet (`analytics.columnar`): `fleet archive` compacts the stream by
day and machine, and every report read from the parts plus the stream's tail equals the
same events read as JSONL, through late events, merges and kill -9 mid-compaction."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import duckdb
import pytest

from agentlog.analytics import columnar
from agentlog.analytics.source import LogSource
from agentlog.events import encode
from agentlog.fleet.server import Cluster
from agentlog.store import layout
from starlette.testclient import TestClient

from agentlog.web.app import create_app
from fleetkit import AGENTLOG, event_ids, run, write_machine
from test_analytics_cache import _rounded, lines, reports

MACHINES = ["m0", "m1", "m2"]


def events(start: int, count: int) -> bytes:
    """`lines` of the analytics cache tests over 12 attempts and many days, each with an event_id."""
    out = []
    for n, line in enumerate(lines(start, count, attempts=12).splitlines(), start):
        out.append(encode({**json.loads(line), "event_id": f"e{n}"}) + b"\n")
    return b"".join(out)


def plain_copy(archive: Path, target: Path) -> Path:
    """The archive's JSONL files alone: what a reader without Parquet sees."""
    shutil.copytree(archive, target, ignore=shutil.ignore_patterns(columnar.FOLDER, layout.STATE))
    return target


def both_ways(archive: Path, tmp: Path, compacted: bool = True) -> dict:
    """Every report from the Parquet and from the JSONL; asserts they are equal."""
    plain = plain_copy(archive, tmp / f"plain-{time.monotonic_ns()}")
    with LogSource(archive) as source:
        assert (source.columnar is not None) == compacted, "the archive is read from its Parquet"
    got, expected = reports(archive, use_cache=True), reports(plain, use_cache=False)
    got.pop("parsed"), expected.pop("parsed")
    assert got == expected
    shutil.rmtree(plain)
    return got


def listed_rows(archive: Path) -> list[tuple]:
    """(event_id, day, machine) of every row in the parts the manifest lists."""
    manifest = json.loads((archive / columnar.FOLDER / columnar.MANIFEST).read_text())
    if not manifest["parts"]:
        return []
    files = [str(archive / columnar.FOLDER / p) for p in manifest["parts"]]
    return duckdb.sql(
        f"SELECT event_id, day::VARCHAR, machine FROM read_parquet({files}, hive_partitioning=true)"
    ).fetchall()


def weekly_report(log_dir: Path, out: Path) -> dict:
    result = run("report", "--weekly", "--format", "json", "--out", str(out), "--log-dir", str(log_dir))
    assert result.returncode == 0, result.stderr
    (path,) = out.glob("*.json")
    report = json.loads(path.read_text())
    report.pop("generated"), report.pop("period")  # when it ran
    return _rounded(report)


def dashboard(log_dir: Path) -> dict[str, str]:
    with TestClient(create_app(log_dir), base_url="http://127.0.0.1") as client:
        pages = {path: client.get(path) for path in ("/", "/executors", "/errors", "/sessions?window=all")}
    assert all(page.status_code == 200 for page in pages.values())
    return {path: page.text.replace(str(log_dir), "LOG_DIR") for path, page in pages.items()}


def assert_tidy(archive: Path) -> None:
    """On disk: the listed parts and their session parts, nothing else (no leftover of a crash)."""
    folder = archive / columnar.FOLDER
    manifest = json.loads((folder / columnar.MANIFEST).read_text())
    assert {str(p.relative_to(folder)) for p in folder.glob("day=*/machine=*/*.parquet")} == set(manifest["parts"])
    assert {str(p.relative_to(folder)) for p in folder.glob(f"{columnar.SESSIONS}/*")} == set(manifest["sessions"])
    assert not list(folder.glob(".stage-*"))


# --- end to end, on a real nats-server ----------------------------------------------------


@pytest.fixture()
def server(tmp_path):
    with Cluster(tmp_path / "nats", size=1) as cluster:
        yield cluster


def late_event(machine_dir: Path, day: str) -> str:
    """Append an event of an old `day` to an existing session of the machine (as a clock
    gone wrong or a machine back after a long time would); its event_id."""
    attempt = json.loads((machine_dir / layout.STREAM).read_bytes().splitlines()[0])["attempt_id"]
    event_id = f"late-{machine_dir.name}-{time.monotonic_ns()}"
    event = {
        "timestamp": f"{day}T12:00:00.000Z",
        "event_type": "error",
        "event_id": event_id,
        "attempt_id": attempt,
        "executor": "CODEX",
        "model": "m",
        "data": {"error_message": "late: connection reset by peer"},
    }
    with open(machine_dir / layout.STREAM, "ab") as out:
        out.write(encode(event) + b"\n")
    return event_id


def forward_and_archive(server, machines: list[Path], out: Path) -> None:
    for d in machines:
        result = run("fleet", "forward", "--once", "--nats", server.url, "--log-dir", str(d), "--host", d.name)
        assert result.returncode == 0, result.stderr
    result = run("fleet", "archive", "--once", "--nats", server.url, "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "events compacted into Parquet" in result.stderr and "not written" not in result.stderr


def test_archive_writes_parquet_by_day_and_machine_read_as_the_jsonl(server, tmp_path):
    machines = [tmp_path / name for name in MACHINES]
    for p in [write_machine(d, d.name, sessions=6) for d in machines]:
        assert p.wait(60) == 0
    late_event(machines[1], "2026-01-05")
    out = tmp_path / "archive"
    forward_and_archive(server, machines, out)

    rows = listed_rows(out)
    assert sorted(r[0] for r in rows) == sorted(event_ids(out / layout.STREAM))  # each event once
    for d in machines:  # each row in the partition of the machine it came from
        assert sorted(r[0] for r in rows if r[2] == d.name) == sorted(event_ids(d / layout.STREAM))
    assert [r[1] for r in rows if r[0].startswith("late-")] == ["2026-01-05"]
    first = both_ways(out, tmp_path)

    # more sessions and a late event of a day already compacted: new parts, nothing twice
    assert write_machine(machines[0], "m0-more", sessions=3).wait(60) == 0
    late = late_event(machines[2], "2026-01-05")
    forward_and_archive(server, machines, out)
    rows = listed_rows(out)
    assert sorted(r[0] for r in rows) == sorted(event_ids(out / layout.STREAM))
    assert sorted(r[2] for r in rows if r[1] == "2026-01-05") == ["m1", "m2"]
    assert late in {r[0] for r in rows}
    second = both_ways(out, tmp_path)
    assert second["summary"]["sessions"] == first["summary"]["sessions"] + 3
    assert_tidy(out)

    # the CLI reads it too: the same text both ways (summary, errors, compare, metrics)
    plain = plain_copy(out, tmp_path / "plain")
    for command in (["summary"], ["errors"], ["compare", "--by", "model"], ["metrics"]):
        got = run(*command, "--format", "json", "--log-dir", str(out))
        expected = run(*command, "--format", "json", "--log-dir", str(plain))
        assert got.returncode == expected.returncode == 0, got.stderr + expected.stderr
        assert json.loads(got.stdout) == json.loads(expected.stdout), command
    # the weekly report and the dashboard too
    assert weekly_report(out, tmp_path / "r1") == weekly_report(plain, tmp_path / "r2")
    assert dashboard(out) == dashboard(plain)


def test_archive_without_parquet_writes_none(server, tmp_path):
    machine = tmp_path / "m0"
    assert write_machine(machine, "m0", sessions=2).wait(60) == 0
    forwarded = run("fleet", "forward", "--once", "--nats", server.url, "--log-dir", str(machine), "--host", "m0")
    assert forwarded.returncode == 0, forwarded.stderr
    out = tmp_path / "archive"
    result = run("fleet", "archive", "--once", "--no-parquet", "--nats", server.url, "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "0 events compacted" in result.stderr
    assert not (out / columnar.FOLDER).exists()
    assert (out / columnar.MACHINES).exists()  # a later `fleet compact` still knows the machines
    compacted = subprocess.run([*AGENTLOG, "fleet", "compact", "--out", str(out)], capture_output=True, text=True)
    assert compacted.returncode == 0, compacted.stderr
    assert {r[2] for r in listed_rows(out)} == {"m0"}
    both_ways(out, tmp_path)


# --- compaction on its own: files only ----------------------------------------------------


def archive_dir(root: Path) -> Path:
    """An archive-like dir: the machines file (as the archiver writes it) and no stream yet."""
    root.mkdir()
    (root / columnar.MACHINES).write_bytes(
        b"".join(encode({"attempt_id": f"att-{a}", "machine": MACHINES[a % 3]}) + b"\n" for a in range(12))
    )
    (root / layout.STREAM).write_bytes(b"")
    return root


def test_a_half_written_line_is_left_for_the_next_compaction(tmp_path):
    archive = archive_dir(tmp_path / "a")
    whole = events(0, 500)
    (archive / layout.STREAM).write_bytes(whole[:-40])  # the last line not finished yet
    done = columnar.compact(archive)
    assert done.offset == whole[:-40].rfind(b"\n") + 1
    assert {r[2] for r in listed_rows(archive)} == set(MACHINES)
    both_ways(archive, tmp_path)
    (archive / layout.STREAM).write_bytes(whole)
    assert columnar.compact(archive).rows == 1
    assert len(listed_rows(archive)) == 500
    both_ways(archive, tmp_path)


def test_small_parts_are_merged_and_retired_once_no_reader_holds_them(tmp_path):
    archive = archive_dir(tmp_path / "a")
    stream = archive / layout.STREAM
    for start in range(0, 600, 100):  # one day, so every compaction adds a part to the same partitions
        with open(stream, "ab") as out:
            out.write(events(start, 100))
        columnar.compact(archive, merge_at=100)
    manifest = json.loads((archive / columnar.FOLDER / columnar.MANIFEST).read_text())
    assert len(manifest["parts"]) == 18  # 6 compactions x 3 machines
    reader = columnar.open_snapshot(archive)  # a report in progress
    done = columnar.compact(archive, merge_at=4)
    assert (done.merged, done.parts) == (18, 3)
    manifest = json.loads((archive / columnar.FOLDER / columnar.MANIFEST).read_text())
    assert len(manifest["parts"]) == 3 and len(manifest["sessions"]) == 1
    assert len(manifest["retired"]) == 18 + 6  # the parts, and the session parts of 6 compactions
    assert all(p.exists() for p in reader.parts)  # not deleted under the reader
    reader.close()
    columnar.compact(archive)
    assert_tidy(archive)
    assert len(listed_rows(archive)) == 600
    both_ways(archive, tmp_path)


def test_a_rewritten_stream_is_read_as_jsonl_and_compacted_again(tmp_path):
    archive = archive_dir(tmp_path / "a")
    (archive / layout.STREAM).write_bytes(events(0, 300))
    columnar.compact(archive)
    (archive / layout.STREAM).write_bytes(events(1000, 200))  # replaced, not appended
    with LogSource(archive) as source:
        assert source.columnar is None  # the parts no longer describe this stream
    columnar.compact(archive)
    assert len(listed_rows(archive)) == 200
    both_ways(archive, tmp_path)


def test_a_rotated_stream_is_refused(tmp_path):
    archive = archive_dir(tmp_path / "a")
    (archive / layout.STREAM).write_bytes(events(0, 50))
    (archive / layout.ARCHIVE).mkdir()
    (archive / layout.ARCHIVE / "agent-work-stream-20260101T000000Z.jsonl").write_bytes(lines(50, 10))
    result = subprocess.run([*AGENTLOG, "fleet", "compact", "--out", str(archive)], capture_output=True, text=True)
    assert result.returncode == 1 and "rotated" in result.stderr


def test_kill_9_during_compaction_loses_and_doubles_nothing(tmp_path):
    """Compactions killed at random points while the stream grows (late days included);
    after each, what readers see equals the JSONL; at the end every event is in exactly
    one listed part and no unlisted part is left."""
    archive = archive_dir(tmp_path / "a")
    stream = archive / layout.STREAM
    rng = random.Random(int(os.environ.get("AGENTLOG_SEED", "25")))
    compact = [*AGENTLOG, "fleet", "compact", "--merge-at", "2", "--out", str(archive)]
    start, took, killed = 0, 1.0, 0
    for _ in range(8):
        count = rng.randint(2000, 6000)
        with open(stream, "ab") as out:
            out.write(events(start, count))
        start += count
        began = time.monotonic()
        proc = subprocess.Popen(compact, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            proc.wait(rng.uniform(0.3, 1.2) * took)
            took = time.monotonic() - began  # it finished: aim within its length next time
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            killed += 1
        both_ways(archive, tmp_path, compacted=(archive / columnar.FOLDER / columnar.MANIFEST).exists())
    assert killed, "at least one compaction was killed"
    assert subprocess.run(compact).returncode == 0
    assert sorted(r[0] for r in listed_rows(archive)) == sorted(f"e{n}" for n in range(start))
    assert_tidy(archive)
    both_ways(archive, tmp_path)


def test_the_fleet_demo_shows_the_parquet(tmp_path):
    result = run("demo", "--fleet", "--agents", "3", "--speed", "20", "--log-dir", str(tmp_path), timeout=240)
    assert result.returncode == 0, result.stderr
    out = " ".join(result.stdout.split())  # rich wraps long lines
    archive = tmp_path / "fleet-demo" / "archive"
    events = len(event_ids(archive / layout.STREAM))
    assert re.search(rf"\({events} events in \d+ parts, by day and machine\)", out)
    for machine in ("m1", "m2", "m3"):
        assert f"machine={machine}: {len(event_ids(tmp_path / 'fleet-demo' / machine / layout.STREAM))} events" in out
    assert "The whole fleet, read from the Parquet: 9 sessions" in out


def test_a_damaged_part_is_read_from_the_jsonl_instead(tmp_path):
    archive = archive_dir(tmp_path / "a")
    (archive / layout.STREAM).write_bytes(events(0, 300))
    columnar.compact(archive)
    plain = reports(plain_copy(archive, tmp_path / "plain"), use_cache=False)
    manifest = json.loads((archive / columnar.FOLDER / columnar.MANIFEST).read_text())
    (archive / columnar.FOLDER / manifest["sessions"][0]).write_bytes(b"PAR1 not really")
    got = reports(archive, use_cache=True)
    assert got.pop("parsed") == [layout.STREAM]  # the JSONL, parsed whole
    plain.pop("parsed")
    assert got == plain
