"""`agentlog risk`: early failure risk per step (replay the log's risk curves; train the model)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .common import require_log_dir, settings_options

_BARS = " ▁▂▃▄▅▆▇█"


def _spark(scores: list[list[float]], width: int = 40) -> str:
    values = [risk for _, risk in scores]
    if len(values) > width:  # the curve's shape, one bar per group of steps
        size = len(values) / width
        values = [max(values[int(i * size) : max(int((i + 1) * size), int(i * size) + 1)]) for i in range(width)]
    return "".join(_BARS[min(8, int(v * 8.999))] for v in values)


@click.group("risk", invoke_without_command=True)
@click.option(
    "--replay",
    "pattern",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[FILTER]",
    help="Score the logged sessions step by step; FILTER (a substring, or a glob with * ? [) "
    "of attempt id, task id, executor or model picks some.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one object per line and attempt: attempt_id, executor, model, steps, outcome "
    "(if ended), scores [[step, risk], ...], first_alert_step.",
)
@click.option(
    "--model",
    "model_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A model written by `agentlog risk train` [env AGENTLOG_RISK_MODEL; default: the packaged one].",
)
@settings_options
@click.pass_context
def risk(ctx, settings, pattern: str | None, fmt: str, model_path: Path | None) -> None:
    """Early failure risk: how likely each session is to end failed, after every step.

    \b
    agentlog risk --replay                  # every session's risk curve
    agentlog risk --replay django --format json
    agentlog risk train --labels outcomes.csv

    A step is one model call with its results. A session alerts (failure_risk, in watch)
    the first time its risk passes its cohort's threshold, set so that at most 10% of
    successful runs ever alert; for the failed runs that alerted, the replay says how many
    tokens and dollars were still to be spent at that moment.
    """
    if ctx.invoked_subcommand is not None:
        return
    if pattern is None:
        click.echo(ctx.get_help())
        return
    from ..risk.model import load
    from ..risk.score import replay
    from ..store.reader import ReadReport
    from .common import report_bad_lines

    require_log_dir(settings)
    try:
        model = load(model_path)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    report = ReadReport()
    curves = replay(settings.log_path, model, pattern or None, report)
    if fmt == "json":
        out = sys.stdout
        for curve in curves:
            out.write(json.dumps(curve.to_json()) + "\n")
    else:
        _print(curves)
    report_bad_lines(report)


def _print(curves) -> None:
    from ..terminal import printable

    if not curves:
        click.echo("no sessions match")
        return
    unspent_tokens = unspent_usd = 0.0
    alerted_failed = failed = 0
    for curve in curves:
        top = max((risk for _, risk in curve.scores), default=0.0)
        alert = f"alert at step {curve.first_alert_step}" if curve.first_alert_step else "no alert"
        click.echo(
            printable(
                f"{curve.attempt_id}  {curve.executor or '-'}  {curve.steps} steps  "
                f"{curve.outcome or 'open'}  max {top:.2f}  {alert}"
            )
        )
        if curve.scores:
            click.echo(f"  {_spark(curve.scores)}")
        if curve.first_alert_step and curve.drivers:
            click.echo("  driven by " + ", ".join(f"{n} {v:.3g}" for n, v, _ in curve.drivers))
        if curve.outcome is not None and curve.outcome != "success":
            failed += 1
            unspent = curve.unspent()
            if unspent is not None:
                alerted_failed += 1
                unspent_tokens += unspent["tokens"]
                unspent_usd += unspent["cost_usd"]
                click.echo(f"  unspent at the first alert: {unspent['tokens']:,.0f} tokens, ${unspent['cost_usd']:.2f}")
    click.echo(
        f"{len(curves)} sessions; failed runs alerted {alerted_failed}/{failed}; unspent at their first "
        f"alert: {unspent_tokens:,.0f} tokens, ${unspent_usd:.2f}"
    )


@risk.command("train")
@click.option(
    "--labels",
    "labels_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Outcomes by attempt: CSV or JSON lines with attempt_id and failed, resolved or outcome "
    "[default: each session's session_end completion_status].",
)
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the model [default: risk-model.json in the log directory].",
)
@click.option(
    "--alpha",
    type=click.FloatRange(0.001, 0.5),
    default=0.1,
    show_default=True,
    help="At most this share of successful runs may ever alert.",
)
@settings_options
def train_cmd(settings, labels_file: Path | None, out_file: Path | None, alpha: float) -> None:
    """Fit the failure-risk model on your own history (needs scikit-learn: pip install 'agentlog[ml]').

    Outcomes come from each session's end (success vs failed, timeout, interrupted), or
    from --labels. With too few labelled runs it says so and writes nothing (exit 1).
    Point AGENTLOG_RISK_MODEL (or --model) at the file written to use it.
    """
    from ..risk.history import read_events, read_labels, runs
    from ..risk.train import Labelled, TooLittle, train
    from ..store.reader import ReadReport
    from .common import report_bad_lines

    require_log_dir(settings)
    try:
        labels = read_labels(labels_file) if labels_file else None
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    report = ReadReport()
    labelled = []
    for run in runs(read_events(settings.log_path, report)):
        failed = (
            labels.get(run.attempt_id)
            if labels is not None
            else (None if run.status is None else run.status != "success")
        )
        if failed is not None and run.vectors:
            labelled.append(Labelled(run.vectors, len(run.live()), failed, run.executor, run.task_id or run.attempt_id))
    report_bad_lines(report)
    try:
        model = train(labelled, alpha=alpha)
    except TooLittle as exc:
        click.echo(f"agentlog: too little history to train: {exc}", err=True)
        sys.exit(1)
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from None
    out = out_file or settings.log_path / "risk-model.json"
    model.save(out)
    thresholds = ", ".join(f"{k or '(none)'} {v:.3f}" for k, v in sorted(model.thresholds.items()))
    click.echo(
        f"trained on {len(labelled)} runs ({sum(r.failed for r in labelled)} failed); "
        f"thresholds at alpha {alpha}: {thresholds}"
    )
    click.echo(f"wrote {out} (use it: AGENTLOG_RISK_MODEL={out})")


@risk.command("baselines")
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write them [default: watch.session_anomaly_baselines, else state/session-baselines.json "
    "in the log directory, where watch reads them].",
)
@click.option(
    "--alpha",
    type=click.FloatRange(0.001, 0.5),
    default=0.01,
    show_default=True,
    help="The share of a cohort's own sessions that would alert.",
)
@settings_options
def baselines_cmd(settings, out_file: Path | None, alpha: float) -> None:
    """Fit the cohort baselines of the session_anomaly detector on your history.

    Per cohort (watch.session_anomaly_keys: executor, model, task size) and step index,
    the median and spread of cost, tokens, tool calls, errors, repeats and tool mix. A
    cohort with fewer than watch.session_anomaly_min_sessions sessions gets none, and
    watch says nothing about its sessions (cold start). A running watch reads the file
    when it starts: restart it to use new baselines.
    """
    from ..risk import cohort
    from ..risk.history import read_events
    from ..store.reader import ReadReport
    from ..watch.config import baselines_path
    from .common import report_bad_lines

    require_log_dir(settings)
    report = ReadReport()
    found = cohort.traces(read_events(settings.log_path, report))
    report_bad_lines(report)
    watch = settings.section("watch")
    fitted = cohort.fit(found, watch["session_anomaly_keys"], watch["session_anomaly_min_sessions"], alpha)
    out = out_file or baselines_path(settings)
    fitted.save(out)
    if not fitted.cohorts:
        click.echo(
            f"{len(found)} sessions: no cohort has {watch['session_anomaly_min_sessions']} yet; "
            f"session_anomaly stays silent until one has",
            err=True,
        )
    for name, found_cohort in sorted(fitted.cohorts.items()):
        click.echo(f"{name}: {found_cohort.sessions} sessions, baselines to step {len(found_cohort.steps)}")
    click.echo(f"wrote {out}")
