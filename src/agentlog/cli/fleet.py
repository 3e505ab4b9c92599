"""`agentlog fleet forward|watch|archive|compact|status`: many machines, one watchdog, on NATS JetStream."""

from __future__ import annotations

import asyncio
import functools
import signal
import sys
from pathlib import Path
from typing import Any, Callable

import click

from .common import flags_over, settings_options


def nats_options(func: Callable) -> Callable:
    """--nats and the auth/TLS flags (also from the [fleet] TOML table); gives `nats`."""

    @click.option(
        "--nats",
        "servers",
        metavar="URL[,URL...]",
        help="NATS server(s) [fleet.nats in TOML; default nats://127.0.0.1:4222].",
    )
    @click.option("--creds", type=click.Path(dir_okay=False), help="NATS credentials file.")
    @click.option("--token", help="NATS auth token.")
    @click.option("--tls-ca", type=click.Path(dir_okay=False), help="CA file to verify the servers' TLS.")
    @click.option("--tls-cert", type=click.Path(dir_okay=False), help="Client certificate (mutual TLS).")
    @click.option("--tls-key", type=click.Path(dir_okay=False), help="Client key (mutual TLS).")
    @functools.wraps(func)
    def wrapper(*args: Any, servers, creds, token, tls_ca, tls_cert, tls_key, **kwargs: Any) -> Any:
        from ..fleet.bus import NatsOptions

        settings = kwargs["settings"] = flags_over(
            kwargs["settings"],
            {
                "fleet.nats": servers,
                "fleet.creds": creds,
                "fleet.token": token,
                "fleet.tls_ca": tls_ca,
                "fleet.tls_cert": tls_cert,
                "fleet.tls_key": tls_key,
            },
        )
        table = settings.section("fleet")
        nats = NatsOptions(
            servers=table["nats"],
            creds=table["creds"],
            token=table["token"],
            tls_ca=table["tls_ca"],
            tls_cert=table["tls_cert"],
            tls_key=table["tls_key"],
        )
        return func(*args, nats=nats, **kwargs)

    return wrapper


def _run(runner) -> Any:
    """Run a fleet component until done, Ctrl-C or SIGTERM (which stop it cleanly)."""

    async def main():
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, runner.stop.set)
        return await runner.run()

    return asyncio.run(main())


@click.group()
def fleet() -> None:
    """Fleet mode: forward each machine's events to NATS JetStream, watch and archive them centrally."""


@fleet.command()
@click.option("--host", help="This machine's name in subjects [default: hostname + hash of the log dir].")
@click.option("--once", is_flag=True, help="Forward what is there, then exit.")
@click.option("--replicas", type=int, help="Stream replicas when creating them [default: 3 in a cluster, else 1].")
@settings_options
@nats_options
def forward(settings, nats, host, once, replicas) -> None:
    """Publish the local stream to the fleet, exactly once and in order.

    The checkpoint (LOG_DIR/state/) advances only after the server acknowledged, so a
    machine offline for a day sends its backlog when it is back, nothing lost or doubled.
    """
    from ..fleet.forward import ForwardOptions, Forwarder

    forwarder = Forwarder(settings.log_path, nats, ForwardOptions(host=host, once=once, replicas=replicas))
    click.echo(f"agentlog fleet forward: {settings.log_path} -> {nats.servers} as {forwarder.host}", err=True)
    result = _run(forwarder)
    click.echo(
        f"agentlog fleet forward: {result.forwarded} events in {result.messages} messages, "
        f"{result.malformed} malformed lines skipped",
        err=True,
    )


@fleet.command()
@click.option("--worker-id", help="This worker's name [default: hostname-pid-random].")
@click.option("--replicas", type=int, help="Stream replicas when creating them.")
@click.option("--notify", multiple=True, metavar="URL", help="apprise URL; repeatable.")
@click.option("--webhook", "webhooks", multiple=True, metavar="URL", help="POST each alert as JSON; repeatable.")
@click.option("--exec", "execs", multiple=True, metavar="TYPE=CMD", help="Run CMD per alert of TYPE; repeatable.")
@click.option(
    "--sink",
    "others",
    multiple=True,
    metavar="KIND[=SPEC]",
    help="A sink of any kind, a plugin's too [watch.sinks in TOML]; repeatable.",
)
@click.option("--stuck-threshold-ms", type=int, help="Override AGENT_STUCK_THRESHOLD_MS.")
@click.option("--quiet", "-q", is_flag=True, help="Do not print alerts to stdout.")
@click.option("--json", "json_out", is_flag=True, help="Print alerts as JSON lines.")
@settings_options
@nats_options
def watch(
    settings, nats, worker_id, replicas, notify, webhooks, execs, others, stuck_threshold_ms, quiet, json_out
) -> None:
    """Run the detectors on the fleet stream; start several to share the work.

    Sessions are partitioned, each partition owned by one worker (a lease in KV); a
    worker that dies hands its partitions to the others within seconds. Alerts go to
    the AGENTLOG_ALERTS stream (once per alert_id) and this worker's agent-alerts.jsonl
    (LOG_DIR); the --notify/--webhook/--exec sinks read that stream through a durable
    consumer shared by all workers, so an alert reaches them even if its worker died.
    """
    from ..fleet.watch import FleetWatcher, FleetWatchOptions
    from ..watch import WatchConfig
    from .watch import sinks_of

    settings = flags_over(settings, {"stuck_threshold_ms": stuck_threshold_ms})
    sinks = sinks_of(settings.section("watch"), notify, webhooks, execs, others, quiet, json_out)
    config = WatchConfig.from_settings(settings)
    watcher = FleetWatcher(
        settings, nats, FleetWatchOptions(worker_id=worker_id, replicas=replicas), sinks=sinks, config=config
    )
    click.echo(f"agentlog fleet watch: worker {watcher.worker_id} on {nats.servers}", err=True)
    result = _run(watcher)
    click.echo(
        f"agentlog fleet watch: {result.events} events, {result.alerts} new alerts, "
        f"{result.duplicates} already published",
        err=True,
    )


@fleet.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory to write the fleet's logs into (the usual layout).",
)
@click.option("--once", is_flag=True, help="Write what the streams hold now, then exit.")
@click.option(
    "--parquet/--no-parquet",
    default=True,
    show_default=True,
    help="Also compact the stream into OUT/parquet/day=D/machine=M/ (what analytics then read).",
)
@click.option(
    "--compact-every",
    type=click.FloatRange(min=1),
    default=60,
    show_default=True,
    metavar="SECONDS",
    help="How often to compact the new events into Parquet (and once more at exit).",
)
@settings_options
@nats_options
def archive(settings, nats, out, once, parquet, compact_every) -> None:
    """Write the fleet stream into OUT in the usual log layout, each event exactly once.

    Then `agentlog summary --log-dir OUT`, reports and the dashboard cover the whole fleet.
    With Parquet on (the default) they read the compacted parts plus the newest events.
    """
    from ..fleet.archive import ArchiveError, ArchiveOptions, Archiver

    archiver = Archiver(out, nats, ArchiveOptions(once=once, parquet=parquet, compact_every_s=compact_every))
    try:
        result = _run(archiver)
    except ArchiveError as exc:
        click.echo(f"agentlog fleet archive: {exc}", err=True)
        sys.exit(1)
    click.echo(
        f"agentlog fleet archive: {result.written} events written, {result.duplicates} duplicates "
        f"skipped, {result.alerts} alerts, {result.repaired} lines completed after a crash, "
        f"{result.compacted} events compacted into Parquet",
        err=True,
    )
    if result.compact_error:
        click.echo(f"agentlog fleet archive: Parquet not written: {result.compact_error}", err=True)


@fleet.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    required=True,
    help="The directory `fleet archive --out` writes.",
)
@click.option(
    "--merge-at",
    type=click.IntRange(min=2),
    default=8,
    show_default=True,
    help="Merge a day and machine's small parts once it has this many.",
)
def compact(out, merge_at) -> None:
    """Compact a fleet archive's new events into Parquet now (`fleet archive` does it every minute).

    Safe beside a running archiver and any reader; a crash at any point loses or doubles nothing.
    Exit 1 if the archive cannot be compacted (its stream was rotated).
    """
    import duckdb

    from ..analytics.columnar import ColumnarError
    from ..analytics.columnar import compact as run_compaction

    try:
        done = run_compaction(out, merge_at=merge_at)
    except (ColumnarError, OSError, duckdb.Error) as exc:
        click.echo(f"agentlog fleet compact: {exc}", err=True)
        sys.exit(1)
    click.echo(
        f"agentlog fleet compact: {done.rows} events into {done.parts} parts ({done.merged} small parts merged); "
        f"{done.offset} bytes of the stream in Parquet",
        err=True,
    )


@fleet.command()
@click.option("--json", "json_out", is_flag=True, help="Print the status as JSON.")
@settings_options
@nats_options
def status(settings, nats, json_out) -> None:
    """Streams, consumers (pending), machines (lag, last seen), workers alive, partition owners."""
    from ..fleet.status import fleet_status

    try:
        report = asyncio.run(asyncio.wait_for(fleet_status(nats), 30))
    except Exception as exc:  # noqa: BLE001 - unreachable servers: say so, exit 1
        click.echo(f"agentlog fleet status: cannot reach {nats.servers}: {exc!r}", err=True)
        sys.exit(1)
    if json_out:
        import json

        click.echo(json.dumps(report, indent=2, default=str))
        return
    _render_status(report)


def _render_status(report: dict) -> None:
    from rich.console import Console

    from ..terminal import printable
    from .table import print_table

    console = Console()
    tables = {
        "Streams": (report["streams"], ["stream", "messages", "bytes", "last_seq", "replicas", "leader"]),
        "Consumers": (report["consumers"], ["stream", "consumer", "pending", "ack_pending", "delivered"]),
        "Machines": (report["machines"], ["host", "running", "lag_bytes", "forwarded", "retries", "seen_s_ago"]),
        "Workers": (report["workers"], ["worker", "host", "partitions", "events", "alerts"]),
    }
    for title, (rows, columns) in tables.items():
        numeric = [all(isinstance(row.get(c), (int, float)) for row in rows) and bool(rows) for c in columns]
        print_table(title, list(zip(columns, numeric)), [[row.get(c, "") for c in columns] for row in rows], console)
    owners = ", ".join(f"{k}={v}" for k, v in sorted(report["leases"].items())) or "none"
    console.print(printable(f"partition owners: {owners}"), markup=False)
    console.print(f"agents alive (heartbeat not expired): {report['agents_alive']}")
