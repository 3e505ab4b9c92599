"""What the watchdog runs beside detection: a `Job`, each on a thread and a clock of its own
(the jobs themselves, following transcripts, rotating, the weekly report, are in agentlog/jobs.py).

A job's `prepare()` runs before the watchdog takes its place in the stream;
`run(stop, note)` loops until `stop` is set, reporting through `note`.
"""

from __future__ import annotations

import threading
from typing import Callable, Protocol

Note = Callable[[str], None]


class Job(Protocol):
    name: str

    def prepare(self) -> None: ...

    def run(self, stop: threading.Event, note: Note) -> None: ...


class BaseJob:
    name = "job"

    def prepare(self) -> None:
        pass
