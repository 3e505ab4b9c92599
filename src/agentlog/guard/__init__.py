"""The guard: agents' own hooks (Claude Code, Codex) as live capture, and decisions from
the watchdog's detectors before the next tool call runs.

    agentlog hooks install claude-code      # install.py: edit the agent's settings file
    agentlog hook claude-code PreToolUse    # hook.py: what the installed hook runs

Nothing is imported here: `agentlog hook` runs before every tool call and pays for
every import (see hook.py for what it loads).
"""
