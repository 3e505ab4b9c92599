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
    toml_file: str | None = None  # a TOML file that may hold the same hooks, relative like the others

    def settings_path(self, scope: str, project: Path | None = None, home: Path | None = None,
                      toml: bool = False) -> Path:
        if toml and self.toml_file is None:
            raise ValueError(f"{self.name} keeps its hooks in {self.project_file} only, not in TOML")
        name = self.toml_file if toml else self.user_file if scope == "user" else self.project_file
        return (home or Path.home()) / name if scope == "user" else (project or Path.cwd()) / name

    def settings_paths(self, scope: str) -> list[Path]:
        """Every file of this scope where the agent reads hooks."""
        toml = [self.settings_path(scope, toml=True)] if self.toml_file else []
        return [self.settings_path(scope), *toml]


AGENTS: dict[str, Agent] = {
    agent.name: agent for agent in (
        # https://code.claude.com/docs/en/hooks: settings.json `hooks` (project .claude/, user ~/.claude/)
        Agent("claude-code", "CLAUDE_CODE", "claude-code", ".claude/settings.json", ".claude/settings.json",
              ("SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse", "PostToolUseFailure", "Stop",
               "SubagentStop", "PreCompact", "Notification", "SessionEnd"), "*"),
        # https://developers.openai.com/codex/hooks: hooks.json beside the config layer
        # (<repo>/.codex/hooks.json, ~/.codex/hooks.json), or inline [hooks] tables in that
        # layer's config.toml; both the same shape as Claude Code's
        Agent("codex", "CODEX", "codex", ".codex/hooks.json", ".codex/hooks.json",
              ("SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse", "Stop", "SubagentStop",
               "PreCompact"), None,  # Codex matchers are regexes: no matcher = every tool
              ".codex/config.toml"),
    )
}


def get(name: str) -> Agent:
    try:
        return AGENTS[name]
    except KeyError:
        raise KeyError(f"unknown agent {name!r}; known: {', '.join(sorted(AGENTS))}") from None
