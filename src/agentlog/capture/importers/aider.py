"""aider's chat history: `.aider.chat.history.md` in the project (or the file named by
`--chat-history-file`), Markdown that aider appends to as it runs.

Each run starts with `# aider chat started at YYYY-MM-DD HH:MM:SS` (local time, no zone:
read as UTC) and is an attempt of its own, named after the file and the run's start.
`#### ` lines are the user's message (the first one is the prompt, later ones are
follow-ups); `> ` lines are aider's own output; other lines are the model's reply.
From aider's output: `Model: ...` (the model), `Tokens: 12k sent, 1.2k cache write, 3k
cache hit, 839 received. Cost: $0.05 message, $0.09 session.` (usage: older versions say
`request` or `N cached`, some have no cost), `Applied edit to FILE` and `Running CMD`
(tool calls), `litellm...Error`, `Unexpected error:` and tracebacks (errors), and
`^C KeyboardInterrupt` (the run was interrupted).

Tokens are as aider prints them, rounded (`12k`, `2.3k`): estimates within about 1%.
`sent` is input without cache reads or writes, which aider lists apart. Times: a run has
only its start; every event of it carries that time as "approximate". Lines before the
first run's header (a file that starts mid-session) have no time and are counted.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar

from ...events import BOM
from .base import Context, Importer, Mapper, clip

HEADER = re.compile(r"^# aider chat started at (\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)\s*$")
_COUNT = re.compile(r"([\d][\d.,]*)([kKmM]?) (sent|cache write|cache hit|cached|received)\b")
_COST = re.compile(r"Cost: \$([\d.]+) (?:message|request)")
_KINDS = {"sent": "input_tokens", "cache write": "cache_creation_tokens", "cache hit": "cache_read_tokens",
          "cached": "cache_read_tokens", "received": "output_tokens"}
_ERROR = re.compile(r"^(?:Unexpected error: )?litellm\.\w+(?:Error|Exception)\b|^Unexpected error:")
_SNIFF_BYTES = 1 << 16


def number(text: str, unit: str) -> int:
    """`2,347` -> 2347, `2.3k` -> 2300, `12k` -> 12000."""
    value = float(text.replace(",", ""))
    return round(value * {"": 1, "k": 1_000, "m": 1_000_000}[unit.lower()])


class AiderMapper(Mapper):
    executor = "AIDER"

    def feed(self, line: str, where: int | str) -> list[dict[str, Any]]:
        header = HEADER.match(line)
        if header:
            return self._run(_iso(header), where)
        if not self.state.get("run"):
            self.ctx.skip("before_first_run")  # a file that starts mid-session: no time to place it
            return []
        if line.startswith("####"):
            kind, text = "user", line[4:].removeprefix(" ")
        elif line.startswith(">"):
            kind, text = "status", line[1:].removeprefix(" ").rstrip()
        else:
            kind, text = "reply", line
        events = self._close_block(kind, where)
        block = self.state.setdefault("block", {"kind": kind, "lines": [], "at": where})
        if kind == "status":
            events.extend(self._status(text, where))
        block["lines"].append(text)
        return events

    # -- runs -----------------------------------------------------------------------------

    def _run(self, started: str, where: int | str) -> list[dict[str, Any]]:
        """A new run: the previous one ends, and this one is an attempt of its own."""
        events = self.flush()
        if self.state.get("started"):
            events.extend(self.finish())
        keep = {k: self.state[k] for k in ("generation", "base") if k in self.state}
        attempt = run_attempt(self.state.get("base", self.attempt_id), started, self.state.get("attempt"), where)
        self.state.clear()
        self.state.update(keep, attempt=attempt, run=started)
        self.attempt_id = attempt
        self.time_quality = None
        self.seen_time(started)
        self.time_quality = "approximate"
        return events

    def resume(self, base: str) -> None:
        self.state.setdefault("base", base)
        if self.state.get("attempt"):
            self.attempt_id = self.state["attempt"]
            self.time_quality = "approximate"

    def _ts(self) -> str | None:
        return self.state.get("run")

    # -- blocks of lines --------------------------------------------------------------------

    def _close_block(self, kind: str, where: int | str) -> list[dict[str, Any]]:
        block = self.state.get("block")
        if block is None or block["kind"] == kind:
            return []
        return self.flush()

    def flush(self) -> list[dict[str, Any]]:
        """The block being read is complete: its message, reply or traceback."""
        block = self.state.pop("block", None)
        if not block or not self.state.get("run"):
            return []
        text = "\n".join(block["lines"]).strip()
        key = block["at"]
        if block["kind"] == "user" and text:
            if not self.state.get("started"):
                return self.ensure_started(text, self._ts())
            return [self.event("followup_sent", {"message": text, "reason": "user"}, self._ts(), key=(key, "user"))]
        if block["kind"] == "reply" and text:
            return [*self.ensure_started(None, self._ts()),
                    self.event("agent_output", {"output": text, "stream_type": "assistant"}, self._ts(),
                               key=(key, "reply"))]
        if block["kind"] == "status" and self.state.pop("traceback", None):
            last = [line for line in block["lines"] if line.strip()]
            return [*self.ensure_started(None, self._ts()),
                    self.event("error", {"error_message": clip(last[-1] if last else "Traceback", 1000),
                                         "stack_trace": clip(text, 4000)}, self._ts(), key=(key, "traceback"))]
        return []

    # -- aider's own output -------------------------------------------------------------------

    def _status(self, text: str, where: int | str) -> list[dict[str, Any]]:
        ts = self._ts()
        if text.startswith("Model: "):
            self.state["model"] = text[7:].split(" with ")[0].strip()
            return []
        if text.startswith("Tokens: "):
            return self._usage(text, where)
        if text.startswith("Traceback (most recent call last)"):
            self.state["traceback"] = True
            return []
        if _ERROR.match(text):
            return [*self.ensure_started(None, ts),
                    self.event("error", {"error_message": clip(text, 1000)}, ts, key=(where, "error"))]
        if text.startswith("^C KeyboardInterrupt"):
            self.state["interrupted"] = True
            return []
        edit = re.match(r"Applied edit to (.+)$", text)
        if edit:
            return self._tool("edit", {"path": edit.group(1)}, where)
        run = re.match(r"Running (.+)$", text)
        if run:
            return self._tool("shell", {"command": run.group(1)}, where)
        return []

    def _tool(self, name: str, params: dict[str, Any], where: int | str) -> list[dict[str, Any]]:
        ts = self._ts()
        return [*self.ensure_started(None, ts),
                self.event("tool_call", {"tool_name": name, "tool_params": params}, ts, key=(where, "call")),
                self.event("tool_result", {"tool_name": name, "result": "success"}, ts, key=(where, "result"))]

    def _usage(self, text: str, where: int | str) -> list[dict[str, Any]]:
        data: dict[str, Any] = {}
        for value, unit, kind in _COUNT.findall(text):
            try:
                data[_KINDS[kind]] = data.get(_KINDS[kind], 0) + number(value, unit)
            except ValueError:
                self.ctx.skip("malformed_tokens_line")
                return []
        if "output_tokens" not in data and "input_tokens" not in data:
            self.ctx.skip("malformed_tokens_line")
            return []
        cost = _COST.search(text)
        if cost:
            try:
                data["cost_usd"] = float(cost.group(1))
            except ValueError:
                self.ctx.skip("malformed_cost")
        data["model"] = self.state.get("model")
        return [*self.ensure_started(None, self._ts()), self.usage(data, self._ts(), key=(where, "usage"))]

    def finish(self) -> list[dict[str, Any]]:
        """The run is complete; one that only printed aider's start-up is no session."""
        events = self.flush()
        if not self.state.get("started"):
            return events
        return events + super().finish()

    def end_status(self) -> str:
        if self.state.get("interrupted") and self.state.get("last_error") is not False:
            return "interrupted"
        return super().end_status()


class AiderImporter(Importer):
    name = "aider"
    executor = "AIDER"
    default_path = "."  # aider writes into the project it runs in
    pattern = "*.md"
    follow: ClassVar[bool] = True
    hooks: ClassVar[bool] = False
    tokens: ClassVar[str] = "estimated"  # printed rounded: 12k, 2.3k
    cost: ClassVar[str] = "transcript"

    def files(self, root: Path, **options: Any) -> list[Path]:
        """Markdown files that are aider chat histories (whatever --chat-history-file named them)."""
        if root.is_file():
            return [root]
        return [p for p in super().files(root, **options) if is_history(p)]

    def readable_name(self, path: Path) -> str:
        if path.name == ".aider.chat.history.md":
            return f"aider-{path.parent.name or 'project'}"
        return f"aider-{path.name.removesuffix('.md').strip('.')}"

    def line_records(self, raw: bytes) -> tuple[list[Any], list[str]]:
        return [raw.decode("utf-8", "replace").removeprefix("\ufeff").rstrip("\r\n")], []

    def mapper(self, path: Path, ctx: Context, state: dict[str, Any] | None) -> Mapper:
        base = self.attempt_id(path)
        mapper = AiderMapper(base, ctx, state)
        mapper.resume(base)
        return mapper

    def attempt_ids(self, path: Path) -> list[str]:
        """Every run of the file (each is an attempt), for an import's write-ahead intent."""
        base, found = self.attempt_id(path), []
        with open(path, "rb") as handle:
            for number, raw in enumerate(handle, 1):
                line = raw.removeprefix(BOM)
                header = HEADER.match(line.decode("utf-8", "replace").rstrip("\r\n")) if line.startswith(b"# aider") else None
                if header:
                    found.append(run_attempt(base, _iso(header), found[-1] if found else None, number))
        return found


def run_attempt(base: str, started: str, previous: str | None, where: int | str) -> str:
    """`<file's attempt id>-<run start>`: one attempt per run of aider."""
    attempt = f"{base}-{started[:19].replace('-', '').replace(':', '')}"
    return f"{attempt}-{where}" if attempt == previous else attempt  # two runs in one second


def _iso(header: re.Match[str]) -> str:
    return f"{header.group(1)}T{header.group(2)}Z"


def is_history(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return b"# aider chat started at " in handle.read(_SNIFF_BYTES)
    except OSError:
        return False
