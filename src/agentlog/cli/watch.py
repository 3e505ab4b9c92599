"""`agentlog watch` (the live watchdog) and `agentlog alerts` (read them)."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import click

from .common import AgentChoice, flags_over, require_log_dir, settings_options


def sinks_of(section: dict, notify, webhooks, execs, others, quiet: bool, json_out: bool):
    """The library's sinks_from, its ValueError a usage error."""
    from ..watch.sinks import sinks_from

    try:
        return sinks_from(
            section,
            notify=notify,
            webhooks=webhooks,
            execs=execs,
            others=others,
            stdout=None if quiet else "json" if json_out else "text",
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command()
@click.option(
    "--replay", is_flag=True, help="First start: read history (archives, then the live file) from the beginning."
)
@click.option("--since", help="First start: from the beginning, ignoring events older than this (7d, ISO time).")
@click.option("--once", is_flag=True, help="Process what is there (stuck checked against now), then exit.")
@click.option("--reset", is_flag=True, help="Forget the saved position and state first.")
@click.option(
    "--notify", multiple=True, metavar="URL", help="apprise URL (tgram://, slack://, ntfy://, ...); repeatable."
)
@click.option("--webhook", "webhooks", multiple=True, metavar="URL", help="POST each alert as JSON; repeatable.")
@click.option(
    "--exec",
    "execs",
    multiple=True,
    metavar="TYPE=CMD",
    help="Run CMD per alert of TYPE (* = all), alert JSON on stdin and in env; repeatable.",
)
@click.option(
    "--sink",
    "others",
    multiple=True,
    metavar="KIND[=SPEC]",
    help="A sink of any kind, a plugin's too (see `agentlog doctor`) [watch.sinks in TOML]; repeatable.",
)
@click.option(
    "--notify-since",
    metavar="DURATION",
    help="Send to notification sinks only alerts newer than this (replays never flood a chat) "
    "[watch.notify_since in TOML; default 1h].",
)
@click.option("--stuck-threshold-ms", type=int, help="Override AGENT_STUCK_THRESHOLD_MS.")
@click.option(
    "--follow",
    "follow",
    type=AgentChoice(having="follow"),
    help="Also import AGENT's own transcripts as they are written (PATH, default its own folder).",
)
@click.option("--rotate-every", metavar="DURATION", help="Run `agentlog rotate` now and then every DURATION (1d, 6h).")
@click.option(
    "--weekly-report",
    "weekly",
    metavar='"DAY HH:MM [ZONE]"',
    help='Write the weekly report and send it through the sinks at this time ("SUN 09:00", UTC by default).',
)
@click.option(
    "--report-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where --weekly-report writes its files [default: <log dir>/reports].",
)
@click.option("--quiet", "-q", is_flag=True, help="Do not print alerts to stdout.")
@click.option("--json", "json_out", is_flag=True, help="Print alerts as JSON lines.")
@click.argument("path", required=False, type=click.Path(file_okay=False, path_type=Path))
@settings_options
def watch(
    settings,
    replay,
    since,
    once,
    reset,
    notify,
    webhooks,
    execs,
    others,
    notify_since,
    stuck_threshold_ms,
    follow,
    rotate_every,
    weekly,
    report_dir,
    quiet,
    json_out,
    path,
) -> None:
    """Watch the event stream live: catch looping, stuck and expensive agents.

    Alerts go to agent-alerts.jsonl (always, the original format), stdout, and any
    --notify/--webhook/--exec sinks (retried from a durable outbox). The position and
    state are checkpointed in LOG_DIR/state/, so a restart continues exactly where it
    stopped: no alert missed, none repeated. A first start begins at the end of the
    stream unless --replay or --since.

    Side jobs: --follow AGENT [PATH] imports the agent's own transcripts as
    they are written, so its sessions are watched with no other setup; --rotate-every
    rotates the logs on a timer; --weekly-report sends the weekly report on schedule.

    Exit codes: 0 ok (also when AGENT_WORK_ANALYZER_ENABLED=false); 1 cannot run; 2 usage.
    """
    from ..terminal import printable
    from ..timeutil import parse_when
    from ..watch import WatchConfig, Watchdog, WatchError, WatchOptions

    if not settings.analyzer_enabled:
        click.echo(
            f"agentlog watch: the analyzer is disabled (analyzer_enabled=false from "
            f"{settings.sources['analyzer_enabled']}); nothing to do.",
            err=True,
        )
        return
    settings = flags_over(settings, {"watch.notify_since": notify_since, "stuck_threshold_ms": stuck_threshold_ms})
    section = settings.section("watch")
    try:
        options = WatchOptions(
            replay=replay,
            once=once,
            reset=reset,
            since=parse_when(since) if since else None,
            notify_since_s=section["notify_since"],
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if path is not None and follow is None:
        raise click.BadParameter("PATH is the transcript folder of --follow AGENT", param_hint="PATH")
    sinks = sinks_of(section, notify, webhooks, execs, others, quiet, json_out)
    jobs = _jobs(settings, follow, path, rotate_every, weekly, report_dir, sinks)
    config = WatchConfig.from_settings(settings)
    dog = Watchdog(
        settings,
        options,
        sinks=sinks,
        config=config,
        jobs=jobs,
        on_note=lambda text: click.echo(printable(f"agentlog watch: {text}", one_line=True), err=True),
    )
    signal.signal(signal.SIGTERM, lambda *_: dog.stop.set())
    if not once:
        click.echo(f"agentlog watch: following {settings.log_path} (Ctrl-C to stop)", err=True)
    try:
        result = dog.run()
    except WatchError as exc:
        click.echo(printable(f"agentlog watch: {exc}", one_line=True), err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        result = dog.result
    click.echo(
        f"agentlog watch: {result.events} events, {result.alerts} new alerts, "
        f"{result.malformed} malformed lines skipped",
        err=True,
    )
    if result.misdated:
        click.echo(
            f"agentlog watch: {result.misdated} events dated before 2000 or more than "
            f"{config.clock_tolerance_ms / 1000:g} s after they were read (clock skew): taken as untimed, "
            "or as of when they were read",
            err=True,
        )
    for mark in result.lost:
        click.echo(
            f"agentlog watch: warning: a checkpointed file (inode {mark.ino}) was gone; "
            "its unread rest could not be read",
            err=True,
        )
    if result.job_errors:
        sys.exit(1)


def _jobs(settings, follow, path, rotate_every, weekly, report_dir, sinks) -> list:
    from ..timeutil import parse_duration
    from ..jobs import RotateEvery, TranscriptFollower, WeeklyReport

    jobs = []
    try:
        if follow:
            jobs.append(TranscriptFollower(settings, follow, path))
        if rotate_every:
            jobs.append(RotateEvery(settings, parse_duration(rotate_every)))
        if weekly:
            jobs.append(WeeklyReport(settings, weekly, sinks, out_dir=report_dir))
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return jobs


@click.command()
@click.option("--follow", "-f", is_flag=True, help="Keep printing new alerts as they are written.")
@click.option(
    "--consumer",
    metavar="NAME",
    help="Only alerts this consumer has not seen yet; its position is kept in LOG_DIR/state/.",
)
@click.option("--type", "-t", "types", multiple=True, help="Only these alert types.")
@click.option("--attempt", "-a", help="Only this attempt.")
@click.option("--since", help="Only alerts newer than this (7d, ISO time).")
@click.option("--json", "json_out", is_flag=True, help="JSON lines instead of text.")
@click.option("--archives", is_flag=True, help="Include rotated alert files.")
@settings_options
def alerts(settings, follow, consumer, types, attempt, since, json_out, archives) -> None:
    """List alerts (agent-alerts.jsonl), or follow them as they come.

    With --consumer NAME, prints only alerts NAME has not been shown yet and remembers
    the position, the way a monitor polls the file from a byte offset.
    """
    from ..events import encode, parse_time
    from ..timeutil import parse_when
    from ..watch.consumer import AlertFeed
    from ..store.alerts import read_alerts
    from ..watch.text import one_line

    try:
        cutoff = parse_when(since) if since else None
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None

    def keep(alert) -> bool:
        if types and alert.type not in types or attempt and alert.attempt_id != attempt:
            return False
        if cutoff is None:
            return True
        try:
            return parse_time(alert.event_time or alert.timestamp) >= cutoff
        except ValueError:
            return False

    def show(alert) -> None:
        click.echo(encode(alert).decode() if json_out else one_line(alert))

    if consumer or follow:
        feed = AlertFeed(settings.log_path, consumer or "cli-follow", start="beginning" if consumer else "end")
        if consumer:
            for alert in filter(keep, feed.poll()):
                show(alert)
            feed.ack()
        if follow:
            try:
                for alert in feed.follow():
                    if keep(alert):
                        show(alert)
            except KeyboardInterrupt:
                pass
        feed.close()
        return
    require_log_dir(settings)
    for alert in filter(keep, read_alerts(settings.log_path, archives=archives)):
        show(alert)
