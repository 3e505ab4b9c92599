"""agentlog: flight recorder, watchdog and guard for AI coding agents.

    import agentlog
    with agentlog.Session("attempt-1", executor="CODEX") as session:
        session.tool_call("bash", {"cmd": "pytest"})

Names are imported on first use, so `import agentlog.<module>` stays cheap for the
agent hooks that must answer within milliseconds.
"""

from __future__ import annotations

from importlib import import_module

_EXPORTS = {
    "Session": "agentlog.capture.api",
    "start_session": "agentlog.capture.api",
    "log_followup": "agentlog.capture.api",
    "log_error": "agentlog.capture.api",
    "log_tool_call": "agentlog.capture.api",
    "log_tool_result": "agentlog.capture.api",
    "log_output": "agentlog.capture.api",
    "log_thinking": "agentlog.capture.api",
    "log_usage": "agentlog.capture.api",
    "log_status": "agentlog.capture.api",
    "stop_session": "agentlog.capture.api",
    "set_default_recorder": "agentlog.capture.api",
    "Recorder": "agentlog.recorder",
    "Event": "agentlog.events",
    "Alert": "agentlog.events",
    "EventError": "agentlog.events",
    "StoreError": "agentlog.store.writer",
    "load_settings": "agentlog.config",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'agentlog' has no attribute {name!r}")
    attr = "load" if name == "load_settings" else name
    value = getattr(import_module(module), attr)
    globals()[name] = value
    return value
