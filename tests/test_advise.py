"""`agentlog advise`: each finding's dollars against a hand computation on real files."""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path

import pytest
from conftest import ROOT, SHARED, run_cli
from hypothesis import given, settings
from hypothesis import strategies as st

from agentlog import Session
from agentlog.capture.pricing import Pricing
from agentlog.events import now_iso

CLAUDE = ROOT / "tests" / "data" / "transcripts" / "claude-code"
CODEX = SHARED / "fixtures" / "codex"


def _advise(log_dir: Path, *extra: str) -> dict:
    result = run_cli("advise", "--log-dir", str(log_dir), "--format", "json", *extra, check=True)
    return json.loads(result.stdout)


def _by_kind(advice: dict) -> dict[str, dict]:
    return {f["kind"]: f for f in advice["findings"]}


def _close(value: float, expected: float) -> bool:
    return value == pytest.approx(expected, rel=0.01)


# --- prompt cache: the fixtures, computed by hand from the agents' own files ------------


def _claude_calls(folder: Path) -> list[dict]:
    """Each model call once (streamed lines repeat a message id: the largest output wins)."""
    calls: dict[str, dict] = {}
    for path in folder.rglob("*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            message = record.get("message") if isinstance(record, dict) else None
            if not isinstance(message, dict) or not isinstance(message.get("usage"), dict) or not message.get("id"):
                continue
            best = calls.get(message["id"])
            if best is None or message["usage"].get("output_tokens", 0) >= best["usage"].get("output_tokens", 0):
                calls[message["id"]] = message
    return list(calls.values())


def test_cache_figures_match_a_hand_computation_on_the_fixtures(log_dir: Path) -> None:
    run_cli("import", "claude-code", str(CLAUDE), "--log-dir", str(log_dir), "--open-after", "0", check=True)
    run_cli("import", "codex", str(CODEX), "--log-dir", str(log_dir), "--open-after", "0", check=True)
    advice = _advise(log_dir, "--days", "0")
    rows = {r["model"]: r for r in advice["cache_by_model"]}

    expected: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for message in _claude_calls(CLAUDE):
        usage = expected[message["model"]]
        usage["input"] += message["usage"].get("input_tokens", 0)
        usage["write"] += message["usage"].get("cache_creation_input_tokens", 0)
        usage["read"] += message["usage"].get("cache_read_input_tokens", 0)
    # Codex reports cumulative totals; its input includes the cached part
    last = [json.loads(line) for line in (CODEX / "rollout-token-count.jsonl").read_text().splitlines()][-1]
    totals = last["payload"]["info"]["total_token_usage"]
    expected["gpt-5.2"].update(
        input=totals["input_tokens"] - totals["cached_input_tokens"], write=0, read=totals["cached_input_tokens"]
    )
    assert len(expected) == 3 and sum(e["read"] for e in expected.values()) > 0

    pricing = Pricing.load()
    for model, usage in expected.items():
        row = rows[model]
        prices = pricing.prices(model)
        assert _close(row["cache_read_tokens"], usage["read"]) and _close(row["cache_creation_tokens"], usage["write"])
        assert _close(row["hit_rate_pct"], 100 * usage["read"] / (usage["input"] + usage["write"] + usage["read"]))
        assert _close(row["write_cost_usd"] or 0, usage["write"] * prices["cache_write"] / 1e6)
        assert _close(row["read_savings_usd"], usage["read"] * (prices["input"] - prices["cache_read"]) / 1e6)
    day_reads = sum(d["cache_read_tokens"] for d in advice["cache_by_day"])
    assert _close(day_reads, sum(e["read"] for e in expected.values()))


def test_a_cache_written_and_never_read_is_priced_per_week(log_dir: Path) -> None:
    for i, created in enumerate((100_000, 300_000)):
        with Session(f"oneshot-{i}", executor="CLAUDE_CODE", model="claude-sonnet-4-5", log_dir=log_dir) as s:
            s.usage(input_tokens=500, output_tokens=100, cache_creation_tokens=created)
    with Session("reuses", executor="CLAUDE_CODE", model="claude-sonnet-4-5", log_dir=log_dir) as s:
        s.usage(input_tokens=500, cache_creation_tokens=50_000)
        s.usage(input_tokens=500, cache_read_tokens=50_000)
    advice = _advise(log_dir, "--since", "7d")  # one week
    finding = _by_kind(advice)["cache_unread"]
    assert _close(advice["weeks"], 1.0)
    # sonnet 4.5: cache write $3.75, plain input $3 per million: the premium is $0.75 per million written
    assert _close(finding["usd_per_week"], 400_000 * 0.75 / 1e6)
    assert finding["evidence"]["sessions"] == 2 and set(finding["evidence"]["sessions_list"]) == {
        "oneshot-0",
        "oneshot-1",
    }
    assert finding["confidence"] == "high" and finding["guard"]["text"]


# --- waste, context pressure and alerts -------------------------------------------


def _wasteful(log_dir: Path) -> None:
    big = "\n".join(f"line {i}: some long build output that nobody reads again" for i in range(400))
    with Session("waste", executor="CLAUDE_CODE", model="claude-sonnet-4-5", task_id="T1", log_dir=log_dir) as s:
        for _ in range(3):  # read twice more without a change: two re-reads of 4,000 chars
            s.tool_call("Read", {"file_path": "/src/app.py"})
            s.tool_result("Read", "success", "x" * 4000)
        s.tool_call("Bash", {"command": "pytest -q"})
        s.tool_result("Bash", "success", "y" * 2000)
        s.tool_call("Bash", {"command": "pytest -q"})  # the same call again: 2,000 chars
        s.tool_result("Bash", "success", "y" * 2000)
        s.tool_call("Bash", {"command": "make"})
        s.tool_result("Bash", "success", big)  # large, never quoted later
        s.tool_call("Edit", {"file_path": "/src/app.py"})
        s.tool_result("Edit", "success", "ok")
        s.tool_call("Read", {"file_path": "/src/app.py"})  # changed since: not a re-read
        s.tool_result("Read", "success", "x" * 4000)
        s.usage(input_tokens=1000, output_tokens=10, cost_usd=0.01)


def test_waste_findings_price_the_estimated_tokens(log_dir: Path) -> None:
    _wasteful(log_dir)
    found = _by_kind(_advise(log_dir, "--since", "7d"))
    per_token = 3.0 / 1e6  # sonnet 4.5 plain input
    assert found["reread"]["evidence"]["occurrences"] == 2
    assert _close(found["reread"]["usd_per_week"], 2 * 4000 / 4 * per_token)
    assert found["repeated_calls"]["evidence"]["occurrences"] == 1
    assert _close(found["repeated_calls"]["usd_per_week"], 2000 / 4 * per_token)
    big_chars = len("\n".join(f"line {i}: some long build output that nobody reads again" for i in range(400)))
    assert found["unused_output"]["evidence"]["occurrences"] == 1
    assert _close(found["unused_output"]["usd_per_week"], big_chars / 4 * per_token)


def test_output_quoted_later_is_not_unused(log_dir: Path) -> None:
    line = "error: the widget frobnicator failed at step 12"
    with Session("used", executor="CLAUDE_CODE", model="claude-sonnet-4-5", log_dir=log_dir) as s:
        s.tool_call("Bash", {"command": "make"})
        s.tool_result("Bash", "error", "\n".join([line] * 300))
        s.thinking(f"The build says: {line}")
    assert "unused_output" not in _by_kind(_advise(log_dir, "--since", "7d"))


def test_context_pressure_counts_spend_past_the_line_in_failed_sessions(log_dir: Path) -> None:
    for i in range(3):
        try:
            with Session(f"full-{i}", executor="CLAUDE_CODE", model="claude-sonnet-4-5", log_dir=log_dir) as s:
                s.usage(input_tokens=100_000, cost_usd=0.30)
                s.tool_call("Grep", {"pattern": "TODO"})
                s.tool_result("Grep", "success", "z" * 9000)
                s.usage(input_tokens=5_000, cache_read_tokens=160_000, cost_usd=0.50)  # 165k of 200k: past 80%
                s.usage(input_tokens=5_000, cache_read_tokens=185_000, cost_usd=0.70)
                if i < 2:
                    raise RuntimeError("context exhausted")
        except RuntimeError:
            pass
    with Session("small", executor="CLAUDE_CODE", model="claude-sonnet-4-5", log_dir=log_dir) as s:
        s.usage(input_tokens=10_000, cost_usd=0.03)
    finding = _by_kind(_advise(log_dir, "--since", "7d"))["context_pressure"]
    assert finding["evidence"]["sessions"] == 3 and finding["evidence"]["failed"] == 2
    assert _close(finding["usd_per_week"], 2 * 0.70)  # spent after crossing, in the two that failed
    assert finding["evidence"]["tools_before"] == {"grep": 3}
    assert finding["evidence"]["largest_output_before"] == "grep 9,000 chars"
    assert finding["guard"]["success_pct"] == pytest.approx(100 / 3) and finding["guard"]["sessions"] == 3
    low, high = finding["guard"]["ci_pct"]
    assert low < 100 / 3 < high


def test_spend_after_an_unheeded_alert(log_dir: Path) -> None:
    log_dir.mkdir(parents=True)
    alerts = []
    for attempt, heeded in (("ignored", False), ("heeded", True)):
        try:
            with Session(attempt, executor="CODEX", model="gpt-5", log_dir=log_dir) as s:
                s.usage(input_tokens=10, cost_usd=0.20)
                alerts.append(
                    {
                        "timestamp": now_iso(),
                        "type": "error_loop",
                        "attempt_id": attempt,
                        "executor": "CODEX",
                        "severity": "high",
                        "recommendation": "fresh_session",
                    }
                )
                import time

                time.sleep(0.01)  # later than the alert's millisecond
                if heeded:
                    s.followup("stop looping", reason="alert")
                s.usage(input_tokens=10, cost_usd=0.90)
                raise RuntimeError("gave up")
        except RuntimeError:
            pass
    (log_dir / "agent-alerts.jsonl").write_text("".join(json.dumps(a) + "\n" for a in alerts))
    finding = _by_kind(_advise(log_dir, "--since", "7d"))["unheeded_alert"]
    assert finding["evidence"]["sessions"] == 1 and finding["evidence"]["sessions_list"] == ["ignored"]
    assert _close(finding["usd_per_week"], 0.90)
    assert finding["guard"]["success_pct"] == 0


# --- stop-loss: risk scores from a file --------------------------------------------


def _scored_runs(log_dir: Path, n: int = 320, tasks: bool = True) -> list[dict]:
    """Runs of 10 steps at $1: resolved ones stay at low risk, failing ones climb. 320 runs
    put more than 150 in each fold: with none lost, the 95% bound of the loss is then < 2 pp."""
    records = []
    for i in range(n):
        resolved = i % 4 == 0
        task = {"task_id": f"task-{i}"} if tasks else {}
        try:
            with Session(f"run-{i}", executor="SWE_AGENT", model="gpt-4o", log_dir=log_dir, **task) as s:
                s.usage(input_tokens=10, cost_usd=1.0)
                if not resolved:
                    raise RuntimeError("unresolved")
        except RuntimeError:
            pass
        scores = [[step, 0.1 if resolved else min(1.0, 0.1 * step)] for step in range(1, 11)]
        records.append(
            {
                "attempt_id": f"run-{i}",
                "executor": "SWE_AGENT",
                "model": "gpt-4o",
                "steps": 10,
                "outcome": "success" if resolved else "failed",
                "scores": scores,
                "first_alert_step": None,
            }
        )
    return records


def _write_scores(path: Path, records: list[dict], extra: str = "") -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + extra)
    return path


def test_stop_loss_without_scores_says_it_needs_them(log_dir: Path) -> None:
    _scored_runs(log_dir, 4)
    advice = _advise(log_dir, "--since", "7d")
    assert "stop_loss" not in _by_kind(advice)
    assert any("risk-scores" in note for note in advice["notes"])


def test_stop_loss_threshold_is_measured_on_the_other_fold(log_dir: Path, tmp_path: Path) -> None:
    from agentlog.analytics import stoploss

    records = _scored_runs(log_dir)
    scores = _write_scores(tmp_path / "scores.jsonl", records, 'not json\n{"attempt_id": 3}\n')
    advice = _advise(log_dir, "--since", "7d", "--risk-scores", str(scores))
    finding = _by_kind(advice)["stop_loss"]
    # by hand: a threshold of 0.2 stops every failing run at step 2 (8 of 10 steps saved, 240 runs) and
    # no resolved one; any lower threshold stops resolved runs too (25 points lost)
    assert finding["title"] == "Stop runs at failure risk >= 0.2"
    assert _close(finding["usd_per_week"], 240 * 0.8)
    assert _close(finding["evidence"]["saved_pct"], 100 * 240 * 0.8 / 320)
    assert finding["guard"]["lost_pp"] == 0
    assert finding["evidence"]["thresholds_by_fold"] == [0.2, 0.2]
    assert any(f"{scores}:321: not JSON" in n for n in advice["notes"])
    assert any(f"{scores}:322: no attempt_id" in n for n in advice["notes"])
    # folds are by task: the runs of one task are never on both sides
    runs = [stoploss.scored(r, 1.0, "same-task") for r in records]
    assert len({stoploss.fold_of(r.group) for r in runs}) == 1


def test_stop_loss_without_task_ids_splits_its_folds_by_attempt(log_dir: Path, tmp_path: Path) -> None:
    from agentlog.analytics import stoploss

    records = _scored_runs(log_dir, tasks=False)
    scores = _write_scores(tmp_path / "scores.jsonl", records)
    advice = _advise(log_dir, "--since", "7d", "--risk-scores", str(scores))
    finding = _by_kind(advice)["stop_loss"]
    assert finding["evidence"]["thresholds_by_fold"] == [0.2, 0.2]  # both folds hold runs
    assert finding["guard"]["sessions"] == 320 and finding["guard"]["lost_pp"] == 0
    assert _close(finding["usd_per_week"], 240 * 0.8)
    folds = {stoploss.fold_of(stoploss.scored(r, 1.0, None).group) for r in records}
    assert folds == {0, 1}
    table = run_cli("advise", "--log-dir", str(log_dir), "--since", "7d", "--risk-scores", str(scores), check=True)
    assert "Stop runs at failure risk >= 0.2" in table.stdout.decode()


def test_stop_loss_on_a_small_history_says_the_bound_needs_more_runs(log_dir: Path, tmp_path: Path) -> None:
    # 80 runs, none lost at 0.2: 40 a fold cannot show <= 2 pp at 95% (0 of 40 is up to 7 pp)
    scores = _write_scores(tmp_path / "scores.jsonl", _scored_runs(log_dir, 80))
    advice = _advise(log_dir, "--since", "7d", "--risk-scores", str(scores))
    assert "stop_loss" not in _by_kind(advice)
    assert any("95% upper bound" in n and "80 scored runs" in n for n in advice["notes"])
    looser = _by_kind(_advise(log_dir, "--since", "7d", "--risk-scores", str(scores), "--max-loss-pp", "10"))
    assert looser["stop_loss"]["title"] == "Stop runs at failure risk >= 0.2"


def test_stop_loss_respects_the_loss_bound() -> None:
    from agentlog.analytics.stoploss import Scored, stop_loss

    # the only threshold that saves anything also stops resolved runs: 50 points lost
    runs = [Scored(f"r{i}", 10, i % 2 == 0, ((1, 0.9),), 1.0, f"t{i}") for i in range(40)]
    assert stop_loss(runs, max_loss_pp=2.0).threshold is None
    assert stop_loss(runs, max_loss_pp=70.0).threshold == 0.9  # 20 of 40: the 95% bound is 63.6 pp


def test_stop_loss_bounds_the_loss_with_confidence_not_on_average() -> None:
    from agentlog.analytics.stoploss import Scored, choose, lost_bound_pp

    # 0.9 stops 300 failing runs and 5 of 100 resolved ones: 1.25 pp lost fits 2 pp, but on 400
    # runs it could be 2.6 pp (95% upper bound); 0.95 stops only the failing runs
    failing = [Scored(f"f{i}", 10, False, ((1, 0.95),), 1.0) for i in range(300)]
    unlucky = [Scored(f"u{i}", 10, True, ((1, 0.9),), 1.0) for i in range(5)]
    fine = [Scored(f"s{i}", 10, True, ((1, 0.1),), 1.0) for i in range(95)]
    runs = failing + unlucky + fine
    assert 2.0 < lost_bound_pp(5, 400) < 3.0
    assert choose(runs, 2.0) == 0.95
    assert choose(runs, 3.0) == 0.9  # within a 3 pp bound: it saves more (the 5 resolved runs too)
    assert choose(runs[:200] + fine, 2.0) == 0.95


@settings(max_examples=int(os.environ.get("AGENTLOG_FUZZ_EXAMPLES", "60")), deadline=None)
@given(
    runs=st.lists(
        st.tuples(
            st.integers(0, 8),
            st.booleans(),
            st.lists(st.tuples(st.integers(0, 9), st.sampled_from([0.1, 0.4, 0.5, 0.9])), max_size=8),
            st.sampled_from([0.0, 1.0, 2.5]),
        ),
        max_size=20,
    )
)
def test_the_threshold_sweep_agrees_with_stopping_at_each_threshold(runs: list) -> None:
    from agentlog.analytics.stoploss import Scored, curve, outcome

    scored = [Scored(f"r{i}", n, ok, tuple(scores), cost) for i, (n, ok, scores, cost) in enumerate(runs)]
    thresholds, saved, lost = curve(scored)
    assert list(thresholds) == sorted(set(thresholds), reverse=True)
    for risk in {r for s in scored for _, r in s.scores} | {0.0, 1.0}:
        at = [i for i, t in enumerate(thresholds) if t >= risk]  # the sweep steps only where a run stops sooner
        usd, count = (saved[at[-1]], lost[at[-1]]) if at else (0.0, 0)
        expected, _, expected_lost, _ = outcome(scored, risk)
        assert usd == pytest.approx(expected) and count == expected_lost


# --- routing -----------------------------------------------------------------------


def _routed(log_dir: Path, cheap_wins: list[bool]) -> None:
    for i, cheap_ok in enumerate(cheap_wins):
        for executor, model, cost, ok in (("CODEX", "gpt-5-mini", 0.10, cheap_ok), ("CODEX", "gpt-5", 1.00, True)):
            try:
                with Session(f"{model}-{i}", executor=executor, model=model, task_id=f"task-{i}", log_dir=log_dir) as s:
                    s.usage(input_tokens=10, cost_usd=cost)
                    if not ok:
                        raise RuntimeError("failed")
            except RuntimeError:
                pass


def test_routing_advises_a_cheaper_model_when_paired_outcomes_exclude_a_loss(log_dir: Path) -> None:
    _routed(log_dir, [True] * 12)
    finding = _by_kind(_advise(log_dir, "--since", "7d"))["routing"]
    assert finding["title"] == "Route CODEX/gpt-5 tasks to CODEX/gpt-5-mini"
    assert _close(finding["usd_per_week"], 12 * 0.90)
    assert finding["evidence"]["paired_tasks"] == 12


def test_routing_stays_silent_when_the_cheaper_one_may_lose(log_dir: Path) -> None:
    _routed(log_dir, [True] * 10 + [False] * 2)
    assert "routing" not in _by_kind(_advise(log_dir, "--since", "7d"))


# --- output --------------------------------------------------------------------------


def test_table_output_and_an_empty_window(log_dir: Path) -> None:
    _wasteful(log_dir)
    table = run_cli("advise", "--log-dir", str(log_dir), "--format", "table", "--since", "7d", check=True)
    text = table.stdout.decode()
    assert "Files re-read without change" in text and "Prompt cache by model" in text
    empty = run_cli("advise", "--log-dir", str(log_dir), "--format", "table", "--until", "2000-01-01")
    assert empty.returncode == 0 and "No sessions in this window" in empty.stdout.decode()
    missing = run_cli("advise", "--log-dir", str(log_dir), "--risk-scores", str(log_dir / "nope.jsonl"))
    assert missing.returncode == 2


def test_the_weekly_report_has_an_advice_section(log_dir: Path, tmp_path: Path) -> None:
    _wasteful(log_dir)
    out = tmp_path / "reports"
    run_cli("report", "--log-dir", str(log_dir), "--out", str(out), check=True)
    body = json.loads(next(out.glob("*.json")).read_text())
    kinds = {a["kind"]: a for a in body["advice"]}
    assert _close(kinds["reread"]["usd_per_week"], 2 * 4000 / 4 * 3.0 / 1e6)
    markdown = next(out.glob("*.md")).read_text()
    assert "## Advice (dollars per week)" in markdown and "Files re-read without change" in markdown
    assert "Files re-read without change" in next(out.glob("*.html")).read_text()


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=int(os.environ.get("AGENTLOG_FUZZ_EXAMPLES", "60")), deadline=None)
@given(
    lines=st.lists(
        st.one_of(
            st.binary(max_size=40),
            _json_values.map(lambda v: json.dumps(v).encode()),
            st.fixed_dictionaries(
                {"attempt_id": st.text(max_size=4), "steps": _json_values, "scores": _json_values}
            ).map(lambda v: json.dumps(v).encode()),
        ),
        max_size=8,
    )
)
def test_any_scores_file_is_read_or_reported_line_by_line(tmp_path_factory, lines: list[bytes]) -> None:
    from agentlog.analytics import stoploss

    path = tmp_path_factory.mktemp("scores") / "scores.jsonl"
    path.write_bytes(b"\n".join(line.replace(b"\n", b" ") for line in lines) + b"\n")
    records, bad = stoploss.read_scores(path)
    numbered = [n for n, line in enumerate(lines, 1) if line.replace(b"\n", b" ").strip()]
    assert len({r["attempt_id"] for r in records}) == len(records)
    assert all(b.startswith(f"{path}:") for b in bad) and len(bad) + len(records) <= len(numbered)
    runs = [stoploss.scored(r, 1.0) for r in records]
    result = stoploss.stop_loss(runs)
    assert 0 <= result.saved_pct <= 100 and 0 <= result.lost_pp <= 100
    if result.threshold is not None:  # chosen within the bound on the runs it was chosen on
        _, _, lost, count = stoploss.outcome(runs, result.threshold)
        assert 100 * lost / count <= 2.0


def test_an_unpriced_model_is_priced_at_what_its_session_paid_per_token(log_dir: Path) -> None:
    with Session("own-model", executor="SWE_AGENT", log_dir=log_dir) as s:  # no model: no list price
        for _ in range(2):
            s.tool_call("open", {"command": "open src/app.py"})
            s.tool_result("open", "success", "x" * 4000)
        s.usage(input_tokens=100_000, output_tokens=1000, cost_usd=2.0)
    finding = _by_kind(_advise(log_dir, "--since", "7d"))["reread"]
    assert _close(finding["usd_per_week"], 1000 * 2.0 / 100_000)  # 1,000 tokens at $2 per 100k prompt tokens


def test_context_pressure_and_the_risk_features_read_one_window_table(log_dir: Path) -> None:
    """gpt-4 takes 8,192 tokens: 7,000 of them is pressure for the advisor (it was read as
    128k here while the risk features read 8,192) and a full window for the risk features."""
    from agentlog.risk.features import State, Tracker
    import msgspec

    from agentlog.watch.view import WatchEvent

    for i in range(2):
        try:
            with Session(f"old-{i}", executor="CODEX", model="gpt-4", log_dir=log_dir) as s:
                s.usage(input_tokens=1_000, cost_usd=0.05)
                s.usage(input_tokens=7_000, cost_usd=0.40)
                s.usage(input_tokens=7_500, cost_usd=0.45)
                raise RuntimeError("context exhausted")
        except RuntimeError:
            pass
    finding = _by_kind(_advise(log_dir, "--since", "7d"))["context_pressure"]
    assert finding["evidence"]["sessions"] == 2 and finding["evidence"]["failed"] == 2
    ratios = {}
    for model in ("gpt-4", "openai/gpt-4-32k", "@google/gemini-3-pro-preview", "no-such-model"):
        tracker = Tracker(State())
        event = {"event_type": "usage", "attempt_id": "a", "model": model, "data": {"input_tokens": 8_192}}
        tracker.feed(msgspec.json.decode(json.dumps(event).encode(), type=WatchEvent))
        ratios[model] = tracker.state.context / tracker.state.window
    assert ratios == {
        "gpt-4": 1.0,
        "openai/gpt-4-32k": 0.25,
        "@google/gemini-3-pro-preview": 8_192 / 1_048_576,
        "no-such-model": 8_192 / 128_000,
    }
