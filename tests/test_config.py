"""Settings precedence: flag > environment > .env > TOML file > default, with sources."""

from __future__ import annotations

import pytest

from agentlog import config


def test_precedence_and_sources(tmp_path):
    (tmp_path / "agentlog.toml").write_text(
        "error_loop_threshold = 5\ntool_loop_threshold = 11\nstuck_threshold_ms = 1000\n"
        "[agentlog]\ncost_anomaly_threshold = 2.5\n[pricing.my-model]\ninput = 1.0\n"
    )
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


# --- one precedence and one parse for every table (issue 15 item 9, issue 16 High 1) ----------


def errors_for(log_dir, attempt: str, count: int) -> bytes:
    import json

    lines = [
        {
            "timestamp": f"2026-01-01T00:00:{i:02d}.000Z",
            "event_type": "error",
            "attempt_id": attempt,
            "data": {"error_message": "fatal: not a git repository"},
        }
        for i in range(count)
    ]
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


def test_a_quoted_number_in_the_watch_table_is_read_as_that_number(tmp_path, cli, log_dir):
    (tmp_path / "agentlog.toml").write_text('[watch]\nerror_loop_threshold = "5"\n')
    log_dir.mkdir()
    (log_dir / "agent-work-stream.jsonl").write_bytes(errors_for(log_dir, "A1", 4) + errors_for(log_dir, "A2", 5))
    result = cli("watch", "--replay", "--once", "--json", "--log-dir", str(log_dir))
    assert result.returncode == 0, result.stderr.decode()
    alerts = [line for line in result.stdout.decode().splitlines() if '"error_loop"' in line]
    assert len(alerts) == 1 and '"A2"' in alerts[0] and '"occurrences":5' in alerts[0]


@pytest.mark.parametrize(
    "table",
    [
        '[watch]\nerror_loop_threshold = "abc"\n',
        "[watch]\nrestart_threshold = -1\n",
        '[watch]\nwaiting_statuses = "x"\nnotify_since = "soon"\n',
        '[guard]\nrepeat = "sometimes"\n',
        '[rotate]\nmax_age = "a week"\n',
        '[report]\nmin_success_pct = "high"\n',
        '[pricing."my-model"]\ninput = "cheap"\n',
        '[pricing."my-model"]\ninptu = 1.0\n',
        '[redact.patterns]\nbroken = "(unclosed"\n',
        '[errors.categories]\nlicense = "("\n',
        'fsync = "sometimes"\n',
        "cost_anomaly_threshold = nan\n",
        "error_loop_threshold = true\n",
    ],
)
def test_a_bad_value_in_any_table_is_an_error_naming_the_file_and_the_key(tmp_path, cli, table):
    (tmp_path / "agentlog.toml").write_text(table)
    result = cli("doctor", cwd=tmp_path)
    err = result.stderr.decode()
    key = table.split("\n")[-2].split(" =")[0]
    assert result.returncode == 2 and "agentlog.toml" in err and key in err, err


def test_table_values_rank_below_the_environment_and_flags(tmp_path):
    (tmp_path / "agentlog.toml").write_text(
        '[watch]\nstuck_threshold_ms = 1000\nnotify_since = "2h"\n[fleet]\nnats = "nats://from-file:4222"\n'
    )
    settings = config.load(environ={"AGENT_STUCK_THRESHOLD_MS": "2000"}, cwd=tmp_path)
    assert settings.stuck_threshold_ms == 2000 and settings.sources["stuck_threshold_ms"] == "environment"
    assert settings.section("watch")["notify_since"] == 7200.0
    flagged = settings.with_flags({"stuck_threshold_ms": 3000, "watch.notify_since": "1h", "fleet.nats": None})
    assert flagged.section("watch")["stuck_threshold_ms"] == 3000 and flagged.sources["stuck_threshold_ms"] == "flag"
    assert flagged.section("watch")["notify_since"] == 3600.0  # 1h given on the command line wins
    assert flagged.section("fleet")["nats"] == "nats://from-file:4222"  # not given: the file's


def test_watch_config_comes_through_the_same_mechanism(tmp_path):
    from agentlog.watch import WatchConfig

    (tmp_path / "agentlog.toml").write_text("[watch]\nstuck_threshold_ms = 1000\ntool_loop_threshold = 7\n")
    settings = config.load(environ={"AGENT_STUCK_THRESHOLD_MS": "2000"}, cwd=tmp_path)
    chosen = WatchConfig.from_settings(settings)
    assert chosen.stuck_threshold_ms == 2000  # the environment beats the file, in [watch] too
    assert chosen.tool_loop_threshold == 7 and chosen.tool_repeat_threshold == 7  # unset: follows it
    assert WatchConfig.from_settings(config.load(environ={}, cwd=tmp_path / "none")) == WatchConfig()


def test_the_watch_flag_beats_the_environment_and_the_file(tmp_path, cli, log_dir):
    (tmp_path / "agentlog.toml").write_text("[watch]\nstuck_threshold_ms = 1000\n")
    log_dir.mkdir()
    (log_dir / "agent-work-stream.jsonl").write_bytes(errors_for(log_dir, "A1", 1))
    for flags, alerted in (((), True), (("--stuck-threshold-ms", "999999999999"), False)):
        result = cli(
            "watch",
            "--replay",
            "--once",
            "--reset",
            "--json",
            *flags,
            "--log-dir",
            str(log_dir),
            env={"AGENT_STUCK_THRESHOLD_MS": "2000"},
            cwd=tmp_path,
        )
        assert result.returncode == 0 and ('"stuck_agent"' in result.stdout.decode()) == alerted


def test_unknown_keys_are_reported_with_the_closest_known_name(tmp_path, cli):
    (tmp_path / "agentlog.toml").write_text(
        'erorr_loop_threshold = 3\n[watch]\nerror_loop_treshold = 5\n[guard]\nrepaet = "deny"\n[nonsense]\nx = 1\n'
    )
    settings = config.load(environ={}, cwd=tmp_path)
    assert len(settings.warnings) == 4
    said = "\n".join(settings.warnings)
    for wrong, right in (
        ("erorr_loop_threshold", "error_loop_threshold"),
        ("watch.error_loop_treshold", "watch.error_loop_threshold"),
        ("guard.repaet", "guard.repeat"),
    ):
        assert f"unknown key {wrong} (did you mean {right}?)" in said
    result = cli("doctor", "--json", cwd=tmp_path)
    assert "did you mean watch.error_loop_threshold?" in result.stderr.decode()
    assert "did you mean guard.repeat?" in result.stdout.decode()  # doctor lists them as warnings too


def test_a_setting_written_twice_is_an_error(tmp_path):
    (tmp_path / "agentlog.toml").write_text("error_loop_threshold = 3\n[watch]\nerror_loop_threshold = 5\n")
    with pytest.raises(config.ConfigError, match="error_loop_threshold is set twice"):
        config.load(environ={}, cwd=tmp_path)


def test_defaults_are_written_once(tmp_path):
    from agentlog.fleet.bus import NatsOptions
    from agentlog.guard.config import GuardConfig
    from agentlog.report.recommend import Thresholds
    from agentlog.store.retention import Policy
    from agentlog.watch import WatchConfig

    settings = config.load(environ={}, cwd=tmp_path)
    assert WatchConfig.from_settings(settings) == WatchConfig()
    assert GuardConfig.from_section(settings.section("guard")) == GuardConfig()
    assert Thresholds.from_settings(settings) == Thresholds() == Thresholds.from_settings(None)
    assert NatsOptions().servers == settings.section("fleet")["nats"]
    assert Policy.from_settings(settings).keep_s["metrics"] is None  # 0 days: kept forever


# --- [redact.patterns] beside the `redact` switch (issue 16 High 1) -----------------------------

README_EXAMPLE = (
    'error_loop_threshold = 3\n[redact.patterns]\ninternal_token = "itk_[A-Za-z0-9]{32}"\n'
    '[errors.categories]\nlicense = ["license (check|violation)"]\n'
)
TOKEN = "itk_" + "a1B2" * 8


def test_the_readme_example_redacts_custom_patterns(tmp_path, cli, log_dir):
    (tmp_path / "agentlog.toml").write_text(README_EXAMPLE)
    result = cli("emit", "error", "-a", "A1", "-m", f"license check failed with {TOKEN}", "--log-dir", str(log_dir))
    assert result.returncode == 0, result.stderr.decode()
    stored = (log_dir / "agent-work-stream.jsonl").read_text()
    assert TOKEN not in stored and "[REDACTED:internal_token]" in stored
    assert '"error_category":"license"' in stored.replace(" ", "")


@pytest.mark.parametrize("switch", ["[agentlog]\nredact = false\n", "[redact]\nenabled = false\n"])
def test_the_redact_switch_and_its_table_coexist(tmp_path, cli, log_dir, switch):
    (tmp_path / "agentlog.toml").write_text(switch + '[redact.patterns]\ninternal_token = "itk_[A-Za-z0-9]{32}"\n')
    settings = config.load(environ={}, cwd=tmp_path)
    assert settings.redact is False and "internal_token" in settings.section("redact")["patterns"]
    assert cli("emit", "output", "-a", "A1", "--text", TOKEN, "--log-dir", str(log_dir)).returncode == 0
    assert TOKEN in (log_dir / "agent-work-stream.jsonl").read_text()  # switched off: kept as written
    env = {"AGENT_WORK_REDACT": "true"}  # the environment turns it back on, patterns from the file
    assert cli("emit", "output", "-a", "A2", "--text", TOKEN, "--log-dir", str(log_dir), env=env).returncode == 0
    assert "[REDACTED:internal_token]" in (log_dir / "agent-work-stream.jsonl").read_text().splitlines()[-1]
