"""`agentlog planning`: what a task's failures say about how it was planned.

Root causes are the error categories of the task's attempts, named as in
`agentlog.intel.taxonomy` (what the detectors produce), so every rule below can fire.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .backlog import task_rows
from .report import Result, Table, dataset
from .source import Scope

# category -> the planning improvement it suggests
CATEGORY_INSIGHTS: dict[str, str] = {
    "dependency": "missing dependency setup: name the packages and the install command in the task",
    "auth": "missing environment instructions: say which credentials / API keys exist and how to load them",
    "context_window": "too big for one context window: split the task",
    "test": "missing test setup: say how to run the tests and what they need",
    "build": "missing build setup: give the build command and toolchain",
    "lint": "state the lint and format rules and the command that checks them",
    "git": "describe the repository state: branch, remote, whether the agent may push",
    "permission": "missing permissions: grant or document the file and directory access the task needs",
    "sandbox": "the sandbox blocks the work: allow the commands or hosts, or change the task",
    "network": "unreliable network: provide mirrors or caches, or allow the hosts",
    "rate_limit": "provider rate limits: stagger the runs or raise the quota",
    "service_unavailable": "provider outages: retry later; not a planning problem",
    "timeout": "attempts time out: raise the limit or split the task",
    "oom": "runs out of memory: give it more or shrink the workload",
    "model_error": "model errors: check the model choice and its tool support",
    "content_policy": "content policy refusals: reword the task",
}
TOO_MANY_FAILURES = 3
COMPLEX = "3+ failed attempts: the task is too complex or underspecified; split it or add acceptance criteria"
SWITCHING = "executors switched ({}): the task needs clearer requirements, not another agent"


def insights_for(categories: dict[str, int], failed_attempts: int, executors: list[str]) -> list[str]:
    """Planning improvements, most frequent root cause first; `unknown` suggests nothing."""
    ranked = sorted(categories.items(), key=lambda kv: (-kv[1], kv[0]))
    found = [CATEGORY_INSIGHTS[c] for c, _ in ranked if c in CATEGORY_INSIGHTS]
    if failed_attempts >= TOO_MANY_FAILURES:
        found.append(COMPLEX)
    if len(executors) > 1:
        found.append(SWITCHING.format(", ".join(executors)))
    return found


@dataclass
class Planning(Result):
    tasks: list[dict[str, Any]] = field(default_factory=list)

    def tables(self) -> list[Table]:
        columns = ["task_id", "task_title", "attempts", "failed_attempts", "solved", "categories", "insights"]
        return [Table("Planning insights", columns, self.tasks)]


def planning(source, scope: Scope = Scope(), failed_only: bool = False, limit: int | None = None) -> Planning:
    """Per task: root-cause categories across attempts and the improvements they suggest.

    `failed_only` keeps the tasks never solved that have at least one failed attempt.
    """
    data = dataset(source)
    rows = []
    for task in task_rows(data, scope):
        if failed_only and (task["solved"] or not task["failed_attempts"]):
            continue
        rows.append(
            {
                "task_id": task["task_id"],
                "task_title": task["task_title"],
                "attempts": task["attempts"],
                "failed_attempts": task["failed_attempts"],
                "solved": task["solved"],
                "categories": task["categories"],
                "insights": insights_for(task["categories"], task["failed_attempts"], task["executors"]),
            }
        )
    rows.sort(key=lambda t: (-t["failed_attempts"], -t["attempts"], t["task_id"]))
    return Planning(tasks=rows[:limit] if limit else rows, malformed=data.malformed)
