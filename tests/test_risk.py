"""Failure risk: `agentlog risk --replay` curves, the `risk` detector in watch (the same
scores and alert as the replay), `agentlog risk train`, and the step features."""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import ROOT, read_jsonl, run_cli

from agentlog.risk.features import NAMES, State, Tracker
from agentlog.watch.view import WatchEvent

FIXTURES = ROOT / "tests" / "data" / "mini-swe-agent"
DEFAULT_MODEL = ROOT / "src" / "agentlog" / "risk" / "default_model.json"
EXAMPLES = int(os.environ.get("AGENTLOG_FUZZ_EXAMPLES", "10"))
KEYS = ["attempt_id", "executor", "model", "steps", "outcome", "scores", "first_alert_step"]


@pytest.fixture
def imported(log_dir: Path) -> Path:
    run_cli("import", "mini-swe-agent", str(FIXTURES), "--log-dir", str(log_dir), check=True)
    return log_dir


def replay_json(log_dir: Path, *args: str, env: dict | None = None) -> list[dict]:
    out = run_cli("risk", "--replay", *args, "--format", "json", "--log-dir", str(log_dir), env=env, check=True)
    return [json.loads(line) for line in out.stdout.decode().splitlines()]


def test_replay_json_is_one_object_per_attempt_with_a_score_per_step(imported: Path) -> None:
    curves = replay_json(imported)
    assert len(curves) == 2 and all(list(c) == KEYS for c in curves)
    by_steps = {c["steps"]: c for c in curves}
    assert set(by_steps) == {20, 36}  # a step is a model call
    for steps, curve in by_steps.items():
        assert [s for s, _ in curve["scores"]] == list(range(1, steps + 1))
        assert all(0 < risk < 1 for _, risk in curve["scores"])
        assert curve["executor"] == "MINI_SWE_AGENT" and curve["model"] == "google/gemini-3-pro-preview"
        assert curve["outcome"] == "success"
    assert replay_json(imported) == curves  # deterministic
    only = replay_json(imported, "13398")
    assert [c["steps"] for c in only] == [36]
    assert replay_json(imported, "nothing-like-it") == []


def test_text_replay_shows_curves_and_the_unspent_summary(imported: Path) -> None:
    out = run_cli("risk", "--replay", "--log-dir", str(imported), check=True).stdout.decode()
    assert "20 steps" in out and "36 steps" in out and "2 sessions; failed runs alerted 0/0" in out
    assert "no alert" in out  # the packaged threshold: neither of these successful runs alerts


def _model_alerting_after(curve: dict, step: int, tmp_path: Path) -> Path:
    """The packaged model with its threshold set so that `curve` first alerts at `step` or later."""
    doc = json.loads(DEFAULT_MODEL.read_text())
    highest = max(risk for _, risk in curve["scores"][: step - 1]) + 5e-5  # the curve's risks are rounded to 4 places
    doc["thresholds"] = {"MINI_SWE_AGENT": highest}
    path = tmp_path / "model.json"
    path.write_text(json.dumps(doc))
    return path


def test_watch_alerts_where_the_replay_does_and_says_why(imported: Path, tmp_path: Path) -> None:
    curve = next(c for c in replay_json(imported) if c["steps"] == 36)
    model = _model_alerting_after(curve, 6, tmp_path)
    env = {"AGENTLOG_RISK_MODEL": str(model)}
    replayed = {c["attempt_id"]: c for c in replay_json(imported, "--model", str(model))}
    assert replayed[curve["attempt_id"]]["first_alert_step"] >= 6
    result = run_cli("watch", "--log-dir", str(imported), "--once", "--quiet", "--replay", env=env)
    assert result.returncode == 0, result.stderr.decode()
    found = [a for a in read_jsonl(imported / "agent-alerts.jsonl") if a["type"] == "failure_risk"]
    assert {a["attempt_id"] for a in found} == {c for c, r in replayed.items() if r["first_alert_step"]}
    for alert in found:  # one per session, at the step the replay names
        assert alert["occurrences"] == replayed[alert["attempt_id"]]["first_alert_step"]
        assert alert["message"].startswith("failure risk ") and "driven by " in alert["message"]
        assert alert["threshold"] > 0 and alert["cost_usd"] > 0


def test_an_executor_the_model_was_not_calibrated_on_never_alerts(log_dir: Path) -> None:
    run_cli(
        "import",
        "swe-agent",
        str(ROOT.parent / "shared" / "fixtures" / "swe-agent"),
        "--log-dir",
        str(log_dir),
        check=True,
    )
    curves = replay_json(log_dir)
    assert curves and all(c["executor"] == "SWE_AGENT" and c["scores"] for c in curves)
    assert all(c["first_alert_step"] is None for c in curves)


def test_replay_rejects_a_file_that_is_not_a_model(imported: Path, tmp_path: Path) -> None:
    bad = tmp_path / "model.json"
    bad.write_text('{"format": "something else"}')
    result = run_cli("risk", "--replay", "--model", str(bad), "--log-dir", str(imported))
    assert result.returncode == 2 and b"not an agentlog risk model" in result.stderr


def test_train_says_when_there_is_too_little(imported: Path) -> None:
    result = run_cli("risk", "train", "--log-dir", str(imported))
    assert result.returncode == 1 and b"too little history to train: 2 labelled runs" in result.stderr
    assert not (imported / "risk-model.json").exists()


def test_train_rejects_labels_it_cannot_read(imported: Path, tmp_path: Path) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_text("attempt_id,colour\nx,blue\n")
    result = run_cli("risk", "train", "--labels", str(labels), "--log-dir", str(imported))
    assert result.returncode == 2 and b"row 1: needs attempt_id and failed, resolved or outcome" in result.stderr


def _session(attempt: str, failing: bool, n: int) -> list[dict]:
    """A session whose failing kind keeps hitting the same error; the other makes progress."""
    t = 1_767_225_600 + n * 10_000
    events, i = [], 0

    def add(kind: str, **data) -> None:
        nonlocal i
        i += 1
        events.append(
            {
                "timestamp": f"2026-01-01T{(t + i) // 3600 % 24:02d}:{(t + i) // 60 % 60:02d}:{(t + i) % 60:02d}.000Z",
                "attempt_id": attempt,
                "executor": "CODEX",
                "event_type": kind,
                "event_id": f"{attempt}-{i}",
                "data": data,
            }
        )

    add("session_start", prompt="fix it")
    for step in range(12 + n % 5):
        add("agent_thinking", thinking="next")
        add("usage", input_tokens=1000 * (step + 1), output_tokens=50, cost_usd=0.01 * (3 if failing else 1))
        command = "pytest -x" if failing else f"sed -i s/{step}/{step + 1}/ f.py"
        add("tool_call", tool_name="bash", tool_params={"command": command})
        add("tool_result", tool_name="bash", result="error" if failing and step > 2 else "success")
        if failing and step > 2:
            add("error", error_message="AssertionError: expected 2 got 3")
    add("session_end", completion_status="failed" if failing else "success")
    return events


def test_train_on_own_history_then_replay_with_it(log_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    log_dir.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(e) for n in range(60) for e in _session(f"run-{n}", n % 3 == 0, n)]
    (log_dir / "agent-work-stream.jsonl").write_text("\n".join(lines) + "\n")
    out = tmp_path / "mine.json"
    result = run_cli("risk", "train", "--out", str(out), "--log-dir", str(log_dir), check=True)
    assert "trained on 60 runs (20 failed)" in result.stdout.decode() and "CODEX" in result.stdout.decode()
    curves = replay_json(log_dir, "--model", str(out))
    late = {c["attempt_id"]: c["scores"][-2][1] for c in curves}
    failing = [late[f"run-{n}"] for n in range(60) if n % 3 == 0]
    passing = [late[f"run-{n}"] for n in range(60) if n % 3]
    assert min(failing) > max(passing)
    alerted = [c for c in curves if c["first_alert_step"]]
    assert alerted and all(c["outcome"] == "failed" for c in alerted)


def test_scoring_on_the_watch_path_imports_nothing_heavy() -> None:
    code = (
        "import sys, agentlog.watch.detectors.risk as r; from agentlog.watch import WatchConfig; "
        "r.Risk(WatchConfig()); print(sorted(m for m in ('numpy', 'sklearn', 'scipy', 'lightgbm') if m in sys.modules))"
    )
    import subprocess

    assert subprocess.run([sys.executable, "-c", code], capture_output=True, check=True).stdout.strip() == b"[]"


_decode = msgspec.json.Decoder(WatchEvent)
_KINDS = ["agent_thinking", "agent_output", "tool_call", "tool_result", "error", "usage", "status_change"]


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.lists(st.sampled_from(_KINDS), max_size=60))
def test_every_model_call_is_scored_once_in_order(kinds: list[str]) -> None:
    tracker = Tracker(State())
    closed = []
    for kind in ["session_start", *kinds, "session_end"]:
        data = {"tool_name": "bash", "tool_params": {"command": "ls"}} if kind.startswith("tool") else {}
        step = tracker.feed(_decode.decode(json.dumps({"event_type": kind, "attempt_id": "a", "data": data})))
        if step is not None:
            assert len(step[1]) == len(NAMES) and all(v == v for v in step[1])  # no NaN
            closed.append(step[0])
    seen = [k for k in kinds if k != "usage"]  # usage belongs to the call it is reported in
    calls = sum(
        1
        for a, b in zip(["session_start", *seen], seen)
        if b in ("agent_thinking", "agent_output", "tool_call")
        and a not in ("agent_thinking", "agent_output", "tool_call")
    )
    assert closed == list(range(1, calls + 1))


def test_session_page_shows_the_risk_curve_under_the_timeline(
    imported: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from starlette.testclient import TestClient

    from agentlog.web.app import create_app

    curve = next(c for c in replay_json(imported) if c["steps"] == 36)
    monkeypatch.setenv("AGENTLOG_RISK_MODEL", str(_model_alerting_after(curve, 6, tmp_path)))
    first = replay_json(imported, env={"AGENTLOG_RISK_MODEL": os.environ["AGENTLOG_RISK_MODEL"]})
    step = next(c for c in first if c["steps"] == 36)["first_alert_step"]
    with TestClient(create_app(imported), base_url="http://127.0.0.1") as client:
        page = client.get(f"/sessions/{curve['attempt_id']}").text
    assert page.index("Failure risk") > page.index(curve["attempt_id"])  # under the timeline
    points = page.split('<polyline points="')[1].split('"')[0].split()
    assert len(points) == 36 and f"alert at step {step}" in page and "stroke-dasharray" in page


def test_watch_refuses_a_risk_model_that_is_not_one(log_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "model.json"
    bad.write_text("[]")
    result = run_cli("watch", "--log-dir", str(log_dir), "--once", "--quiet", env={"AGENTLOG_RISK_MODEL": str(bad)})
    assert result.returncode == 1 and b"risk model" in result.stderr and b"Traceback" not in result.stderr


def _features(*events: tuple[str, dict]) -> dict[str, float]:
    """The features of the last step of a session made of `events` (type, data), fed as the
    watch decodes them; the session ends after them."""
    tracker, last = Tracker(State()), None
    for kind, data in [("session_start", {}), *events, ("session_end", {})]:
        line = json.dumps({"event_type": kind, "attempt_id": "a", "executor": "CODEX", "data": data})
        closed = tracker.feed(_decode.decode(line))
        last = closed[1] if closed is not None else last
    assert last is not None
    return dict(zip(NAMES, last))


def _step(command: str, output, result: str = "success") -> list[tuple[str, dict]]:
    return [
        ("agent_thinking", {"thinking": "THOUGHT: next"}),
        ("tool_call", {"tool_name": "bash", "tool_params": {"command": command}}),
        ("tool_result", {"tool_name": "bash", "result": result, "result_data": output}),
    ]


def test_the_task_prompt_gives_its_size_code_blocks_and_traceback() -> None:
    prompt = "Fix it.\n```python\nf()\n```\n```\nTraceback (most recent call last):\n  boom\n```\n"
    with_prompt = [("session_start", {"prompt": prompt}), *_step("ls", "a.py")]
    found = _features(*with_prompt)
    assert found["log_prompt_bytes"] == pytest.approx(math.log1p(len(json.dumps(prompt))))
    assert found["prompt_code_blocks"] == 2 and found["prompt_traceback"] == 1.0
    plain = _features(("session_start", {"prompt": "Fix it."}), *_step("ls", "a.py"))
    assert plain["prompt_code_blocks"] == 0 and plain["prompt_traceback"] == 0.0
    assert plain["log_prompt_bytes"] < found["log_prompt_bytes"]


def test_what_the_model_writes_is_measured_per_step() -> None:
    short = _features(*_step("ls", "a.py"))
    long = _features(("agent_thinking", {"thinking": "x" * 2000}), *_step("ls", "a.py")[1:])
    assert long["log_writing_per_step"] == pytest.approx(math.log1p(2002))  # the raw JSON string
    assert short["log_writing_per_step"] < long["log_writing_per_step"]
    spoken = _features(("agent_output", {"output": "y" * 500}), *_step("ls", "a.py")[1:])
    assert spoken["log_writing_per_step"] == pytest.approx(math.log1p(502))


def test_tool_outputs_give_size_cut_traceback_syntax_and_empty_shares() -> None:
    found = _features(
        *_step("ls", "The output of your last command was too long. " + "z" * 300),
        *_step(
            "python x.py", "Traceback (most recent call last):\n  File x.py, line 9\nValueError: " + "no " * 30, "error"
        ),
        *_step(
            "python y.py", '  File "y.py", line 1\n    def f(:\n          ^\nSyntaxError: invalid syntax' * 2, "error"
        ),
        *_step("true", ""),
    )
    assert found["long_output_share"] == 0.25
    assert found["traceback_output_share"] == 0.25
    assert found["syntax_error_share"] == 0.25
    assert found["empty_output_share"] == 0.25
    assert found["log_output_bytes"] > math.log1p(50)


def test_a_traceback_at_the_end_of_a_huge_output_is_seen() -> None:
    huge = "line\n" * 20_000 + "Traceback (most recent call last):\n  File a.py\nKeyError: 1"
    assert _features(*_step("pytest", huge, "error"))["traceback_output_share"] == 1.0
    middle = "line\n" * 20_000 + "Traceback (most recent call last):\n" + "line\n" * 20_000
    assert _features(*_step("pytest", middle, "error"))["traceback_output_share"] == 0.0  # bounded look: the ends


def test_files_named_edited_and_written_are_counted_once_each() -> None:
    found = _features(
        *_step("cat src/pkg/core.py", "x"),
        *_step("grep -n foo core.py utils.py", "x"),  # core.py again, by its name
        *_step("sed -i 's/a/b/' src/pkg/core.py", ""),
        *_step("cat <<'EOF' > scratch.py\nimport pkg\nEOF", ""),
        *_step("sed -i 's/c/d/' core.py", ""),  # edited again: one file
    )
    assert found["log_files_seen"] == pytest.approx(math.log1p(3))  # core.py, utils.py, scratch.py
    assert found["log_files_edited"] == pytest.approx(math.log1p(2))  # core.py, scratch.py
    assert found["files_written"] == 1.0


def test_a_labels_file_of_json_lines_keeps_a_value_holding_a_unicode_line_separator(tmp_path):
    from agentlog.risk.history import read_labels

    labels = tmp_path / "labels.jsonl"
    rows = [{"attempt_id": "a\u2028b", "resolved": True}, {"attempt_id": "c\x85", "failed": True}]
    labels.write_text("\n".join(json.dumps(row, ensure_ascii=False) for row in rows) + "\n", encoding="utf-8")
    assert read_labels(labels) == {"a\u2028b": False, "c\x85": True}
