"""Pricing: shipped table, prefix match, user overrides, unknown models reported."""

from __future__ import annotations

from pathlib import Path

from agentlog.capture.pricing import Pricing
from conftest import SHARED, read_jsonl, run_cli


def test_longest_prefix_and_provider_prefix() -> None:
    pricing = Pricing.load()
    assert pricing.prices("claude-sonnet-4-5-20250929") == pricing.models["claude-sonnet-4-5"]
    assert pricing.prices("anthropic/claude-opus-4-1") == pricing.models["claude-opus-4-1"]
    assert pricing.cost("gpt-5", input_tokens=1_000_000, output_tokens=1_000_000) == 11.25


def test_unknown_model_is_reported_not_priced_at_zero() -> None:
    pricing = Pricing.load()
    data = pricing.price_usage("mystery-1", {"input_tokens": 10})
    assert "cost_usd" not in data and data["cost_source"] == "unknown_model"
    assert pricing.unknown == {"mystery-1"}


def test_override_from_settings_file(tmp_path: Path) -> None:
    (tmp_path / "agentlog.toml").write_text('[pricing."synthetic-model"]\ninput = 1.0\noutput = 2.0\n')
    fixtures = SHARED / "fixtures" / "codex"
    out = run_cli("import", "codex", str(fixtures), "--log-dir", str(tmp_path / "logs"), cwd=tmp_path, check=True)
    assert "unknown model" not in out.stdout.decode()
    out = run_cli(
        "import",
        "claude-code",
        str(SHARED / "fixtures" / "claude-code" / "claude-code-transcripts"),
        "--log-dir",
        str(tmp_path / "logs2"),
        cwd=tmp_path,
        check=True,
    )
    assert "0 events" not in out.stdout.decode()


def test_unknown_model_named_in_the_final_line(tmp_path: Path) -> None:
    src = tmp_path / "rollout-x.jsonl"
    src.write_text(
        '{"timestamp":"2026-01-01T00:00:00Z","type":"turn_context","payload":{"model":"gpt-99"}}\n'
        '{"timestamp":"2026-01-01T00:00:01Z","type":"event_msg","payload":{"type":"token_count",'
        '"info":{"total_token_usage":{"input_tokens":5,"output_tokens":1,"total_tokens":6}}}}\n'
    )
    out = run_cli("import", "codex", str(src), "--log-dir", str(tmp_path / "logs"), check=True).stdout.decode()
    assert "not priced (unknown model): gpt-99" in out
    usage = [e for e in read_jsonl(tmp_path / "logs" / "agent-work-stream.jsonl") if e["event_type"] == "usage"]
    assert usage[0]["data"]["cost_source"] == "unknown_model"
