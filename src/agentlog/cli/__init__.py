"""The `agentlog` command: a thin layer that parses flags, calls the library, renders.

Commands are imported only when invoked (see COMMANDS), so `agentlog hook ...`, which
agents run before every tool call, does not pay for the imports of `serve` or `report`.
"""

from __future__ import annotations

import sys
from importlib import import_module

import click

COMMANDS = {
    "emit": "agentlog.cli.record:emit",
    "cat": "agentlog.cli.record:cat",
    "demo": "agentlog.cli.demo:demo",
    "cluster": "agentlog.cli.intel:cluster_cmd",
    "import": "agentlog.cli.capture:import_cmd",
    "run": "agentlog.cli.capture:run_cmd",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        return getattr(import_module(module), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="agentlog")
def cli() -> None:
    """agentlog: flight recorder, watchdog and guard for AI coding agents.

    Events live under AGENT_WORK_LOG_DIR (default .cache/agent-work-logs); every
    command takes --log-dir to point elsewhere.
    """


def main() -> None:
    from ..config import ConfigError
    from ..events import EventError
    from ..store.writer import StoreError

    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (StoreError, ConfigError, EventError) as exc:
        click.echo(f"agentlog: error: {exc}", err=True)
        sys.exit(1)
    except BrokenPipeError:
        sys.stderr.close()  # the reader (head, less) went away: not our failure
        sys.exit(0)
