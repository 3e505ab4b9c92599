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

from .common import require_log_dir, settings_options

FORMATS = ("table", "json", "csv", "markdown")


def scope_options(default_days: int | None) -> Callable:
    """--days/--since/--until, --executor/--model/--task and --format; passes `scope`, `fmt`."""

    def decorate(func: Callable) -> Callable:
        @click.option(
            "--days",
            type=click.IntRange(min=0),
            default=default_days,
            show_default=True,
            help="Sessions started in the last N days (0 = all time).",
        )
        @click.option("--since", help="From this time: ISO 8601 or an age like 12h (overrides --days).")
        @click.option("--until", help="Before this time: ISO 8601 or an age like 1d.")
        @click.option("--executor", help="Only this executor (any case).")
        @click.option("--model", help="Only this model.")
        @click.option("--task", help="Only this task id.")
        @click.option(
            "--format",
            "fmt",
            type=click.Choice(FORMATS),
            help="Output format [default: table on a terminal, json when piped].",
        )
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
            require_log_dir(kwargs["settings"])
            scope = Scope(since=start, until=end, executor=executor, model=model, task=task)
            fmt = fmt or ("table" if sys.stdout.isatty() else "json")
            return func(*args, scope=scope, fmt=fmt, **kwargs)

        return wrapper

    return decorate


# --- rendering ------------------------------------------------------------------


def render(report: Any, fmt: str, empty_message: Callable[[], str]) -> None:
    """Print a report in `fmt`; an empty window says so (`empty_message()`); skipped lines
    go in a footer.

    json and csv keep the data as it is; table and markdown are for people: values in
    their units (`1m 23s`, `$0.0042`, `58%`), recorded text made printable.
    """
    if fmt == "json":
        click.echo(json.dumps(report.to_dict(), indent=2, default=str))
    elif report.empty:
        click.echo(empty_message(), err=fmt != "table")
    elif fmt == "table":
        _rich(report.tables())
    else:
        for table in report.tables():
            if table.rows:
                click.echo((_csv if fmt == "csv" else _markdown)(table))
    if report.empty and fmt == "json":
        click.echo(empty_message(), err=True)
    if report.malformed:
        click.echo(f"{report.malformed} malformed line(s) skipped", err=True)


def _rich(tables) -> None:
    from rich.console import Console

    from .. import formatting as human
    from .table import print_table

    console = Console()
    for table in tables:
        if table.rows:
            print_table(
                table.title,
                [(human.label(c), _numeric(table, c)) for c in table.columns],
                [[human.cell(c, row.get(c)) for c in table.columns] for row in table.rows],
                console,
            )


def _numeric(table, column: str) -> bool:
    values = [row.get(column) for row in table.rows if row.get(column) is not None]
    return bool(values) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def _csv(table) -> str:
    """The data as it is: numbers unformatted (whole ones without `.0`), times in ISO 8601."""
    from ..analytics.report import jsonable

    from ..terminal import printable

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    buffer.write(f"# {printable(table.title, one_line=True)}\n")  # a title holds data (explain's template)
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow([_csv_value(jsonable(row.get(c))) for c in table.columns])
    return buffer.getvalue()


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, (dict, list)):
        from .. import formatting as human

        return human.cell("", value)
    return value


def _markdown(table) -> str:
    from ..report.render import md_text
    from ..terminal import printable
    from .. import formatting as human

    lines = [
        f"### {md_text(printable(table.title))}",
        "",
        "| " + " | ".join(human.label(c) for c in table.columns) + " |",
        "|" + "".join("---:|" if _numeric(table, c) else "---|" for c in table.columns),
    ]
    for row in table.rows:
        cells = (md_text(printable(human.cell(c, row.get(c)))) for c in table.columns)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _nothing(scope, data) -> Callable[[], str]:
    """The message for an empty result; a filter naming an executor or model the logs have
    never seen is a usage error that lists the ones they have."""

    def message() -> str:
        from ..analytics import known

        for column, value in (("executor", scope.executor), ("model", scope.model)):
            names = known(data, column) if value is not None else []
            if value is not None and value.upper() not in {n.upper() for n in names}:
                raise click.BadParameter(_unknown(column, [value], names), param_hint=f"--{column}")
        return (
            "No sessions or errors in this window"
            + (" for these filters." if (scope.executor or scope.model or scope.task) else ".")
            + " Try --days 0 for all time."
        )

    return message


def _unknown(column: str, asked: list[str], names: list[str]) -> str:
    from ..terminal import printable

    return printable(
        f"unknown {column} {', '.join(map(repr, asked))}; the logs have: {', '.join(names) or 'none yet'}",
        one_line=True,
    )


# --- commands -----------------------------------------------------------------


@click.command()
@click.option("--top", type=click.IntRange(min=0), default=5, show_default=True, help="How many top errors.")
@scope_options(default_days=7)
def summary(settings, scope, fmt, top) -> None:
    """Sessions, success rate, duration, cost and errors; per executor; top errors."""
    from ..analytics import load
    from ..analytics import summary as run

    data = load(settings.log_path)
    render(run(data, scope, top=top), fmt, _nothing(scope, data))


@click.command()
@click.option(
    "--top",
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    help="How many clusters, or variants with --explain (0 = all).",
)
@click.option(
    "--explain",
    "fingerprint",
    metavar="FINGERPRINT",
    help="List the distinct messages (variants) grouped under this fingerprint.",
)
@scope_options(default_days=7)
def errors(settings, scope, fmt, top, fingerprint) -> None:
    """Error clusters by fingerprint: template, occurrences, tasks, attempts, first/last seen."""
    from .. import analytics
    from ..terminal import printable

    data = analytics.load(settings.log_path)
    if fingerprint:
        render(
            analytics.explain(data, fingerprint, scope, top=top),
            fmt,
            lambda: printable(f"No errors with fingerprint {fingerprint} in this window.", one_line=True),
        )
        return
    render(analytics.errors(data, scope, top=top), fmt, _nothing(scope, data))


@click.command()
@click.argument("names", nargs=-1)
@click.option(
    "--by",
    type=click.Choice(["executor", "model"]),
    default="executor",
    show_default=True,
    help="Compare executors or models.",
)
@scope_options(default_days=30)
def compare(settings, scope, fmt, names, by) -> None:
    """Executors (or models with --by model) side by side: success, first shot, cost, errors."""
    from ..analytics import compare as run
    from ..analytics import known, load

    data = load(settings.log_path)
    have = known(data, by)
    unknown = [n for n in names if n.upper() not in {h.upper() for h in have}]
    if unknown:
        raise click.BadParameter(_unknown(by, unknown, have), param_hint="NAMES")
    render(run(data, names, scope, by=by), fmt, _nothing(scope, data))


@click.command()
@click.option("--failed-only", is_flag=True, help="Only tasks never solved that have failed attempts.")
@click.option("--limit", type=click.IntRange(min=0), default=0, help="At most N tasks (0 = all).")
@scope_options(default_days=None)
def planning(settings, scope, fmt, failed_only, limit) -> None:
    """Per task: root-cause categories across attempts and the planning fixes they suggest."""
    from ..analytics import load
    from ..analytics import planning as run

    data = load(settings.log_path)
    render(run(data, scope, failed_only=failed_only, limit=limit or None), fmt, _nothing(scope, data))


@click.command()
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    help="At most N tasks (0 = all); totals cover all.",
)
@scope_options(default_days=None)
def backlog(settings, scope, fmt, limit) -> None:
    """Per task: attempts, solved, first shot, duration, cost, errors, executors; and totals."""
    from ..analytics import backlog as run
    from ..analytics import load

    data = load(settings.log_path)
    render(run(data, scope, limit=limit or None), fmt, _nothing(scope, data))


@click.command()
@click.option("--top", type=click.IntRange(min=0), default=0, help="At most N fingerprints (0 = all).")
@scope_options(default_days=None)
def correlate(settings, scope, fmt, top) -> None:
    """Per error fingerprint: counts by executor, model and task size, average task duration."""
    from ..analytics import correlate as run
    from ..analytics import load

    data = load(settings.log_path)
    render(run(data, scope, top=top or None), fmt, _nothing(scope, data))


@click.command()
@click.option("--csv", "csv_file", type=click.Path(dir_okay=False, path_type=Path), help="Write CSV here.")
@click.option("--json", "json_file", type=click.Path(dir_okay=False, path_type=Path), help="Write a JSON array here.")
@click.option("--parquet", "parquet_file", type=click.Path(dir_okay=False, path_type=Path), help="Write Parquet here.")
@scope_options(default_days=30)
def metrics(settings, scope, fmt, csv_file, json_file, parquet_file) -> None:
    """One row per session with every metric; export with --csv/--json/--parquet FILE."""
    from ..analytics import export_metrics, load
    from ..analytics import metrics as run

    targets = {"csv": csv_file, "json": json_file, "parquet": parquet_file}
    data = load(settings.log_path)
    if not any(targets.values()):
        render(run(data, scope), fmt, _nothing(scope, data))
        return
    for kind, path in targets.items():
        if path is not None:
            count = export_metrics(data, path, kind, scope)
            click.echo(f"wrote {count} session(s) to {path}", err=True)
    if data.malformed:
        click.echo(f"{data.malformed} malformed line(s) skipped", err=True)
