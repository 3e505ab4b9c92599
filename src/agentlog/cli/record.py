"""`agentlog emit` (record events from any language) and `agentlog cat` (read them back)."""

from __future__ import annotations

import functools
import sys
from typing import Any, Callable

import click
import msgspec

from .. import jsonline
from .common import report_bad_lines, settings_options

ENVELOPE = (
    ("--task-id", "task_id", "Task id."),
    ("--task-title", "task_title", "Task title (a [xs|s|m|l|xl] tag sizes it)."),
    ("--executor", "executor", "Executor, e.g. CODEX, CLAUDE_CODE, COPILOT."),
    ("--variant", "executor_variant", "Executor variant."),
    ("--model", "model", "Model name."),
    ("--branch", "branch", "Git branch."),
    ("--session-id", "session_id", "The agent's own session id."),
    (
        "--timestamp",
        "timestamp",
        "Event time, ISO 8601 (default: now); one before 2000 or more than "
        "clock_tolerance_ms ahead is recorded at arrival, flagged clamped.",
    ),
)


def _json_value(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    """Parse JSON, or keep plain text as a string (so `--params 'ls -la'` works too)."""
    if value is None:
        return None
    try:
        return jsonline.decode(value.encode(errors="surrogateescape"))
    except msgspec.DecodeError:  # not JSON, or nested too deep
        if param.name == "extra":
            raise click.BadParameter(f"not a JSON object: {value!r}") from None
        return value


def verb(event_type: str, name: str, help: str) -> Callable:
    """Make an `emit <name>` command: envelope options + the verb's own data options."""

    def decorate(func: Callable) -> click.Command:
        @functools.wraps(func)
        def command(settings, attempt: str, extra: Any, **options: Any) -> None:
            envelope = {key: options.pop(key) for _, key, _ in ENVELOPE}
            data = {k: v for k, v in func(**options).items() if v is not None}
            if extra is not None:
                if not isinstance(extra, dict):
                    raise click.BadParameter("--data must be a JSON object")
                data = {**extra, **data}
            event = {
                "attempt_id": attempt,
                "event_type": event_type,
                **{k: v for k, v in envelope.items() if v is not None},
                "data": data,
            }
            _recorder(settings).record(event)

        command = settings_options(command)
        command = click.option("--data", "extra", callback=_json_value, help="More data fields, a JSON object.")(
            command
        )
        for flag, key, text in reversed(ENVELOPE):
            command = click.option(flag, key, help=text)(command)
        command = click.option("--attempt", "-a", required=True, help="Attempt id (one run of one agent on one task).")(
            command
        )
        return emit.command(name, help=help)(command)

    return decorate


def _recorder(settings):
    from ..recorder import Recorder

    # locked: separate emit processes recording one attempt still number it gap-free
    return Recorder(settings, locked=True)


@click.group()
def emit() -> None:
    """Record one event (from any language or shell), or a JSONL batch with `emit -`.

    \b
    agentlog emit start  --attempt A1 --executor CODEX --task-title "Fix login" --prompt "..."
    agentlog emit error  --attempt A1 --message "fatal: not a git repository"
    agentlog emit end    --attempt A1 --status success
    some-orchestrator --events | agentlog emit -

    Exit codes: 0 recorded; 1 a line was rejected or the log dir is not writable; 2 bad usage.
    """


@verb("session_start", "start", "A session starts: prompt and its type, task and git context.")
@click.option("--prompt", help="The prompt given to the agent.")
@click.option(
    "--prompt-type",
    type=click.Choice(["initial", "followup", "retry"]),
    default="initial",
    show_default=True,
    help="First prompt of the task, a follow-up, or a retry after a failed attempt.",
)
@click.option("--repo", help="Repository.")
@click.option("--commit", help="Commit the agent started from.")
@click.option("--experiment", help="The A/B test this run belongs to (see `agentlog ab`).")
@click.option("--experiment-variant", "variant", help="Its variant in that test (`agentlog ab assign` picks one).")
def _start(**o: Any) -> dict[str, Any]:
    return o


@verb("followup_sent", "followup", "A follow-up message was sent to the agent.")
@click.option("--message", "-m", required=True, help="The message sent.")
@click.option("--reason", help="Why it was sent, e.g. tests_failed, review_comment.")
def _followup(**o: Any) -> dict[str, Any]:
    return o


@verb("agent_output", "output", "The agent printed something.")
@click.option("--output", "--text", "output", required=True, help="What it printed.")
@click.option("--stream-type", default="stdout", show_default=True, help="stdout or stderr.")
def _output(**o: Any) -> dict[str, Any]:
    return o


@verb("agent_thinking", "thinking", "The agent's reasoning.")
@click.option("--text", "thinking", required=True, help="The reasoning text.")
def _thinking(**o: Any) -> dict[str, Any]:
    return o


@verb("tool_call", "tool-call", "The agent called a tool.")
@click.option("--tool", "tool_name", required=True, help="Tool name, e.g. Bash, Edit, an MCP tool.")
@click.option("--params", "tool_params", callback=_json_value, help="Tool input, JSON or text.")
@click.option("--call-id", help="Id pairing this call with its result (tool-result --call-id).")
def _tool_call(**o: Any) -> dict[str, Any]:
    return o


@verb("tool_result", "tool-result", "A tool returned.")
@click.option("--tool", "tool_name", required=True, help="Tool name, as in its tool-call.")
@click.option(
    "--result",
    type=click.Choice(["success", "error"]),
    default="success",
    show_default=True,
    help="Whether the tool succeeded.",
)
@click.option("--result-data", callback=_json_value, help="Tool output, JSON or text.")
@click.option("--call-id", help="The id of the call this result answers (else the latest call of the tool).")
def _tool_result(**o: Any) -> dict[str, Any]:
    return o


@verb("error", "error", "An error; fingerprint and category are derived when not given.")
@click.option("--message", "-m", "error_message", required=True, help="The error message.")
@click.option("--fingerprint", "error_fingerprint", help="Stable id of this kind of error [default: derived].")
@click.option("--category", "error_category", help="e.g. git, network, auth, test [default: derived].")
@click.option("--stack-trace", help="Stack trace or longer detail.")
def _error(**o: Any) -> dict[str, Any]:
    return o


@verb("usage", "usage", "Tokens and cost of one model call.")
@click.option(
    "--input-tokens", type=int, help="Prompt tokens, cache reads and writes not included (each kind counts once)."
)
@click.option(
    "--output-tokens",
    type=int,
    help="Completion tokens, reasoning not included (give it as --data '{\"reasoning_tokens\": N}').",
)
@click.option("--cache-creation-tokens", type=int, help="Tokens written to the prompt cache.")
@click.option("--cache-read-tokens", type=int, help="Tokens read from the prompt cache.")
@click.option("--cost", "cost_usd", type=float, help="Cost in USD.")
def _usage(**o: Any) -> dict[str, Any]:
    return o


@verb("status_change", "status", "The attempt's status changed.")
@click.option("--status", required=True, help="What the attempt is doing now, e.g. running, in_review.")
@click.option("--reason", help="Why it changed.")
def _status(**o: Any) -> dict[str, Any]:
    return o


@verb("session_end", "end", "The session ended; writes the session's metrics line too.")
@click.option(
    "--status",
    "completion_status",
    default="success",
    show_default=True,
    help="success, failed, timeout or interrupted; done, completed, ok mean success, error means "
    "failed, cancelled and aborted mean interrupted; any other is recorded as failed (with a "
    "warning), the original kept as completion_status_raw.",
)
@click.option("--duration-ms", type=float, help="How long the session took [default: from its first event].")
@click.option("--outcome", callback=_json_value, help='JSON, e.g. {"status": "completed", "pr_number": 12}.')
def _end(**o: Any) -> dict[str, Any]:
    from ..events import COMPLETION_STATUSES, canonical_status

    status = o["completion_status"]
    if canonical_status(status) is None:
        click.echo(
            f"agentlog emit end: --status {status!r} is not one of {', '.join(sorted(COMPLETION_STATUSES))} "
            f"nor a synonym (see --help): recorded as failed, the original kept as completion_status_raw",
            err=True,
        )
    return o


@emit.command("-")
@settings_options
def emit_batch(settings) -> None:
    """Record JSONL events from stdin, one stream-format object per line.

    Each line is validated, redacted and fanned out exactly as the Python API does.
    Lines are recorded in batches of what has arrived (a line is on disk as soon as the
    batch it came in is), with one write per file per batch. Rejected lines are reported
    as `stdin:LINE: reason` and skipped; the exit code is 1 when any line was rejected.
    """
    from ..store.reader import arriving_chunks
    from ..store.cursor import MAX_LINE
    from ..terminal import printable

    recorder = _recorder(settings)
    recorded = rejected = 0

    def reject(lineno: int, exc: Exception) -> None:
        nonlocal rejected
        rejected += 1
        click.echo(printable(f"stdin:{lineno}: {exc}", one_line=True), err=True)

    for first, chunk in arriving_chunks(sys.stdin.buffer):
        if chunk is None:
            reject(first, ValueError(f"line: longer than {MAX_LINE:,} bytes"))
        else:
            recorded += recorder.record_chunk(chunk, first, reject)
    recorder.close()
    click.echo(f"recorded {recorded} events, rejected {rejected}", err=True)
    sys.exit(1 if rejected else 0)


@click.command()
@click.option("--attempt", "-a", help="Only this attempt.")
@click.option("--type", "-t", "types", multiple=True, help="Only these event types (repeatable).")
@click.option("--executor", "-e", help="Only this executor.")
@click.option("--task", help="Only this task id.")
@click.option("--since", help="Not before: an age (7d, 12h) or an ISO time.")
@click.option("--until", help="Before: an age or an ISO time.")
@click.option(
    "--kind",
    type=click.Choice(["stream", "errors", "metrics", "alerts"]),
    default="stream",
    show_default=True,
    help="Which log to read.",
)
@click.option("--no-archives", is_flag=True, help="Read the live file only.")
@settings_options
def cat(settings, attempt, types, executor, task, since, until, kind, no_archives) -> None:
    """Print events as JSONL (live and archived files, in order); filters combine.

    Malformed lines are skipped and reported on stderr as file:line: reason.
    """
    from ..events import encode
    from ..store.reader import Filter, ReadReport, read_kind, select
    from ..timeutil import parse_when

    try:
        keep = Filter(
            attempt=attempt,
            types=frozenset(types) or None,
            executor=executor,
            task=task,
            since=parse_when(since) if since else None,
            until=parse_when(until) if until else None,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    report = ReadReport()
    out = sys.stdout.buffer
    for event in select(read_kind(settings.log_path, kind, archives=not no_archives, report=report), keep):
        out.write(encode(event) + b"\n")
    out.flush()
    report_bad_lines(report)
