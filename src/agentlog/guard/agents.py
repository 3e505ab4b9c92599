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
    local_file: str | None = None  # the project's settings of this user only (not committed), relative to the root

    @property
    def scopes(self) -> tuple[str, ...]:
        return ("local", "project", "user") if self.local_file else ("project", "user")

    @property
    def default_scope(self) -> str:
        """Where `hooks install` writes unless told: the per-user file when the agent has one,
        so an absolute path to this machine's agentlog never lands in a committed file."""
        return self.scopes[0]

    def settings_path(self, scope: str, project: Path | None = None, home: Path | None = None,
                      toml: bool = False) -> Path:
        if toml and self.toml_file is None:
            raise ValueError(f"{self.name} keeps its hooks in {self.project_file} only, not in TOML")
        if scope not in self.scopes:
            raise ValueError(f"{self.name} has no {scope} settings file; use --project or --user")
        name = self.toml_file if toml else {"local": self.local_file, "project": self.project_file,
                                             "user": self.user_file}[scope]
        return (home or Path.home()) / name if scope == "user" else (project or Path.cwd()) / name

    def settings_paths(self, scope: str) -> list[Path]:
        """Every file of this scope where the agent reads hooks."""
        toml = [self.settings_path(scope, toml=True)] if self.toml_file and scope != "local" else []
        return [self.settings_path(scope), *toml]


AGENTS: dict[str, Agent] = {
    agent.name: agent for agent in (
        # https://code.claude.com/docs/en/hooks: settings.json `hooks` (project .claude/, user ~/.claude/),
        # and .claude/settings.local.json: the project's settings of one user, which git ignores
        Agent("claude-code", "CLAUDE_CODE", "claude-code", ".claude/settings.json", ".claude/settings.json",
              ("SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse", "PostToolUseFailure", "Stop",
               "SubagentStop", "PreCompact", "Notification", "SessionEnd"), "*",
              local_file=".claude/settings.local.json"),
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
