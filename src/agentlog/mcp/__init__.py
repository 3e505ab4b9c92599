"""`agentlog mcp`: an agent asks the watchdog about its own session.

verdicts.py answers, from one session's engine (session_watch.py), the shared files'
indexes (indexes.py), other sessions' transcripts (past.py) and the caller found as the
hooks name it (caller.py); records.py decodes the lines, tail.py reads files on from where
the last call stopped, shape.py keeps answers within 2 KB; server.py serves the answers
over MCP.
"""
