"""`agentlog demo`: a simulated fleet writing real events, then a summary of what was written."""

from __future__ import annotations

import click

from .common import settings_options


@click.command()
@click.option("--agents", default=10, show_default=True, help="How many simulated agents.")
@click.option("--speed", default=1.0, show_default=True, help="Play faster (>1) or slower.")
@click.option("--seed", default=7, show_default=True, help="Random seed for the fleet.")
@click.option(
    "--watch/--no-watch",
    default=True,
    show_default=True,
    help="Run the watchdog beside the fleet and show its alerts live.",
)
@click.option("--stuck-ms", default=3000, show_default=True, help="Stuck threshold of the demo's watchdog.")
@click.option("--fleet", is_flag=True, help="Fleet mode: a local 3-node NATS cluster, 3 machines, 2 watchdog workers.")
@settings_options
def demo(settings, agents: int, speed: float, seed: int, watch: bool, stuck_ms: int, fleet: bool) -> None:
    """Simulate a fleet of agents (several executors, models and tasks: some succeed,
    some loop on one error, some call one tool over and over, some go idle, some cost
    too much) writing real events into the log dir, then summarise what was written."""
    from contextlib import nullcontext

    from rich.console import Console
    from rich.markup import escape

    from ..demo import WatchBeside, run_fleet
    from ..recorder import Recorder
    from .table import print_table

    console = Console()
    if fleet:
        return _fleet_demo(console, settings, agents, speed, seed)
    console.print(f"Simulating {agents} agents into [bold]{escape(str(settings.log_path))}[/] ...")
    watchdog = WatchBeside(settings, stuck_ms) if watch else nullcontext()
    with watchdog, Recorder(settings) as recorder:
        if watch:
            console.print(f"Watchdog running beside them (stuck after {stuck_ms / 1000:g} s); alerts as they happen:")
        report = run_fleet(recorder, agents, seed=seed, speed=speed)
        if watch and "goes_idle" in report.attempts.values():
            watchdog.wait_for("stuck_agent", stuck_ms / 1000 + 2)
    if watch:
        console.print(f"Alerts raised: {len(watchdog.alerts)} (agentlog alerts; agentlog doctor)")
    print_table(
        "Attempts", [("attempt", False), ("scenario", False)], list(map(list, report.attempts.items())), console
    )
    events = ", ".join(f"{n} {kind}" for kind, n in report.events.most_common())
    console.print(f"Events written: {sum(report.events.values())} ({events})")
    for name, size in report.files.items():
        console.print(f"  {settings.log_path / name}  {size:,} bytes", markup=False)
    console.print(f"Look at it: agentlog serve --log-dir {settings.log_path}  ->  http://127.0.0.1:8765/", markup=False)


def _fleet_demo(console, settings, agents: int, speed: float, seed: int) -> None:
    from ..fleet.demo import run_fleet_demo
    from ..watch.text import one_line

    result = run_fleet_demo(settings.log_path, agents=agents, seed=seed, speed=speed, say=console.print)
    console.print(
        f"Archive: {result.archive} ({result.events} events from {len(result.machines)} machines)", markup=False
    )
    console.print(f"Alerts ({len(result.alerts)}), each exactly once:")
    for alert in result.alerts:
        console.print(f"  {one_line(alert)}", highlight=False, markup=False)
    parts = sum(p["parts"] for p in result.parquet)
    console.print(
        f"Parquet: {result.archive / 'parquet'} ({sum(p['events'] for p in result.parquet)} events "
        f"in {parts} parts, by day and machine):",
        markup=False,
    )
    for p in result.parquet:
        console.print(f"  day={p['day']}/machine={p['machine']}: {p['events']} events", markup=False)
    s = result.summary
    console.print(
        f"The whole fleet, read from the Parquet: {s.sessions} sessions, {s.ended} ended, "
        f"success {s.success_pct or 0:.0f}%, cost ${s.total_cost_usd:.2f}, {s.total_errors} errors",
        markup=False,
    )
    console.print(f"Try: agentlog summary --log-dir {result.archive}", markup=False)
    console.print(f"     agentlog report --weekly --log-dir {result.archive}", markup=False)
