"""Install agentlog's hooks into an agent's own settings file, and take them out again.

    install(agent, path)        # .claude/settings.json, .codex/hooks.json or .codex/config.toml
    uninstall(agent, path), status(agent, path)

Every hook the user already has is kept: agentlog adds one matcher group per event
with one command, `<bin>/agentlog-hook <agent> <Event>` (the native client, hook-client/)
when it is installed beside this interpreter, `<agentlog> hook <agent> <Event>` otherwise,
and adds nothing that is already there, so installing twice changes nothing (installing
with the other client rewrites agentlog's commands in place). Before the first change the file's exact
bytes are saved in a manifest under agentlog's state directory
(`$XDG_STATE_HOME/agentlog/hooks/`); uninstalling restores them byte for byte when the
file is still as agentlog left it, and otherwise removes only agentlog's entries.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..store.atomic import replace_file
from ..agents import Agent
from ..agents.base import TOOL_EVENTS

HOOK_TIMEOUT_S = 10  # the agent's own limit per call; ours (timeout_ms) is far below it
NATIVE = "agentlog-hook"  # the native client's executable (hook-client/)
CLIENTS = ("auto", "native", "python")


class InstallError(RuntimeError):
    """The settings file cannot be read as the agent's settings (not JSON, not an object...)."""


@dataclass
class Change:
    path: Path
    action: str  # installed | unchanged | restored | removed | not_installed
    events: list[str] = field(default_factory=list)  # events added or removed
    before: bytes | None = None
    after: bytes | None = None
    note: str = ""


def default_command() -> str:
    """`agentlog` as the agent's shell will find it: the script beside this interpreter."""
    script = Path(sys.executable).with_name("agentlog")
    return shlex.quote(str(script)) if script.exists() else "agentlog"


def native_client() -> Path | None:
    """The native client installed beside this interpreter (None: it is not)."""
    path = Path(sys.executable).with_name(NATIVE)
    return path if path.is_file() and os.access(path, os.X_OK) else None


def hook_base(client: str = "auto", command: str | None = None) -> tuple[str, bool]:
    """What the installed commands start with, and whether that is the native client:
    `command` (how the agent runs agentlog) as given, else the native client when it is
    installed (`auto`, `native`), else the `agentlog` script."""
    if client not in CLIENTS:
        raise ValueError(f"client must be one of {', '.join(CLIENTS)}, not {client!r}")
    if command:
        return command, False
    native = native_client() if client != "python" else None
    if native is not None:
        return shlex.quote(str(native)), True
    if client == "native":
        raise InstallError(
            f"the native hook client is not installed beside {sys.executable} "
            "(scripts/setup installs it: pip install ./hook-client)"
        )
    return default_command(), False


def hook_command(base: str, agent: Agent, event: str, native: bool = False) -> str:
    """`base` running the hook of `event`; with the agent's fail-open reply, which the native
    client prints itself when no answer comes (it cannot look the agent up)."""
    command = f"{base} {agent.name} {event}" if native else f"{base} hook {agent.name} {event}"
    fail_open = agent.hooks.fail_open  # Cursor's explicit "go on"; empty for the others
    return f"{command} --fail-open {shlex.quote(fail_open)}" if fail_open else command


def state_home(environ: dict[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    root = environ.get("XDG_STATE_HOME") or str(Path(environ.get("HOME") or Path.home()) / ".local" / "state")
    return Path(root) / "agentlog" / "hooks"


def manifest_path(settings_file: Path, home: Path) -> Path:
    digest = hashlib.sha256(str(settings_file.resolve()).encode()).hexdigest()[:16]
    return home / f"{settings_file.parent.parent.name or 'root'}-{digest}.json"


# -- install ----------------------------------------------------------------------------------


def install(
    agent: Agent,
    path: Path,
    *,
    command: str | None = None,
    client: str = "auto",
    dry_run: bool = False,
    manifests: Path | None = None,
) -> Change:
    base, native = hook_base(client, command)
    spec = agent.hooks
    before = _read(path)
    settings = _parse(path, before)
    if not settings and spec.skeleton:
        settings.update(spec.skeleton)
    hooks = settings.setdefault("hooks", {})
    if not isinstance(hooks, dict):
        raise InstallError(f"{path}: `hooks` is a {type(hooks).__name__}, expected an object")
    added = []
    for event in spec.events:
        command_line = hook_command(base, agent, event, native)
        groups = hooks.get(event, [])
        if not isinstance(groups, list):
            raise InstallError(f"{path}: hooks.{event} is a {type(groups).__name__}, expected a list")
        ours = [h for h in _handlers(groups, spec) if is_ours(h, agent)]
        if any(h.get(spec.command_key) == command_line for h in ours):
            continue
        if ours:  # installed with the other client or another agentlog: one command, the new one
            for handler in ours:
                handler[spec.command_key] = command_line
        elif event in hooks:
            groups.append(_entry(spec, event, command_line))
        else:  # assigned, not appended to a new list: TOML turns it into [[hooks.Event]] tables
            hooks[event] = [_entry(spec, event, command_line)]
        added.append(event)
    if not added:
        return Change(path, "unchanged", [], before, before)
    after = _dump(path, settings)
    if not dry_run:
        manifests = manifests or state_home()
        _remember(path, before, after, base, manifests)
        _write(path, after)
    return Change(path, "installed", added, before, after)


def _entry(spec: Any, event: str, command_line: str) -> dict[str, Any]:
    """What one event's list gets: agentlog's handler, in a matcher group unless the agent
    lists handlers directly."""
    handler = {"type": "command", spec.command_key: command_line, spec.timeout_key: HOOK_TIMEOUT_S * spec.timeout_unit}
    if spec.flat:
        return handler
    group: dict[str, Any] = {}
    if spec.canonical(event) in TOOL_EVENTS and spec.tool_matcher is not None:
        group["matcher"] = spec.tool_matcher
    group["hooks"] = [handler]
    return group


def _remember(path: Path, before: bytes | None, after: bytes, base: str, manifests: Path) -> None:
    """Save the original bytes once (the first install); later installs only update the hash."""
    file = manifest_path(path, manifests)
    manifest = _load_manifest(file) or {
        "path": str(path.resolve()),
        "existed": before is not None,
        "original": before.decode("utf-8", "surrogateescape") if before else None,
    }
    manifest.update(installed_sha256=hashlib.sha256(after).hexdigest(), command=base)
    replace_file(file, json.dumps(manifest, ensure_ascii=False).encode("utf-8", "surrogateescape"))


# -- uninstall --------------------------------------------------------------------------------


def uninstall(agent: Agent, path: Path, *, dry_run: bool = False, manifests: Path | None = None) -> Change:
    manifests = manifests or state_home()
    file = manifest_path(path, manifests)
    manifest = _load_manifest(file)
    before = _read(path)
    if manifest and before is not None and hashlib.sha256(before).hexdigest() == manifest.get("installed_sha256"):
        original = manifest["original"].encode("utf-8", "surrogateescape") if manifest.get("existed") else None
        if not dry_run:
            if original is None:
                path.unlink()
            else:
                _write(path, original)
            file.unlink(missing_ok=True)
        return Change(
            path, "restored", list(agent.hooks.events), before, original, "restored the original file exactly"
        )
    if before is None:
        return Change(path, "not_installed", [], None, None)
    settings = _parse(path, before)
    removed = _remove_ours(agent, settings)
    if not removed:
        return Change(path, "not_installed", [], before, before)
    after = _dump(path, settings)
    if not dry_run:
        _write(path, after)
        file.unlink(missing_ok=True)
    return Change(
        path,
        "removed",
        removed,
        before,
        after,
        "the file was edited since install: removed agentlog's entries, kept the rest",
    )


def _remove_ours(agent: Agent, settings: dict[str, Any]) -> list[str]:
    hooks = settings.get("hooks")
    if not isinstance(hooks, dict):
        return []
    removed = []
    for event, groups in list(hooks.items()):
        if not isinstance(groups, list):
            continue
        kept, changed = _others(groups, agent)
        if changed:
            removed.append(event)
        if kept:
            hooks[event] = kept
        else:
            del hooks[event]
    if not hooks:
        del settings["hooks"]
    return removed


def _others(groups: list[Any], agent: Agent) -> tuple[list[Any], bool]:
    """One event's list without agentlog's handlers (a group left empty goes too), and
    whether anything was taken out."""
    if agent.hooks.flat:
        kept = [h for h in groups if not is_ours(h, agent)]
        return kept, len(kept) != len(groups)
    kept_groups, changed = [], False
    for group in groups:
        handlers = group.get("hooks") if isinstance(group, dict) else None
        if not isinstance(handlers, list):
            kept_groups.append(group)
            continue
        kept = [h for h in handlers if not is_ours(h, agent)]
        changed = changed or len(kept) != len(handlers)
        if kept:
            kept_groups.append({**group, "hooks": kept})
    return kept_groups, changed


# -- status ---------------------------------------------------------------------------------------


def is_ours(handler: Any, agent: Agent) -> bool:
    """A handler that runs `agentlog hook <this agent> ...` or `agentlog-hook <this agent> ...`
    (whatever the path to agentlog)."""
    return _client_of(handler, agent) is not None


def _client_of(handler: Any, agent: Agent) -> str | None:
    """Which client one of our handlers runs (`native`, `python`); None: not ours."""
    key = agent.hooks.command_key
    if not isinstance(handler, dict) or not isinstance(handler.get(key), str):
        return None
    try:
        words = shlex.split(handler[key])
    except ValueError:
        return None
    for i, word in enumerate(words[:-1]):
        name = os.path.basename(word)
        if name == NATIVE and words[i + 1] == agent.name:
            return "native"
        if name in ("agentlog", "agentlog.exe") and words[i + 1 : i + 3] == ["hook", agent.name]:
            return "python"
    return None


def status(agent: Agent, path: Path) -> dict[str, Any]:
    """What agentlog installed in one settings file: events present and missing."""
    raw = _read(path)
    if raw is None:
        return {"path": str(path), "exists": False, "installed": [], "missing": list(agent.hooks.events)}
    try:
        settings = _parse(path, raw)
    except InstallError as exc:
        return {
            "path": str(path),
            "exists": True,
            "installed": [],
            "missing": list(agent.hooks.events),
            "problem": str(exc),
        }
    hooks = settings.get("hooks") if isinstance(settings.get("hooks"), dict) else {}
    clients = {
        e: {_client_of(h, agent) for h in _handlers(hooks[e], agent.hooks)} - {None}
        for e in agent.hooks.events
        if isinstance(hooks.get(e), list)
    }
    installed = [e for e in agent.hooks.events if clients.get(e)]
    others = sum(
        1
        for groups in hooks.values()
        if isinstance(groups, list)
        for h in _handlers(groups, agent.hooks)
        if not is_ours(h, agent)
    )
    return {
        "path": str(path),
        "exists": True,
        "installed": installed,
        "missing": [e for e in agent.hooks.events if e not in installed],
        "other_hooks": others,
        "clients": sorted(set().union(*clients.values())),  # native, python: which the commands run
    }


# -- the file ---------------------------------------------------------------------------------


def _handlers(groups: list[Any], spec: Any) -> list[dict[str, Any]]:
    """The handlers of one event's list: its entries (flat), or those of its matcher groups."""
    if spec.flat:
        return [h for h in groups if isinstance(h, dict)]
    return [
        h
        for g in groups
        if isinstance(g, dict) and isinstance(g.get("hooks"), list)
        for h in g["hooks"]
        if isinstance(h, dict)
    ]


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _parse(path: Path, raw: bytes | None) -> dict[str, Any]:
    """The settings as a dict: JSON, or (Codex's config.toml) a tomlkit document, which
    keeps the user's comments and layout when written back."""
    if path.suffix == ".toml":
        import tomlkit

        try:
            return tomlkit.parse((raw or b"").decode("utf-8-sig"))
        except (UnicodeDecodeError, tomlkit.exceptions.TOMLKitError) as exc:
            raise InstallError(f"{path} is not valid TOML ({exc}); fix it or move it away first") from None
    if raw is None or not raw.strip():
        return {}
    try:
        value = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InstallError(f"{path} is not valid JSON ({exc}); fix it or move it away first") from None
    if not isinstance(value, dict):
        raise InstallError(f"{path} holds a JSON {type(value).__name__}, expected an object")
    return value


def _dump(path: Path, settings: dict[str, Any]) -> bytes:
    if path.suffix == ".toml":
        import tomlkit

        return tomlkit.dumps(settings).encode()
    return (json.dumps(settings, indent=2, ensure_ascii=False) + "\n").encode()


def _write(path: Path, data: bytes) -> None:
    """Settings may hold keys: the file keeps its mode and is never readable by others on the way."""
    replace_file(path, data, mode=path.stat().st_mode & 0o7777 if path.exists() else 0o600)


def _load_manifest(file: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(file.read_text(encoding="utf-8", errors="surrogateescape"))
    except (FileNotFoundError, ValueError):
        return None
    return value if isinstance(value, dict) else None


# -- the MCP server (`agentlog mcp`) ---------------------------------------------------------

MCP_NAME = "agentlog"


def mcp_file(agent: Agent, scope: str, project: Path | None = None, home: Path | None = None) -> tuple[Path, list[str]]:
    """Where the agent reads its MCP servers for `scope`, and the keys down to their table.
    Claude Code: the project's shared `.mcp.json`, or `~/.claude.json` (the user's servers;
    under `projects.<dir>` for this project only, as `claude mcp add` stores it); Codex: the
    `[mcp_servers]` of its config.toml."""
    project, home = (project or Path.cwd()).resolve(), home or Path.home()
    if agent.name == "claude-code":
        if scope == "project":
            return project / ".mcp.json", ["mcpServers"]
        if scope == "local":
            return home / ".claude.json", ["projects", str(project), "mcpServers"]
        return home / ".claude.json", ["mcpServers"]
    return agent.hooks.settings_path(scope, project, home, toml=True), ["mcp_servers"]


def mcp_entry(agent: Agent, command: str | None = None) -> dict[str, Any]:
    """How the agent starts `agentlog mcp` (stdio)."""
    if command:
        program, *args = shlex.split(command)
    else:
        script = Path(sys.executable).with_name("agentlog")
        program, args = (str(script) if script.exists() else "agentlog"), []
    entry = {"command": program, "args": [*args, "mcp"]}
    return {"type": "stdio", **entry} if agent.name == "claude-code" else entry


def install_mcp(
    agent: Agent, path: Path, keys: list[str], *, command: str | None = None, dry_run: bool = False
) -> Change:
    """Register agentlog's MCP server in `path` under `keys`, keeping every other server."""
    before = _read(path)
    settings = _parse(path, before)
    table = settings
    for key in keys:
        table = table.setdefault(key, {})
        if not isinstance(table, dict):
            raise InstallError(f"{path}: `{key}` is a {type(table).__name__}, expected an object")
    entry = mcp_entry(agent, command)
    if table.get(MCP_NAME) == entry:
        return Change(path, "unchanged", [], before, before)
    table[MCP_NAME] = entry
    after = _dump(path, settings)
    if not dry_run:
        _write(path, after)
    return Change(path, "installed", ["mcp"], before, after)


def uninstall_mcp(path: Path, keys: list[str], *, dry_run: bool = False) -> Change:
    """Take agentlog's MCP server out of `path` (only that entry)."""
    before = _read(path)
    if before is None:
        return Change(path, "not_installed", [], None, None)
    settings = _parse(path, before)
    table: Any = settings
    for key in keys:
        table = table.get(key) if isinstance(table, dict) else None
    if not isinstance(table, dict) or MCP_NAME not in table:
        return Change(path, "not_installed", [], before, before)
    del table[MCP_NAME]
    after = _dump(path, settings)
    if not dry_run:
        _write(path, after)
    return Change(path, "removed", ["mcp"], before, after)
