"""Give recorded attempts what an orchestrator knew about them: `agentlog enrich --vibe-kanban`.

Vibe Kanban ran Claude Code, Codex and others in workspaces; its store says which task
each run served, on which branch, with which executor variant, and how it ended (PR
merged, else the last coding process's status). An attempt in the log resolves to a
workspace by

- the agent's own session id (`coding_agent_turns.agent_session_id`): the attempt of an
  imported Claude Code or Codex transcript, whose events carry that session id;
- its attempt id: `ve-<4 hex>-<slug>` (the workspace's branch `ve/<4 hex>-<slug>` with
  `/` made `-`, as the original system named attempts) or the bare workspace UUID.

Each resolved attempt gains one `status_change` event (status `enriched`) whose envelope
carries task id and title, branch and executor variant and whose data holds the outcome.
The log is append-only, so what changed since the last enrichment (a PR merged later) is
a new event; enriching again with nothing new adds nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..recorder import Recorder
from ..store.reader import read_kind
from ..capture.importers.base import stable_id
from ..capture.sqlite_readonly import open_readonly
from .vibe_kanban import Workspace, load

REASON = "vibe-kanban"


@dataclass
class EnrichResult:
    attempts: int = 0  # attempts in the log
    resolved: dict[str, str] = field(default_factory=dict)  # attempt -> workspace
    written: int = 0

    def summary(self) -> str:
        return f"{self.attempts} attempts, {len(self.resolved)} matched a workspace, {self.written} enriched now"


def workspace_index(store: Path) -> dict[str, Workspace]:
    """Workspaces by every name an attempt may have for them."""
    with open_readonly(store) as db:
        spaces = load(db)
    index: dict[str, Workspace] = {}
    for space in spaces:
        index[space.id] = index[space.attempt_id] = space
        if space.branch:
            index[space.branch.replace("/", "-")] = space
        for process in space.processes:
            for turn in process.turns:
                if turn.get("agent_session_id"):
                    index.setdefault(str(turn["agent_session_id"]), space)
    return index


def enrich_vibe_kanban(recorder: Recorder, store: Path) -> EnrichResult:
    index = workspace_index(store)
    result = EnrichResult()
    attempts: dict[str, dict[str, Any]] = {}
    done: set[str] = set()
    for event in read_kind(recorder.log_dir, "stream"):
        attempt = event.get("attempt_id")
        if not attempt:
            continue
        seen = attempts.setdefault(attempt, {"names": {attempt, attempt.lower()}, "last": None, "executor": None})
        if event.get("session_id"):
            seen["names"].add(str(event["session_id"]))
        seen["last"] = event.get("timestamp") or seen["last"]
        seen["executor"] = seen["executor"] or event.get("executor")
        if (event.get("data") or {}).get("reason") == REASON and event.get("event_id"):
            done.add(event["event_id"])
    result.attempts = len(attempts)
    events = []
    for attempt, seen in attempts.items():
        space = next((index[name] for name in sorted(seen["names"]) if name in index), None)
        if space is None:
            continue
        result.resolved[attempt] = space.id
        event = _enrichment(attempt, seen, space)
        if event["event_id"] not in done:
            events.append(event)
    result.written = len(recorder.record_many(events))
    return result


def _enrichment(attempt: str, seen: dict[str, Any], space: Workspace) -> dict[str, Any]:
    envelope = {
        "task_id": space.task_id,
        "task_title": space.task_title,
        "branch": space.branch,
        "executor_variant": space.variant,
        "executor": seen["executor"],
    }
    data = {
        "status": "enriched",
        "reason": REASON,
        "workspace_id": space.id,
        "outcome": space.outcome(),
        "completion_status": space.completion_status() if not space.running() else None,
    }
    envelope = {k: v for k, v in envelope.items() if v is not None}
    data = {k: v for k, v in data.items() if v is not None}
    # the same knowledge gives the same id: enriching again adds nothing until something changed
    key = json.dumps([envelope, data], sort_keys=True)
    event = {
        "attempt_id": attempt,
        "event_type": "status_change",
        **envelope,
        "data": data,
        "event_id": stable_id(REASON, attempt, key),
    }
    if seen["last"]:  # the attempt's own last time: the enrichment is no new activity of the agent
        event.update(timestamp=seen["last"], timestamp_quality="approximate")
    return event
