"""`agentlog import <agent> [PATH]` (agents' own transcripts) and `agentlog run -- CMD`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .common import AgentChoice, settings_options


@click.command("import")
@click.argument("agent", type=AgentChoice())
@click.argument("path", required=False, type=click.Path(exists=True, path_type=Path))
@click.option("--open-after", "open_window_s", type=float, default=None,
              help="A transcript written to within this many seconds is still open (default 300).")
@click.option("--follow-symlinks", is_flag=True,
              help="Also read transcripts that symlinks lead to outside PATH (skipped and counted by default).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@settings_options
def import_cmd(settings, agent: str, path: Path | None, open_window_s: float | None, follow_symlinks: bool,
               quiet: bool) -> None:
    """Import an agent's own transcripts; again later, only what is new.

    \b
    agentlog import claude-code            # ~/.claude/projects
    agentlog import codex                  # ~/.codex/sessions
    agentlog import swe-agent trajectories/

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
        result = import_path(importer, root, recorder, open_window_s=open_window_s,
                             follow_symlinks=follow_symlinks, listed=bar.start, progress=bar.advance)
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
        self.bar = Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                            TimeRemainingColumn(), transient=True)
        self.bar.start()
        self.task = self.bar.add_task(f"importing {self.name}", total=total)

    def advance(self, _file: Path, size: int) -> None:
        if self.bar is not None:
            self.bar.advance(self.task, size)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


@click.command("run", context_settings={"ignore_unknown_options": True})
@click.option("--attempt", "-a", required=True, help="Attempt id (one run of one agent on one task).")
@click.option("--executor", "-e", required=True, help="Executor, e.g. CODEX, CLAUDE_CODE.")
@click.option("--task", "task_title", help="Task title.")
@click.option("--task-id", help="Task id.")
@click.option("--model", help="Model name, when the agent does not print it.")
@click.option("--prompt", help="The prompt given to the agent, for the session_start.")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@settings_options
def run_cmd(settings, attempt: str, executor: str, task_title: str | None, task_id: str | None,
            model: str | None, prompt: str | None, command: tuple[str, ...]) -> None:
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
        result = run(command, recorder, attempt_id=attempt, executor=executor, task_id=task_id,
                     task_title=task_title, model=model, prompt=prompt,
                     importers=importers())
    if result.error:
        click.echo(printable(f"agentlog run: {result.error}", one_line=True), err=True)
    sys.exit(result.exit_code)
