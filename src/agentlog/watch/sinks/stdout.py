"""stdout: one human line per alert, colored by severity."""

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
        self.stream = stream
        self.json = json
        from rich.console import Console

        self.console = Console(file=stream or sys.stdout, highlight=False, soft_wrap=True)

    @classmethod
    def from_spec(cls, spec) -> "StdoutSink":
        return cls(json=spec == "json")

    def send(self, alert) -> None:
        if self.json:
            from ...events import encode

            self.console.file.write(encode(alert).decode() + "\n")
            self.console.file.flush()
            return
        self.console.print(one_line(alert), style=COLORS.get(alert.severity), markup=False)

    def send_report(self, text: str, paths) -> bool:
        if self.json:
            from ...events import encode

            self.console.file.write(encode({"type": "weekly_report", "text": text,
                                            "paths": {k: str(v) for k, v in paths.items()}}).decode() + "\n")
            self.console.file.flush()
        else:
            self.console.print(printable(text + "".join(f"\n  {p}" for p in paths.values())), markup=False)
        return True
