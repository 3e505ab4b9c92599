"""`agentlog report`, `agentlog replay`, `agentlog serve`: the views people open."""

from __future__ import annotations

from pathlib import Path

import click

from .common import listen, report_bad_lines, require_log_dir, resolve_token, settings_options


@click.command("report")
@click.option("--weekly", is_flag=True, help="The weekly report (the default period is 7 days).")
@click.option(
    "--days",
    type=click.IntRange(1, 366),
    default=7,
    show_default=True,
    help="Length of the period, ending now; compared with the period before.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to write the files [default: <log dir>/reports].",
)
@click.option(
    "--format",
    "formats",
    type=click.Choice(["html", "md", "json"]),
    multiple=True,
    help="Only these formats (repeatable) [default: all three].",
)
@settings_options
def report_cmd(settings, weekly: bool, days: int, out_dir: Path | None, formats: tuple[str, ...]) -> None:
    """Write the report: self-contained HTML (charts inline, opens offline), Markdown and
    JSON with totals, trend, executors, models, top error templates, planning insights,
    recommendations, advice (`agentlog advise`: dollars per week) and early warnings (the
    failure_risk and session_anomaly alerts, and which came in time to matter: failed runs
    alerted, dollars they spent after the first alert). Thresholds: [report] in the TOML
    settings."""
    from ..report import build_report, report_text, write_report
    from ..report.render import FORMATS
    from ..terminal import printable

    require_log_dir(settings)
    try:
        report = build_report(settings, days=days)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    paths = write_report(report, out_dir or settings.log_path / "reports", formats or FORMATS)
    click.echo(printable(report_text(report)))
    for path in paths.values():
        click.echo(f"wrote {path}")


@click.command("replay")
@click.argument("attempt")
@click.option("--follow", "-f", is_flag=True, help="Keep showing a running session until it ends.")
@click.option(
    "--speed",
    type=click.FloatRange(min=0, min_open=True),
    help="Re-play with the session's own timing, this many times faster (long pauses are cut to 5 s).",
)
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a standalone HTML page of the timeline instead of printing it.",
)
@click.option("--full", is_flag=True, help="Unfold every detail: prompts, tool params, outputs, stack traces.")
@settings_options
def replay_cmd(settings, attempt: str, follow: bool, speed: float | None, html_file: Path | None, full: bool) -> None:
    """Show one attempt as a timeline: time, elapsed, sequence, event with icon, tool
    calls with their results folded, errors and alerts where they happened, and a footer
    with duration, tokens, cost and outcome."""
    from rich.console import Console
    from rich.markup import escape

    from .. import replay
    from ..terminal import printable

    console = Console(highlight=False)
    if follow:  # may wait for a log dir that agents have not created yet
        console.print(f"Following {escape(printable(attempt, one_line=True))} (Ctrl+C to stop)", style="dim")
        try:
            timeline = replay.follow(settings.log_path, attempt, lambda e: replay.print_entry(console, e, full))
        except KeyboardInterrupt:
            return
        replay.print_footer(console, timeline)
        report_bad_lines(timeline)
        return
    require_log_dir(settings)
    timeline = replay.build_timeline(settings.log_path, attempt)
    report_bad_lines(timeline)
    if not timeline.found:
        click.echo(printable(f"agentlog: no session {attempt!r} in {settings.log_path}", one_line=True), err=True)
        raise SystemExit(1)
    if html_file is not None:
        from ..store.atomic import replace_file

        replace_file(html_file, replay.render_html(timeline).encode("utf-8"), durable=False)
        click.echo(f"wrote {html_file}")
        return
    if speed is None:
        replay.print_timeline(timeline, console, full)
        return
    replay.print_header(console, timeline)
    try:
        replay.play(
            timeline,
            lambda e: replay.print_entry(console, e, full),
            speed,
            idle=lambda s: console.print(f"{replay.INDENT}⋯ {s:,.0f}s pause cut short", style="dim"),
        )
    except KeyboardInterrupt:
        return
    replay.print_footer(console, timeline)


@click.command("serve")
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to bind; anything but loopback requires a token."
)
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8765, show_default=True, help="Port (0 = any free port)."
)
@click.option(
    "--token",
    help="Require this token (16+ characters) on every request [env AGENTLOG_WEB_TOKEN]. "
    "A browser brings it once as ?token=...; it is kept in a cookie and taken out of the URL.",
)
@settings_options
def serve_cmd(settings, host: str, port: int, token: str | None) -> None:
    """Start the local dashboard: overview, sessions, replay, live alerts, executors, error
    clusters. Read-only; binds 127.0.0.1 unless told otherwise."""
    from ..web.app import TOKEN_ENV, serve
    from ..web.server import url

    require_log_dir(settings)
    token = resolve_token(host, token, TOKEN_ENV)
    sock = listen(host, port)
    note = "; open it once with ?token=<your token>" if token else ""
    click.echo(f"agentlog dashboard: {url(sock, '/')}  (logs: {settings.log_path}; Ctrl+C to stop{note})", err=True)
    serve(settings.log_path, sock, token=token, pricing=settings.section("pricing"))
