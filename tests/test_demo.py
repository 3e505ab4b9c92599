"""`agentlog demo`, the README's first command, does what it says."""

from __future__ import annotations

import json

from agentlog.store import layout

from conftest import read_jsonl


def test_demo_writes_a_fleet_and_its_alerts(cli, tmp_path):
    result = cli("demo", "--speed", "10", "--stuck-ms", "1000", cwd=tmp_path, check=True)
    out = result.stdout.decode()
    log_dir = tmp_path / ".cache" / "agent-work-logs"  # the embedded default
    stream = read_jsonl(log_dir / layout.STREAM)
    assert len({e["executor"] for e in stream}) >= 3 and len({e["attempt_id"] for e in stream}) == 10
    alerts = {json.loads(line)["type"] for line in (log_dir / layout.ALERTS).read_text().splitlines()}
    assert {"error_loop", "tool_loop", "stuck_agent", "cost_anomaly"} <= alerts
    assert len(read_jsonl(log_dir / layout.METRICS)) == 9  # one agent never ends
    assert "Alerts raised:" in out and "http://127.0.0.1:8765/" in out
