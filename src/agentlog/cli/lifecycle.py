"""`agentlog rotate` (rotation, retention, archiving) and `agentlog du` (disk usage)."""

from __future__ import annotations

import json
import sys

import click

from .common import require_log_dir, settings_options


@click.command()
@click.option("--dry-run", "-n", is_flag=True, help="Show what would be done; change nothing.")
@click.option("--json", "json_out", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--grace",
    type=float,
    default=None,
    hidden=True,
    help="Seconds writers get to reopen a renamed file (tests shorten it).",
)
@settings_options
def rotate(settings, dry_run, json_out, grace) -> None:
    """Rotate, archive and expire log files; safe while agents write and `watch` reads.

    Live files past AGENT_WORK_LOG_MAX_SIZE_MB, or whose oldest event is older than
    [rotate] max_age (7d), move to archive/<name>-<UTC time>.jsonl.gz. Transcripts beyond
    the newest AGENT_SESSION_LOG_RETENTION that are finished go to archive/agent-sessions/.
    Archives expire per kind (stream 30 days, errors 90, alerts 30, metrics kept), never
    later than AGENT_WORK_ARCHIVE_RETENTION_DAYS. A rotation that was interrupted is
    finished first.

    Exit codes: 0 ok; 1 another rotation is running or a file could not be written.
    """
    from ..store.rotate import GRACE_S, RotationBusy
    from ..store.rotate import rotate as run

    try:
        report = run(settings, dry_run=dry_run, grace_s=GRACE_S if grace is None else grace)
    except RotationBusy as exc:
        click.echo(f"agentlog rotate: {exc}", err=True)
        sys.exit(1)
    if json_out:
        click.echo(json.dumps(report.to_dict(), indent=2))
        return
    prefix = "would " if dry_run else ""
    for action in report.actions:
        size = f" ({_human(action.size)})" if action.size else ""
        detail = f": {action.detail}" if action.detail else ""
        click.echo(f"{prefix}{action.verb} {action.path}{size}{detail}")
    if not report.actions:
        click.echo("nothing to do", err=True)


@click.command()
@click.option("--json", "json_out", is_flag=True, help="Print JSON instead of a table.")
@settings_options
def du(settings, json_out) -> None:
    """Disk usage per kind of log: live vs archived, and the oldest and newest event."""
    from ..store.usage import disk_usage
    from .table import print_table

    require_log_dir(settings)
    rows = disk_usage(settings.log_path)
    if json_out:
        click.echo(json.dumps([row.to_dict() for row in rows], indent=2))
        return
    columns = [
        ("kind", False),
        ("live", True),
        ("files", True),
        ("archive", True),
        ("files", True),
        ("total", True),
        ("oldest event", False),
        ("newest event", False),
    ]
    cells = [
        [
            row.kind,
            _human(row.live_bytes),
            row.live_files,
            _human(row.archive_bytes),
            row.archive_files,
            _human(row.total_bytes),
            row.oldest or "-",
            row.newest or "-",
        ]
        for row in rows
    ]
    cells.append(
        [
            "all",
            _human(sum(r.live_bytes for r in rows)),
            "",
            _human(sum(r.archive_bytes for r in rows)),
            "",
            _human(sum(r.total_bytes for r in rows)),
            "",
            "",
        ]
    )
    print_table(f"agentlog du: {settings.log_path}", columns, cells, last_row_style="bold")


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"
