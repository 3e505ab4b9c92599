"""The `agentlog` command: a thin layer that parses flags, calls the library, renders.

Commands are imported only when invoked (see COMMANDS), so `agentlog hook ...`, which
agents run before every tool call, does not pay for the imports of `serve` or `report`.
"""

from __future__ import annotations

import os
import sys
from importlib import import_module

if sys.argv[1:2] == ["hook"] and os.path.basename(sys.argv[0]) in ("agentlog", "__main__.py"):
    # `agentlog hook` runs before every tool call of an agent: answered before click loads
    from ..guard.client import main as _hook_main

    sys.exit(_hook_main(sys.argv[2:]))

import click

COMMANDS = {
    "emit": "agentlog.cli.record:emit",
    "cat": "agentlog.cli.record:cat",
    "demo": "agentlog.cli.demo:demo",
    "cluster": "agentlog.cli.intel:cluster_cmd",
    "watch": "agentlog.cli.watch:watch",
    "alerts": "agentlog.cli.watch:alerts",
    "doctor": "agentlog.cli.doctor:doctor",
    "import": "agentlog.cli.capture:import_cmd",
    "run": "agentlog.cli.capture:run_cmd",
    "export": "agentlog.cli.capture:export",
    "enrich": "agentlog.cli.capture:enrich",
    "report": "agentlog.cli.views:report_cmd",
    "replay": "agentlog.cli.views:replay_cmd",
    "serve": "agentlog.cli.views:serve_cmd",
    "rotate": "agentlog.cli.lifecycle:rotate",
    "du": "agentlog.cli.lifecycle:du",
    "summary": "agentlog.cli.analytics:summary",
    "errors": "agentlog.cli.analytics:errors",
    "compare": "agentlog.cli.analytics:compare",
    "planning": "agentlog.cli.analytics:planning",
    "backlog": "agentlog.cli.analytics:backlog",
    "correlate": "agentlog.cli.analytics:correlate",
    "metrics": "agentlog.cli.analytics:metrics",
    "fleet": "agentlog.cli.fleet:fleet",
    "hooks": "agentlog.cli.guard:hooks",
    "hook": "agentlog.cli.guard:hook",
    "otel": "agentlog.cli.otel:otel",
    "ab": "agentlog.cli.advice:ab",
    "advise": "agentlog.cli.advice:advise",
    "risk": "agentlog.cli.risk:risk",
    "mcp": "agentlog.cli.mcp:mcp_cmd",
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
