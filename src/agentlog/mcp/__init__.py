"""`agentlog mcp`: an agent asks the watchdog about its own session (verdicts.py answers,
server.py serves the answers over MCP)."""
