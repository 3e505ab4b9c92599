"""Guard policies: a hook call's decision, read from the watchdog detectors' state.

No policy counts anything itself. The hook feeds the session's new events to the
watchdog's own `Engine` (its detectors, their per-attempt state) and a policy reads what
the detectors found or hold:

- repeat: the `tool_loop` detector's repetition rule fired on this very tool call;
- error_loop: the `error_loop` detector fired on an error since the last tool call;
- spend: the running session cost the `cost_anomaly` detector keeps;
- stop_nudge: the session stops while an error loop is unresolved (no successful tool
  result since the loop was found).

One module, one small protocol, registered by `@register`; each policy's action
(off|warn|ask|deny) comes from `[guard]` (see config.py).
"""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple, Protocol

from .config import GuardConfig


class Decision(NamedTuple):
    policy: str
    action: str  # warn | ask | deny
    reason: str  # what the model (deny) or the user (ask, warn) reads
    severity: str
    recommendation: str
    subject: str  # distinguishes two decisions of one policy in one session
    evidence: dict[str, Any]


class View(NamedTuple):
    """What a policy may look at during one hook call."""

    hook_event: str
    payload: dict[str, Any]
    findings: list[tuple[Any, Any]]  # (Alert, WatchEvent) the detectors raised on this call's new events
    call_event_id: str | None  # the tool_call this PreToolUse recorded
    attempt: Any  # the engine's Attempt for this session (detector slots), or None
    memory: dict[str, Any]  # the policies' own notes, kept in the session state
    config: GuardConfig


class Policy(Protocol):
    name: ClassVar[str]
    hook_events: ClassVar[frozenset[str]]

    def decide(self, view: View) -> Decision | None: ...


POLICIES: list[Policy] = []


def register(cls: type) -> type:
    POLICIES.append(cls())
    return cls


def observe(memory: dict[str, Any], event: Any, alerts: list[Any] | None) -> None:
    """Keep what later calls need, event by event: an error loop the detector found stays
    open until a tool call succeeds after it (or a new session starts)."""
    kind = event.event_type
    if kind == "session_start" or (kind == "tool_result" and event.data is not None and event.data.result == "success"):
        memory.pop("loop", None)
    for alert in alerts or ():
        if alert.type == "error_loop":
            message = event.data.error_message if event.data is not None else None
            memory["loop"] = {
                "fp": alert.error_fingerprint,
                "occurrences": alert.occurrences,
                "category": alert.error_category,
                "window_ms": alert.window_ms,
                "message": message[:500] if isinstance(message, str) else None,
            }


def decide(view: View) -> Decision | None:
    """The strictest decision of the policies that apply to this hook event."""
    best: Decision | None = None
    for policy in POLICIES:
        if view.hook_event not in policy.hook_events:
            continue
        action = getattr(view.config, policy.name)
        if action == "off":
            continue
        decision = policy.decide(view)
        if decision is not None and (best is None or _RANK[decision.action] > _RANK[best.action]):
            best = decision
    return best


_RANK = {"warn": 1, "ask": 2, "deny": 3}
_SEVERITY = {"warn": "low", "ask": "medium", "deny": "high"}


def _decision(
    view: View, policy: str, reason: str, recommendation: str, subject: str, action: str | None = None, **evidence: Any
) -> Decision:
    action = action or getattr(view.config, policy)
    if view.hook_event == "Stop" and action == "ask":
        action = "warn"  # a stop cannot be put to the user; it can only be blocked or noted
    return Decision(
        policy,
        action,
        reason,
        _SEVERITY[action],
        recommendation,
        subject,
        {k: v for k, v in evidence.items() if v is not None},
    )


# -- the policies ------------------------------------------------------------------------

_HINTS: dict[str, str] = {
    "Bash": "read the output of the last run, fix what it reports, or run a different command",
    "Read": "you already have this file's content from the earlier reads; use it",
    "Edit": "re-read the file to see its current content, then make a different edit",
    "Write": "check whether the file already has this content before writing it again",
    "Grep": "the search result will not change; search for something else or read the files found",
    "Glob": "the result will not change; use the files already found",
}


def _preview(params: Any, limit: int = 160) -> str:
    if isinstance(params, dict):
        for key in ("command", "file_path", "pattern", "url", "query", "path"):
            if isinstance(params.get(key), str):
                params = params[key]
                break
    text = params if isinstance(params, str) else str(params)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


@register
class RepeatPolicy:
    """The same tool with the same input, again: deny it with what to do instead."""

    name = "repeat"
    hook_events = frozenset({"PreToolUse"})

    def decide(self, view: View) -> Decision | None:
        for alert, event in view.findings:
            if alert.type != "tool_loop" or event.event_id != view.call_event_id:
                continue
            tool = alert.tool_name or "tool"
            preview = _preview(view.payload.get("tool_input"))
            hint = _HINTS.get(tool, "try a different approach, or ask the user how to proceed")
            reason = (
                f"agentlog guard: this exact {tool} call ({preview}) has now been made {alert.occurrences} "
                f"times in this session with identical input; repeating it will not give a different "
                f"result. Do not repeat it: {hint}."
            )
            return _decision(
                view,
                self.name,
                reason,
                "change_approach",
                tool,
                tool_name=tool,
                occurrences=alert.occurrences,
                threshold=alert.threshold,
            )
        return None


@register
class ErrorLoopPolicy:
    """An error loop found since the last tool call: stop before the next attempt."""

    name = "error_loop"
    hook_events = frozenset({"PreToolUse"})

    def decide(self, view: View) -> Decision | None:
        loop = view.memory.get("loop")
        if not loop or loop.get("acted"):
            return None
        loop["acted"] = True
        what = _preview(loop.get("message") or loop.get("fp"), 200)
        reason = (
            f"agentlog guard: the same error has now occurred {loop.get('occurrences')} times in this "
            f"session ({loop.get('fp')}: {what}). Retrying the same approach keeps failing: read the "
            f"error, find its cause and change strategy, or ask the user for help."
        )
        return _decision(
            view,
            self.name,
            reason,
            "trigger_ai_autofix",
            str(loop.get("fp")),
            error_fingerprint=loop.get("fp"),
            error_category=loop.get("category"),
            occurrences=loop.get("occurrences"),
            window_ms=loop.get("window_ms"),
        )


@register
class SpendPolicy:
    """The session's running cost (the cost_anomaly detector's) against the cap."""

    name = "spend"
    hook_events = frozenset({"PreToolUse", "UserPromptSubmit"})

    def decide(self, view: View) -> Decision | None:
        cap = view.config.spend_cap_usd
        slot = view.attempt.slots.get("cost_anomaly") if view.attempt is not None else None
        cost = float(getattr(slot, "cost", 0.0) or 0.0)
        if cap <= 0 or cost < cap * view.config.spend_warn_fraction:
            return None
        if cost >= cap:
            reason = (
                f"agentlog guard: this session has cost ${cost:.2f}, past its ${cap:g} spend cap. "
                f"Stop here: summarise what is done and what remains for the user instead of "
                f"calling more tools."
            )
            return _decision(
                view, self.name, reason, "review_prompt_efficiency", "cap", cost_usd=round(cost, 6), threshold=cap
            )
        if view.memory.get("spend_warned"):
            return None
        view.memory["spend_warned"] = True
        reason = f"agentlog guard: this session has cost ${cost:.2f}, {cost / cap:.0%} of its ${cap:g} spend cap."
        return _decision(
            view,
            self.name,
            reason,
            "review_prompt_efficiency",
            "warn",
            action="warn",
            cost_usd=round(cost, 6),
            threshold=cap,
        )


@register
class StopNudgePolicy:
    """Stopping on an unresolved error loop: ask the agent to resolve or report it first."""

    name = "stop_nudge"
    hook_events = frozenset({"Stop"})

    def decide(self, view: View) -> Decision | None:
        loop = view.memory.get("loop")
        if not loop or loop.get("nudged") or view.payload.get("stop_hook_active") is True:
            return None  # stop_hook_active: already continuing because of a Stop hook
        loop["nudged"] = True
        what = _preview(loop.get("message") or loop.get("fp"), 200)
        reason = (
            f"agentlog guard: you are stopping while an error is unresolved: it occurred "
            f"{loop.get('occurrences')} times ({loop.get('fp')}: {what}). Either fix its cause and "
            f"verify the fix, or tell the user clearly that this problem is not solved and why."
        )
        return _decision(
            view,
            self.name,
            reason,
            "trigger_ai_autofix",
            str(loop.get("fp")),
            error_fingerprint=loop.get("fp"),
            occurrences=loop.get("occurrences"),
        )
