"""stdout: one human line per alert, colored by severity on a terminal.

Not on a terminal (a file, a pipe, a CI log), the lines are plain text written in one go
per batch of alerts the outbox delivers: a replay raising thousands of alerts spends its
time finding them, not formatting and flushing each line.
"""

from __future__ import annotations

import sys

from . import BaseSink, register
from ...terminal import printable
from ..text import one_line

COLORS = {"high": "bold red", "medium": "yellow", "low": "cyan"}


@register
class StdoutSink(BaseSink):
    kind = "stdout"
    notification = False

    def __init__(self, name: str = "stdout", stream=None, json: bool = False):
        super().__init__(name)
        self.file = stream or sys.stdout
        self.json = json
        self.console = None
        if not json and _is_terminal(self.file):
            from rich.console import Console

            self.console = Console(file=self.file, highlight=False, soft_wrap=True)

    @classmethod
    def from_spec(cls, spec) -> "StdoutSink":
        return cls(json=spec == "json")

    def send(self, alert) -> None:
        if self.json:
            from ...events import encode

            self.file.write(encode(alert).decode() + "\n")
        elif self.console is not None:
            self.console.print(one_line(alert), style=COLORS.get(alert.severity), markup=False)
        else:
            self.file.write(one_line(alert) + "\n")

    def flush(self) -> None:
        self.file.flush()

    def send_report(self, text: str, paths) -> bool:
        if self.json:
            from ...events import encode

            self.file.write(
                encode({"type": "weekly_report", "text": text, "paths": {k: str(v) for k, v in paths.items()}}).decode()
                + "\n"
            )
        else:
            report = printable(text + "".join(f"\n  {p}" for p in paths.values()))
            if self.console is not None:
                self.console.print(report, markup=False)
            else:
                self.file.write(report + "\n")
        self.file.flush()
        return True


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or closed
        return False
