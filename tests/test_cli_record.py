"""`agentlog emit` and `agentlog cat`, driven as a shell script would."""

from __future__ import annotations

import json
import os
import re
import time

import pytest
from watchkit import iso

from agentlog.events import parse_time
from agentlog.store import layout

from conftest import read_jsonl


def test_emit_verbs_record_a_whole_session(cli, log_dir):
    common = ["--log-dir", str(log_dir), "--attempt", "ps-1"]
    cli(
        "emit",
        "start",
        *common,
        "--executor",
        "CODEX",
        "--task-title",
        "Fix login [s]",
        "--prompt",
        "fix it",
        check=True,
    )
    cli("emit", "tool-call", *common, "--tool", "bash", "--params", '{"cmd": "npm test"}', check=True)
    cli("emit", "tool-result", *common, "--tool", "bash", "--result", "error", "--result-data", "exit 1", check=True)
    cli("emit", "error", *common, "--message", "npm ERR! code ELIFECYCLE", check=True)
    cli("emit", "usage", *common, "--input-tokens", "100", "--output-tokens", "20", "--cost", "0.01", check=True)
    cli("emit", "end", *common, "--status", "failed", "--outcome", '{"status": "failed"}', check=True)
    stream = read_jsonl(log_dir / layout.STREAM)
    assert [e["event_type"] for e in stream] == [
        "session_start",
        "tool_call",
        "tool_result",
        "error",
        "usage",
        "session_end",
    ]
    assert [e["sequence_num"] for e in stream] == [1, 2, 3, 4, 5, 6]
    assert all(e["executor"] == "CODEX" for e in stream)  # context carried from the start
    assert stream[1]["data"]["tool_params"] == {"cmd": "npm test"}
    assert stream[3]["data"]["error_fingerprint"] and stream[3]["data"]["error_category"]
    assert read_jsonl(log_dir / layout.METRICS)[0]["metrics"]["errors"] == 1


def test_emit_honours_the_environment_log_dir(cli, tmp_path):
    target = tmp_path / "from-env"
    cli("emit", "output", "--attempt", "a", "--text", "hello", env={"AGENT_WORK_LOG_DIR": str(target)}, check=True)
    assert read_jsonl(target / layout.STREAM)[0]["data"]["output"] == "hello"


def test_emit_batch_records_good_lines_and_reports_bad_ones(cli, log_dir):
    lines = [
        json.dumps({"attempt_id": "b", "event_type": "session_start", "executor": "COPILOT"}),
        "{broken",
        json.dumps({"attempt_id": "b", "event_type": "nonsense"}),
        "\ufeff"
        + json.dumps(
            {"attempt_id": "b", "event_type": "error", "data": {"error_message": "boom"}, "custom": {"kept": True}}
        ),
    ]
    result = cli("emit", "-", "--log-dir", str(log_dir), input="\n".join(lines) + "\n")
    assert result.returncode == 1
    err = result.stderr.decode()
    assert "stdin:2: line: not valid JSON" in err and "stdin:3: event_type: 'nonsense'" in err
    assert "recorded 2 events, rejected 2" in err
    stream = read_jsonl(log_dir / layout.STREAM)
    assert [e["event_type"] for e in stream] == ["session_start", "error"]
    assert stream[1]["custom"] == {"kept": True}


def test_emit_usage_errors_exit_2(cli, log_dir):
    assert cli("emit", "error", "--log-dir", str(log_dir), "--attempt", "a").returncode == 2
    assert cli("emit", "tool-call", "--attempt", "a", "--tool", "x", "--data", "[1]").returncode == 2


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only dirs")
def test_unwritable_dir_is_a_clear_message_and_exit_1(cli, tmp_path):
    target = tmp_path / "ro"
    target.mkdir()
    target.chmod(0o500)
    result = cli("emit", "start", "--log-dir", str(target), "--attempt", "a")
    assert result.returncode == 1 and "permission denied" in result.stderr.decode()


def test_not_a_directory_is_a_clear_message_and_exit_1(cli, tmp_path):
    (tmp_path / "file").write_text("")
    result = cli("emit", "start", "--log-dir", str(tmp_path / "file" / "logs"), "--attempt", "a")
    assert result.returncode == 1
    assert result.stderr.decode().startswith("agentlog: error: cannot open")


def test_cat_filters_and_reports_malformed_lines(cli, log_dir):
    log_dir.mkdir(parents=True)
    events = [
        {"timestamp": "2026-01-01T00:00:00Z", "attempt_id": "x", "event_type": "session_start", "executor": "CODEX"},
        {
            "timestamp": "2026-01-02T00:00:00Z",
            "attempt_id": "y",
            "event_type": "error",
            "executor": "COPILOT",
            "data": {"error_message": "e"},
        },
        {
            "timestamp": "2026-01-03T00:00:00Z",
            "attempt_id": "x",
            "event_type": "error",
            "executor": "CODEX",
            "data": {"error_message": "e"},
        },
    ]
    text = "\ufeff" + json.dumps(events[0]) + "\nnot json\n" + "\n".join(json.dumps(e) for e in events[1:]) + "\n"
    (log_dir / layout.STREAM).write_text(text, encoding="utf-8")
    out = cli("cat", "--log-dir", str(log_dir), "--type", "error", "--executor", "codex", check=True)
    assert [json.loads(line)["attempt_id"] for line in out.stdout.splitlines()] == ["x"]
    assert f"{log_dir / layout.STREAM}:2: line: not valid JSON" in out.stderr.decode()
    out = cli("cat", "--log-dir", str(log_dir), "--since", "2026-01-02", "--until", "2026-01-03", check=True)
    assert [json.loads(line)["attempt_id"] for line in out.stdout.splitlines()] == ["y"]
    assert cli("cat", "--log-dir", str(log_dir), "--since", "soon").returncode == 2


def test_timestamp_quality_is_checked_on_write(cli, log_dir):
    line = {
        "attempt_id": "q",
        "event_type": "agent_output",
        "timestamp": "2026-01-01T00:00:00.000Z",
        "timestamp_quality": "synthetic",
        "data": {"output": "x"},
    }
    assert cli("emit", "-", "--log-dir", str(log_dir), input=json.dumps(line)).returncode == 0
    bad = cli("emit", "-", "--log-dir", str(log_dir), input=json.dumps({**line, "timestamp_quality": "roughly"}))
    assert (
        bad.returncode == 1
        and "timestamp_quality: 'roughly' is not one of: approximate, synthetic, clamped" in bad.stderr.decode()
    )
    recorded = [json.loads(x) for x in (log_dir / layout.STREAM).read_text().splitlines()]
    assert [e["timestamp_quality"] for e in recorded] == ["synthetic"]


UUID7 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def test_implausible_times_are_recorded_at_arrival_flagged_with_their_own_kept(cli, log_dir):
    ahead = iso(time.time() + 7200)
    stamps = [ahead, "9999-12-31T23:59:59Z", "0001-01-01", "1970-01-01T00:00:00Z"]
    for stamp in stamps:
        result = cli("emit", "output", "-a", "skew", "--text", "x", "--timestamp", stamp, "--log-dir", str(log_dir))
        assert result.returncode == 0, result.stderr.decode()
    line = {"attempt_id": "skew", "event_type": "agent_output", "timestamp": "9999-12-31T23:59:59Z", "data": {}}
    assert cli("emit", "-", "--log-dir", str(log_dir), input=json.dumps(line)).returncode == 0
    soon = iso(time.time() + 60)  # within the tolerance: the writer's own time
    assert (
        cli("emit", "output", "-a", "skew", "--text", "x", "--timestamp", soon, "--log-dir", str(log_dir)).returncode
        == 0
    )
    recorded = [json.loads(x) for x in (log_dir / layout.STREAM).read_text().splitlines()]
    for event, stamp in zip(recorded, stamps + ["9999-12-31T23:59:59Z"]):
        assert (event["timestamp_quality"], event["timestamp_original"]) == ("clamped", stamp)
        assert abs(parse_time(event["timestamp"]) - time.time()) < 3600 and UUID7.match(event["event_id"])
    assert recorded[-1]["timestamp"] == soon and "timestamp_quality" not in recorded[-1]
    tight = cli(
        "emit",
        "output",
        "-a",
        "skew",
        "--text",
        "x",
        "--timestamp",
        iso(time.time() + 60),
        "--log-dir",
        str(log_dir),
        env={"AGENT_WORK_CLOCK_TOLERANCE_MS": "10000"},
    )
    assert tight.returncode == 0
    assert json.loads((log_dir / layout.STREAM).read_text().splitlines()[-1])["timestamp_quality"] == "clamped"


@pytest.mark.parametrize(
    "status, stored",
    [
        ("done", "success"),
        ("Completed", "success"),
        ("ok", "success"),
        ("error", "failed"),
        ("cancelled", "interrupted"),
        ("timed_out", "timeout"),
    ],
)
def test_emit_end_maps_status_synonyms(cli, log_dir, status, stored):
    result = cli("emit", "end", "--log-dir", str(log_dir), "--attempt", "s1", "--status", status, check=True)
    assert result.stderr == b""
    data = read_jsonl(log_dir / layout.STREAM)[-1]["data"]
    assert data["completion_status"] == stored and data["completion_status_raw"] == status


def test_emit_end_with_an_unknown_status_says_it_counts_as_failed(cli, log_dir):
    result = cli("emit", "end", "--log-dir", str(log_dir), "--attempt", "s2", "--status", "setup_failed", check=True)
    message = result.stderr.decode()
    assert "'setup_failed'" in message and "recorded as failed" in message
    assert "success, failed, timeout, interrupted" in message or "failed, interrupted, success, timeout" in message
    assert read_jsonl(log_dir / layout.STREAM)[-1]["data"]["completion_status"] == "failed"


def test_every_option_of_every_command_says_what_it_does():
    import click

    from agentlog.cli import cli as group

    ctx = click.Context(group)

    def commands(command, path):
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                yield from commands(command.get_command(ctx, name), [*path, name])
        else:
            yield " ".join(path), command

    missing = [
        f"{path} {param.opts[0]}"
        for path, command in commands(group, [])
        for param in command.params
        if isinstance(param, click.Option) and not param.hidden and not param.help
    ]
    assert missing == []


def test_concurrent_emit_streams_number_shared_attempts_gap_free(log_dir):
    """Four `emit -` processes feed events of the same attempts at once, in batches: each
    attempt's events are numbered 1..N with no gap and no number twice, none lost."""
    import subprocess

    from conftest import AGENTLOG

    def lines(writer: int) -> bytes:
        events = [
            {"attempt_id": f"shared-{i % 3}", "event_type": "agent_output", "data": {"output": f"w{writer}-{i}"}}
            for i in range(600)
        ]
        return b"".join(json.dumps(e).encode() + b"\n" for e in events)

    procs = [
        subprocess.Popen(
            [*AGENTLOG, "emit", "-", "--log-dir", str(log_dir)], stdin=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(4)
    ]
    for writer, proc in enumerate(procs):
        proc.stdin.write(lines(writer))
        proc.stdin.close()
    assert [proc.wait(120) for proc in procs] == [0, 0, 0, 0]
    outputs = set()
    for attempt in ("shared-0", "shared-1", "shared-2"):
        events = read_jsonl(layout.session_path(log_dir, attempt))
        assert [e["sequence_num"] for e in events] == list(range(1, len(events) + 1))
        outputs |= {e["data"]["output"] for e in events}
    assert len(outputs) == 4 * 600


def test_emit_stream_records_a_line_as_soon_as_it_arrives(log_dir):
    """An orchestrator that keeps stdin open: its event is on disk before it closes the pipe."""
    import subprocess

    from conftest import AGENTLOG

    proc = subprocess.Popen(
        [*AGENTLOG, "emit", "-", "--log-dir", str(log_dir)], stdin=subprocess.PIPE, stderr=subprocess.PIPE
    )
    proc.stdin.write(json.dumps({"attempt_id": "slow", "event_type": "agent_output"}).encode() + b"\n")
    proc.stdin.flush()
    deadline = time.monotonic() + 60
    while not (log_dir / layout.STREAM).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (log_dir / layout.STREAM).exists()
    proc.stdin.write(b'{"attempt_id": "slow", "event_type": "agent_output"}')  # no final newline
    proc.stdin.close()
    assert proc.wait(60) == 0
    assert len(read_jsonl(log_dir / layout.STREAM)) == 2


def test_emit_stream_numbers_around_an_event_too_large_to_record(cli, log_dir):
    """An event over the size limit with no string to cut is reported and skipped; it leaves
    no hole in its attempt's numbering (the number it was stamped with is given back)."""
    events = [
        {"attempt_id": "big-1", "event_type": "agent_output", "data": {"output": "before"}},
        {"attempt_id": "big-1", "event_type": "agent_output", "data": {"values": list(range(400))}},
        {"attempt_id": "big-1", "event_type": "agent_output", "data": {"output": "after"}},
    ]
    result = cli(
        "emit",
        "-",
        "--log-dir",
        str(log_dir),
        input=b"".join(json.dumps(e).encode() + b"\n" for e in events),
        env={"AGENT_WORK_MAX_EVENT_BYTES": "1024"},
    )
    assert b"stdin:2:" in result.stderr and b"without a string to truncate" in result.stderr
    recorded = read_jsonl(layout.session_path(log_dir, "big-1"))
    assert [e["data"].get("output") for e in recorded] == ["before", "after"]
    assert [e["sequence_num"] for e in recorded] == [1, 2]
