"""Analytics commands: summary, errors, compare, planning, backlog, correlate, metrics.

Each parses flags into a `Scope`, calls one `agentlog.analytics` function and renders
the result: a table on a terminal, JSON when piped, or csv/markdown on request.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable

import click

from .common import settings_options

FORMATS = ("table", "json", "csv", "markdown")


def scope_options(default_days: int | None) -> Callable:
    """--days/--since/--until, --executor/--model/--task and --format; passes `scope`, `fmt`."""

    def decorate(func: Callable) -> Callable:
        @click.option("--days", type=click.IntRange(min=0), default=default_days, show_default=True,
                      help="Sessions started in the last N days (0 = all time).")
        @click.option("--since", help="From this time: ISO 8601 or an age like 12h (overrides --days).")
        @click.option("--until", help="Before this time: ISO 8601 or an age like 1d.")
        @click.option("--executor", help="Only this executor (any case).")
        @click.option("--model", help="Only this model.")
        @click.option("--task", help="Only this task id.")
        @click.option("--format", "fmt", type=click.Choice(FORMATS),
                      help="Output format [default: table on a terminal, json when piped].")
        @settings_options
        @functools.wraps(func)
        def wrapper(*args: Any, days, since, until, executor, model, task, fmt, **kwargs: Any) -> Any:
            from ..analytics import Scope
            from ..timeutil import parse_when

            try:
                start = parse_when(since) if since else (time.time() - days * 86400 if days else None)
                end = parse_when(until) if until else None
            except ValueError as exc:
                raise click.UsageError(str(exc)) from None
            scope = Scope(since=start, until=end, executor=executor, model=model, task=task)
            fmt = fmt or ("table" if sys.stdout.isatty() else "json")
            return func(*args, scope=scope, fmt=fmt, **kwargs)

        return wrapper

    return decorate


# --- rendering ------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.4f}" if abs(value) < 1 and value else f"{value:,.1f}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, list):
        return "; ".join(map(str, value)) if any(" " in str(v) for v in value) else ", ".join(map(str, value))
    return str(value)


def render(report: Any, fmt: str, empty_message: str) -> None:
    """Print a report in `fmt`; an empty window says so; skipped lines go in a footer."""
    from ..analytics.report import jsonable

    if fmt == "json":
        click.echo(json.dumps(report.to_dict(), indent=2, default=str))
    elif report.empty:
        click.echo(empty_message, err=fmt != "table")
    elif fmt == "table":
        _rich(report.tables())
    else:
        for table in report.tables():
            if table.rows:
                click.echo((_csv if fmt == "csv" else _markdown)(table, jsonable))
    if report.empty and fmt == "json":
        click.echo(empty_message, err=True)
    if report.malformed:
        click.echo(f"{report.malformed} malformed line(s) skipped", err=True)


def _rich(tables) -> None:
    from rich.console import Console
    from rich.table import Table as RichTable

    console = Console()
    from ..analytics.report import jsonable

    for table in tables:
        if not table.rows:
            continue
        out = RichTable(title=table.title, title_justify="left")
        for column in table.columns:
            out.add_column(column.replace("_", " "), overflow="fold")
        for row in table.rows:
            out.add_row(*(_cell(jsonable(row.get(c))) for c in table.columns))
        console.print(out)


def _csv(table, jsonable) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    buffer.write(f"# {table.title}\n")
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow([_cell(jsonable(row.get(c))) for c in table.columns])
    return buffer.getvalue()


def _markdown(table, jsonable) -> str:
    lines = [f"### {table.title}", "", "| " + " | ".join(table.columns) + " |",
             "|" + "---|" * len(table.columns)]
    for row in table.rows:
        cells = (_cell(jsonable(row.get(c))).replace("|", "\\|") for c in table.columns)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _nothing(scope) -> str:
    return "No sessions or errors in this window" + (" for these filters." if (
        scope.executor or scope.model or scope.task) else ".") + " Try --days 0 for all time."


# --- commands -----------------------------------------------------------------


@click.command()
@click.option("--top", type=click.IntRange(min=0), default=5, show_default=True, help="How many top errors.")
@scope_options(default_days=7)
def summary(settings, scope, fmt, top) -> None:
    """Sessions, success rate, duration, cost and errors; per executor; top errors."""
    from ..analytics import summary as run

    render(run(settings.log_path, scope, top=top), fmt, _nothing(scope))


@click.command()
@click.option("--top", type=click.IntRange(min=0), default=10, show_default=True,
              help="How many clusters, or variants with --explain (0 = all).")
@click.option("--explain", "fingerprint", metavar="FINGERPRINT",
              help="List the distinct messages (variants) grouped under this fingerprint.")
@scope_options(default_days=7)
def errors(settings, scope, fmt, top, fingerprint) -> None:
    """Error clusters by fingerprint: template, occurrences, tasks, attempts, first/last seen."""
    from .. import analytics

    if fingerprint:
        render(analytics.explain(settings.log_path, fingerprint, scope, top=top), fmt,
               f"No errors with fingerprint {fingerprint} in this window.")
        return
    render(analytics.errors(settings.log_path, scope, top=top), fmt, _nothing(scope))


@click.command()
@click.argument("names", nargs=-1)
@click.option("--by", type=click.Choice(["executor", "model"]), default="executor", show_default=True)
@scope_options(default_days=30)
def compare(settings, scope, fmt, names, by) -> None:
    """Executors (or models with --by model) side by side: success, first shot, cost, errors."""
    from ..analytics import compare as run

    render(run(settings.log_path, names, scope, by=by), fmt, _nothing(scope))


@click.command()
@click.option("--failed-only", is_flag=True, help="Only tasks never solved that have failed attempts.")
@click.option("--limit", type=click.IntRange(min=0), default=0, help="At most N tasks (0 = all).")
@scope_options(default_days=None)
def planning(settings, scope, fmt, failed_only, limit) -> None:
    """Per task: root-cause categories across attempts and the planning fixes they suggest."""
    from ..analytics import planning as run

    render(run(settings.log_path, scope, failed_only=failed_only, limit=limit or None), fmt, _nothing(scope))


@click.command()
@click.option("--limit", type=click.IntRange(min=0), default=10, show_default=True,
              help="At most N tasks (0 = all); totals cover all.")
@scope_options(default_days=None)
def backlog(settings, scope, fmt, limit) -> None:
    """Per task: attempts, solved, first shot, duration, cost, errors, executors; and totals."""
    from ..analytics import backlog as run

    render(run(settings.log_path, scope, limit=limit or None), fmt, _nothing(scope))


@click.command()
@click.option("--top", type=click.IntRange(min=0), default=0, help="At most N fingerprints (0 = all).")
@scope_options(default_days=None)
def correlate(settings, scope, fmt, top) -> None:
    """Per error fingerprint: counts by executor, model and task size, average task duration."""
    from ..analytics import correlate as run

    render(run(settings.log_path, scope, top=top or None), fmt, _nothing(scope))


@click.command()
@click.option("--csv", "csv_file", type=click.Path(dir_okay=False, path_type=Path), help="Write CSV here.")
@click.option("--json", "json_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write a JSON array here.")
@click.option("--parquet", "parquet_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write Parquet here.")
@scope_options(default_days=30)
def metrics(settings, scope, fmt, csv_file, json_file, parquet_file) -> None:
    """One row per session with every metric; export with --csv/--json/--parquet FILE."""
    from ..analytics import export_metrics, load
    from ..analytics import metrics as run

    targets = {"csv": csv_file, "json": json_file, "parquet": parquet_file}
    data = load(settings.log_path)
    if not any(targets.values()):
        render(run(data, scope), fmt, _nothing(scope))
        return
    for kind, path in targets.items():
        if path is not None:
            count = export_metrics(data, path, kind, scope)
            click.echo(f"wrote {count} session(s) to {path}", err=True)
    if data.malformed:
        click.echo(f"{data.malformed} malformed line(s) skipped", err=True)
