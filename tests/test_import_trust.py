"""Imports that hold on files nobody here wrote: no crash, no session made of nothing, one
attempt per source file, transcripts that go on after they looked finished, bad files and
symlinks (issue 15 items 1, 3, 4; issue 16 item 4 and "empty or garbage transcripts")."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from conftest import SHARED, imported_attempt, imported_events, read_jsonl, run_cli

CLAUDE = SHARED / "fixtures" / "claude-code"
SAMPLE = CLAUDE / "claude-code-transcripts" / "sample_session.jsonl"
SWE = SHARED / "fixtures" / "swe-agent"
OLD = time.time() - 3600


def _import(agent: str, path: Path, log_dir: Path, *extra: str) -> str:
    result = run_cli("import", agent, str(path), "--log-dir", str(log_dir), *extra)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


def _stream(log_dir: Path) -> list[dict]:
    path = log_dir / "agent-work-stream.jsonl"
    return read_jsonl(path) if path.exists() else []


def _age(*paths: Path) -> None:
    for path in paths:
        os.utime(path, (OLD, OLD))


# -- 1: nothing to crash on, nothing made of nothing ------------------------------------------------


def test_parse_time_gives_the_same_answer_in_a_fresh_process_and_after_a_real_time() -> None:
    code = """
from agentlog.events import parse_time
def answer():
    try:
        return repr(parse_time(None))
    except Exception as exc:
        return type(exc).__name__
fresh = answer()
parse_time("2026-02-09T14:23:45.123Z")
print(fresh, answer())
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["TypeError", "TypeError"]


def test_files_with_nothing_timed_are_skipped_and_counted_not_sessions_of_now(tmp_path: Path) -> None:
    src = tmp_path / "projects"
    src.mkdir()
    shutil.copy(SAMPLE, src / "a-real.jsonl")  # read first: parse_time has seen a real time
    (src / "b-summaries.jsonl").write_text(
        '{"type":"summary","summary":"Fixing the login test","leafUuid":"u1"}\n'
        '{"type":"summary","summary":"Refactor","leafUuid":"u2"}\n'
    )
    _age(*src.iterdir())
    out = _import("claude-code", src, tmp_path / "logs")
    assert "1 sessions" in out and "files not imported: no_timestamp 1" in out
    events = _stream(tmp_path / "logs")
    assert {e["attempt_id"] for e in events} == {imported_attempt(tmp_path / "logs", "a-real")}
    assert max(e["timestamp"] for e in events) < "2026"  # nothing stamped with the import's own time

    codex = tmp_path / "codex"
    codex.mkdir()
    (codex / "rollout-old.jsonl").write_text(  # an old rollout: created_at, no type/payload envelope
        '{"created_at":"2025-04-01T10:00:00Z","role":"user","content":"hi"}\n'
        '{"created_at":"2025-04-01T10:00:05Z","role":"assistant","content":"hello"}\n'
    )
    _age(codex / "rollout-old.jsonl")
    out = _import("codex", codex, tmp_path / "logs")
    assert "0 sessions" in out and "unknown_type:None 2" in out and "no_timestamp 1" in out


def test_empty_garbage_and_bom_only_transcripts_are_not_sessions(tmp_path: Path) -> None:
    src = tmp_path / "projects"
    src.mkdir()
    (src / "empty.jsonl").write_bytes(b"")
    (src / "bom.jsonl").write_bytes(b"\xef\xbb\xbf")
    (src / "blank.jsonl").write_bytes(b"\xef\xbb\xbf\n\n  \n")
    (src / "noise.jsonl").write_bytes(os.urandom(3000).replace(b"\n", b"") + b"\n" + b"\x00\xff\xfe garbage\n")
    _age(*src.iterdir())
    out = _import("claude-code", src, tmp_path / "logs")
    assert "0 sessions, 0 events" in out
    assert "empty_file 3" in out and "not_json_lines 1" in out
    assert _stream(tmp_path / "logs") == []
    assert "0 sessions, 0 events" in _import("claude-code", src, tmp_path / "logs")  # counted once, not read again


def test_one_bad_file_never_stops_an_import(tmp_path: Path) -> None:
    src = tmp_path / "trajectories"
    shutil.copytree(SWE, src)
    doc = json.loads((SWE / "humanevalfix-python-0.traj").read_text())
    doc["info"]["model_stats"] = {"tokens_sent": "x", "tokens_received": 10, "instance_cost": float("inf")}
    (src / "a-bad-stats.traj").write_text(json.dumps(doc).replace("Infinity", "1e999"))
    (src / "b-not-json.traj").write_text('{"trajectory": [')
    (src / "c-a-list.traj").write_text("[1, 2]")
    out = _import("swe-agent", src, tmp_path / "logs")
    assert "6 sessions" in out  # the five fixtures and the one with bad numbers
    assert "malformed_field:tokens_sent 1" in out and "malformed_field:instance_cost 1" in out
    assert "not_json 1" in out and "not_a_trajectory 1" in out
    usage = [e["data"] for e in imported_events(tmp_path / "logs", "a-bad-stats") if e["event_type"] == "usage"]
    assert usage == [{"input_tokens": 0, "output_tokens": 10, "cost_source": "unknown_model"}]


def test_symlinks_out_of_the_tree_are_not_followed_unless_asked(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    shutil.copy(SAMPLE, outside / "secret.jsonl")
    src = tmp_path / "projects"
    (src / "p").mkdir(parents=True)
    shutil.copy(SAMPLE, src / "p" / "own.jsonl")
    (src / "p" / "link.jsonl").symlink_to(outside / "secret.jsonl")
    (src / "inside.jsonl").symlink_to(src / "p" / "own.jsonl")  # inside the tree: the same file
    (src / "dir-link").symlink_to(outside, target_is_directory=True)
    _age(outside / "secret.jsonl", src / "p" / "own.jsonl")
    out = _import("claude-code", src, tmp_path / "logs")
    assert "symlink_out_of_tree 1" in out
    attempts = {e["attempt_id"] for e in _stream(tmp_path / "logs")}
    assert not any(a.startswith(("secret", "link")) for a in attempts)
    out = _import("claude-code", src, tmp_path / "logs2", "--follow-symlinks")
    assert "symlink_out_of_tree" not in out
    attempts = {e["attempt_id"] for e in _stream(tmp_path / "logs2")}
    assert sorted(a.split("-")[0] for a in attempts) == ["own", "secret"]  # a file reached twice is read once


# -- 3: one attempt per source file ---------------------------------------------------------------


def test_runs_of_one_task_are_attempts_of_their_own_with_ids_stable_across_imports(tmp_path: Path) -> None:
    src = tmp_path / "runs"
    for run in ("run1", "run2", "run3"):
        (src / run).mkdir(parents=True)
        shutil.copy(SWE / "humanevalfix-python-0.traj", src / run / "X.traj")
    _import("swe-agent", src, tmp_path / "a")
    _import("swe-agent", src, tmp_path / "b")
    events = _stream(tmp_path / "a")
    attempts = sorted({e["attempt_id"] for e in events})
    assert len(attempts) == 3 and all(a.startswith("X-") for a in attempts)
    ids = [e["event_id"] for e in events]
    assert len(set(ids)) == len(ids)  # no two events share an id
    assert ids == [e["event_id"] for e in _stream(tmp_path / "b")]  # and the same on every import
    assert all(
        len([e for e in events if e["attempt_id"] == a and e["event_type"] == "session_end"]) == 1 for a in attempts
    )


def test_a_rollout_replaced_at_its_path_keeps_its_session_attempt_and_gets_ids_of_its_own(tmp_path: Path) -> None:
    """Codex numbers its records by line; a file replaced by another of the same session name
    must not give its events the old file's ids (the store would refuse them as copies)."""
    fixture = SHARED / "fixtures" / "codex" / "rollout-2026-01-02T03-04-05-11111111-1111-4111-8111-111111111111.jsonl"
    src = tmp_path / "sessions"
    src.mkdir()
    rollout = src / fixture.name
    shutil.copy(fixture, rollout)
    _age(rollout)
    _import("codex", src, tmp_path / "logs")
    first = _stream(tmp_path / "logs")
    lines = fixture.read_text().splitlines(keepends=True)
    rollout.unlink()  # a new file (new inode, new first line) at the same path
    rollout.write_text(lines[0].replace("2026-01-02", "2026-01-03") + "".join(lines[1:]))
    _age(rollout)
    _import("codex", src, tmp_path / "logs")
    events = _stream(tmp_path / "logs")
    assert {e["attempt_id"] for e in events} == {"11111111-1111-4111-8111-111111111111"}
    ids = [e["event_id"] for e in events]
    assert len(ids) == 2 * len(first) and len(set(ids)) == len(ids)


# -- 4: a transcript that goes on after it looked finished ----------------------------------------


def _continuation() -> list[str]:
    """The sample session, then the person comes back the next day with another prompt."""
    later = {
        "type": "user",
        "uuid": "later-1",
        "sessionId": "s",
        "timestamp": "2025-12-25T10:00:00Z",
        "message": {"role": "user", "content": "one more thing: add a test"},
    }
    reply = {
        "type": "assistant",
        "uuid": "later-2",
        "sessionId": "s",
        "timestamp": "2025-12-25T10:00:09Z",
        "message": {
            "id": "msg_later",
            "role": "assistant",
            "model": "claude-sonnet-4-5",
            "stop_reason": "end_turn",
            "content": [{"type": "text", "text": "Added."}],
            "usage": {"input_tokens": 10, "output_tokens": 5},
        },
    }
    return [json.dumps(later) + "\n", json.dumps(reply) + "\n"]


def _resume(live: Path, *, ended: bool = True) -> None:
    """The person comes back: the transcript grows (and is quiet again when `ended`)."""
    with open(live, "a") as handle:
        handle.writelines(_continuation())
    if ended:
        _age(live)


def test_an_ended_transcript_that_grows_is_read_on_and_the_attempt_reopened(tmp_path: Path) -> None:
    src = tmp_path / "projects"
    src.mkdir()
    live = src / "resumed.jsonl"
    shutil.copy(SAMPLE, live)
    _age(live)
    _import("claude-code", src, tmp_path / "logs")
    first = imported_events(tmp_path / "logs", "resumed")
    assert first[-1]["event_type"] == "session_end"
    _resume(live)
    out = _import("claude-code", src, tmp_path / "logs")
    assert "1 sessions" in out
    events = imported_events(tmp_path / "logs", "resumed")
    new = events[len(first) :]
    assert [e["event_type"] for e in new] == ["session_start", "agent_output", "usage", "status_change", "session_end"]
    assert new[0]["data"]["prompt_type"] == "followup" and new[0]["data"]["prompt"] == "one more thing: add a test"
    assert [e["sequence_num"] for e in events] == list(range(1, len(events) + 1))
    assert len({e["event_id"] for e in events}) == len(events)
    assert "0 events" in _import("claude-code", src, tmp_path / "logs")


def test_a_small_file_that_grows_keeps_its_identity(tmp_path: Path) -> None:
    src = tmp_path / "projects"
    src.mkdir()
    live = src / "tiny.jsonl"
    first = {
        "type": "user",
        "uuid": "u1",
        "sessionId": "s",
        "timestamp": "2025-12-24T10:00:00Z",
        "message": {"role": "user", "content": "hi"},
    }
    live.write_text(json.dumps(first) + "\n")
    assert live.stat().st_size < 512
    _import("claude-code", src, tmp_path / "logs")  # written just now: still open
    _resume(live, ended=False)
    _import("claude-code", src, tmp_path / "logs")
    events = imported_events(tmp_path / "logs", "tiny")
    kinds = [e["event_type"] for e in events]
    assert kinds.count("session_start") == 1 and kinds.count("followup_sent") == 1
    assert len({e["event_id"] for e in events}) == len(events)


def test_watch_follow_reads_on_after_an_end_too(tmp_path: Path) -> None:
    from agentlog import config
    from agentlog.jobs import TranscriptFollower

    src = tmp_path / "projects"
    src.mkdir()
    live = src / "followed.jsonl"
    shutil.copy(SAMPLE, live)
    _age(live)
    follower = TranscriptFollower(config.load({"log_dir": str(tmp_path / "logs")}), "claude-code", src)
    follower.prepare()
    try:
        ended = follower.events
        _resume(live)
        assert follower.step() == 5  # start again, output, usage, turn complete, end again
    finally:
        follower._recorder.close()
    kinds = [e["event_type"] for e in imported_events(tmp_path / "logs", "followed")]
    assert ended and kinds.count("session_start") == 2 and kinds.count("session_end") == 2


def test_a_record_glued_where_a_cut_line_wanted_a_value_is_kept_with_the_one_after_it() -> None:
    """A writer died after `"uuid":`; the next writer's record, and one glued to it, follow on the
    same line. The later record alone also parses, but the reading that keeps both is the one."""
    from agentlog.capture.importers.base import records_in

    first = {"type": "assistant", "uuid": "u-7", "message": {"content": [{"type": "text", "text": "hi"}]}}
    second = {"type": "summary", "summary": "done"}
    raw = b'{"type":"assistant","uuid":' + json.dumps(first).encode() + json.dumps(second).encode()
    assert records_in(raw) == ([first, second], ["malformed_json"])
    # a cut after a nested object is not taken for a record of its own
    raw = b'{"parentUuid":null,"message":{"content":[{"type":"text","text":"a"}' + json.dumps(first).encode()
    assert records_in(raw) == ([first], ["malformed_json"])


def test_an_import_state_from_v0_1_with_sha1_heads_goes_on_without_a_new_generation(tmp_path: Path) -> None:
    """v0.1 fingerprinted transcripts with SHA-1; the one cursor uses blake2b. A state written
    then must still recognise its files, or every grown transcript would be imported again."""
    import hashlib

    src = tmp_path / "projects"
    src.mkdir()
    live = src / "resumed.jsonl"
    shutil.copy(SAMPLE, live)
    _age(live)
    _import("claude-code", src, tmp_path / "logs")
    state_path = tmp_path / "logs" / "state" / "import-claude-code.json"
    state = json.loads(state_path.read_text())
    (entry,) = state["files"].values()
    entry["head"] = hashlib.sha1(live.read_bytes()[: entry["head_len"]]).hexdigest()  # as v0.1 wrote it
    state_path.write_text(json.dumps(state))
    first = imported_events(tmp_path / "logs", "resumed")
    _resume(live)
    _import("claude-code", src, tmp_path / "logs")
    events = imported_events(tmp_path / "logs", "resumed")
    assert [e["event_type"] for e in events[len(first) :]][0] == "session_start"
    assert len(events) == len(first) + 5  # only the new part: the file was known again
