"""`agentlog mcp`: the answers of verdicts.py as MCP tools, on the official SDK's `MCPServer`.

Read only (every tool is annotated so, and nothing here writes to the log dir), stdio by
default; the Streamable HTTP transport binds 127.0.0.1 only. Each answer is JSON text of at
most 2 KB; a question about a session the log does not hold is an MCP tool error that says
what to pass instead.
"""

from __future__ import annotations

import threading
from typing import Any

import msgspec
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations

from .verdicts import NoSession, Telemetry

INSTRUCTIONS = (
    "agentlog records this coding session and runs a watchdog over it. Ask am_i_looping when "
    "you retry the same thing, seen_this_error with an error's text before debugging it, "
    "session_health for cost against the budget and time since progress, similar_failures for "
    "past sessions that failed on the same errors. The session is found from your working "
    "directory; pass session_id when several sessions share it."
)

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)


def build(telemetry: Telemetry) -> MCPServer:
    """An MCPServer whose tools answer from `telemetry`."""
    server = MCPServer("agentlog", instructions=INSTRUCTIONS, version=_version())

    def answer(ask, *args: Any, **kwargs: Any) -> str:
        try:
            return msgspec.json.encode(ask(*args, **kwargs)).decode()
        except NoSession as exc:
            raise ToolError(str(exc)) from None

    @server.tool(annotations=READ_ONLY, structured_output=False)
    def am_i_looping(session_id: str | None = None, cwd: str | None = None) -> str:
        """The watchdog's verdict on this session: `looping` is true while an alert of its
        detectors stands (tool or error loop, restarts, cost...), with the rule, how close each
        loop rule is to firing (count/threshold) and the recommended action."""
        return answer(telemetry.am_i_looping, session_id, cwd)

    @server.tool(annotations=READ_ONLY, structured_output=False)
    def seen_this_error(text: str, session_id: str | None = None, cwd: str | None = None) -> str:
        """An error's fingerprint, template and category; how often and in how many sessions
        it was seen; what the latest other sessions did next after it, and how they ended."""
        return answer(telemetry.seen_this_error, text, session_id, cwd)

    @server.tool(annotations=READ_ONLY, structured_output=False)
    def session_health(session_id: str | None = None, cwd: str | None = None) -> str:
        """This session's cost so far against the budget, seconds since its last event and
        since its last new tool call (progress), its errors and latest alerts."""
        return answer(telemetry.session_health, session_id, cwd)

    @server.tool(annotations=READ_ONLY, structured_output=False)
    def similar_failures(k: int = 3, session_id: str | None = None, cwd: str | None = None) -> str:
        """The k past sessions sharing the most error fingerprints with this one, with how
        they ended."""
        return answer(telemetry.similar_failures, k, session_id, cwd)

    return server


def serve(telemetry: Telemetry, transport: str = "stdio", port: int = 8765) -> None:
    """Run until the client goes away (stdio) or the process is stopped (HTTP, on 127.0.0.1)."""
    # the errors file is indexed while the client connects; only a question about errors waits for it
    threading.Thread(target=telemetry.warm, name="agentlog-mcp-warm", daemon=True).start()
    server = build(telemetry)
    if transport == "stdio":
        server.run("stdio")
    else:
        server.run("streamable-http", host="127.0.0.1", port=port)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("agentlog")
    except PackageNotFoundError:
        return "0"
