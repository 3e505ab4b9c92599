"""`agentlog watch` side jobs: --follow an agent's transcripts, --rotate-every, --weekly-report;
and the tailer across two rotations it did not see happen."""

from __future__ import annotations

import calendar
import fcntl
import gzip
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner

from agentlog import config
from agentlog.cli import cli as agentlog_cli
from agentlog.report.schedule import STATE_NAME, Spec
from agentlog.store import layout
from agentlog.store.retention import stamp
from agentlog.store.rotate import MANIFEST, rotate
from agentlog.store.tail import FileCheckpoints, Tailer
from agentlog.jobs import WeeklyReport
from agentlog.watch.sinks import BaseSink, SinkError
from agentlog.store.alerts import read_alerts

from conftest import AGENTLOG, run_cli
from watchkit import Receiver, alerts, iso, wait_for

QUIET_ENV = {"AGENT_STUCK_THRESHOLD_MS": "86400000"}  # no wall-clock alerts in these tests
SID = "c0ffee00-0000-4000-8000-00000000f011"
FAILING = "1 failed: AssertionError: expected 200, got 401"


def settings(log_dir: Path, **env: str) -> config.Settings:
    return config.load(environ={"AGENT_WORK_LOG_DIR": str(log_dir), **env}, cwd=log_dir.parent)


def watch(log_dir: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [*AGENTLOG, "watch", "--log-dir", str(log_dir), *args],
        env={**os.environ, **QUIET_ENV, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def stop(proc: subprocess.Popen) -> tuple[int, str, str]:
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out.decode(), err.decode()


def ready(log_dir: Path) -> bool:
    return (log_dir / layout.STATE / "watch-heartbeat.json").exists()


# --- --follow claude-code -------------------------------------------------------------------


def claude_records(t0: float, failures: int) -> list[dict]:
    """A Claude Code session that runs the same failing test again and again."""
    common = {"sessionId": SID, "cwd": "/proj", "version": "2.0.0"}
    records = [
        {
            "type": "user",
            "uuid": "u-0",
            "timestamp": iso(t0),
            **common,
            "message": {"role": "user", "content": "Fix the failing login test"},
        }
    ]
    for i in range(failures):
        records.append(
            {
                "type": "assistant",
                "uuid": f"a-{i}",
                "timestamp": iso(t0 + 2 * i + 1),
                **common,
                "requestId": f"req_{i}",
                "message": {
                    "id": f"msg_{i}",
                    "type": "message",
                    "role": "assistant",
                    "model": "claude-sonnet-4-5-20250929",
                    "stop_reason": "tool_use",
                    "content": [
                        {
                            "type": "tool_use",
                            "id": f"toolu_{i}",
                            "name": "Bash",
                            "input": {"command": "pytest -q tests/test_login.py"},
                        }
                    ],
                    "usage": {"input_tokens": 10, "output_tokens": 20},
                },
            }
        )
        records.append(
            {
                "type": "user",
                "uuid": f"u-{i + 1}",
                "timestamp": iso(t0 + 2 * i + 2),
                **common,
                "message": {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": f"toolu_{i}", "content": FAILING, "is_error": True}
                    ],
                },
            }
        )
    return records


def test_follow_claude_code_turns_a_transcript_written_line_by_line_into_an_alert(tmp_path, log_dir):
    projects = tmp_path / "projects"
    transcript = projects / "-proj" / f"{SID}.jsonl"
    transcript.parent.mkdir(parents=True)
    proc = watch(log_dir, "--follow", "claude-code", str(projects), "--json")
    try:
        assert wait_for(lambda: ready(log_dir), 30)
        with open(transcript, "ab", buffering=0) as handle:
            for record in claude_records(time.time() - 30, failures=4):
                handle.write(json.dumps(record).encode() + b"\n")
                time.sleep(0.05)
        assert wait_for(lambda: any(a["type"] == "error_loop" for a in alerts(log_dir)), 30), alerts(log_dir)
    finally:
        code, out, err = stop(proc)
    assert code == 0, err
    (loop,) = [a for a in alerts(log_dir) if a["type"] == "error_loop"]
    assert loop["attempt_id"] == SID  # the session id names the attempt, as the hooks name it
    assert loop["executor"] == "CLAUDE_CODE" and loop["occurrences"] == 4
    assert loop["alert_id"] in out  # printed live by the stdout sink
    assert f"following claude-code transcripts in {projects}" in err


def test_follow_after_a_restart_imports_only_what_was_written_while_down(tmp_path, log_dir):
    projects = tmp_path / "projects"
    transcript = projects / "-proj" / f"{SID}.jsonl"
    transcript.parent.mkdir(parents=True)
    records = [json.dumps(r) + "\n" for r in claude_records(time.time() - 30, failures=4)]
    transcript.write_text(records[0])  # the prompt
    args = ("watch", "--log-dir", str(log_dir), "--follow", "claude-code", str(projects), "--once", "--quiet")
    run_cli(*args, env=QUIET_ENV, check=True)  # a first start: what was there is history, not analysed
    assert alerts(log_dir) == []
    with open(transcript, "a") as handle:
        handle.write("".join(records[1:]))  # the same test failing four times
    again = run_cli(*args, env=QUIET_ENV, check=True)  # written while down: imported once, analysed
    assert [a["type"] for a in alerts(log_dir)] == ["error_loop"]
    stream = (log_dir / layout.STREAM).read_bytes()
    third = run_cli(*args, env=QUIET_ENV, check=True)
    assert (log_dir / layout.STREAM).read_bytes() == stream
    assert "0 events, 0 new alerts" in third.stderr.decode() and "1 new alerts" in again.stderr.decode()


def test_follow_needs_an_agent_with_an_importer_and_path_needs_follow(tmp_path, log_dir):
    assert run_cli("watch", "--log-dir", str(log_dir), "--follow", "nope", "--once").returncode == 2
    assert run_cli("watch", "--log-dir", str(log_dir), str(tmp_path), "--once").returncode == 2


# --- --rotate-every, and the tailer across rotations --------------------------------------------


def usage_lines(start: int, count: int) -> bytes:
    """One expensive attempt per line: each line seen gives exactly one cost alert."""
    t = time.time() - 60
    return b"".join(
        msgspec.json.encode(
            {
                "timestamp": iso(t),
                "event_type": "usage",
                "attempt_id": f"att-{i:04d}",
                "executor": "CODEX",
                "event_id": f"ev-{i:04d}",
                "data": {"cost_usd": 2.5},
            }
        )
        + b"\n"
        for i in range(start, start + count)
    )


def append(log_dir: Path, data: bytes) -> None:
    with open(log_dir / layout.STREAM, "ab") as handle:
        handle.write(data)


def rotate_now(log_dir: Path) -> None:
    result = CliRunner().invoke(
        agentlog_cli,
        ["rotate", "--log-dir", str(log_dir), "--grace", "0"],
        env={"AGENT_WORK_LOG_MAX_SIZE_MB": "0.0001"},
        catch_exceptions=False,
    )
    assert result.exit_code == 0 and "rotate" in result.output, result.output


def events_seen(stderr: str) -> int:
    return int(stderr.rsplit("agentlog watch: ", 1)[1].split(" events")[0])


@pytest.mark.parametrize("checkpoint", ["mid-file", "empty-file"])
def test_two_rotations_while_stopped_then_restart_sees_every_event_once(log_dir, checkpoint):
    log_dir.mkdir()
    (log_dir / layout.STREAM).touch()
    seen = 0
    if checkpoint == "mid-file":
        append(log_dir, usage_lines(0, 50))
        first = run_cli("watch", "--log-dir", str(log_dir), "--replay", "--once", "--quiet", env=QUIET_ENV, check=True)
        seen += events_seen(first.stderr.decode())
    else:  # a first start at the end of an empty file: the checkpoint names a file with nothing read
        run_cli("watch", "--log-dir", str(log_dir), "--once", "--quiet", env=QUIET_ENV, check=True)
    append(log_dir, usage_lines(50, 50))  # the unread rest of the checkpointed file
    rotate_now(log_dir)
    append(log_dir, usage_lines(100, 50))  # a file the watchdog never saw as live
    rotate_now(log_dir)
    append(log_dir, usage_lines(150, 50))
    assert len(list((log_dir / layout.ARCHIVE).glob("agent-work-stream-*.jsonl.gz"))) == 2

    restart = run_cli("watch", "--log-dir", str(log_dir), "--once", "--quiet", env=QUIET_ENV, check=True)
    seen += events_seen(restart.stderr.decode())
    first_id = 0 if checkpoint == "mid-file" else 50
    ids = [a.attempt_id for a in read_alerts(log_dir, archives=True)]  # rotated with the stream
    assert sorted(ids) == [f"att-{i:04d}" for i in range(first_id, 200)]  # each event's alert, once
    assert seen == 200 - first_id  # and no event was processed twice
    assert "was gone" not in restart.stderr.decode()


def test_a_running_tailer_misses_no_file_when_two_rotations_come_between_two_looks(log_dir):
    log_dir.mkdir()
    append(log_dir, usage_lines(0, 20))
    tailer = Tailer(log_dir / layout.STREAM, start="beginning")
    ids = [json.loads(line)["event_id"] for batch in tailer.batches() for line in batch.lines]
    append(log_dir, usage_lines(20, 20))  # not read yet, and then the file is rotated twice
    rotate(settings(log_dir, AGENT_WORK_LOG_MAX_SIZE_MB="0.0001"), grace_s=0)
    append(log_dir, usage_lines(40, 20))  # a live file this tailer never looked at
    rotate(settings(log_dir, AGENT_WORK_LOG_MAX_SIZE_MB="0.0001"), grace_s=0)
    append(log_dir, usage_lines(60, 20))
    ids += [json.loads(line)["event_id"] for batch in tailer.batches() for line in batch.lines]
    tailer.close()
    assert ids == [f"ev-{i:04d}" for i in range(80)]


def test_an_inode_reused_by_the_new_live_file_is_not_taken_for_the_checkpointed_one(log_dir):
    """A checkpoint with nothing read yet has no head to check: when the manifest says its
    inode was rotated after the checkpoint, the live file with that inode is a newer one."""
    log_dir.mkdir()
    live = log_dir / layout.STREAM
    live.touch()
    store = FileCheckpoints(log_dir / layout.STATE)
    Tailer(live, store, "t").commit(Tailer(live).position())  # first start, at the end of an empty file
    st = live.stat()
    archive = log_dir / layout.ARCHIVE
    archive.mkdir()
    name = f"agent-work-stream-{stamp(time.time() + 1)}.jsonl.gz"
    with gzip.open(archive / name, "wb") as handle:
        handle.write(b"a\nb\n")  # what the checkpointed file held when it was rotated
    (archive / MANIFEST).write_text(json.dumps({"archive": name, "dev": st.st_dev, "ino": st.st_ino}) + "\n")
    append(log_dir, b"c\n")  # the new live file, which got the freed inode
    tailer = Tailer(live, store, "t")
    assert [line for batch in tailer.batches() for line in batch.lines] == [b"a", b"b", b"c"]
    tailer.close()


def test_rotate_every_rotates_while_watching_and_a_busy_rotation_is_not_fatal(log_dir):
    log_dir.mkdir()
    append(log_dir, usage_lines(0, 30))
    env = {"AGENT_WORK_LOG_MAX_SIZE_MB": "0.0001"}
    (log_dir / layout.STATE).mkdir()
    with open(log_dir / layout.STATE / "rotate.lock", "w") as lock:  # another rotation is running
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        busy = run_cli(
            "watch",
            "--log-dir",
            str(log_dir),
            "--rotate-every",
            "1d",
            "--replay",
            "--once",
            "--quiet",
            env={**QUIET_ENV, **env},
        )
    assert busy.returncode == 0 and "rotation skipped: another rotation is running" in busy.stderr.decode()
    assert not (log_dir / layout.ARCHIVE).exists()

    proc = watch(log_dir, "--rotate-every", "1s", "--quiet", env=env)
    try:
        assert wait_for(lambda: ready(log_dir), 30)
        for n in range(3):
            append(log_dir, usage_lines(30 + 10 * n, 10))
            assert wait_for(lambda: len(list((log_dir / layout.ARCHIVE).glob("agent-work-stream-*.gz"))) >= n + 1, 30)
        assert wait_for(lambda: len(list(read_alerts(log_dir, archives=True))) == 60, 30)
    finally:
        code, _, err = stop(proc)
    assert code == 0, err
    assert "rotated 1 file(s)" in err or "rotated 2 file(s)" in err
    assert sorted(a.attempt_id for a in read_alerts(log_dir, archives=True)) == [f"att-{i:04d}" for i in range(60)]


def test_rotate_every_wants_a_duration(log_dir):
    result = run_cli("watch", "--log-dir", str(log_dir), "--rotate-every", "often", "--once")
    assert result.returncode == 2 and "often" in result.stderr.decode()


# --- --weekly-report ---------------------------------------------------------------------------


class Collect(BaseSink):
    """A sink that keeps the reports it is given (and can be down)."""

    kind = "collect"

    def __init__(self, name: str = "collect"):
        super().__init__(name)
        self.reports: list[tuple[str, dict]] = []
        self.down = False

    def send(self, alert) -> None:
        pass

    def send_report(self, text, paths) -> bool:
        if self.down:
            raise SinkError("down")
        self.reports.append((text, paths))
        return True


def day(text: str) -> float:
    return calendar.timegm(time.strptime(text, "%Y-%m-%d %H:%M"))  # UTC


def test_weekly_schedule_across_restarts_neither_skips_nor_repeats_a_week(log_dir):
    log_dir.mkdir()
    s = settings(log_dir)
    now = [day("2026-03-04 12:00")]  # a Wednesday: armed here
    sinks = [Collect("a"), Collect("b")]

    def job() -> WeeklyReport:  # a fresh job is a restarted watchdog
        return WeeklyReport(s, "SUN 09:00", sinks, clock=lambda: now[0])

    assert job().step() is None
    now[0] = day("2026-03-08 09:30")
    slot, paths = job().step()
    assert slot == day("2026-03-08 09:00") and paths["html"].exists()
    assert job().step() is None  # restarted the same hour: not again
    now[0] = day("2026-03-15 08:59")
    assert job().step() is None
    sinks[1].down = True  # one sink fails: the week stays due, the other sink is not sent it twice
    now[0] = day("2026-03-15 09:01")
    with pytest.raises(RuntimeError, match="b: down"):
        job().step()
    sinks[1].down = False
    assert job().step()[0] == day("2026-03-15 09:00")
    assert job().step() is None
    now[0] = day("2026-04-07 10:00")  # down for three weeks: one report, for the latest week
    assert job().step()[0] == day("2026-04-05 09:00")
    assert job().step() is None
    sent = {
        name: [json.loads(p["json"].read_text())["period"]["until"] for _, p in sink.reports]
        for name, sink in zip("ab", sinks)
    }
    assert sent["a"] == sent["b"] == ["2026-03-08T09:00:00Z", "2026-03-15T09:00:00Z", "2026-04-05T09:00:00Z"]


def arm(log_dir: Path, spec: str) -> float:
    """State as left by a watchdog that started a week ago: the latest slot is due now."""
    FileCheckpoints(log_dir / layout.STATE).save(STATE_NAME, {"armed": time.time() - 8 * 86400, "last_sent": None})
    return Spec.parse(spec).latest(time.time())


def test_weekly_report_goes_through_the_sinks_once_and_only_after_delivery(log_dir):
    log_dir.mkdir()
    spec = "MON 06:00"
    slot = arm(log_dir, spec)
    hook = Receiver(status=500)
    try:
        args = (
            "watch",
            "--log-dir",
            str(log_dir),
            "--weekly-report",
            spec,
            "--webhook",
            f"http://127.0.0.1:{hook.port}/r",
            "--once",
            "--quiet",
        )
        down = run_cli(*args, env=QUIET_ENV)
        assert down.returncode == 0 and "weekly report not delivered" in down.stderr.decode()
        assert FileCheckpoints(log_dir / layout.STATE).load(STATE_NAME)["last_sent"] is None
        hook.status = 200
        up = run_cli(*args, env=QUIET_ENV, check=True)
        assert "weekly report sent" in up.stderr.decode()
        again = run_cli(*args, env=QUIET_ENV, check=True)
        assert "weekly report" not in again.stderr.decode()
    finally:
        hook.close()
    (body,) = hook.received
    assert body["type"] == "weekly_report" and "sessions" in body["text"]
    assert Path(body["paths"]["html"]).exists() and Path(body["paths"]["html"]).parent == log_dir / "reports"
    assert FileCheckpoints(log_dir / layout.STATE).load(STATE_NAME)["last_sent"] == slot


def test_weekly_report_through_apprise_attaches_the_html(log_dir, tmp_path):
    log_dir.mkdir()
    spec = "FRI 18:30 Europe/Berlin"
    arm(log_dir, spec)
    hook = Receiver()
    try:
        result = run_cli(
            "watch",
            "--log-dir",
            str(log_dir),
            "--weekly-report",
            spec,
            "--once",
            "--notify",
            f"json://127.0.0.1:{hook.port}/",
            "--report-dir",
            str(tmp_path / "out"),
            env=QUIET_ENV,
            check=True,
        )
    finally:
        hook.close()
    (body,) = hook.received
    assert body["title"].startswith("📊 agentlog report")
    (attachment,) = body["attachments"]
    assert attachment["filename"].endswith(".html") and attachment["base64"]
    assert "agentlog report" in result.stdout.decode()  # the stdout sink prints the headline too
    assert list((tmp_path / "out").glob("agentlog-report-*.html"))


def test_weekly_report_wants_a_weekday_and_a_time(log_dir):
    result = run_cli("watch", "--log-dir", str(log_dir), "--weekly-report", "sometimes", "--once")
    assert result.returncode == 2 and "SUN 09:00" in result.stderr.decode()


# --- checkpoints off the detection path ----------------------------------------------------------


def test_checkpoints_are_committed_in_the_background_while_running(log_dir):
    log_dir.mkdir()
    (log_dir / layout.STREAM).touch()
    proc = watch(log_dir, "--quiet")
    checkpoint = FileCheckpoints(log_dir / layout.STATE)
    try:
        assert wait_for(lambda: ready(log_dir), 30)
        append(log_dir, usage_lines(0, 10))
        size = (log_dir / layout.STREAM).stat().st_size
        assert wait_for(lambda: (checkpoint.load("watch") or {}).get("files", [[0, 0, 0]])[-1][2] == size, 30)
        assert len(alerts(log_dir)) == 10  # the alerts were on disk before the checkpoint covering them
    finally:
        code, _, err = stop(proc)
    assert code == 0, err
    assert not list((log_dir / layout.STATE).glob(".*.tmp"))
