"""`agentlog ab`: stable assignment, and the report's statistics on recorded runs."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
from conftest import run_cli

from agentlog import Session
from agentlog.analytics.ab import Run, always_valid_p, assign, compare_runs


def test_assignment_is_stable_and_balanced() -> None:
    names = [assign("prompt-v2", f"task-{i}") for i in range(4000)]
    assert names == [assign("prompt-v2", f"task-{i}") for i in range(4000)]
    assert 0.47 < names.count("A") / len(names) < 0.53
    three = [assign("x", f"t{i}", ["a", "b", "c"]) for i in range(3000)]
    assert all(0.3 < three.count(v) / 3000 < 0.37 for v in "abc")
    assert assign("other", "task-1") in ("A", "B")


def test_assign_cli_agrees_with_the_library_and_rejects_bad_variants() -> None:
    out = run_cli("ab", "assign", "prompt-v2", "--task", "T-17", "--variants", "old,new", check=True)
    assert out.stdout.decode().strip() == assign("prompt-v2", "T-17", ["old", "new"])
    assert run_cli("ab", "assign", "p", "--task", "T", "--variants", "a,a").returncode == 2


def _record(log_dir: Path, experiment: str, plan: list[tuple[str, str, bool, float]]) -> None:
    """(task, variant, success, cost) per run, recorded through the API in order."""
    for i, (task, variant, ok, cost) in enumerate(plan):
        try:
            with Session(
                f"{experiment}-{i}",
                executor="CODEX",
                model="gpt-5",
                task_id=task,
                experiment=experiment,
                variant=variant,
                log_dir=log_dir,
            ) as s:
                s.usage(input_tokens=10, cost_usd=cost)
                if not ok:
                    raise RuntimeError("failed")
        except RuntimeError:
            pass


def _wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def test_report_on_recorded_runs(log_dir: Path) -> None:
    rng = random.Random(7)
    plan = []
    for i in range(40):  # every task under both variants: B succeeds where A failed on 12 tasks
        a_ok, b_ok = i % 2 == 0, i % 2 == 0 or i < 24
        plan += [(f"t{i}", "A", a_ok, 0.10 + rng.random() / 100), (f"t{i}", "B", b_ok, 0.20 + rng.random() / 100)]
    _record(log_dir, "prompt-v2", plan)
    result = run_cli(
        "ab",
        "report",
        "prompt-v2",
        "--log-dir",
        str(log_dir),
        "--format",
        "json",
        "--days",
        "0",
        "--sequential",
        check=True,
    )
    body = json.loads(result.stdout)
    variants = {v["variant"]: v for v in body["variants"]}
    assert (variants["A"]["runs"], variants["A"]["succeeded"], variants["B"]["succeeded"]) == (40, 20, 32)
    assert variants["B"]["success_ci"] == pytest.approx(_wilson(32, 40), abs=1e-6)
    low, high = variants["A"]["cost_ci"]
    assert low < variants["A"]["avg_cost_usd"] < high and high < 0.111
    rows = {c["metric"]: c for c in body["comparisons"]}
    assert rows["success"]["effect_value"] == pytest.approx(0.30)
    assert rows["cost"]["effect_value"] == pytest.approx(2.0, rel=0.1) and rows["cost"]["significant"]
    paired = rows["success_paired"]
    assert paired["test"] == "mcnemar (40 tasks: +12 / -0)"
    assert paired["p_value"] == pytest.approx(2 * 0.5**12)  # exact binomial: 12 discordant, all one way
    tested = sorted((c for c in body["comparisons"] if c["p_value"] is not None), key=lambda c: c["p_value"])
    assert tested[0]["p_holm"] == pytest.approx(min(1.0, tested[0]["p_value"] * len(tested)))
    assert all(c["p_holm"] >= c["p_value"] for c in tested)
    verdict = body["verdicts"][0]
    assert verdict["variant"] == "B" and verdict["always_valid_p"] is not None
    assert verdict["mde_pp"] > 0 and 0 < verdict["power"] < 1


def test_few_runs_are_not_enough_data_yet(log_dir: Path) -> None:
    _record(log_dir, "tiny", [(f"t{i}", "AB"[i % 2], i % 3 == 0, 0.1) for i in range(8)])
    out = run_cli("ab", "report", "tiny", "--log-dir", str(log_dir), "--format", "table", "--days", "0", check=True)
    assert "not enough data yet" in out.stdout.decode()


def test_experiments_are_listed_and_the_context_hash_is_one(log_dir: Path) -> None:
    _record(log_dir, "exp1", [("t1", "A", True, 0.1), ("t2", "B", False, 0.1)])
    for i, sha in enumerate(["aaa", "aaa", "bbb"]):
        with Session(f"ctx-{i}", executor="CLAUDE_CODE", task_id=f"c{i}", context_sha256=sha, log_dir=log_dir) as s:
            s.usage(input_tokens=1, cost_usd=0.01)
    listed = json.loads(
        run_cli("ab", "report", "--log-dir", str(log_dir), "--format", "json", "--days", "0", check=True).stdout
    )
    assert {e["experiment"]: e["variants"] for e in listed} == {
        "exp1": {"A": 1, "B": 1},
        "context": {"aaa": 2, "bbb": 1},
    }
    body = json.loads(
        run_cli(
            "ab", "report", "context", "--log-dir", str(log_dir), "--format", "json", "--days", "0", check=True
        ).stdout
    )
    assert body["control"] == "aaa" and [v["variant"] for v in body["variants"]] == ["aaa", "bbb"]


def test_emit_start_records_experiment_and_variant(log_dir: Path) -> None:
    run_cli(
        "emit",
        "start",
        "--attempt",
        "E1",
        "--task-id",
        "t1",
        "--experiment",
        "exp",
        "--experiment-variant",
        "B",
        "--log-dir",
        str(log_dir),
        check=True,
    )
    run_cli("emit", "end", "--attempt", "E1", "--status", "success", "--log-dir", str(log_dir), check=True)
    start = json.loads((log_dir / "agent-work-stream.jsonl").read_text().splitlines()[0])
    assert start["data"]["experiment"] == "exp" and start["data"]["variant"] == "B"
    body = json.loads(
        run_cli("ab", "report", "exp", "--log-dir", str(log_dir), "--format", "json", "--days", "0", check=True).stdout
    )
    assert body["variants"][0]["runs"] == 1


def test_an_empty_experiment_says_so(log_dir: Path) -> None:
    log_dir.mkdir(parents=True)
    out = run_cli("ab", "report", "nothing", "--log-dir", str(log_dir), "--format", "table", "--days", "0")
    assert out.returncode == 0 and "No ended runs of experiment 'nothing'" in out.stdout.decode()


def test_always_valid_p_survives_peeking_where_naive_tests_do_not() -> None:
    from agentlog.analytics.ab import success_test

    rng = random.Random(3)
    sims, looks, naive, valid = 150, 20, 0, 0
    for _ in range(sims):
        history = [(rng.random() < 0.3, i % 2 == 1) for i in range(looks * 50)]
        valid += always_valid_p(history) < 0.05
        for look in range(1, looks + 1):
            part = history[: look * 50]
            control = [ok for ok, t in part if not t]
            treated = [ok for ok, t in part if t]
            if success_test(control, treated)[1] < 0.05:
                naive += 1
                break
    assert valid / sims <= 0.06 < naive / sims


def test_compare_runs_takes_runs_from_anywhere() -> None:
    runs = [Run(f"r{i}", "A" if i % 2 else "B", i % 3 == 0, 1.0 + i % 5, 1000.0 + i) for i in range(60)]
    result = compare_runs(runs, "plain", control="A")
    assert result.control == "A" and {v["variant"] for v in result.variants} == {"A", "B"}
    assert {c["metric"] for c in result.comparisons} == {"success", "cost", "duration"}  # no task ids: no McNemar
    assert compare_runs([], "none").empty
