"""sensitive_file: a tool call that names a secrets file (.env, id_rsa, ...) raises a high alert."""

from __future__ import annotations

from agentlog.watch.detectors import BaseDetector, Finding, register

SENSITIVE = (b".env", b"id_rsa", b".aws/credentials", b".netrc")


@register
class SensitiveFile(BaseDetector):
    name = "sensitive_file"
    event_types = frozenset({"tool_call"})

    def on_event(self, event, t, attempt):
        params = bytes(event.data.tool_params)  # raw JSON: searched, never decoded
        hit = next((name for name in SENSITIVE if name in params), None)
        if hit is None:
            return None
        # evidence keys are fields of agentlog.events.Alert (tool_name, message, occurrences, ...)
        return Finding(
            "sensitive_file",
            hit.decode(),
            "high",
            "review_tool_permissions",
            {"tool_name": event.data.tool_name, "message": f"a tool call names {hit.decode()}"},
        )
