"""Settings precedence: flag > environment > .env > TOML file > default, with sources."""

from __future__ import annotations

import pytest

from agentlog import config


def test_precedence_and_sources(tmp_path):
    (tmp_path / "agentlog.toml").write_text(
        'error_loop_threshold = 5\ntool_loop_threshold = 11\nstuck_threshold_ms = 1000\n'
        '[agentlog]\ncost_anomaly_threshold = 2.5\n[pricing.my-model]\ninput = 1.0\n')
    (tmp_path / ".env").write_text('# comment\nexport AGENT_TOOL_LOOP_THRESHOLD="12"\nAGENT_STUCK_THRESHOLD_MS=2000\n')
    env = {"AGENT_STUCK_THRESHOLD_MS": "3000", "AGENT_WORK_LOG_DIR": "/tmp/x"}
    s = config.load({"log_dir": "/flag/dir", "error_loop_threshold": None}, environ=env, cwd=tmp_path)
    assert s.error_loop_threshold == 5 and s.sources["error_loop_threshold"].startswith("file")
    assert s.tool_loop_threshold == 12 and s.sources["tool_loop_threshold"].startswith(".env")
    assert s.stuck_threshold_ms == 3000 and s.sources["stuck_threshold_ms"] == "environment"
    assert s.log_dir == "/flag/dir" and s.sources["log_dir"] == "flag"
    assert s.cost_anomaly_threshold == 2.5
    assert s.alert_cooldown_ms == 300_000 and s.sources["alert_cooldown_ms"] == "default"
    assert s.section("pricing") == {"my-model": {"input": 1.0}}


def test_bad_values_name_the_setting_and_source(tmp_path):
    with pytest.raises(config.ConfigError, match="logging_enabled from environment"):
        config.load(environ={"AGENT_WORK_LOGGING_ENABLED": "maybe"}, cwd=tmp_path)
    (tmp_path / "agentlog.toml").write_text("error_loop_threshold = [")
    with pytest.raises(config.ConfigError, match="agentlog.toml"):
        config.load(environ={}, cwd=tmp_path)


def test_explicit_config_file_from_environment(tmp_path):
    path = tmp_path / "elsewhere.toml"
    path.write_text("tool_loop_threshold = 3\n")
    assert config.load(environ={"AGENTLOG_CONFIG": str(path)}, cwd=tmp_path).tool_loop_threshold == 3
