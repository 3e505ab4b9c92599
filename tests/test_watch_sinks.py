"""Delivery: webhook, apprise, exec hooks; a sink down for a while loses nothing; replays never flood."""

from __future__ import annotations

import json
import os
import threading
import time
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from watchkit import BASE, Receiver, alerts, ev, free_port, wait_for, write

from agentlog import config
from agentlog.events import now_iso
from agentlog.watch import Watchdog, WatchOptions
from agentlog.watch.sinks import make_sink

STREAM = "agent-work-stream.jsonl"


def loop_events(attempt: str, t0: float) -> list[dict]:
    return [ev(attempt, "error", t0 + i * 0.01, error_message="boom", error_fingerprint="f") for i in range(4)]


def now_loop(attempt: str) -> list[dict]:
    """An error loop happening now (so it is not older than --notify-since)."""
    events = loop_events(attempt, time.time())
    for e in events:
        e["timestamp"] = now_iso()
    return events


class Running:
    """A watchdog in a thread over `log_dir`, as `agentlog watch` runs it."""

    def __init__(self, log_dir, sinks, **options):
        self.dog = Watchdog(config.load({"log_dir": str(log_dir)}), WatchOptions(tick_s=0.05, **options), sinks=sinks)
        self.thread = threading.Thread(target=self.dog.run)
        self.thread.start()
        assert self.dog.ready.wait(10)

    def stop(self):
        self.dog.stop.set()
        self.thread.join(20)


def test_webhook_gets_each_alert_as_json(log_dir):
    receiver = Receiver()
    running = Running(log_dir, [make_sink("webhook", f"http://127.0.0.1:{receiver.port}/hook")])
    write(log_dir / STREAM, *now_loop("a"))
    assert wait_for(lambda: len(receiver.received) == 1)
    running.stop()
    receiver.close()
    got = receiver.received[0]
    assert got["type"] == "error_loop" and got["alert_id"] == alerts(log_dir)[0]["alert_id"]


def test_apprise_json_url_reaches_a_local_server(log_dir):
    receiver = Receiver()
    running = Running(log_dir, [make_sink("apprise", f"json://127.0.0.1:{receiver.port}/")])
    write(log_dir / STREAM, *now_loop("a"))
    assert wait_for(lambda: len(receiver.received) == 1)
    running.stop()
    receiver.close()
    message = receiver.received[0]
    assert "error_loop" in message["title"] and "trigger_ai_autofix" in message["message"]


def test_exec_hook_gets_the_alert_on_stdin_and_in_env(log_dir, tmp_path, cli):
    out = tmp_path / "hook.out"
    write(log_dir / STREAM, *now_loop("a"))
    hook = f'cat > {out}.json; echo "$AGENTLOG_ALERT_TYPE $AGENTLOG_ATTEMPT_ID $AGENTLOG_RECOMMENDATION" > {out}'
    result = cli(
        "watch",
        "--log-dir",
        str(log_dir),
        "--once",
        "--replay",
        "--quiet",
        "--exec",
        f"error_loop={hook}",
        "--exec",
        f"cost_anomaly=touch {tmp_path}/never",
    )
    assert result.returncode == 0, result.stderr.decode()
    assert out.read_text().split() == ["error_loop", "a", "trigger_ai_autofix"]
    assert json.loads((tmp_path / "hook.out.json").read_text())["type"] == "error_loop"
    assert not (tmp_path / "never").exists()


@pytest.mark.slow
def test_sink_down_then_back_loses_nothing_also_across_a_restart(log_dir):
    port = free_port()
    sink = make_sink("webhook", f"http://127.0.0.1:{port}/hook")
    running = Running(log_dir, [sink], retry_base_s=0.05)
    for i in range(5):
        write(log_dir / STREAM, *now_loop(f"a{i}"))
    assert wait_for(lambda: len(alerts(log_dir)) == 5)
    assert wait_for(lambda: running.dog.outbox.status()[sink.name]["failures"] >= 2)  # down: retried
    running.stop()  # stopped while the sink is still down
    for i in range(5, 8):
        write(log_dir / STREAM, *now_loop(f"a{i}"))
    receiver = Receiver(port)  # the service comes back
    running = Running(log_dir, [make_sink("webhook", f"http://127.0.0.1:{port}/hook")], retry_base_s=0.05)
    assert wait_for(lambda: len(receiver.received) == 8, timeout=20)
    time.sleep(0.3)
    running.stop()
    receiver.close()
    assert sorted(a["alert_id"] for a in receiver.received) == sorted(a["alert_id"] for a in alerts(log_dir))


def test_a_refused_alert_goes_to_dead_letters_and_delivery_continues(log_dir):
    receiver = Receiver(status=400)
    running = Running(log_dir, [make_sink("webhook", f"http://127.0.0.1:{receiver.port}/hook")])
    write(log_dir / STREAM, *now_loop("a"))
    dead = log_dir / "state" / "dead-letters.jsonl"
    assert wait_for(dead.exists)
    receiver.status = 200
    write(log_dir / STREAM, *now_loop("b"))
    assert wait_for(lambda: len(receiver.received) == 1)
    running.stop()
    receiver.close()
    assert json.loads(dead.read_text())["alert"]["attempt_id"] == "a"
    assert receiver.received[0]["attempt_id"] == "b"


def test_replay_writes_old_alerts_but_does_not_notify_them(log_dir):
    receiver = Receiver()
    write(log_dir / STREAM, *loop_events("old", BASE))  # months ago
    write(log_dir / STREAM, *now_loop("new"))
    running = Running(log_dir, [make_sink("webhook", f"http://127.0.0.1:{receiver.port}/")], replay=True)
    assert wait_for(lambda: len(receiver.received) >= 1)
    time.sleep(0.3)
    running.stop()
    receiver.close()
    assert {a["attempt_id"] for a in alerts(log_dir) if a["type"] == "error_loop"} == {"old", "new"}
    assert [a["attempt_id"] for a in receiver.received] == ["new"]


FUZZ_EXAMPLES = int(os.environ.get("AGENTLOG_FUZZ_EXAMPLES") or 25)


def test_a_nul_byte_in_an_attempt_id_reaches_the_exec_hook_escaped_and_later_alerts_flow(log_dir, tmp_path, cli):
    """An attempt id is the agent's text: a NUL byte cannot go into an environment, and
    once raised it blocked the hook for good. It arrives escaped; the alerts after it too."""
    out = tmp_path / "hook.out"
    write(log_dir / STREAM, *now_loop("a\x00b\x1b[2J"), *now_loop("after"))
    result = cli(
        "watch",
        "--log-dir",
        str(log_dir),
        "--once",
        "--replay",
        "--quiet",
        "--exec",
        f'error_loop=printf "%s\\n" "$AGENTLOG_ATTEMPT_ID" >> {out}',
    )
    assert result.returncode == 0, result.stderr.decode()
    assert out.read_text().splitlines() == ["a\\x00b\\x1b[2J", "after"]
    assert not (log_dir / "state" / "dead-letters.jsonl").exists()


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fields=st.lists(st.text(max_size=20), min_size=4, max_size=4))
def test_any_alert_text_reaches_the_exec_hook_printable(tmp_path, fields):
    from agentlog.events import Alert
    from agentlog.watch.sinks.exec import ExecSink

    out = tmp_path / "env.out"
    attempt, executor, alert_id, kind = fields
    sink = ExecSink("*", f"env > {out}")
    sink.send(
        Alert(
            timestamp=now_iso(),
            type=kind,
            attempt_id=attempt,
            severity="high",
            recommendation="fresh_session",
            executor=executor,
            alert_id=alert_id,
        )
    )
    env = dict(line.split("=", 1) for line in out.read_text().split("\n") if line.startswith("AGENTLOG_"))
    for name, value in [
        ("AGENTLOG_ATTEMPT_ID", attempt),
        ("AGENTLOG_EXECUTOR", executor),
        ("AGENTLOG_ALERT_ID", alert_id),
        ("AGENTLOG_ALERT_TYPE", kind),
    ]:
        assert env[name] == "".join(f"\\x{ord(c):02x}" if unicodedata.category(c) == "Cc" else c for c in value)
    assert json.loads(env["AGENTLOG_ALERT_JSON"])["attempt_id"] == attempt
    assert not any(unicodedata.category(c) == "Cc" for c in env["AGENTLOG_ALERT_JSON"])


class Faulty:
    """A sink with a bug for one attempt id: it raises, whatever the retry."""

    kind, name, notification, max_attempts = "faulty", "faulty", False, None

    def __init__(self):
        self.delivered = []

    def wants(self, alert):
        return True

    def send(self, alert):
        if alert.attempt_id == "bad":
            raise ValueError("embedded null byte")
        self.delivered.append(alert.attempt_id)


def test_a_sink_that_keeps_raising_dead_letters_the_alert_and_the_next_ones_flow(log_dir):
    sink = Faulty()
    running = Running(log_dir, [sink], retry_base_s=0.01)
    write(log_dir / STREAM, *now_loop("bad"), *now_loop("good"))
    assert wait_for(lambda: sink.delivered == ["good"])
    running.stop()
    dead = [json.loads(line) for line in (log_dir / "state" / "dead-letters.jsonl").read_text().splitlines()]
    assert [(d["alert"]["attempt_id"], d["reason"]) for d in dead] == [("bad", "ValueError: embedded null byte")]


class CountingStream:
    """A pipe-like stdout (no terminal) that counts its flushes."""

    def __init__(self):
        self.text, self.flushes = [], 0

    def write(self, text: str) -> int:
        self.text.append(text)
        return len(text)

    def flush(self) -> None:
        self.flushes += 1

    def isatty(self) -> bool:
        return False


def test_alerts_printed_to_a_pipe_are_plain_lines_written_once_per_batch(log_dir):
    """A replay's thousands of alerts cost one write-out per batch, not a formatted, flushed
    line each (before: rich printed and flushed every alert)."""
    from agentlog.store.alerts import read_alerts
    from agentlog.watch.sinks.stdout import StdoutSink
    from agentlog.watch.text import one_line

    for n in range(60):
        write(log_dir / STREAM, *loop_events(f"a{n}", 1_767_225_600.0 + n))
    stream = CountingStream()
    dog = Watchdog(
        config.load({"log_dir": str(log_dir)}), WatchOptions(replay=True, once=True), sinks=[StdoutSink(stream=stream)]
    )
    result = dog.run()
    written = list(read_alerts(log_dir))
    assert result.alerts == len(written) >= 60
    assert "".join(stream.text).splitlines() == [one_line(a) for a in written]  # plain text, in order
    assert "\x1b[" not in "".join(stream.text)
    assert 1 <= stream.flushes < 10  # one batch (or a few, should the outbox wake mid-replay)
