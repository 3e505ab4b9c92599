"""What an agent module builds on: the importer machinery (re-exported from
capture/importers/base.py, so a module imports all it needs from `.base`), and the two
optional parts an agent may have besides its importer: `Hooks` (where its hook settings
live, which hook events exist) and `Telemetry` (its OTLP log events and metrics).

    # agents/my_agent.py
    from .base import Importer, Mapper, Hooks, Telemetry
    class MyAgentImporter(Importer):
        name = "my-agent"        # defining `name` registers the agent
        executor = "MY_AGENT"
        default_path = "~/.my-agent/sessions"
        ...
    HOOKS = Hooks(...)           # optional: `agentlog hooks install my-agent`
    TELEMETRY = Telemetry(...)   # optional: `agentlog otel serve` maps its events
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, NamedTuple

from ..capture.importers.base import (
    CLAUDE_CODE,
    CODEX,
    HEAD_BYTES,
    IMPORTERS,
    SWE_AGENT,
    Context,
    Importer,
    ImportStats,
    Mapper,
    clip,
    decode_record,
    first_line,
    records_in,
    safe_feed,
    source_digest,
    stable_id,
)

__all__ = [
    "CLAUDE_CODE",
    "CLAUDE_CODE_EVENTS",
    "CODEX",
    "HEAD_BYTES",
    "IMPORTERS",
    "SWE_AGENT",
    "TOOL_EVENTS",
    "Context",
    "Hooks",
    "Importer",
    "ImportStats",
    "Attr",
    "Mapped",
    "Mapper",
    "Telemetry",
    "TelemetryHandler",
    "attr",
    "clip",
    "decode_record",
    "first_line",
    "records_in",
    "safe_feed",
    "source_digest",
    "stable_id",
]

# Claude Code's hook events agentlog installs; agents that took Claude Code's names take these or some.
CLAUDE_CODE_EVENTS = (
    "SessionStart",
    "UserPromptSubmit",
    "PreToolUse",
    "PostToolUse",
    "PostToolUseFailure",
    "Stop",
    "SubagentStop",
    "PreCompact",
    "Notification",
    "SessionEnd",
)
# Events that take a tool matcher ("*" = every tool); the others take none.
TOOL_EVENTS = frozenset({"PreToolUse", "PostToolUse", "PostToolUseFailure"})


# (Claude Code event, payload) -> the payload with Claude Code's fields; None: not one agentlog records
PayloadAdapter = Callable[[str, dict[str, Any]], dict[str, Any] | None]
# (Claude Code event, guard.policies.Decision) -> what the hook prints (None: nothing)
AnswerWriter = Callable[[str, Any], dict[str, Any] | None]
# payload -> the attempt id the agent's importer gives the payload's transcript (None: the session id)
AttemptOf = Callable[[dict[str, Any]], str | None]


class Hooks(NamedTuple):
    """Where an agent reads hooks, which of its hook events agentlog installs, and how its
    hook wire format differs from Claude Code's (JSON on stdin; `hookSpecificOutput` with
    `permissionDecision` on stdout for PreToolUse, `decision: "block"` for Stop), which is
    the one the guard speaks: `native` names the Claude Code event each of the agent's
    events is, `adapt` reshapes its payload, `render` writes the guard's answer its way."""

    project_file: str  # settings file relative to the project root
    user_file: str  # settings file relative to the home directory
    events: tuple[str, ...]  # hook events agentlog installs (the agent's own names)
    tool_matcher: str | None  # matcher that selects every tool (None: leave the matcher out)
    toml_file: str | None = None  # a TOML file that may hold the same hooks, relative like the others
    local_file: str | None = None  # the project's settings of this user only (not committed), relative to the root
    native: dict[str, str] = {}  # the agent's event name -> the Claude Code event it is (absent: the same name)
    flat: bool = False  # an event lists its handlers directly, not in {matcher, hooks: [...]} groups
    command_key: str = "command"  # the handler's field holding the shell command
    timeout_key: str = "timeout"  # the handler's field holding its time limit
    timeout_unit: int = 1  # units of that limit per second (1000: milliseconds)
    skeleton: dict[str, Any] = {}  # what a settings file agentlog creates starts with ({"version": 1})
    adapt: PayloadAdapter | None = None  # the agent's payload as Claude Code's
    render: AnswerWriter | None = None  # the guard's decision as the agent's answer (None: Claude Code's)
    attempt_id: AttemptOf | None = None  # the payload's attempt, when it is not the session id
    # what the hook prints when it decides nothing or fails open: "" (print nothing) unless the
    # agent reads no answer as a refusal (Cursor), then its explicit "go on"
    fail_open: str = ""

    def canonical(self, event: str) -> str:
        """The Claude Code event that the agent's `event` is."""
        return self.native.get(event, event)

    @property
    def scopes(self) -> tuple[str, ...]:
        return ("local", "project", "user") if self.local_file else ("project", "user")

    @property
    def default_scope(self) -> str:
        """Where `hooks install` writes unless told: the per-user file when the agent has one,
        so an absolute path to this machine's agentlog never lands in a committed file."""
        return self.scopes[0]

    def settings_path(
        self, scope: str, project: Path | None = None, home: Path | None = None, toml: bool = False
    ) -> Path:
        """The settings file of `scope`; ValueError (said of the agent) when it has none."""
        if toml and self.toml_file is None:
            raise ValueError(f"keeps its hooks in {self.project_file} only, not in TOML")
        if scope not in self.scopes:
            raise ValueError(f"has no {scope} settings file; use --project or --user")
        name = (
            self.toml_file
            if toml
            else {"local": self.local_file, "project": self.project_file, "user": self.user_file}[scope]
        )
        return (home or Path.home()) / name if scope == "user" else (project or Path.cwd()) / name

    def settings_paths(self, scope: str) -> list[Path]:
        """Every file of this scope where the agent reads hooks."""
        toml = [self.settings_path(scope, toml=True)] if self.toml_file and scope != "local" else []
        return [self.settings_path(scope), *toml]


# (mapper, attributes, session id, ISO time, executor) -> events; the mapper is otel's TelemetryMapper
TelemetryHandler = Callable[[Any, dict[str, Any], str, str, str], list[dict[str, Any]]]


class Attr(NamedTuple):
    """Where an event field comes from: the first of `keys` the record sets (a truthy value), as `kind`."""

    keys: tuple[str, ...]
    kind: str = "any"  # "any" (as sent) | "int" | "float" (otlp_values.as_int / as_float)


class Mapped(NamedTuple):
    """A telemetry event mapped as data, natively (native/src/otlp/): one of the receiver's
    shapes, and which attributes its fields come from. `model` (default: the `model`
    attribute) is every shape's; the other fields by shape:

    - "prompt": session_start (the session's first) or followup_sent; `prompt`, `prompt_length`
    - "tool": tool_call, tool_result, and error when it failed; `name`, `params`, `call_id`,
      `success`, `output`, `duration_ms`, `error`
    - "usage": a usage event whose data is every field (priced when it has no `cost_usd`)
    - "error": an error event; `message` (cut to 1000 characters; `default` when unset), then
      every other field as data
    """

    shape: str
    fields: dict[str, Attr] = {}
    default: str = ""


def attr(*keys: str, kind: str = "any") -> Attr:
    return Attr(keys, kind)


class Telemetry(NamedTuple):
    """An agent's OpenTelemetry log events and metrics, as the OTLP receiver maps them."""

    prefix: str  # event names come as `<prefix>.<event>` (or bare, from one of `services`)
    services: tuple[str, ...]  # resource `service.name`s of this agent
    # bare event name -> its mapping as data (the fast path), or a handler (Python: the slow path)
    handlers: dict[str, Mapped | TelemetryHandler]
    metrics: dict[str, str] = {}  # metric name -> "tokens" | "cost"
