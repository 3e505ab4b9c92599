"""The recorder writes every file the original did, numbers and times events, never tears."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, strategies as st

from agentlog import config
from agentlog.capture.api import Session
from agentlog.events import EventError
from agentlog.recorder import Recorder
from agentlog.store import layout
from agentlog.store.writer import StoreError

from conftest import read_jsonl


@pytest.fixture
def recorder(log_dir):
    rec = Recorder(config.load(environ={}), log_dir=log_dir)
    yield rec
    rec.close()


def test_fan_out_to_stream_session_errors_and_metrics(recorder, log_dir):
    with Session(
        "ve-a1b2-implement-auth",
        executor="CODEX",
        model="gpt-5",
        task_id="t1",
        task_title="Implement auth [m]",
        recorder=recorder,
        prompt="do it",
    ) as s:
        s.tool_call("bash", {"cmd": "pytest"})
        s.tool_result("bash", "error", "1 failed")
        s.error("fatal: not a git repository", fingerprint="git_not_repo", category="git")
        s.usage(input_tokens=1000, output_tokens=200, cache_read_tokens=50, cost_usd=0.25)
        s.followup("try again", reason="tests failed")
    stream = read_jsonl(log_dir / layout.STREAM)
    assert [e["event_type"] for e in stream] == [
        "session_start",
        "tool_call",
        "tool_result",
        "error",
        "usage",
        "followup_sent",
        "session_end",
    ]
    assert [e["sequence_num"] for e in stream] == list(range(1, 8))
    assert all(e["executor"] == "CODEX" and e["task_id"] == "t1" for e in stream)
    assert all(e["elapsed_ms"] >= 0 and len(e["event_id"]) == 36 for e in stream)
    assert read_jsonl(log_dir / layout.SESSIONS / "ve-a1b2-implement-auth.jsonl") == stream
    assert [e["event_type"] for e in read_jsonl(log_dir / layout.ERRORS)] == ["error"]
    [metrics] = read_jsonl(log_dir / layout.METRICS)
    m = metrics["metrics"]
    assert metrics["attempt_id"] == "ve-a1b2-implement-auth" and metrics["executor"] == "CODEX"
    assert (m["tool_calls"], m["tool_failures"], m["errors"], m["followups"]) == (1, 1, 1, 1)
    assert m["error_fingerprints"] == {"git_not_repo": 1} and m["error_categories"] == {"git": 1}
    assert (m["input_tokens"], m["output_tokens"], m["total_tokens"], m["cost_usd"]) == (1000, 200, 1250, 0.25)
    assert m["success"] is True and m["first_shot_success"] is False


def test_exception_in_session_records_error_and_failed_end(recorder, log_dir):
    with pytest.raises(RuntimeError):
        with Session("a-2", recorder=recorder):
            raise RuntimeError("boom")
    stream = read_jsonl(log_dir / layout.STREAM)
    assert stream[-2]["data"]["error_message"] == "RuntimeError: boom"
    assert "Traceback" in stream[-2]["data"]["stack_trace"]
    assert stream[-1]["data"]["completion_status"] == "failed"


def test_numbering_continues_across_recorders(log_dir):
    """A second process (emit, a restart) continues the sequence and elapsed time."""
    settings = config.load(environ={})
    first = Recorder(settings, log_dir=log_dir)
    first.record(
        {
            "attempt_id": "a",
            "event_type": "session_start",
            "executor": "COPILOT",
            "timestamp": "2026-01-01T00:00:00.000Z",
        }
    )
    first.close()
    second = Recorder(settings, log_dir=log_dir)
    event = second.record(
        {
            "attempt_id": "a",
            "event_type": "agent_output",
            "data": {"output": "hi"},
            "timestamp": "2026-01-01T00:00:02.500Z",
        }
    )
    assert (event["sequence_num"], event["elapsed_ms"], event["executor"]) == (2, 2500, "COPILOT")


def test_disabled_logging_writes_nothing(log_dir):
    rec = Recorder(config.load(environ={"AGENT_WORK_LOGGING_ENABLED": "false"}), log_dir=log_dir)
    assert rec.record({"attempt_id": "a", "event_type": "session_start"}) is None
    assert not log_dir.exists()


def test_unusual_status_is_recorded_as_failed(recorder, log_dir):
    recorder.record({"attempt_id": "a", "event_type": "session_end", "data": {"completion_status": "setup_failed"}})
    [end] = read_jsonl(log_dir / layout.STREAM)
    assert end["data"] == {"completion_status": "failed", "completion_status_raw": "setup_failed"}
    assert read_jsonl(log_dir / layout.METRICS)[0]["metrics"]["success"] is False


def test_over_large_payload_is_truncated_with_marker(log_dir):
    rec = Recorder(config.load(environ={"AGENT_WORK_MAX_EVENT_BYTES": "100000"}), log_dir=log_dir)
    given = {
        "attempt_id": "a",
        "event_type": "tool_result",
        "data": {"tool_name": "bash", "result_data": {"out": "x" * 5_000_000}, "note": "kept"},
    }
    rec.record(given)
    assert len(given["data"]["result_data"]["out"]) == 5_000_000  # the caller's event is not cut
    raw = (log_dir / layout.STREAM).read_bytes()
    assert len(raw) <= 100_001
    event = json.loads(raw)
    assert event["data"]["note"] == "kept"
    out = event["data"]["result_data"]["out"]
    assert out.startswith("xxx") and out.endswith(" chars]") and "…[agentlog: truncated " in out


def test_the_callers_event_is_never_changed_and_one_reused_is_recorded_anew(recorder, log_dir):
    """A dict reused as a template must not carry its first event's id and number into the
    next (the pipeline stamps a copy), on the plain path and on the dict path alike."""
    plain = {"attempt_id": "t", "event_type": "tool_call", "data": {"tool_name": "bash"}}
    error = {"attempt_id": "t", "event_type": "error", "data": {"error_message": "npm ERR! code E404"}}
    end = {"attempt_id": "u", "event_type": "session_end", "data": {"completion_status": "done"}}
    before = json.loads(json.dumps([plain, error, end]))
    recorded = [recorder.record(plain), recorder.record(plain), *recorder.record_many([plain, error, error])]
    recorder.record(end)
    assert [plain, error, end] == before
    assert len({e["event_id"] for e in recorded}) == 5
    assert [e["sequence_num"] for e in recorded] == [1, 2, 3, 4, 5]
    assert recorded[0] is not plain and "error_fingerprint" in recorded[3]["data"]
    assert [e["event_id"] for e in read_jsonl(log_dir / layout.STREAM)][:5] == [e["event_id"] for e in recorded]


def test_missing_log_dir_is_created_and_unwritable_dir_is_a_clear_error(tmp_path):
    target = tmp_path / "deep" / "logs"
    rec = Recorder(config.load(environ={}), log_dir=target)
    rec.record({"attempt_id": "a", "event_type": "session_start"})
    assert (target / layout.STREAM).exists()
    blocker = tmp_path / "file"
    blocker.write_text("not a dir")
    with pytest.raises(StoreError, match="cannot open .*file"):
        Recorder(config.load(environ={}), log_dir=blocker / "logs").record(
            {"attempt_id": "a", "event_type": "session_start"}
        )


@pytest.mark.parametrize(
    "attempt",
    [
        "../../etc/passwd",
        "/etc/passwd",
        "a\x00b",
        "x" * 5000,
        "CON",
        "con",
        "nul.txt",
        "Ve-A1",
        ".hidden",
        "..",
        "a/b\\c",
        "é-unicode",
    ],
)
def test_hostile_attempt_ids_stay_inside_sessions(recorder, log_dir, attempt):
    recorder.record({"attempt_id": attempt, "event_type": "session_start"})
    files = [p for p in log_dir.rglob("*") if p.is_file()]
    sessions = log_dir / layout.SESSIONS
    assert all(p.parent in (log_dir, sessions) for p in files)
    [session_file] = list(sessions.iterdir())
    assert read_jsonl(session_file)[0]["attempt_id"] == attempt  # the original id stays in the event


@given(st.lists(st.text(min_size=1, max_size=300), min_size=2, max_size=20, unique=True))
def test_distinct_ids_get_distinct_safe_names(ids):
    names = [layout.session_file_name(i) for i in ids]
    assert len({n.lower() for n in names}) == len(ids)  # no clash, even on a case-insensitive disk
    for name in names:
        assert "/" not in name and "\\" not in name and "\x00" not in name
        assert not name.startswith(".") and len(name.encode()) <= 255


def test_safe_ids_keep_the_original_file_name():
    assert layout.session_file_name("ve-a1b2-implement-auth") == "ve-a1b2-implement-auth.jsonl"


def test_error_categories_extend_from_configuration(tmp_path, log_dir):
    (tmp_path / "agentlog.toml").write_text('[errors.categories]\nlicense = ["license (check|violation)"]\n')
    rec = Recorder(config.load(environ={}, cwd=tmp_path), log_dir=log_dir)
    rec.record({"attempt_id": "a", "event_type": "error", "data": {"error_message": "License check failed: GPL"}})
    rec.record(
        {
            "attempt_id": "a",
            "event_type": "error",
            "data": {"error_message": "whatever", "error_fingerprint": "mine", "error_category": "custom"},
        }
    )
    first, second = read_jsonl(log_dir / layout.ERRORS)
    assert first["data"]["error_category"] == "license"
    assert (second["data"]["error_fingerprint"], second["data"]["error_category"]) == ("mine", "custom")


def _tool_events(attempts: int, each: int) -> list[dict]:
    events = []
    for a in range(attempts):
        events.append(
            {"attempt_id": f"b{a}", "event_type": "session_start", "executor": "CODEX", "data": {"prompt": "go"}}
        )
        events += [
            {"attempt_id": f"b{a}", "event_type": "tool_call", "data": {"tool_name": "bash", "call_id": str(i)}}
            for i in range(each)
        ]
        events.append({"attempt_id": f"b{a}", "event_type": "error", "data": {"error_message": "npm ERR! 404"}})
        events.append({"attempt_id": f"b{a}", "event_type": "session_end", "data": {"completion_status": "success"}})
    return events


def _without_ids(path) -> list[dict]:
    drop = ("event_id", "timestamp", "elapsed_ms", "generated_at")
    return [{k: v for k, v in e.items() if k not in drop} for e in read_jsonl(path)]


def test_record_many_writes_what_record_writes(tmp_path):
    events = _tool_events(3, 5)
    one, many = tmp_path / "one", tmp_path / "many"
    with Recorder(config.load(environ={}), log_dir=one) as rec:
        for event in _tool_events(3, 5):
            rec.record(event)
    with Recorder(config.load(environ={}), log_dir=many) as rec:
        assert len(rec.record_many(events)) == len(events)
    for name in (layout.STREAM, layout.ERRORS, f"{layout.SESSIONS}/b1.jsonl"):
        assert _without_ids(many / name) == _without_ids(one / name)
    metrics = read_jsonl(many / layout.METRICS)  # derived from each transcript, complete at its end
    assert [m["metrics"]["tool_calls"] for m in metrics] == [5, 5, 5]


def test_record_many_is_one_write_per_file_and_reports_invalid_events(log_dir):
    from agentlog.testing import MemoryWriter

    class CountingWriter(MemoryWriter):
        batches = 0

        def write_batch(self, batch):
            self.batches += 1
            super().write_batch(batch)

    writer = CountingWriter()
    rec = Recorder(config.load(environ={}), log_dir=log_dir, writer=writer)
    events = [{"attempt_id": "a", "event_type": "tool_call", "data": {"tool_name": "x"}} for _ in range(500)]
    events.insert(7, {"attempt_id": "a", "event_type": "nonsense"})
    bad = []
    recorded = rec.record_many(events, on_invalid=lambda i, exc: bad.append((i, exc.field)))
    assert len(recorded) == 500 and bad == [(7, "event_type")]
    assert writer.batches == 1 and len(writer.files[layout.STREAM]) == 500
    assert [e["sequence_num"] for e in recorded] == list(range(1, 501))
    with pytest.raises(EventError):  # without on_invalid: what came before is written, then the error
        rec.record_many([events[0].copy(), {"attempt_id": "a", "event_type": "nonsense"}, events[1].copy()])
    assert len(writer.files[layout.STREAM]) == 501


def test_a_long_running_recorder_forgets_old_attempts_and_resumes_them_from_disk(log_dir):
    rec = Recorder(config.load(environ={}), log_dir=log_dir)
    rec.max_attempts = 2
    for attempt in ("a", "b", "c", "a", "d"):
        rec.record_many(
            [{"attempt_id": attempt, "event_type": "agent_output", "executor": "CODEX", "data": {"output": "x"}}]
        )
        assert rec.attempts_remembered <= 2  # never-ended attempts do not pile up in memory
    rec.record({"attempt_id": "a", "event_type": "agent_output", "data": {"output": "y"}})
    events = read_jsonl(log_dir / layout.SESSIONS / "a.jsonl")
    assert [e["sequence_num"] for e in events] == [1, 2, 3]
    assert events[-1]["executor"] == "CODEX"  # the session context comes back from the transcript


def test_session_log_dir_is_where_its_events_go(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENT_WORK_LOG_DIR", str(tmp_path / "default"))
    with Session("s-dir", executor="CODEX", log_dir=tmp_path / "mine", custom="kept") as s:
        s.output("hello")
    events = read_jsonl(tmp_path / "mine" / layout.STREAM)
    assert [e["event_type"] for e in events] == ["session_start", "agent_output", "session_end"]
    assert "log_dir" not in events[0]["data"] and events[0]["data"]["custom"] == "kept"
    assert not (tmp_path / "default").exists()
    with pytest.raises(TypeError, match="recorder or a log_dir"):
        Session("both", recorder=Recorder(config.load(environ={}), log_dir=tmp_path / "x"), log_dir=tmp_path)


def test_a_processor_added_in_python_runs_after_stamping_and_its_change_is_written(log_dir):
    rec = Recorder(config.load(environ={}), log_dir=log_dir)
    seen = []

    def tag(event):
        seen.append(event["sequence_num"])  # stamped already
        event["data"]["team"] = "payments"
        return event

    rec.processors.append(tag)
    rec.record({"attempt_id": "p", "event_type": "agent_output", "data": {"output": "x"}})
    rec.record_many([{"attempt_id": "p", "event_type": "agent_output", "data": {"output": "y"}}])
    rec.close()
    assert seen == [1, 2]
    assert [e["data"]["team"] for e in read_jsonl(log_dir / layout.STREAM)] == ["payments", "payments"]


def test_a_forked_child_makes_event_ids_its_parent_never_makes(log_dir):
    import os

    from agentlog.events import new_event_id

    new_event_id()  # the parent has drawn its random part
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: ids at the same instant as the parent's below
        os.write(write, "\n".join(new_event_id(1_800_000_000.0) for _ in range(100)).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read) as pipe:
        child = set(pipe.read().split("\n"))
    parent = {new_event_id(1_800_000_000.0) for _ in range(100)}
    assert len(child) == len(parent) == 100 and not child & parent


def test_threads_sharing_one_recorder_number_every_event_once(log_dir):
    from concurrent.futures import ThreadPoolExecutor

    rec = Recorder(config.load({"fsync": "event"}, environ={}), log_dir=log_dir)

    def work(thread: int) -> None:
        for i in range(50):
            event = {"attempt_id": "shared", "event_type": "agent_output", "data": {"output": f"{thread}-{i}"}}
            if i % 2:
                rec.record(event)
            else:
                rec.record_many([event])

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(work, range(4)))
    rec.close()
    events = read_jsonl(log_dir / layout.SESSIONS / "shared.jsonl")
    assert sorted(e["sequence_num"] for e in events) == list(range(1, 201))
    assert len({e["data"]["output"] for e in events}) == 200
