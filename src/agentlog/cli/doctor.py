"""`agentlog doctor`: the troubleshooting questions in one call (the checks are in agentlog/doctor.py)."""

from __future__ import annotations

import sys

import click

from .common import settings_options


@click.command()
@click.option("--notify", multiple=True, metavar="URL", help="Also check this apprise URL.")
@click.option("--webhook", "webhooks", multiple=True, metavar="URL", help="Also check this webhook is reachable.")
@click.option("--json", "json_out", is_flag=True, help="Print the checks as JSON.")
@settings_options
def doctor(settings, notify, webhooks, json_out) -> None:
    """Check the setup: configuration and its sources, log dir, files, watchdog, alerts, sinks.

    Every problem comes with its fix. Exit code 1 when a problem was found.
    """
    from ..doctor import diagnose

    report = diagnose(settings, notify=list(notify), webhooks=list(webhooks))
    if json_out:
        import json

        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        _render_doctor(report)
    sys.exit(1 if report.problems else 0)


def _render_doctor(report) -> None:
    from rich.console import Console
    from rich.markup import escape

    from ..terminal import printable
    from .table import print_table

    console = Console()
    print_table(
        "Configuration",
        [("setting", False), ("value", False), ("from", False)],
        [[name, value, source] for name, value, source in report.settings],
        console,
    )
    marks = {"ok": "[green]     ok[/]", "warn": "[yellow]   warn[/]", "problem": "[bold red]PROBLEM[/]"}
    for check in report.checks:
        console.print(
            f"{marks[check.status]}  [bold]{escape(printable(check.name))}[/]: {escape(printable(check.detail))}",
            highlight=False,
        )
        if check.fix and check.status != "ok":
            console.print(f"          fix: {escape(printable(check.fix))}", highlight=False)
    console.print(f"{len(report.problems)} problem(s), {len(report.warnings)} warning(s)")
