"""`agentlog doctor`: finds each problem and says how to fix it."""

from __future__ import annotations

import json
import os

from watchkit import BASE, Receiver, ev, free_port, write

from agentlog.store.atomic import replace_file
from agentlog.watch.watchdog import HEARTBEAT


def doctor(cli, log_dir, *args, env=None):
    result = cli("doctor", "--log-dir", str(log_dir), "--json", *args, env=env)
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    return result.returncode, checks


def test_missing_log_dir_is_a_problem_with_a_fix(cli, log_dir):
    code, checks = doctor(cli, log_dir)
    assert code == 1
    assert checks["log dir"]["status"] == "problem" and "mkdir -p" in checks["log dir"]["fix"]


def test_healthy_setup_after_a_watch_run_and_config_sources(cli, log_dir):
    write(log_dir / "agent-work-stream.jsonl", *[ev("a", "error", BASE + i, error_message="b") for i in range(4)])
    assert cli("watch", "--log-dir", str(log_dir), "--once", "--replay", "--quiet").returncode == 0
    result = cli("doctor", "--log-dir", str(log_dir), "--json", env={"AGENT_ERROR_LOOP_THRESHOLD": "6"})
    report = json.loads(result.stdout)
    sources = {s["name"]: (s["value"], s["source"]) for s in report["settings"]}
    assert sources["error_loop_threshold"] == (6, "environment") and sources["log_dir"][1] == "flag"
    checks = {c["name"]: c for c in report["checks"]}
    assert result.returncode == 0, checks
    assert "last event" in checks["file agent-work-stream.jsonl"]["detail"]
    assert checks["watchdog"]["status"] == "warn" and "agentlog watch" in checks["watchdog"]["fix"]
    assert "alert(s)" in checks["alerts"]["detail"]


def write_heartbeat(log_dir, beat: dict) -> None:
    replace_file(log_dir / "state" / HEARTBEAT, json.dumps(beat).encode(), durable=False)


def test_a_killed_watchdog_and_a_failing_sink_are_problems(cli, log_dir):
    (log_dir / "state").mkdir(parents=True)
    write_heartbeat(
        log_dir,
        {
            "pid": 999_999_999,
            "running": True,
            "updated_epoch": 0,
            "lag_bytes": 0,
            "sinks": {"webhook-1": {"retrying": True, "failures": 7, "last_error": "connection refused"}},
        },
    )
    code, checks = doctor(cli, log_dir)
    assert code == 1 and checks["watchdog"]["status"] == "problem" and "restart" in checks["watchdog"]["fix"]
    write_heartbeat(
        log_dir,
        {
            "pid": os.getpid(),
            "running": True,
            "updated_epoch": 9e12,
            "lag_bytes": 10,
            "sinks": {
                "webhook-1": {"retrying": True, "failures": 7, "last_error": "connection refused", "pending_bytes": 900}
            },
        },
    )
    code, checks = doctor(cli, log_dir)
    assert code == 1 and checks["watchdog"]["status"] == "ok"
    assert (
        checks["sink webhook-1"]["status"] == "problem" and "connection refused" in checks["sink webhook-1"]["detail"]
    )


def test_sink_reachability_and_disabled_analyzer(cli, log_dir):
    log_dir.mkdir()
    receiver = Receiver()
    code, checks = doctor(
        cli,
        log_dir,
        "--webhook",
        f"http://127.0.0.1:{receiver.port}/",
        "--webhook",
        f"http://127.0.0.1:{free_port()}/",
        "--notify",
        "nonsense://x",
        env={"AGENT_WORK_ANALYZER_ENABLED": "false"},
    )
    receiver.close()
    assert code == 1
    statuses = sorted(c["status"] for name, c in checks.items() if name.startswith("sink webhook"))
    assert statuses == ["ok", "problem"]
    assert checks["apprise URL"]["status"] == "problem"
    assert checks["analyzer"]["status"] == "warn" and "AGENT_WORK_ANALYZER_ENABLED" in checks["analyzer"]["fix"]
