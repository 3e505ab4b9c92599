"""The README's agent table says what each importer claims, and the claims hold."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from agentlog.agents import get, names
from agentlog.cli import cli

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import gen_agent_table  # noqa: E402


def test_the_readme_table_is_the_one_the_importers_describe() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_agent_table.py"), "--check"])
    assert done.returncode == 0, "README agent table is stale: run scripts/gen_agent_table.py"
    table = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in names():
        assert f"| {name} | `{get(name).importer.default_path}` |" in table


def test_a_claim_that_changes_makes_the_table_stale(monkeypatch: pytest.MonkeyPatch) -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    monkeypatch.setattr(get("codex").importer, "tokens", "absent")
    assert gen_agent_table.updated(text) != text


@pytest.mark.parametrize("agent", names())
def test_each_claim_holds(agent: str, tmp_path: Path) -> None:
    importer = get(agent).importer()
    assert importer.tokens in ("exact", "partial", "estimated", "absent")
    assert importer.cost in ("transcript", "pricing", "absent")
    assert importer.cost == "absent" or importer.tokens != "absent" or importer.cost == "transcript"
    # hooks: `hooks install AGENT` exists exactly for the agents that say so
    assert (get(agent).hooks is not None) == importer.hooks
    runner = CliRunner()
    hooks = runner.invoke(cli, ["hooks", "status", agent], env={"HOME": str(tmp_path)})
    assert (f"'{agent}' is not one of" not in hooks.output) == importer.hooks, hooks.output
    # follow: `watch --follow AGENT` is accepted exactly for the agents that say so
    follow = runner.invoke(
        cli, ["watch", "--follow", agent, "--once", str(tmp_path / "none"), "--log-dir", str(tmp_path / "log")]
    )
    accepted = "Invalid value for '--follow'" not in follow.output
    assert accepted == importer.follow, follow.output
    # import: `import AGENT PATH` takes it
    done = runner.invoke(cli, ["import", agent, str(tmp_path), "--log-dir", str(tmp_path / "log"), "-q"])
    assert done.exit_code == 0, done.output
