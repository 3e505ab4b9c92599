"""Every analytics command on a hand-made fixture, against numbers computed by hand.

The fixture (tests/data/analytics_fixture/README.md) has seven attempts at three tasks:
a1 failed (archived, gz), a2 success with a follow-up, a3 "stale_timeout" (= failed),
a4 success as outcome.status "completed" on a retry, a5 success as metrics.success,
a6 open, a7 timeout known only from the metrics file.
"""

from __future__ import annotations

import csv
import gzip
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agentlog import analytics
from agentlog.analytics import Scope
from agentlog.intel import analyze_error
from agentlog.timeutil import parse_when

FIXTURE = Path(__file__).parent / "data" / "analytics_fixture"
AGENTLOG = str(Path(sys.executable).parent / "agentlog")
AUTH = analyze_error("401 Unauthorized: invalid api key").fingerprint  # derived: the files lack it


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("logs")
    shutil.copy(FIXTURE / "agent-work-stream.jsonl", root)
    shutil.copy(FIXTURE / "agent-metrics.jsonl", root)
    (root / "archive").mkdir()
    with gzip.open(root / "archive" / "agent-work-stream-20260101T000000Z.jsonl.gz", "wb") as out:
        out.write((FIXTURE / "archived-stream.jsonl").read_bytes())
    return root


@pytest.fixture(scope="module")
def data(log_dir):
    return analytics.load(log_dir)


def run(log_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([AGENTLOG, *args, "--log-dir", str(log_dir)], capture_output=True, text=True)


def test_malformed_lines_are_counted_but_a_half_written_tail_is_not(data):
    # stream: "this line is not JSON" + a cut session_end line; metrics: a line without attempt_id
    assert data.malformed == 3


def test_summary(data):
    s = analytics.summary(data)
    assert (s.sessions, s.ended, s.open, s.succeeded) == (7, 6, 1, 3)
    assert s.success_pct == pytest.approx(50.0)  # a2, a4, a5 of six ended; a6 open is not a failure
    assert s.avg_duration_ms == pytest.approx((60000 + 120000 + 30000 + 45000 + 10000 + 90000) / 6)
    assert s.total_cost_usd == pytest.approx(0.10 + 0.20 + 0.05 + 0.30 + 0.40)
    assert s.total_errors == 4
    assert [(e["executor"], e["sessions"], e["ended"], e["succeeded"]) for e in s.executors] == [
        ("CODEX", 4, 3, 1),
        ("CLAUDE_CODE", 1, 1, 1),
        ("COPILOT", 1, 1, 1),
        ("GEMINI", 1, 1, 0),
    ]
    assert s.executors[0]["success_pct"] == pytest.approx(100 / 3)
    assert [(e["fingerprint"], e["occurrences"], e["category"]) for e in s.top_errors] == [
        (AUTH, 3, "auth"),
        ("dep_requests", 1, "dependency"),
    ]
    assert s.top_errors[0]["sample"] == "401 Unauthorized: invalid api key"


def test_errors_first_and_last_seen_by_time_not_file_order(data):
    e = analytics.errors(data)
    assert (e.total_errors, e.total_clusters) == (4, 2)
    auth, dep = e.clusters
    assert (auth["fingerprint"], auth["occurrences"], auth["tasks"], auth["attempts"]) == (AUTH, 3, 2, 2)
    # a6's error comes first in the file but is the latest in time
    assert auth["first_seen"].isoformat() == "2026-01-12T09:00:10+00:00"
    assert auth["last_seen"].isoformat() == "2026-01-13T09:00:20+00:00"
    assert auth["categories"] == ["auth"]
    assert (dep["fingerprint"], dep["occurrences"], dep["tasks"], dep["attempts"]) == ("dep_requests", 1, 1, 1)


def test_compare(data):
    rows = {r["executor"]: r for r in analytics.compare(data).rows}
    codex = rows["CODEX"]
    assert (codex["sessions"], codex["ended"]) == (4, 3)
    assert codex["success_pct"] == pytest.approx(100 / 3)
    assert codex["first_shot_pct"] == 0  # a4 succeeded on a retry
    assert codex["avg_duration_ms"] == pytest.approx(45000)
    assert codex["avg_cost_usd"] == pytest.approx(0.05)
    assert codex["total_cost_usd"] == pytest.approx(0.15)
    assert codex["avg_tokens"] == pytest.approx(50)
    assert codex["avg_errors"] == pytest.approx(1.0)
    assert codex["top_failure"] == AUTH  # a3 (2x) beats a1 (1x)
    assert (rows["COPILOT"]["success_pct"], rows["COPILOT"]["first_shot_pct"]) == (100, 0)  # a follow-up
    assert (rows["CLAUDE_CODE"]["first_shot_pct"], rows["CLAUDE_CODE"]["avg_tokens"]) == (100, 300)
    gemini = rows["GEMINI"]
    assert (gemini["success_pct"], gemini["avg_duration_ms"], gemini["total_cost_usd"], gemini["top_failure"]) == (
        0,
        90000,
        pytest.approx(0.4),
        None,
    )


def test_compare_picks_and_orders_names_case_insensitively_and_by_model(data):
    rows = analytics.compare(data, ["gemini", "codex", "nobody"]).rows
    assert [(r["executor"], r["sessions"]) for r in rows] == [("GEMINI", 1), ("CODEX", 4), ("nobody", 0)]
    models = {r["model"]: r["sessions"] for r in analytics.compare(data, by="model").rows}
    assert models == {"m1": 4, "m2": 3}


def test_backlog(data):
    b = analytics.backlog(data)
    assert (b.unique_tasks, b.solved, b.success_pct) == (3, 3, 100)
    assert b.first_shot_pct == pytest.approx(100 / 3)  # only task-3: a5 first, first shot
    assert b.avg_attempts == pytest.approx(7 / 3)
    t2, t1, t3 = b.tasks
    assert (t2["task_id"], t2["attempts"], t2["first_shot"], t2["total_duration_ms"], t2["errors"]) == (
        "task-2",
        3,
        False,
        165000,
        2,
    )
    assert t2["cost_usd"] == pytest.approx(0.45)
    assert t2["executors"] == ["CODEX", "GEMINI"] and t2["main_fingerprints"] == [AUTH]
    assert (t1["task_id"], t1["total_duration_ms"], t1["main_fingerprints"]) == ("task-1", 180000, ["dep_requests"])
    assert (t3["task_id"], t3["first_shot"], t3["total_duration_ms"]) == ("task-3", True, 10000 + 30000)


def test_planning(data):
    p = {t["task_id"]: t for t in analytics.planning(data).tasks}
    assert p["task-1"]["categories"] == {"dependency": 1}
    assert p["task-1"]["insights"][0].startswith("missing dependency setup")
    assert "executors switched (CODEX, COPILOT)" in p["task-1"]["insights"][1]
    assert (p["task-2"]["categories"], p["task-2"]["failed_attempts"]) == ({"auth": 2}, 2)
    assert p["task-2"]["insights"][0].startswith("missing environment instructions")
    # before a4 and a7, task-2 is unsolved with one failure; task-1 is solved by then
    early = analytics.planning(data, Scope(until=parse_when("2026-01-12T10:00:00Z")), failed_only=True)
    assert [t["task_id"] for t in early.tasks] == ["task-2"]


def test_planning_rules_fire_on_three_failures():
    from agentlog.analytics.planning import COMPLEX, insights_for

    assert insights_for({"unknown": 5}, 3, ["CODEX"]) == [COMPLEX]
    assert insights_for({"context_window": 1}, 0, [])[0].endswith("split the task")


def test_correlate(data):
    rows = {r["fingerprint"]: r for r in analytics.correlate(data).fingerprints}
    auth = rows[AUTH]
    assert (auth["occurrences"], auth["sessions"], auth["executors"], auth["models"], auth["sizes"]) == (
        3,
        2,
        {"CODEX": 3},
        {"m1": 2, "m2": 1},
        {"l": 2, "(none)": 1},
    )
    assert auth["avg_task_duration_ms"] == pytest.approx(30000)  # a3 30 s, open a6 30 s so far
    assert rows["dep_requests"]["sizes"] == {"s": 1} and rows["dep_requests"]["avg_task_duration_ms"] == 60000


def test_metrics_rows(data):
    rows = {r["attempt_id"]: r for r in analytics.metrics(data).sessions}
    assert {a: r["status"] for a, r in rows.items()} == {
        "a1": "failed",
        "a2": "success",
        "a3": "failed",
        "a4": "success",
        "a5": "success",
        "a6": "open",
        "a7": "timeout",
    }
    assert (rows["a5"]["tool_calls"], rows["a5"]["tool_failures"], rows["a5"]["first_shot"]) == (2, 1, True)
    assert (rows["a7"]["total_tokens"], rows["a7"]["cost_usd"]) == (500, 0.4)
    assert rows["a3"]["top_fingerprint"] == AUTH


def test_window_and_filters(data):
    s = analytics.summary(data, Scope(since=parse_when("2026-01-12"), until=parse_when("2026-01-13")))
    assert (s.sessions, s.succeeded, s.total_errors) == (3, 1, 2)  # a3, a4, a7; a3's two errors
    assert analytics.summary(data, Scope(executor="codex", model="M2")).sessions == 1  # a6
    assert analytics.summary(data, Scope(task="task-1")).sessions == 2


def test_cli_json_when_piped_and_footer(log_dir):
    result = run(log_dir, "summary", "--days", "0")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["success_pct"] == 50
    assert "3 malformed line(s) skipped" in result.stderr


@pytest.mark.parametrize(
    "fmt, marker", [("csv", "# Summary"), ("markdown", "### By executor"), ("table", "By executor")]
)
def test_cli_formats(log_dir, fmt, marker):
    result = run(log_dir, "summary", "--since", "2026-01-01", "--format", fmt)
    assert result.returncode == 0, result.stderr
    assert marker in result.stdout


@pytest.mark.parametrize("command", ["summary", "errors", "compare", "planning", "backlog", "correlate", "metrics"])
def test_cli_every_command_and_empty_window(log_dir, command):
    full = run(log_dir, command, "--since", "2026-01-01", "--format", "json")
    assert full.returncode == 0, full.stderr
    assert json.loads(full.stdout)
    empty = run(log_dir, command, "--since", "2030-01-01", "--format", "table")
    assert empty.returncode == 0 and "No sessions or errors in this window" in empty.stdout


def test_cli_metrics_exports(log_dir, tmp_path):
    result = run(
        log_dir,
        "metrics",
        "--days",
        "0",
        "--csv",
        str(tmp_path / "m.csv"),
        "--json",
        str(tmp_path / "m.json"),
        "--parquet",
        str(tmp_path / "m.parquet"),
    )
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(open(tmp_path / "m.csv")))
    assert len(rows) == 7 and rows[0]["attempt_id"] == "a1"
    assert len(json.loads((tmp_path / "m.json").read_text())) == 7
    assert (tmp_path / "m.parquet").read_bytes()[:4] == b"PAR1"


def test_cli_bad_time_is_a_usage_error(log_dir):
    assert run(log_dir, "summary", "--since", "yesterday-ish").returncode == 2
