"""Every example in README.md and docs/ works: TOML loads, commands parse, Python runs.

The fenced blocks are read from the files themselves, so an example edited into something
that does not work fails here, not in a user's hands.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from agentlog import config
from agentlog.cli import cli
from conftest import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^( *)```(\w*)[^\n]*\n(.*?)^\1```", re.M | re.S)
SHELL = {"bash", "sh", "shell", "console", "cron"}
# safe to run for real in a scratch directory: they read or write only its log dir
RUNNABLE = {
    "emit",
    "cat",
    "summary",
    "errors",
    "compare",
    "planning",
    "backlog",
    "correlate",
    "metrics",
    "report",
    "replay",
    "du",
    "rotate",
}
# Python examples that cannot run here, and why
NOT_RUNNABLE = {
    "while True:": "follows transcripts forever",
    "Watchdog(settings, WatchOptions(), sinks=sinks": "watches forever and notifies ntfy.sh",
}


def blocks(*langs: str) -> list[tuple[str, str]]:
    """(file:line, text) of every fenced block in one of these languages, dedented."""
    found = []
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        for m in FENCE.finditer(text):
            if m[2] in langs:
                body = "\n".join(line[len(m[1]) :] for line in m[3].splitlines())
                found.append((f"{path.name}:{text[: m.start()].count(chr(10)) + 1}", body))
    return found


def commands() -> list[tuple[str, list[str]]]:
    """Each `agentlog ...` command line of the shell blocks, as argv (after `agentlog`)."""
    found = []
    for where, body in blocks(*SHELL):
        for line in body.replace("\\\n", " ").splitlines():
            line = re.sub(r"\[(--[^\]]*)\]", r"\1", line)  # a synopsis' optional part: [--since 7d]
            lexer = shlex.shlex(line, posix=True, punctuation_chars="&|;")
            lexer.whitespace_split, lexer.commenters = True, "#"
            segment: list[str] = []
            for token in [*lexer, "&&"]:
                if token not in ("&&", "||", "|", ";"):
                    segment.append(token)
                    continue
                if segment[:1] != ["agentlog"] and "--" in segment:  # `claude mcp add agentlog -- agentlog mcp`
                    segment = segment[len(segment) - segment[::-1].index("--") :]
                starts = [i for i, t in enumerate(segment) if t == "agentlog" or t.endswith("/agentlog")]
                if starts:
                    found.append((where, segment[starts[0] + 1 :]))
                segment = []
    return found


def parse(argv: list[str]) -> click.Context:
    """Parse a command line with the real CLI down to its command, without running it."""
    ctx = cli.make_context("agentlog", list(argv))
    command: click.Command = cli
    while isinstance(command, click.Group) and (ctx._protected_args or ctx.args or not command.invoke_without_command):
        name, command, rest = command.resolve_command(ctx, [*ctx._protected_args, *ctx.args])
        ctx = command.make_context(name, rest, parent=ctx)
    return ctx


def test_the_docs_have_examples_of_every_kind():
    assert len(commands()) > 50 and len(blocks("toml")) >= 6 and len(blocks("python")) >= 8


@pytest.mark.parametrize("where,body", blocks("toml"), ids=lambda v: v if ":" in str(v) else "")
def test_every_toml_example_loads_with_no_unknown_key(tmp_path, where, body):
    path = tmp_path / "agentlog.toml"
    path.write_text(body)
    settings = config.load(config_file=path, environ={}, cwd=tmp_path)
    assert settings.warnings == [], where
    assert any(source.startswith("file") for source in settings.sources.values()), where


def test_every_agentlog_command_line_parses(tmp_path):
    (tmp_path / "trajectories").mkdir()  # arguments that must name existing files
    (tmp_path / "messages.txt").write_text("fatal: not a git repository\n")
    (tmp_path / "scores.jsonl").write_text("")  # advise --risk-scores
    (tmp_path / "outcomes.csv").write_text("attempt_id,resolved\n")
    failures = []
    for where, argv in commands():
        try:
            parse(argv)
        except click.ClickException as exc:
            failures.append(f"{where}: agentlog {shlex.join(argv)}: {exc.format_message()}")
    assert failures == []


def test_a_command_line_that_does_not_parse_is_caught():
    with pytest.raises(click.ClickException):
        parse(["watch", "--replay", "--once", "--no-such-flag"])
    with pytest.raises(click.ClickException):
        parse(["emit", "end", "--attempt", "A1", "--duration-ms", "soon"])


def test_the_safe_commands_run_on_a_scratch_log_dir(tmp_path):
    """The README's emit/cat walk-through and the read-only views, for real, in order."""
    runner = CliRunner()
    runner.invoke(cli, ["emit", "start", "--attempt", "ve-a1b2-implement-auth"])  # the one `replay` shows
    ran = 0
    for where, argv in commands():
        if argv[0] not in RUNNABLE or argv == ["emit", "-"] or "--follow" in argv or "--log-dir" in argv:
            continue
        result = runner.invoke(cli, argv, catch_exceptions=True)
        assert result.exit_code == 0 and result.exception is None, (
            f"{where}: agentlog {shlex.join(argv)} -> {result.exit_code}\n{result.output}{result.exception!r}"
        )
        ran += 1
    assert ran >= 20


def _run_python(body: str, cwd: Path) -> subprocess.CompletedProcess:
    prelude = (
        "def run_my_orchestrator():\n"  # the README's stand-in for the user's own code
        "    import agentlog\n"
        "    with agentlog.Session('orch-1', executor='CODEX') as s:\n"
        "        s.error('fatal: not a git repository')\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENT_", "AGENTLOG_"))}
    return subprocess.run(
        [sys.executable, "-c", prelude + body], cwd=cwd, capture_output=True, text=True, env=env, timeout=120
    )


def test_every_self_contained_python_example_runs(tmp_path):
    """In file order, in one scratch directory: the README's Session example writes the
    attempt the later examples (replay, report, analytics) read."""
    ran = []
    for where, body in blocks("python"):
        if any(marker in body for marker in NOT_RUNNABLE):
            continue
        result = _run_python(body, tmp_path)
        assert result.returncode == 0, f"{where}:\n{body}\n{result.stderr}"
        ran.append(where)
    assert len(ran) >= 6, ran
    assert (tmp_path / ".cache" / "agent-work-logs" / "agent-sessions" / "ve-a1b2-implement-auth.jsonl").exists()
