"""exec: run a command per alert (`--exec error_loop=./autofix.sh`, `--exec '*=notify.sh'`).

The alert JSON arrives on stdin and in AGENTLOG_ALERT_JSON, the main fields in
AGENTLOG_ALERT_TYPE, AGENTLOG_ALERT_ID, AGENTLOG_ATTEMPT_ID, AGENTLOG_EXECUTOR,
AGENTLOG_SEVERITY, AGENTLOG_RECOMMENDATION. Exit 0 = done; otherwise retried, a few times.

Alert fields come from agents' own text (an attempt id is whatever the agent sent), so the
environment gets them made safe: no NUL (which no environment can hold) and no control
characters (which a script would echo to a terminal), each shown as `\\xNN` instead.
The JSON escapes them as `\\u00NN` (JSON itself leaves DEL and C1 characters raw).
"""

from __future__ import annotations

import os
import re
import subprocess
from hashlib import blake2b

from ...events import encode
from . import BaseSink, SinkError, register

TIMEOUT_S = 120
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_RAW_IN_JSON = re.compile(r"[\x7f-\x9f]")  # control characters JSON does not escape


@register
class ExecSink(BaseSink):
    kind = "exec"
    max_attempts = 3  # a hook acts (starts sessions): do not run it forever

    def __init__(self, alert_type: str, command: str):
        digest = blake2b(f"{alert_type}={command}".encode(), digest_size=4).hexdigest()
        super().__init__(f"exec-{digest}")
        self.alert_type, self.command = alert_type, command

    @classmethod
    def from_spec(cls, spec: str) -> "ExecSink":
        alert_type, sep, command = spec.partition("=")
        if not sep or not alert_type.strip() or not command.strip():
            raise ValueError(f"--exec wants TYPE=COMMAND (TYPE may be *), got {spec!r}")
        return cls(alert_type.strip(), command.strip())

    def wants(self, alert) -> bool:
        return self.alert_type in ("*", "all", alert.type)

    def send(self, alert) -> None:
        payload = _RAW_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", encode(alert).decode()).encode()
        fields = {
            "AGENTLOG_ALERT_TYPE": alert.type,
            "AGENTLOG_ALERT_ID": alert.alert_id,
            "AGENTLOG_ATTEMPT_ID": alert.attempt_id,
            "AGENTLOG_EXECUTOR": alert.executor,
            "AGENTLOG_SEVERITY": alert.severity,
            "AGENTLOG_RECOMMENDATION": alert.recommendation,
        }
        env = {
            **os.environ,
            "AGENTLOG_ALERT_JSON": payload.decode(),
            **{name: env_value(value) for name, value in fields.items()},
        }
        try:
            done = subprocess.run(
                self.command,
                shell=True,
                input=payload,
                env=env,
                timeout=TIMEOUT_S,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        except subprocess.TimeoutExpired:
            raise SinkError(f"{self.command!r} ran longer than {TIMEOUT_S} s") from None
        if done.returncode != 0:
            tail = done.stderr.decode(errors="replace").strip()[-200:]
            raise SinkError(f"{self.command!r} exited {done.returncode}: {tail}")


def env_value(value: str | None) -> str:
    """`value` as an environment variable can hold it and a script can print it."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", value or "")
