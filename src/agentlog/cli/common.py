"""Options and helpers shared by the commands."""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any, Callable

import click

from .. import config
from ..store import modes


def settings_options(func: Callable) -> Callable:
    """--log-dir and --config on a command; the command receives `settings`."""

    @click.option(
        "--log-dir",
        type=click.Path(file_okay=False, path_type=Path),
        help="Log directory [env AGENT_WORK_LOG_DIR; default .cache/agent-work-logs].",
    )
    @click.option(
        "--config",
        "config_file",
        type=click.Path(dir_okay=False, path_type=Path),
        help="TOML settings file [env AGENTLOG_CONFIG; default ./agentlog.toml].",
    )
    @functools.wraps(func)
    def wrapper(*args: Any, log_dir: Path | None, config_file: Path | None, **kwargs: Any) -> Any:
        flags = {"log_dir": str(log_dir) if log_dir else None}
        try:
            settings = config.load(flags, config_file=config_file)
        except config.ConfigError as exc:
            raise click.UsageError(str(exc)) from None
        for warning in settings.warnings:
            click.echo(f"agentlog: warning: {warning}", err=True)
        modes.use(settings.file_mode)
        return func(*args, settings=settings, **kwargs)

    return wrapper


def flags_over(settings: config.Settings, flags: dict[str, Any]) -> config.Settings:
    """The settings with a command's own flags on top (None: not given), parsed like any value."""
    try:
        return settings.with_flags(flags)
    except config.ConfigError as exc:
        raise click.UsageError(str(exc)) from None


def require_log_dir(settings: Any) -> None:
    """Stop (exit 1, saying why) when the log dir to read does not exist: an empty report
    there would hide a wrong path or a typo."""
    path = settings.log_path
    if path.is_dir():
        return
    from ..terminal import printable

    what = "is not a directory" if path.exists() else "does not exist"
    click.echo(
        printable(
            f"agentlog: error: the log dir {path} {what} (log_dir from {settings.sources['log_dir']}); "
            f"point --log-dir or AGENT_WORK_LOG_DIR at the directory agents record into",
            one_line=True,
        ),
        err=True,
    )
    sys.exit(1)


def report_bad_lines(report: Any, limit: int = 20) -> None:
    """Print skipped lines (file:line: reason) to stderr, at most `limit` of them."""
    from ..terminal import printable

    for bad in report.bad[:limit]:
        click.echo(printable(f"skipped {bad}", one_line=True), err=True)
    if len(report.bad) > limit:
        click.echo(f"... and {len(report.bad) - limit} more malformed lines", err=True)


def resolve_token(host: str, token: str | None, env: str) -> str | None:
    """The token a server requires (see web.security.resolve_token); a usage error otherwise."""
    from ..web.security import TokenError, resolve_token

    try:
        return resolve_token(host, token, env)
    except TokenError as exc:
        raise click.UsageError(str(exc)) from None


def listen(host: str, port: int):
    """A listening socket for a server, or a one-line error (exit 1) before anything is announced."""
    from ..web.server import ListenError, listen

    try:
        return listen(host, port)
    except ListenError as exc:
        raise click.ClickException(str(exc)) from None


class AgentChoice(click.Choice):
    """The agents' names (only those having a part, when asked), read from the registry the
    first time they are needed, so a plugin agent is a choice and `agentlog hook` never
    pays for finding them all."""

    def __init__(self, having: str | None = None):
        self.having = having
        super().__init__([])

    @property
    def choices(self) -> list[str]:  # type: ignore[override]
        from .. import agents

        return agents.names(self.having)  # type: ignore[arg-type]

    @choices.setter
    def choices(self, value: Any) -> None:
        pass  # click's __init__ sets them; the registry holds them
