"""`agentlog import <agent> [PATH]` (agents' own transcripts) and `agentlog run -- CMD`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .common import AgentChoice, settings_options


@click.command("import")
@click.argument("agent", type=AgentChoice())
@click.argument("path", required=False, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--open-after",
    "open_window_s",
    type=float,
    default=None,
    help="A transcript written to within this many seconds is still open (default 300).",
)
@click.option(
    "--follow-symlinks",
    is_flag=True,
    help="Also read transcripts that symlinks lead to outside PATH (skipped and counted by default).",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@settings_options
def import_cmd(
    settings, agent: str, path: Path | None, open_window_s: float | None, follow_symlinks: bool, quiet: bool
) -> None:
    """Import an agent's own transcripts; again later, only what is new.

    \b
    agentlog import claude-code            # ~/.claude/projects
    agentlog import codex                  # ~/.codex/sessions
    agentlog import swe-agent trajectories/
    agentlog import atif jobs/             # every trajectory.json (Harbor's ATIF)
    agentlog import mini-swe-agent trajectories/  # *.traj.json

    The last line counts sessions and events, the records skipped (by reason) and the
    files that are not sessions (empty, not JSON lines, nothing with a time, ...).
    An import cut short (killed, disk full) is finished by the next one, each event once.
    """
    from ..agents import get
    from ..capture.incremental import import_path
    from ..recorder import Recorder
    from ..terminal import printable

    importer = get(agent).importer()
    root = (path or Path(importer.default_path)).expanduser()
    if not root.exists():
        raise click.UsageError(f"{root} does not exist (pass the transcript folder as PATH)")
    with Recorder(settings) as recorder, _Bar(importer.name, enabled=not quiet and sys.stderr.isatty()) as bar:
        result = import_path(
            importer,
            root,
            recorder,
            open_window_s=open_window_s,
            follow_symlinks=follow_symlinks,
            listed=bar.start,
            progress=bar.advance,
        )
    click.echo(printable(f"{agent}: {result.stats.files} files, {result.summary()}"))


class _Bar:
    """A progress bar over the bytes to read, shown for 20 files or more."""

    def __init__(self, name: str, enabled: bool):
        self.name, self.enabled = name, enabled
        self.bar = self.task = None

    def __enter__(self) -> "_Bar":
        return self

    def start(self, files: list[Path]) -> None:
        if not self.enabled or len(files) < 20:
            return
        from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

        total = sum(f.stat().st_size for f in files if f.exists())
        self.bar = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            transient=True,
        )
        self.bar.start()
        self.task = self.bar.add_task(f"importing {self.name}", total=total)

    def advance(self, _file: Path, size: int) -> None:
        if self.bar is not None:
            self.bar.advance(self.task, size)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


@click.command("enrich")
@click.option(
    "--vibe-kanban",
    "vibe_kanban",
    is_flag=True,
    required=True,
    help="From Vibe Kanban's local store (the only source so far).",
)
@click.argument("data_dir", required=False, type=click.Path(exists=True, path_type=Path))
@settings_options
def enrich(settings, vibe_kanban: bool, data_dir: Path | None) -> None:
    """Give recorded attempts their task title, branch, executor variant and outcome.

    \b
    agentlog enrich --vibe-kanban                  # ~/.local/share/vibe-kanban (macOS:
                                                   # ~/Library/Application Support/ai.bloop.vibe-kanban)
    agentlog enrich --vibe-kanban ~/vk-backup/

    An attempt matches a workspace by the agent's own session id (imported Claude Code
    and Codex sessions), by `ve-<4 hex>-<slug>` (its branch) or by the workspace UUID.
    The store is only read. Again later: only what changed is added.
    """
    from ..agents._vibe_kanban_enrich import enrich_vibe_kanban
    from ..agents.vibe_kanban import DEFAULT_DIR, VibeKanbanImporter
    from ..recorder import Recorder

    root = (data_dir or Path(DEFAULT_DIR)).expanduser()
    stores = VibeKanbanImporter().files(root) if root.exists() else []
    if not stores:
        raise click.UsageError(f"no Vibe Kanban store (db.v2.sqlite) in {root}: pass its data folder")
    import sqlite3

    from ..agents.vibe_kanban import UnsupportedSchema

    try:
        with Recorder(settings) as recorder:
            result = enrich_vibe_kanban(recorder, stores[0])
    except (UnsupportedSchema, sqlite3.DatabaseError) as exc:
        raise click.ClickException(f"{stores[0]}: cannot be read ({exc})") from None
    click.echo(f"vibe-kanban: {result.summary()}")


@click.group("export")
def export() -> None:
    """Write recorded sessions in another tool's format."""


@export.command("atif")
@click.argument("attempt", required=False, metavar="[FILTER]")
@click.option("--executor", "-e", help="Only this executor's sessions.")
@click.option("--task", help="Only this task id's sessions.")
@click.option("--since", help="Sessions with an event not before: an age (7d, 12h) or an ISO time.")
@click.option("--until", help="Sessions with an event before: an age or an ISO time.")
@click.option(
    "--out",
    "-o",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("atif"),
    show_default=True,
    help="Folder to write `<attempt>/trajectory.json` files into.",
)
@settings_options
def export_atif(
    settings,
    attempt: str | None,
    executor: str | None,
    task: str | None,
    since: str | None,
    until: str | None,
    out_dir: Path,
) -> None:
    """Write sessions as ATIF trajectories (Harbor's Agent Trajectory Interchange Format).

    \b
    agentlog export atif                       # every session, into ./atif/
    agentlog export atif 'run-*' -o out/       # attempts whose id matches the pattern
    agentlog export atif -e CODEX --since 7d

    One `trajectory.json` per session (schema ATIF-v1.4): prompts, replies, tool calls
    with their results, and per-call metrics. `agentlog import atif` reads them back as
    the same sessions, tool calls, tokens and cost. Exits 1 when no session matched.
    """
    import fnmatch

    from ..agents.atif import export
    from ..store.reader import Filter
    from ..terminal import printable
    from ..timeutil import parse_when

    try:
        keep = Filter(
            executor=executor,
            task=task,
            since=parse_when(since) if since else None,
            until=parse_when(until) if until else None,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    pattern = attempt or "*"
    written = export(
        settings.log_path, out_dir, lambda e: keep(e) and fnmatch.fnmatchcase(str(e.get("attempt_id")), pattern)
    )
    click.echo(printable(f"atif: {len(written)} sessions written to {out_dir}"))
    sys.exit(0 if written else 1)


@click.command("run", context_settings={"ignore_unknown_options": True})
@click.option("--attempt", "-a", required=True, help="Attempt id (one run of one agent on one task).")
@click.option("--executor", "-e", required=True, help="Executor, e.g. CODEX, CLAUDE_CODE.")
@click.option("--task", "task_title", help="Task title.")
@click.option("--task-id", help="Task id.")
@click.option("--model", help="Model name, when the agent does not print it.")
@click.option("--prompt", help="The prompt given to the agent, for the session_start.")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@settings_options
def run_cmd(
    settings,
    attempt: str,
    executor: str,
    task_title: str | None,
    task_id: str | None,
    model: str | None,
    prompt: str | None,
    command: tuple[str, ...],
) -> None:
    """Run an agent, recording it: output, tool calls, usage, exit status.

    \b
    agentlog run --attempt A1 --executor CODEX -- codex exec --json "fix the tests"
    agentlog run -a A2 -e CLAUDE_CODE -- claude -p "..." --output-format stream-json --verbose

    Exits with the agent's exit code; 127 when the command is not found, 126 when it
    cannot be run (both recorded as a failed session with the reason).
    """
    from ..agents import importers
    from ..capture.wrapper import run
    from ..recorder import Recorder
    from ..terminal import printable

    with Recorder(settings) as recorder:
        result = run(
            command,
            recorder,
            attempt_id=attempt,
            executor=executor,
            task_id=task_id,
            task_title=task_title,
            model=model,
            prompt=prompt,
            importers=importers(),
        )
    if result.error:
        click.echo(printable(f"agentlog run: {result.error}", one_line=True), err=True)
    sys.exit(result.exit_code)
