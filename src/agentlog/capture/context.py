"""`context_sha256`: one hash of what shapes an agent before it reads the task, so a change
of it (someone edited AGENTS.md on Tuesday) splits runs into a natural A/B experiment
(`agentlog ab report context`) with no code.

What counts: the instruction files from the working directory up to the repository root
(CLAUDE.md, AGENTS.md, ...) and the user's own, the skills' names (project and user), the
project's MCP configuration, and the model.  Each file counts by its path and content; a
missing one counts as missing.  Hooks call this once per session, so it stays cheap: a few
stats and reads of small files (each capped).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

INSTRUCTION_FILES = (
    "CLAUDE.md",
    "CLAUDE.local.md",
    "AGENTS.md",
    "AGENTS.override.md",
    "GEMINI.md",
    ".claude/CLAUDE.md",
    ".github/copilot-instructions.md",
)
USER_FILES = (".claude/CLAUDE.md", ".codex/AGENTS.md", ".gemini/GEMINI.md")
MCP_FILES = (".mcp.json", ".cursor/mcp.json", ".vscode/mcp.json")
SKILL_DIRS = (".claude/skills", ".codex/skills")
MAX_BYTES = 1 << 20  # a larger "instruction file" counts by its first MiB


def _folders(cwd: Path) -> list[Path]:
    """The working directory and its parents up to the repository root (the first with .git)."""
    out = []
    for folder in (cwd, *cwd.parents):
        out.append(folder)
        if (folder / ".git").exists():
            break
    return out


def _file(path: Path) -> bytes:
    try:
        with open(path, "rb") as handle:
            return hashlib.sha256(handle.read(MAX_BYTES)).digest()
    except OSError:
        return b""


def _skills(folder: Path) -> list[str]:
    try:
        return sorted(entry.name for entry in os.scandir(folder) if not entry.name.startswith("."))
    except OSError:
        return []


def context_parts(cwd: str | Path, model: str | None, home: str | Path | None = None) -> list[tuple[str, str]]:
    """(what, digest or value) for each part that exists, in a fixed order."""
    cwd = Path(cwd)
    home = Path(home) if home is not None else Path.home()
    parts: list[tuple[str, str]] = []
    folders = _folders(cwd)
    root = folders[-1]
    for folder in folders:
        for name in INSTRUCTION_FILES:
            digest = _file(folder / name)
            if digest:
                parts.append((f"project:{folder.relative_to(root) / name}", digest.hex()))
    for name in USER_FILES:
        digest = _file(home / name)
        if digest:
            parts.append((f"user:{name}", digest.hex()))
    for name in MCP_FILES:
        digest = _file(root / name)
        if digest:
            parts.append((f"mcp:{name}", digest.hex()))
    for base, label in ((root, "project"), (home, "user")):
        for name in SKILL_DIRS:
            skills = _skills(base / name)
            if skills:
                parts.append((f"skills:{label}:{name}", ",".join(skills)))
    if model:
        parts.append(("model", model))
    return parts


def context_sha256(cwd: str | Path, model: str | None, home: str | Path | None = None) -> str:
    """The hash of `context_parts`: equal exactly when the agent started from the same context."""
    digest = hashlib.sha256()
    for what, value in context_parts(cwd, model, home):
        digest.update(f"{what}\0{value}\n".encode())
    return digest.hexdigest()
