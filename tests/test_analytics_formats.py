"""Logs as they are found: recorded by agentlog, written by the original PowerShell/Node
writers (BOM, old success spellings), rotated into gzip archives, or with fields that
first appear thousands of lines in."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from agentlog import analytics, config
from agentlog.capture.api import Session
from agentlog.events import encode
from agentlog.recorder import Recorder
from agentlog.store import layout


def recorder(log_dir: Path) -> Recorder:
    return Recorder(config.load({"log_dir": str(log_dir)}, environ={}), log_dir=log_dir)


def test_recorded_sessions_and_a_rotated_archive(tmp_path):
    with recorder(tmp_path) as rec:
        with Session("old-1", executor="CODEX", task_id="t1", recorder=rec) as s:
            s.error("fatal: not a git repository")
            s.usage(input_tokens=10, output_tokens=5, cost_usd=0.5)
    # rotate by hand: the live file becomes an archive, a new live file starts
    live = tmp_path / layout.STREAM
    (tmp_path / layout.ARCHIVE).mkdir()
    with gzip.open(tmp_path / layout.ARCHIVE / "agent-work-stream-20260101T000000Z.jsonl.gz", "wb") as out:
        out.write(live.read_bytes())
    live.unlink()
    with recorder(tmp_path) as rec:
        s = Session("new-1", executor="COPILOT", task_id="t1", recorder=rec)
        s.start()
        s.followup("and the docs")
        s.end("success")
        Session("open-1", executor="CODEX", recorder=rec).start()
    s = analytics.summary(tmp_path)
    assert (s.sessions, s.ended, s.open, s.succeeded) == (3, 2, 1, 2)  # an error alone does not fail
    assert s.total_cost_usd == 0.5 and s.total_errors == 1
    assert s.top_errors[0]["category"] == "git"
    assert analytics.backlog(tmp_path).tasks[0]["attempts"] == 2


def test_a_field_that_first_appears_after_thousands_of_lines(tmp_path):
    lines = [{"timestamp": "2026-01-01T00:00:00.000Z", "event_type": "session_start", "attempt_id": "a", "data": {}}]
    lines += [
        {
            "timestamp": "2026-01-01T00:00:01.000Z",
            "event_type": "tool_call",
            "attempt_id": "a",
            "data": {"tool_name": "bash", "tool_params": {"cmd": str(i)}},
        }
        for i in range(5000)
    ]
    lines.append(
        {
            "timestamp": "2026-01-01T01:00:00.000Z",
            "event_type": "session_end",
            "attempt_id": "a",
            "executor": "CODEX",
            "model": "m",
            "task_title": "[xl] big",
            "data": {
                "completion_status": "success",
                "duration_ms": 3600000,
                "cost_usd": 2.5,
                "total_tokens": 123456,
                "outcome": {"status": "completed", "pr_number": 7},
            },
        }
    )
    (tmp_path / layout.STREAM).write_bytes(b"".join(encode(x) + b"\n" for x in lines))
    row = analytics.metrics(tmp_path).sessions[0]
    assert (row["status"], row["tool_calls"], row["duration_ms"], row["cost_usd"], row["total_tokens"]) == (
        "success",
        5000,
        3600000,
        2.5,
        123456,
    )
    assert (row["executor"], row["task_size"]) == ("CODEX", "xl")


def test_original_writer_files_with_bom_and_three_success_spellings(tmp_path):
    def end(attempt, data):
        return (
            encode(
                {
                    "timestamp": "2026-01-02T00:00:00Z",
                    "event_type": "session_end",
                    "attempt_id": attempt,
                    "executor": "CODEX",
                    "data": data,
                }
            )
            + b"\n"
        )

    stream = (
        b"\xef\xbb\xbf"
        + end("a", {"completion_status": "success"})
        + end("b", {"outcome": {"status": "completed"}})
        + end("c", {"metrics": {"success": True}})
        + end("d", {"completion_status": "completed"})
        + end("e", {"success": "true"})
    )  # a string is not true (events.succeeded agrees)
    (tmp_path / layout.STREAM).write_bytes(stream)
    # metrics lines of the original: no outcome, success only inside `metrics`
    (tmp_path / layout.METRICS).write_bytes(
        b"\xef\xbb\xbf"
        + encode(
            {
                "timestamp": "2026-01-03T00:00:00Z",
                "attempt_id": "f",
                "executor": "COPILOT",
                "metrics": {"success": True, "duration_ms": 1000},
            }
        )
        + b"\n"
    )
    status = {r["attempt_id"]: r["status"] for r in analytics.metrics(tmp_path).sessions}
    assert status == {"a": "success", "b": "success", "c": "success", "d": "failed", "e": "failed", "f": "success"}
    assert analytics.load(tmp_path).malformed == 0  # the BOMs are read, not skipped


def test_sql_success_rule_agrees_with_events_succeeded(tmp_path):
    from agentlog.events import succeeded

    cases = [
        {"completion_status": "success"},
        {"completion_status": "failed"},
        {"outcome": {"status": "completed"}},
        {"outcome": {"status": "success"}},
        {"outcome": "completed"},
        {"outcome": {"status": "failed"}},
        {"metrics": {"success": True}},
        {"metrics": {"success": "true"}},
        {"metrics": {"success": False}},
        {"success": True},
        {"success": 1},
        {},
        {"completion_status": None, "outcome": None},
    ]
    (tmp_path / layout.STREAM).write_bytes(
        b"".join(
            encode({"timestamp": "2026-01-01T00:00:00Z", "event_type": "session_end", "attempt_id": f"c{i}", "data": d})
            + b"\n"
            for i, d in enumerate(cases)
        )
    )
    got = {r["attempt_id"]: r["success"] for r in analytics.metrics(tmp_path).sessions}
    assert got == {f"c{i}": succeeded(d) for i, d in enumerate(cases)}


def test_no_files_at_all_is_an_empty_report(tmp_path):
    s = analytics.summary(tmp_path)
    assert s.empty and s.sessions == 0 and s.malformed == 0


def test_errors_show_templates_and_explain_lists_variants(tmp_path):
    from click.testing import CliRunner

    from agentlog import config
    from agentlog.cli import cli
    from agentlog.recorder import Recorder

    log_dir = tmp_path / "logs"
    recorder = Recorder(config.load(environ={}), log_dir=log_dir)
    for i in range(3):
        recorder.record(
            {
                "attempt_id": f"a{i}",
                "event_type": "error",
                "data": {"error_message": f"npm ERR! network timeout at: https://registry.npmjs.org/pkg-{i}"},
            }
        )
    recorder.record(
        {"attempt_id": "a0", "event_type": "error", "data": {"error_message": "fatal: not a git repository"}}
    )
    recorder.close()
    run = CliRunner().invoke
    clusters = json.loads(run(cli, ["errors", "--log-dir", str(log_dir), "--format", "json", "--days", "0"]).output)
    [npm] = [c for c in clusters["clusters"] if c["occurrences"] == 3]
    assert npm["template"] == "npm ERR! network timeout at: <URL>"
    out = run(
        cli, ["errors", "--log-dir", str(log_dir), "--explain", npm["fingerprint"], "--format", "json", "--days", "0"]
    )
    variants = json.loads(out.output)
    assert variants["occurrences"] == 3 and variants["template"] == npm["template"]
    assert sorted(v["message"] for v in variants["variants"]) == [
        f"npm ERR! network timeout at: https://registry.npmjs.org/pkg-{i}" for i in range(3)
    ]
    missing = run(cli, ["errors", "--log-dir", str(log_dir), "--explain", "nope-00000000", "--days", "0"])
    assert "No errors with fingerprint nope-00000000" in missing.output
