"""The agents whose hooks agentlog installs, one entry each: where their settings live,
which hook events exist, which importer reads their transcripts.

Claude Code and Codex share one hook wire format (JSON on stdin; `hookSpecificOutput`
with `permissionDecision` on stdout for PreToolUse, `decision: "block"` for Stop), so
an agent here is data, not code. Adding an agent with the same format = adding an entry.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

# Events that take a tool matcher ("*" = every tool); the others take none.
TOOL_EVENTS = frozenset({"PreToolUse", "PostToolUse", "PostToolUseFailure"})


class Agent(NamedTuple):
    name: str  # as typed on the command line
    executor: str  # the stream's `executor`
    importer: str  # capture/importers name: reads the transcript for usage
    project_file: str  # settings file relative to the project root
    user_file: str  # settings file relative to the home directory
    events: tuple[str, ...]  # hook events agentlog installs
    tool_matcher: str | None  # matcher that selects every tool (None: leave the matcher out)

    def settings_path(self, scope: str, project: Path | None = None, home: Path | None = None) -> Path:
        if scope == "user":
            return (home or Path.home()) / self.user_file
        return (project or Path.cwd()) / self.project_file


AGENTS: dict[str, Agent] = {
    agent.name: agent for agent in (
        # https://code.claude.com/docs/en/hooks: settings.json `hooks` (project .claude/, user ~/.claude/)
        Agent("claude-code", "CLAUDE_CODE", "claude-code", ".claude/settings.json", ".claude/settings.json",
              ("SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse", "PostToolUseFailure", "Stop",
               "SubagentStop", "PreCompact", "Notification", "SessionEnd"), "*"),
        # https://developers.openai.com/codex/hooks: hooks.json beside the config layer
        # (<repo>/.codex/hooks.json, ~/.codex/hooks.json); same shape as Claude Code's
        Agent("codex", "CODEX", "codex", ".codex/hooks.json", ".codex/hooks.json",
              ("SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse", "Stop", "SubagentStop",
               "PreCompact"), None),  # Codex matchers are regexes: no matcher = every tool
    )
}


def get(name: str) -> Agent:
    try:
        return AGENTS[name]
    except KeyError:
        raise KeyError(f"unknown agent {name!r}; known: {', '.join(sorted(AGENTS))}") from None
