"""What every report shares: the dataset it reads, and tables for the CLI to render."""

from __future__ import annotations

import dataclasses
import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .sessions import Dataset, load
from .source import Scope


@dataclass
class Table:
    """Rows to show under a title; `columns` fixes their order."""

    title: str
    columns: list[str]
    rows: list[dict[str, Any]]


@dataclass
class Result:
    """Base of the report results: how many lines were skipped, and the tables to render."""

    malformed: int = field(default=0, kw_only=True)

    def tables(self) -> list[Table]:
        raise NotImplementedError

    @property
    def empty(self) -> bool:
        return not any(t.rows for t in self.tables())

    def to_dict(self) -> dict[str, Any]:
        return jsonable(dataclasses.asdict(self))


def dataset(source: Dataset | Path | str) -> Dataset:
    """Reports take a log dir or an already loaded Dataset (several reports, one scan)."""
    return source if isinstance(source, Dataset) else load(source)


def scoped(data: Dataset, sql: str, scope: Scope, time_column: str, params: list | None = None) -> list[dict]:
    """Run `sql` whose `{where}` is replaced by the scope's condition on `time_column`."""
    where, scope_params = scope.where(time_column)
    return data.query(sql.replace("{where}", where), scope_params + list(params or []))


def known(source: Dataset | Path | str, column: str) -> list[str]:
    """Every executor (or model: `column`) the logs name, at any time, sorted: what a
    filter that matched nothing could have meant."""
    if column not in ("executor", "model"):
        raise ValueError(f"column must be executor or model, not {column!r}")
    rows = dataset(source).query(
        f"SELECT DISTINCT {column} AS name FROM sessions WHERE {column} IS NOT NULL ORDER BY name"
    )
    return [r["name"] for r in rows]


def pct(part: float, whole: float) -> float | None:
    return None if not whole else 100.0 * part / whole


def jsonable(value: Any) -> Any:
    """Datetimes as ISO 8601 UTC strings (the stream's format), recursively."""
    if isinstance(value, _dt.datetime):
        return value.astimezone(_dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value
