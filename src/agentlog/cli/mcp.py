"""`agentlog mcp`: the watchdog's live verdicts for the agent itself, as an MCP server."""

from __future__ import annotations

import click

from .common import settings_options


@click.command("mcp")
@click.option(
    "--http",
    "http_port",
    type=int,
    metavar="PORT",
    help="Serve Streamable HTTP on 127.0.0.1:PORT instead of stdio (nothing binds beyond localhost).",
)
@settings_options
def mcp_cmd(settings, http_port: int | None) -> None:
    """Serve am_i_looping, seen_this_error, session_health and similar_failures over MCP.

    Read only. The verdicts are the watchdog's (same detectors, same [watch] settings) on
    the calling session, found from the agent's working directory (or the tools'
    session_id argument, or $AGENTLOG_SESSION_ID). Register it with Claude Code:

        claude mcp add agentlog -- agentlog mcp
    """
    from ..mcp.server import serve
    from ..mcp.verdicts import Telemetry
    from ..watch.config import WatchConfig

    budget = settings.section("guard").get("spend_cap_usd") or None
    telemetry = Telemetry(settings.log_path, WatchConfig.from_settings(settings), budget_usd=budget)
    serve(telemetry, "http" if http_port else "stdio", port=http_port or 0)
