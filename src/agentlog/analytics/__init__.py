"""Offline analytics: DuckDB SQL over the live and archived log files.

Every report is a function of a log dir (or a loaded `Dataset`, to share one scan
between reports) and a `Scope`, returning a dataclass; the CLI only renders it.
"""

from __future__ import annotations

from .backlog import Backlog, backlog
from .compare import Comparison, compare
from .correlate import Correlation, correlate
from .errors import ErrorClusters, ErrorVariants, errors, explain
from .metrics import SessionMetrics, export_metrics, metrics
from .planning import Planning, planning
from .report import Result, Table, known
from .sessions import Dataset, load
from .source import LogSource, Scope
from .summary import Summary, summary

__all__ = [
    "Backlog",
    "Comparison",
    "Correlation",
    "Dataset",
    "ErrorClusters",
    "ErrorVariants",
    "LogSource",
    "Planning",
    "Result",
    "Scope",
    "SessionMetrics",
    "Summary",
    "Table",
    "backlog",
    "compare",
    "correlate",
    "errors",
    "explain",
    "export_metrics",
    "known",
    "load",
    "metrics",
    "planning",
    "summary",
]
