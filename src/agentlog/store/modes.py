"""Who may read what agentlog writes: private by default, 0600 files in 0700 folders.

Logs, transcripts, reports, guard state, hook backups and archives hold prompts, tool
output and whatever secrets redaction did not recognise, so nobody else on the machine
reads them. A team that shares a log directory through a Unix group sets
`file_mode = "group"` (env AGENT_WORK_FILE_MODE): 0640 files in 0750 folders.

The mode is given to what agentlog creates (the umask can only narrow it further); files
and folders that exist already keep theirs. The policy is the process's: whoever loads
the settings calls `use()`; before that, the environment variable or `private` holds.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV = "AGENT_WORK_FILE_MODE"
POLICIES = {"private": (0o600, 0o700), "group": (0o640, 0o750)}  # policy: (file mode, folder mode)
_chosen: str | None = None


def use(policy: str) -> None:
    """Make `policy` (a key of POLICIES) the mode of every file and folder created from now on."""
    global _chosen
    if policy not in POLICIES:
        raise ValueError(f"file_mode must be one of {', '.join(POLICIES)}, not {policy!r}")
    _chosen = policy


def policy() -> str:
    if _chosen is not None:
        return _chosen
    from_env = os.environ.get(ENV, "").strip().lower()
    return from_env if from_env in POLICIES else "private"


def file_mode() -> int:
    return POLICIES[policy()][0]


def dir_mode() -> int:
    return POLICIES[policy()][1]


def make_dirs(path: Path | str) -> None:
    """`path` and any missing folder above it, each created with the folder mode (unlike
    `mkdir(parents=True)`, which gives the parents the umask's default)."""
    try:
        os.mkdir(path, dir_mode())
    except FileExistsError:
        if not os.path.isdir(path):
            raise
    except FileNotFoundError:
        parent = os.path.dirname(os.path.normpath(path))
        if not parent or parent == os.fspath(path):
            raise
        make_dirs(parent)
        make_dirs(path)


def create(path: Path | str, flags: int) -> int:
    """os.open with O_CREAT and the file mode (for an existing file, just os.open)."""
    return os.open(path, flags | os.O_CREAT, file_mode())
