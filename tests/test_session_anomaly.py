"""session_anomaly: a session unlike its cohort, through `agentlog watch --replay` on real
imported mini-swe-agent runs; baselines fitted by `agentlog risk baselines`; cold start;
the same alerts after a restart in the middle of a session."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from conftest import AGENTLOG, ROOT, read_jsonl, run_cli
from watchkit import wait_for

FIXTURES = ROOT / "tests" / "data" / "mini-swe-agent"
COPIES = 6  # of each of the two real runs: a cohort of 12
LOOP_AT = 6  # the step the planted loop starts at
REPEATS = 6


def _write_runs(folder: Path) -> None:
    """The real runs under new instance ids: a cohort of COPIES of each."""
    folder.mkdir(parents=True)
    for source in sorted(FIXTURES.glob("*.traj.json")):
        doc = json.loads(source.read_text())
        for i in range(COPIES):
            doc["instance_id"] = f"{source.name.split('.')[0]}-{i}"
            (folder / f"{doc['instance_id']}.traj.json").write_text(json.dumps(doc))


def _write_loop(folder: Path) -> None:
    """A real run whose command at step LOOP_AT is run REPEATS more times, as an agent in a
    loop does; it ends failed (over its limits)."""
    folder.mkdir(parents=True)
    doc = json.loads(sorted(FIXTURES.glob("*.traj.json"))[-1].read_text())
    doc["instance_id"] = "looping-run"
    doc["info"]["exit_status"] = "LimitsExceeded"
    call = 2 * LOOP_AT  # messages: system, task, then (assistant, its output) per step
    doc["messages"][call:call] = doc["messages"][call - 2 : call] * REPEATS
    (folder / "looping-run.traj.json").write_text(json.dumps(doc))


def _import(folder: Path, log_dir: Path) -> None:
    run_cli("import", "mini-swe-agent", str(folder), "--log-dir", str(log_dir), "-q", check=True)


def _config(tmp_path: Path, **watch) -> dict:
    lines = ["[watch]"] + [f"{k} = {json.dumps(v)}" for k, v in watch.items()]
    path = tmp_path / "agentlog.toml"
    path.write_text("\n".join(lines) + "\n")
    return {"AGENTLOG_CONFIG": str(path)}


@pytest.fixture
def history(log_dir: Path, tmp_path: Path) -> tuple[Path, dict]:
    """A log of 12 real runs, the baselines fitted on them, then a looping run imported."""
    env = _config(tmp_path, session_anomaly_min_sessions=10)
    _write_runs(tmp_path / "before")
    _import(tmp_path / "before", log_dir)
    fitted = run_cli("risk", "baselines", "--log-dir", str(log_dir), env=env, check=True)
    assert "MINI_SWE_AGENT: 12 sessions" in fitted.stdout.decode()
    _write_loop(tmp_path / "new")
    _import(tmp_path / "new", log_dir)
    return log_dir, env


def _anomalies(log_dir: Path) -> list[dict]:
    path = log_dir / "agent-alerts.jsonl"
    return [a for a in read_jsonl(path) if a["type"] == "session_anomaly"] if path.exists() else []


def _watch(log_dir: Path, env: dict, *args: str) -> None:
    result = run_cli("watch", "--log-dir", str(log_dir), "--once", "--quiet", *args, env=env)
    assert result.returncode == 0, result.stderr.decode()


def test_replay_alerts_on_the_looping_run_only_and_says_how_far(history) -> None:
    log_dir, env = history
    _watch(log_dir, env, "--replay")
    found = _anomalies(log_dir)
    assert [a["attempt_id"].startswith("looping-run") for a in found] == [True]
    alert = found[0]
    assert LOOP_AT <= alert["occurrences"] < LOOP_AT + REPEATS  # while it loops, not at its end
    assert "identical calls in a row" in alert["message"] or "repeated calls" in alert["message"]
    assert "robust z from its cohort MINI_SWE_AGENT" in alert["message"]


def test_cold_start_no_baselines_or_too_small_a_cohort_says_nothing(history, tmp_path: Path) -> None:
    log_dir, env = history
    (log_dir / "state" / "session-baselines.json").unlink()
    _watch(log_dir, env, "--replay")
    assert _anomalies(log_dir) == []
    small = run_cli(
        "risk", "baselines", "--log-dir", str(log_dir), env=_config(tmp_path, session_anomaly_min_sessions=50)
    )
    assert small.returncode == 0 and "no cohort has 50 yet" in small.stderr.decode()
    _watch(log_dir, env, "--reset", "--replay")
    assert _anomalies(log_dir) == []


def test_switched_off_in_the_config(history, tmp_path: Path) -> None:
    log_dir, _ = history
    _watch(log_dir, _config(tmp_path, session_anomaly=False, session_anomaly_min_sessions=10), "--replay")
    assert _anomalies(log_dir) == []


def test_a_file_that_is_not_baselines_is_refused(history) -> None:
    log_dir, env = history
    (log_dir / "state" / "session-baselines.json").write_text('{"format": "something else"}')
    result = run_cli("watch", "--log-dir", str(log_dir), "--once", "--quiet", "--replay", env=env)
    assert result.returncode == 1 and "not agentlog session baselines" in result.stderr.decode()


def _split(log_dir: Path, env: dict, tmp_path: Path) -> tuple[Path, bytes, list]:
    """A new log holding the stream up to the loop's first step (the baselines copied), the
    rest of the stream, and the alerts a whole replay gives."""
    _watch(log_dir, env, "--replay")
    lines = (log_dir / "agent-work-stream.jsonl").read_bytes().splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if b'"looping-run' in line and b'"agent_thinking"' in line]
    cut = starts[LOOP_AT - 1] + 1  # the loop's first step begun: what the run did before must survive
    fresh = tmp_path / "restarted"
    (fresh / "state").mkdir(parents=True)
    baselines = (log_dir / "state" / "session-baselines.json").read_bytes()
    (fresh / "state" / "session-baselines.json").write_bytes(baselines)
    (fresh / "agent-work-stream.jsonl").write_bytes(b"".join(lines[:cut]))
    return fresh, b"".join(lines[cut:]), _ids(log_dir)


def _ids(log_dir: Path) -> list:
    return [(a["alert_id"], a["attempt_id"], a["occurrences"]) for a in _anomalies(log_dir)]


def test_a_restart_in_the_middle_of_the_loop_gives_the_same_alert(history, tmp_path: Path) -> None:
    log_dir, env = history
    fresh, rest, expected = _split(log_dir, env, tmp_path)
    _watch(fresh, env, "--replay")  # stops here, its position and state checkpointed
    assert _anomalies(fresh) == []
    with open(fresh / "agent-work-stream.jsonl", "ab") as handle:
        handle.write(rest)
    _watch(fresh, env)  # a new process, from the checkpoint
    assert expected and _ids(fresh) == expected


def test_kill_9_in_the_middle_of_the_loop_then_restart_gives_the_same_alert(history, tmp_path: Path) -> None:
    log_dir, env = history
    fresh, rest, expected = _split(log_dir, env, tmp_path)
    size = (fresh / "agent-work-stream.jsonl").stat().st_size
    checkpoint = fresh / "state" / "watch.checkpoint.json"

    def saved_the_prefix() -> bool:
        try:
            return json.loads(checkpoint.read_text())["files"][0][2] == size
        except (OSError, ValueError, KeyError, IndexError):
            return False

    watcher = subprocess.Popen(
        [*AGENTLOG, "watch", "--log-dir", str(fresh), "--quiet", "--replay"],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_for(saved_the_prefix, timeout=60)
        with open(fresh / "agent-work-stream.jsonl", "ab") as handle:
            handle.write(rest)  # the loop goes on while the watch may be reading it
    finally:
        watcher.send_signal(signal.SIGKILL)
        watcher.wait()
    _watch(fresh, env)
    assert expected and _ids(fresh) == expected


def test_the_weekly_report_says_which_alerts_came_in_time(history) -> None:
    from agentlog import config
    from agentlog.events import parse_time
    from agentlog.report import build_report
    from agentlog.report.render import render_markdown

    log_dir, env = history
    _watch(log_dir, env, "--replay")
    alert = _anomalies(log_dir)[0]
    last = max(parse_time(e["timestamp"]) for e in read_jsonl(log_dir / "agent-work-stream.jsonl"))
    settings = config.load({"log_dir": str(log_dir)}, environ={}, cwd=log_dir.parent)
    report = build_report(settings, days=7, now=last + 3600)
    looping = next(
        r
        for r in read_jsonl(log_dir / "agent-work-stream.jsonl")
        if r["event_type"] == "session_end" and r["attempt_id"] == alert["attempt_id"]
    )
    assert looping["data"]["completion_status"] == "failed"
    (found,) = report.warnings
    assert (found["type"], found["sessions"], found["failed"], found["failed_total"], found["in_time"]) == (
        "session_anomaly",
        1,
        1,
        1,
        1,
    )
    spent = sum(
        e["data"]["cost_usd"]
        for e in read_jsonl(log_dir / "agent-work-stream.jsonl")
        if e["event_type"] == "usage" and e["attempt_id"] == alert["attempt_id"]
    )
    assert 0 < found["unspent_failed_usd"] == pytest.approx(spent - alert["cost_usd"], abs=1e-5)
    assert found["succeeded"] == 0 and found["unspent_succeeded_usd"] == 0
    markdown = render_markdown(report)
    assert "## Early warnings" in markdown and "| session_anomaly | 1 | 1 of 1 | 1 |" in markdown


def test_an_error_streak_is_the_same_error_with_the_same_output() -> None:
    """mini-swe-agent writes every non-zero exit as one `exit_code` error: a grep that found
    nothing and a failing test are still two errors; one output from every command is one."""
    import msgspec

    from agentlog.risk.cohort import NAMES, Metrics
    from agentlog.watch.view import WatchEvent

    decode = msgspec.json.Decoder(WatchEvent).decode
    metrics = Metrics()

    def step(command: str, output: str, error: str | None = "exit code 1") -> float:
        events = [
            ("agent_thinking", {"thinking": "next"}),
            ("tool_call", {"tool_name": "bash", "tool_params": {"command": command}}),
            ("tool_result", {"tool_name": "bash", "result": "error" if error else "success", "result_data": output}),
        ]
        if error:
            events.append(("error", {"error_message": error, "error_fingerprint": "exit_code-1"}))
        for kind, data in events:
            metrics.take(decode(json.dumps({"event_type": kind, "attempt_id": "a", "data": data})))
        return metrics.values()[NAMES.index("error_streak")]

    broken = "OSError: [Errno 5] Input/output error"
    assert step("ls", "a.py", None) == 0
    assert [step(f"cat f{n}.py", broken) for n in range(4)] == [0, 1, 2, 3]  # other commands, one output
    step("pytest", "FAILED test_a.py::test_x - assert 1 == 2")  # same fingerprint, other output: it ends
    # (a streak is judged at the step after: the step that ends it still shows the one before)
    assert step("grep -n x a.py", "") == 0
    assert step("grep -n y a.py", "") == 1  # printing nothing is one output too
    step("ls", broken, None)  # a success ends it
    assert step("ls -a", "b.py", None) == 0


def _metrics_stepper():
    """A fresh Metrics and a function that feeds it one step (a call, its output, maybe an
    error) and returns the metrics named."""
    import msgspec

    from agentlog.risk.cohort import NAMES, Metrics
    from agentlog.watch.view import WatchEvent

    decode = msgspec.json.Decoder(WatchEvent).decode
    metrics = Metrics()

    def step(command: str, output: str, failed: bool = False) -> dict[str, float]:
        events = [
            ("agent_thinking", {"thinking": "next"}),
            ("tool_call", {"tool_name": "bash", "tool_params": {"command": command}}),
            ("tool_result", {"tool_name": "bash", "result": "error" if failed else "success", "result_data": output}),
        ]
        if failed:
            events.append(("error", {"error_message": "exit code 1", "error_fingerprint": "exit_code-1"}))
        for kind, data in events:
            metrics.take(decode(json.dumps({"event_type": kind, "attempt_id": "a", "data": data})))
        return dict(zip(NAMES, metrics.values()))

    return step


def test_a_loop_is_the_same_call_answered_the_same() -> None:
    """Paging through a file calls one command in a row and reads something new each time: no
    loop. The same command answered the same is one, and its failures are not counted again
    as an error streak (other commands failing the same way are)."""
    step = _metrics_stepper()
    assert [step("scroll_down", f"lines {n}00-{n}99")["repeat_streak"] for n in range(4)] == [0, 0, 0, 0]
    assert [step("python t.py", "same")["repeat_streak"] for _ in range(3)] == [0, 1, 2]
    failing = [step("pytest", "FAILED test_x", failed=True) for _ in range(3)]
    assert [m["repeat_streak"] for m in failing] == [0, 1, 2]
    assert [m["error_streak"] for m in failing] == [0, 0, 0]


def test_a_loop_after_the_cohorts_last_baselined_step_still_alerts(log_dir: Path, tmp_path: Path) -> None:
    """Half the cohort ends at step 20, so with 10 sessions needed its baselines end there; a
    run looping at step 26 is judged by the last step's baselines, not left unjudged."""
    env = _config(tmp_path, session_anomaly_min_sessions=10)
    _write_runs(tmp_path / "before")
    _import(tmp_path / "before", log_dir)
    fitted = run_cli("risk", "baselines", "--log-dir", str(log_dir), env=env, check=True)
    assert "baselines to step 20" in fitted.stdout.decode()
    late = 26
    folder = tmp_path / "new"
    folder.mkdir()
    doc = json.loads(sorted(FIXTURES.glob("*.traj.json"))[-1].read_text())  # 36 steps
    doc["instance_id"] = "looping-late"
    call = 2 * late
    doc["messages"][call:call] = doc["messages"][call - 2 : call] * REPEATS
    (folder / "looping-late.traj.json").write_text(json.dumps(doc))
    _import(folder, log_dir)
    _watch(log_dir, env, "--replay")
    found = _anomalies(log_dir)
    assert [a["attempt_id"].startswith("looping-late") for a in found] == [True]
    assert late <= found[0]["occurrences"] < late + REPEATS  # while it loops


def test_baselines_of_an_older_format_ask_to_be_fitted_again(history) -> None:
    log_dir, env = history
    path = log_dir / "state" / "session-baselines.json"
    doc = json.loads(path.read_text())
    path.write_text(json.dumps({**doc, "format": "agentlog-session-baselines-1"}))
    result = run_cli("watch", "--log-dir", str(log_dir), "--once", "--quiet", "--replay", env=env)
    assert result.returncode == 1 and "fit them again (agentlog risk baselines)" in result.stderr.decode()
