"""The README's promises and the generated command reference stay true."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT


def test_cli_reference_is_generated_from_current_help():
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_cli_docs.py"), "--check"])
    assert result.returncode == 0, "docs/cli.md is stale: run scripts/gen_cli_docs.py"


def test_readme_starts_with_the_two_commands():
    head = (ROOT / "README.md").read_text().split("\n## ")[0]
    assert "./scripts/setup && .venv/bin/agentlog demo" in head
    assert "./scripts/test" in head


def test_every_command_has_help(cli):
    for command in ["emit", "cat", "demo", "cluster"]:
        out = cli(command, "--help", check=True).stdout.decode()
        assert "Usage:" in out and len(out.splitlines()) > 3
