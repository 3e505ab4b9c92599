"""`agentlog advise` (what to change, in dollars, with evidence) and `agentlog ab` (A/B tests)."""

from __future__ import annotations

from pathlib import Path

import click

from .analytics import render, scope_options


@click.group()
def ab() -> None:
    """A/B tests of prompts, context files and configuration, judged on task success.

    \b
    agentlog ab assign prompt-v2 --task T-17            # prints A or B, stable per task
    agentlog emit start --attempt X --task-id T-17 --experiment prompt-v2 --experiment-variant B
    agentlog ab report prompt-v2                        # success, cost, duration, verdict
    agentlog ab report context                          # runs grouped by context_sha256 (hooks stamp it)
    """


@ab.command("assign")
@click.argument("experiment")
@click.option("--task", "task_id", required=True, help="The task id: the same task always gets the same variant.")
@click.option("--variants", default="A,B", show_default=True, help="Comma-separated variant names.")
def assign_cmd(experiment: str, task_id: str, variants: str) -> None:
    """Print the variant of a task in EXPERIMENT (a hash of both: stable and balanced)."""
    from ..analytics.ab import assign

    names = [v.strip() for v in variants.split(",") if v.strip()]
    if not names or len(set(names)) != len(names):
        raise click.BadParameter("give distinct, non-empty variant names", param_hint="--variants")
    click.echo(assign(experiment, task_id, names))


@ab.command("report")
@click.argument("experiment", required=False)
@click.option("--control", help="The control variant [default: the one with the most runs].")
@click.option(
    "--effect",
    type=click.FloatRange(0, 1, min_open=True),
    default=0.10,
    show_default=True,
    help="Success-rate difference worth detecting (0.10 = 10 percentage points): the power is for it.",
)
@click.option(
    "--cost-effect",
    type=click.FloatRange(0, min_open=True),
    default=0.20,
    show_default=True,
    help="Relative cost change worth detecting (0.20 = 20%).",
)
@click.option(
    "--sequential", is_flag=True, help="Add an always-valid p-value (mixture SPRT): safe to read after every run."
)
@scope_options(default_days=None)
def report_cmd(settings, scope, fmt, experiment, control, effect, cost_effect, sequential) -> None:
    """Compare the variants of EXPERIMENT (`context`: the context hashes); without it, list experiments.

    Success rate with Wilson intervals, cost and duration with bootstrap intervals,
    McNemar on tasks run under both variants, Holm's correction across the metrics, the
    minimum detectable effect and the power: below power 0.8 the verdict is "not enough
    data yet".
    """
    from ..analytics import load
    from ..analytics.ab import compare_runs, experiments, runs_of

    data = load(settings.log_path)
    if experiment is None:
        found = experiments(data, scope)
        _list(found, fmt)
        return
    runs = runs_of(data, experiment, scope)
    result = compare_runs(
        runs, experiment, control=control, effect=effect, cost_effect=cost_effect, sequential=sequential
    )
    result.malformed = data.malformed
    render(
        result,
        fmt,
        lambda: (
            f"No ended runs of experiment {experiment!r} in this window; `agentlog ab report` lists the experiments."
        ),
    )


def _list(found, fmt: str) -> None:
    import json

    from ..analytics.report import Table
    from .analytics import _rich

    if fmt == "json":
        click.echo(json.dumps(found, indent=2))
    elif not found:
        click.echo(
            "No experiments yet: record `session_start` with experiment and variant, or install the "
            "hooks (they stamp context_sha256).",
            err=True,
        )
    else:
        _rich([Table("Experiments", ["experiment", "variants", "runs"], found)])


@click.command()
@click.option(
    "--risk-scores",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Failure-risk scores, JSON lines as `agentlog risk --replay --format json` writes: "
    "enables the stop-loss finding.",
)
@click.option(
    "--max-loss-pp",
    type=click.FloatRange(0, 100),
    default=2.0,
    show_default=True,
    help="Stop-loss: at most this many percentage points of resolved tasks lost (the 95% upper bound).",
)
@click.option(
    "--margin-pp",
    type=click.FloatRange(0, 100),
    default=2.0,
    show_default=True,
    help="Routing: advise a cheaper option only if its success is not more than this lower (95%).",
)
@click.option(
    "--pressure",
    type=click.FloatRange(0, 1, min_open=True),
    default=0.8,
    show_default=True,
    help="Context pressure: the share of the model's context window that counts as full.",
)
@scope_options(default_days=28)
def advise(settings, scope, fmt, risk_scores, max_loss_pp, margin_pp, pressure) -> None:
    """What to change to spend less, in dollars per week of this history.

    Each finding has its evidence (sessions, counts), a confidence, and an outcome guard:
    what following it would have cost in success rate, with a 95% interval, where the
    history can tell. Findings: prompt cache written and never read, files re-read
    without change, identical calls repeated, large unused tool output, spend after
    unheeded alerts, sessions past 80% of the context window, stop-loss (with
    --risk-scores) and routing to a cheaper executor or model.
    """
    from ..analytics import load
    from ..analytics.advise import advise as run
    from ..capture.pricing import Pricing

    data = load(settings.log_path)
    result = run(
        data,
        scope,
        pricing=Pricing.load(settings.section("pricing")),
        risk_scores=risk_scores,
        max_loss_pp=max_loss_pp,
        margin_pp=margin_pp,
        pressure=pressure,
    )
    render(result, fmt, lambda: "No sessions in this window. Try --days 0 for all time.")
