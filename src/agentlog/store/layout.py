"""Where things live under the log dir — the original system's layout, kept byte-compatible."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

STREAM = "agent-work-stream.jsonl"
ERRORS = "agent-errors.jsonl"
METRICS = "agent-metrics.jsonl"
ALERTS = "agent-alerts.jsonl"
SESSIONS = "agent-sessions"
ARCHIVE = "archive"
STATE = "state"  # agentlog's own checkpoints, outboxes and heartbeats

KINDS = {"stream": STREAM, "errors": ERRORS, "metrics": METRICS, "alerts": ALERTS}

# A safe name is all lower case (so no two ids collide on a case-insensitive disk),
# starts with a letter or digit (no `..`, no hidden files) and is not too long.
_SAFE = re.compile(r"[a-z0-9][a-z0-9._-]{0,119}")
_UNSAFE_CHARS = re.compile(r"[^a-z0-9._-]+")
_RESERVED = frozenset(["con", "prn", "aux", "nul"] + [f"com{i}" for i in range(10)] + [f"lpt{i}" for i in range(10)])


def session_file_name(attempt_id: str) -> str:
    """The transcript file name for an attempt; never escapes `agent-sessions/`.

    Safe ids keep their name (what the original wrote). Anything else — `../x`,
    absolute paths, NUL bytes, upper case, reserved device names, very long ids —
    becomes a readable prefix plus `~` and a hash of the full id: `~` never occurs in
    a safe name, so a hashed name cannot collide with a safe one.
    """
    stem = attempt_id.split(".")[0]
    if _SAFE.fullmatch(attempt_id) and stem not in _RESERVED and not attempt_id.endswith("."):
        return f"{attempt_id}.jsonl"
    digest = hashlib.sha256(attempt_id.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    prefix = _UNSAFE_CHARS.sub("_", attempt_id.lower()).strip("._-")[:60]
    return f"{prefix}~{digest}.jsonl"


def session_path(log_dir: Path, attempt_id: str) -> Path:
    return log_dir / SESSIONS / session_file_name(attempt_id)
