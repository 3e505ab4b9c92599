"""`agentlog hooks install|uninstall|status` and `agentlog hook`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .common import AgentChoice


def _scope_path(agent_name: str, scope: str | None, toml: bool = False) -> tuple[object, Path]:
    from ..agents import get

    agent = get(agent_name)
    try:
        return agent, agent.hooks.settings_path(scope or agent.hooks.default_scope, toml=toml)
    except ValueError as exc:
        raise click.UsageError(f"{agent.name} {exc}") from None


MCP_AGENTS = ("claude-code", "codex")  # whose MCP server settings guard/install.py knows
_TOML_HELP = "Codex: the [hooks] tables of config.toml instead of hooks.json (comments and layout kept)."


def _scope_options(func):
    """--local / --project / --user: which settings file of the agent."""
    for option in reversed(
        [
            click.option(
                "--local",
                "scope",
                flag_value="local",
                help="Your own settings in this project, not shared (.claude/settings.local.json, "
                ".factory/settings.local.json) [default for claude-code, droid].",
            ),
            click.option(
                "--project",
                "scope",
                flag_value="project",
                help="The project's shared settings, usually committed (.codex/hooks.json, "
                ".gemini/settings.json, .github/hooks/agentlog.json...) [default for the others].",
            ),
            click.option(
                "--user", "scope", flag_value="user", help="Your user settings (~/.claude, ~/.codex, ~/.gemini...)."
            ),
        ]
    ):
        func = option(func)
    return func


@click.group()
def hooks() -> None:
    """Install agentlog's hooks into an agent's settings (live capture + guard).

    Claude Code, Codex, Factory Droid, Gemini CLI, Qwen Code, Copilot CLI: each agent's own
    settings file, format and event names (see docs/agents.md)."""


@hooks.command("install")
@click.argument("agent", type=AgentChoice(having="hooks"))
@_scope_options
@click.option("--toml", is_flag=True, help=_TOML_HELP)
@click.option("--dry-run", is_flag=True, help="Show the resulting file; change nothing.")
@click.option(
    "--client",
    type=click.Choice(["auto", "native", "python"]),
    default="auto",
    show_default=True,
    help="What the hooks run: the native client `agentlog-hook` (no Python start per call; auto: "
    "when it is installed beside agentlog) or the `agentlog hook` entry point.",
)
@click.option(
    "--command", "command", help="How the agent runs agentlog, as `COMMAND hook ...` [default: see --client]."
)
@click.option(
    "--mcp",
    is_flag=True,
    help='Also register `agentlog mcp` as the agent\'s MCP server "agentlog" (Claude Code: .mcp.json '
    "with --project, ~/.claude.json otherwise; Codex: [mcp_servers] of config.toml).",
)
def install_cmd(
    agent: str, scope: str | None, toml: bool, dry_run: bool, client: str, command: str | None, mcp: bool
) -> None:
    """Add `agentlog hook` to the agent's hooks, keeping every hook already there."""
    from ..guard.install import InstallError, install

    spec, path = _scope_path(agent, scope, toml)
    if mcp and agent not in MCP_AGENTS:
        raise click.UsageError(f"--mcp registers agentlog's MCP server for {' and '.join(MCP_AGENTS)} only")
    try:
        change = install(spec, path, command=command, client=client, dry_run=dry_run)
        if mcp:
            _install_mcp(spec, scope or spec.default_scope, command, dry_run)
    except InstallError as exc:
        raise click.ClickException(str(exc)) from None
    if dry_run:
        click.echo((change.after or b"").decode(), nl=False)
    if change.action == "unchanged":
        click.echo(f"{path}: already installed, nothing changed", err=dry_run)
    else:
        verb = "would add" if dry_run else "added"
        click.echo(f"{path}: {verb} hooks for {', '.join(change.events)}", err=dry_run)
    if (scope or spec.hooks.default_scope) == "local" and _tracked_by_git(path):
        click.echo(
            f"note: git does not ignore {path}; add it to .gitignore (it names this machine's agentlog)", err=True
        )


def _install_mcp(spec, scope: str, command: str | None, dry_run: bool) -> None:
    from ..guard.install import install_mcp, mcp_file

    path, keys = mcp_file(spec, scope)
    change = install_mcp(spec, path, keys, command=command, dry_run=dry_run)
    if dry_run:
        click.echo((change.after or b"").decode(), nl=False)
    verb = "already registered" if change.action == "unchanged" else ("would register" if dry_run else "registered")
    click.echo(f"{path}: {verb} the MCP server `agentlog mcp`", err=dry_run)


def _tracked_by_git(path: Path) -> bool:
    """Would `git add` pick this file up? (False outside a git work tree or without git.)"""
    import subprocess

    try:
        found = subprocess.run(
            ["git", "check-ignore", "-q", str(path)], cwd=path.parent.parent, capture_output=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return found.returncode == 1  # 0: ignored; 128: not a work tree


@hooks.command("uninstall")
@click.argument("agent", type=AgentChoice(having="hooks"))
@_scope_options
@click.option("--toml", is_flag=True, help=_TOML_HELP)
@click.option("--dry-run", is_flag=True, help="Say what would happen; change nothing.")
@click.option("--mcp", is_flag=True, help="Also unregister the MCP server `hooks install --mcp` registered.")
def uninstall_cmd(agent: str, scope: str | None, toml: bool, dry_run: bool, mcp: bool) -> None:
    """Take agentlog's hooks out again (the original file back, byte for byte, if unedited)."""
    from ..guard.install import InstallError, mcp_file, uninstall, uninstall_mcp

    spec, path = _scope_path(agent, scope, toml)
    if mcp and agent not in MCP_AGENTS:
        raise click.UsageError(f"--mcp registers agentlog's MCP server for {' and '.join(MCP_AGENTS)} only")
    prefix = "(dry run) " if dry_run else ""
    try:
        change = uninstall(spec, path, dry_run=dry_run)
        if mcp:
            where, keys = mcp_file(spec, scope or spec.default_scope)
            gone = uninstall_mcp(where, keys, dry_run=dry_run)
            click.echo(f"{prefix}{where}: MCP server " + ("removed" if gone.action == "removed" else "not registered"))
    except InstallError as exc:
        raise click.ClickException(str(exc)) from None
    if change.action == "not_installed":
        click.echo(f"{prefix}{path}: agentlog's hooks are not installed")
    else:
        click.echo(f"{prefix}{path}: {change.note or change.action}")


@hooks.command("status")
@click.argument("agent", type=AgentChoice(having="hooks"), required=False)
def status_cmd(agent: str | None) -> None:
    """Where agentlog's hooks are installed (local, project and user settings of each agent)."""
    from ..agents import get, names
    from ..guard.install import status

    partly_any = False
    for name in [agent] if agent else names(having="hooks"):
        spec = get(name)
        for scope in spec.hooks.scopes:
            for path in spec.hooks.settings_paths(scope):
                line, partly = _status_line(status(spec, path))
                click.echo(f"{name:12} {scope:8} {line}")
                partly_any = partly_any or partly
    sys.exit(1 if partly_any else 0)


def _status_line(found: dict) -> tuple[str, bool]:
    """What `hooks status` says of one file, and whether some of our hooks are missing there."""
    partly = bool(found["installed"] and found["missing"])
    if found.get("problem"):
        state = f"unreadable: {found['problem']}"
    elif partly:
        state = f"partly installed (missing {', '.join(found['missing'])})"
    else:
        state = "installed" if found["installed"] else "not installed"
    if found.get("clients"):  # which client the agent runs: the native one starts no Python
        state += f" ({' and '.join(found['clients'])} client)"
    others = f", {found['other_hooks']} other hook(s) kept" if found.get("other_hooks") else ""
    return f"{state}{others}  {found['path']}", partly


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def hook(args: tuple[str, ...]) -> None:
    """What the installed hooks run: `agentlog hook AGENT EVENT < payload.json`.

    Records the payload, asks the guard policies, prints the agent's decision JSON.
    Always exits 0 (a failure is logged to <log_dir>/state/hook-errors.log).
    """
    from ..guard.client import main  # asks the resident guard; runs the call here when none answers

    sys.exit(main(list(args)))
