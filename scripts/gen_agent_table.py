"""Write the README's agent table from the importers' own claims, so it cannot drift.

    .venv/bin/python scripts/gen_agent_table.py          # rewrite the table in README.md
    .venv/bin/python scripts/gen_agent_table.py --check  # exit 1 when it is out of date

Each importer says what it does in class variables (`follow`, `hooks`, `tokens`, `cost`);
tests/test_agent_table.py checks those claims against the CLI.
"""

from __future__ import annotations

import sys
from pathlib import Path

from agentlog.agents import get, names

README = Path(__file__).resolve().parents[1] / "README.md"
START, END = "<!-- agent table: scripts/gen_agent_table.py -->", "<!-- end of agent table -->"
_YES = {True: "yes", False: "no"}


def render() -> str:
    rows = ["| agent | import (default path) | follow | hooks | tokens | cost |", "|---|---|---|---|---|---|"]
    for name in names():
        agent = get(name).importer
        rows.append(
            f"| {name} | `{agent.default_path}` | {_YES[agent.follow]} | {_YES[agent.hooks]} "
            f"| {agent.tokens} | {agent.cost} |"
        )
    return "\n".join(rows)


def updated(text: str) -> str:
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{render()}\n{END}{tail}"


if __name__ == "__main__":
    text = README.read_text(encoding="utf-8")
    new = updated(text)
    if "--check" in sys.argv:
        sys.exit(0 if new == text else 1)
    README.write_text(new, encoding="utf-8")
