"""The Python API: a `Session` context manager and the original logger's verbs.

from agentlog import Session
with Session("ve-a1b2-implement-auth", executor="CODEX", task_title="Implement auth") as s:
    s.tool_call("bash", {"cmd": "pytest"})
    s.tool_result("bash", "error", "1 failed")
    s.error("AssertionError: expected 200, got 401")
    s.usage(input_tokens=1200, output_tokens=300, cost_usd=0.012)
# -> session_end success; an exception inside the block -> error + failed end
"""

from __future__ import annotations

import threading
import traceback
from pathlib import Path
from typing import Any

from ..recorder import Recorder

_default: Recorder | None = None
_default_lock = threading.Lock()
_by_dir: dict[Path, Recorder] = {}


def default_recorder() -> Recorder:
    """The process-wide recorder, configured from the environment on first use."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Recorder()
        return _default


def recorder_for(log_dir: Path | str) -> Recorder:
    """The process-wide recorder of one log dir (the other settings from the environment,
    as for the default one): every Session on that dir shares it."""
    from .. import config

    path = Path(log_dir).expanduser().absolute()
    with _default_lock:
        if path not in _by_dir:
            _by_dir[path] = Recorder(config.load({"log_dir": str(path)}))
        return _by_dir[path]


def set_default_recorder(recorder: Recorder | None) -> None:
    """Point the module-level verbs at another recorder (tests, custom settings)."""
    global _default
    with _default_lock:
        _default = recorder


def _clean(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}


class Session:
    """One attempt of an agent at a task. Every method records one event.

    Events go to `recorder`, else to the recorder of `log_dir`, else to the default one
    (AGENT_WORK_LOG_DIR, the TOML file, .cache/agent-work-logs). Other keyword arguments
    are data of the session_start event.
    """

    def __init__(
        self,
        attempt_id: str,
        *,
        task_id: str | None = None,
        task_title: str | None = None,
        executor: str | None = None,
        executor_variant: str | None = None,
        model: str | None = None,
        branch: str | None = None,
        session_id: str | None = None,
        prompt: str | None = None,
        prompt_type: str = "initial",
        recorder: Recorder | None = None,
        log_dir: Path | str | None = None,
        **start_data: Any,
    ):
        if recorder is not None and log_dir is not None:
            raise TypeError("Session takes a recorder or a log_dir, not both (a recorder has its log dir)")
        self.attempt_id = attempt_id
        self.context = _clean(
            {
                "task_id": task_id,
                "task_title": task_title,
                "executor": executor,
                "executor_variant": executor_variant,
                "model": model,
                "branch": branch,
                "session_id": session_id,
            }
        )
        self.recorder = recorder or (recorder_for(log_dir) if log_dir is not None else default_recorder())
        self._start = _clean({"prompt": prompt, "prompt_type": prompt_type, **start_data})
        self.ended = False

    # -- context manager -------------------------------------------------------

    def __enter__(self) -> "Session":
        self.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.ended:
            return
        if exc is None:
            self.end("success")
            return
        interrupted = isinstance(exc, KeyboardInterrupt)
        self.error(
            f"{exc_type.__name__}: {exc}",
            category=None,
            stack_trace="".join(traceback.format_exception(exc_type, exc, tb)),
        )
        self.end("interrupted" if interrupted else "failed")

    # -- verbs ------------------------------------------------------------------

    def emit(self, event_type: str, data: dict[str, Any] | None = None, **envelope: Any) -> dict[str, Any] | None:
        """Record any event type for this attempt (the verbs below are shortcuts)."""
        event = {
            "attempt_id": self.attempt_id,
            "event_type": event_type,
            **self.context,
            **_clean(envelope),
            "data": _clean(data or {}),
        }
        return self.recorder.record(event)

    def start(self, prompt: str | None = None, prompt_type: str | None = None, **data: Any):
        start = {**self._start, **_clean({"prompt": prompt, "prompt_type": prompt_type, **data})}
        return self.emit("session_start", start)

    def followup(self, message: str, reason: str | None = None):
        return self.emit("followup_sent", {"message": message, "reason": reason})

    def output(self, output: str, stream_type: str = "stdout"):
        return self.emit("agent_output", {"output": output, "stream_type": stream_type})

    def thinking(self, thinking: str):
        return self.emit("agent_thinking", {"thinking": thinking})

    def tool_call(self, tool_name: str, tool_params: Any = None, call_id: str | None = None):
        return self.emit("tool_call", {"tool_name": tool_name, "tool_params": tool_params, "call_id": call_id})

    def tool_result(self, tool_name: str, result: str = "success", result_data: Any = None, call_id: str | None = None):
        return self.emit(
            "tool_result", {"tool_name": tool_name, "result": result, "result_data": result_data, "call_id": call_id}
        )

    def error(
        self,
        message: str,
        fingerprint: str | None = None,
        category: str | None = None,
        stack_trace: str | None = None,
        **data: Any,
    ):
        return self.emit(
            "error",
            {
                "error_message": message,
                "error_fingerprint": fingerprint,
                "error_category": category,
                "stack_trace": stack_trace,
                **data,
            },
        )

    def usage(
        self,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cache_creation_tokens: int = 0,
        cache_read_tokens: int = 0,
        cost_usd: float | None = None,
        **data: Any,
    ):
        return self.emit(
            "usage",
            {
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "cache_creation_tokens": cache_creation_tokens,
                "cache_read_tokens": cache_read_tokens,
                "cost_usd": cost_usd,
                **data,
            },
        )

    def status(self, status: str, reason: str | None = None, previous_status: str | None = None):
        return self.emit("status_change", {"status": status, "reason": reason, "previous_status": previous_status})

    def end(self, completion_status: str = "success", outcome: dict[str, Any] | None = None, **data: Any):
        self.ended = True
        return self.emit("session_end", {"completion_status": completion_status, "outcome": outcome, **data})


# --- the original logger's verbs, by attempt id ----------------------------------

_sessions: dict[str, Session] = {}


def _session(attempt_id: str) -> Session:
    return _sessions.get(attempt_id) or Session(attempt_id)


def start_session(attempt_id: str, prompt: str | None = None, prompt_type: str = "initial", **context: Any) -> Session:
    """Start an attempt: task metadata, executor info, git context, prompt and its type."""
    envelope = {
        k: context.pop(k)
        for k in (
            "task_id",
            "task_title",
            "executor",
            "executor_variant",
            "model",
            "branch",
            "session_id",
            "recorder",
            "log_dir",
        )
        if k in context
    }
    session = _sessions[attempt_id] = Session(attempt_id, prompt=prompt, prompt_type=prompt_type, **envelope, **context)
    session.start()
    return session


def log_followup(attempt_id: str, message: str, reason: str | None = None):
    return _session(attempt_id).followup(message, reason)


def log_error(
    attempt_id: str,
    message: str,
    fingerprint: str | None = None,
    category: str | None = None,
    stack_trace: str | None = None,
):
    return _session(attempt_id).error(message, fingerprint, category, stack_trace)


def log_tool_call(attempt_id: str, tool_name: str, tool_params: Any = None, call_id: str | None = None):
    return _session(attempt_id).tool_call(tool_name, tool_params, call_id)


def log_tool_result(
    attempt_id: str, tool_name: str, result: str = "success", result_data: Any = None, call_id: str | None = None
):
    return _session(attempt_id).tool_result(tool_name, result, result_data, call_id)


def log_output(attempt_id: str, output: str, stream_type: str = "stdout"):
    return _session(attempt_id).output(output, stream_type)


def log_thinking(attempt_id: str, thinking: str):
    return _session(attempt_id).thinking(thinking)


def log_usage(
    attempt_id: str,
    input_tokens: int = 0,
    output_tokens: int = 0,
    cache_creation_tokens: int = 0,
    cache_read_tokens: int = 0,
    cost_usd: float | None = None,
):
    return _session(attempt_id).usage(input_tokens, output_tokens, cache_creation_tokens, cache_read_tokens, cost_usd)


def log_status(attempt_id: str, status: str, reason: str | None = None):
    return _session(attempt_id).status(status, reason)


def stop_session(attempt_id: str, completion_status: str = "success", outcome: dict[str, Any] | None = None):
    session = _sessions.pop(attempt_id, None) or Session(attempt_id)
    return session.end(completion_status, outcome)
