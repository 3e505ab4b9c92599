"""Failure-risk features of one attempt, kept up to date event by event in O(1).

`Tracker.feed(event)` takes the watchdog's typed event (`watch.view.WatchEvent`) and
returns the features of a step once that step is over: a step is one model call (a run
of agent events: thinking, output, tool calls) with the results and errors that answer
it. The step is over when the next model call starts, or at session_end. So the score
of step k uses exactly the events up to the results of call k, never the run's end:
what a live watch knows at that moment, and what a replay of the log knows.

Counters only (and two small bounded maps): no list grows with the run.
"""

from __future__ import annotations

import math
import re
from zlib import crc32

import msgspec

from ..context_windows import window_of

AGENT_EVENTS = frozenset({"agent_thinking", "agent_output", "tool_call"})  # a model call's own output
RECENT_DECAY = 0.7  # a failure five steps back weighs a sixth of one now
MAX_REMEMBERED = 256  # distinct calls / error fingerprints remembered per attempt

# what a command does, from words in its params (any agent's tool: a shell, SWE-agent's
# commands, Claude's Edit); the first kind with a word in it wins
_WORDS = (
    (
        "test",
        (
            b"pytest",
            b"unittest",
            b"runtests",
            b"tox ",
            b"go test",
            b"cargo test",
            b"npm test",
            b"reproduc",
            b"test_",
            b"_test",
        ),
    ),
    (
        "edit",
        (
            b"sed -i",
            b"cat <<",
            b"cat >",
            b"edit ",
            b"str_replace",
            b"create ",
            b"apply_patch",
            b"patch ",
            b'"edit"',
            b'"write"',
            b'"multiedit"',
            b"insert ",
            b" > ",
            b">>",
        ),
    ),
    ("run", (b"python", b"node ", b"bash ", b"make", b"pip ")),
    ("search", (b"grep", b"find ", b"search_", b"ls", b"rg ", b"find_file", b'"glob"')),
    ("read", (b"cat ", b"head ", b"tail ", b"sed -n", b"open ", b"goto ", b"scroll_", b"nl ", b'"read"')),
)
_KINDS = tuple((name, re.compile(b"|".join(re.escape(w) for w in words))) for name, words in _WORDS)
KINDS = tuple(name for name, _ in _WORDS) + ("other",)
ENV_CATEGORIES = frozenset({"dependency", "build", "lint", "permission", "sandbox", "git", "oom", "timeout"})

DEFAULT_WINDOW = 128_000  # a model of unknown window is assumed to take this much

NAMES = (
    "steps",
    "log_cost",
    "cost_per_step",
    "log_tokens",
    "log_tokens_per_step",
    "context_ratio",
    "error_rate",
    "failed_tool_rate",
    "repeat_call_rate",
    "repeat_error_rate",
    "edit_share",
    "test_share",
    "edit_test_cycles",
    "steps_since_progress",
    "tool_entropy",
    "error_test_share",
    "error_env_share",
    "error_unknown_share",
    "untooled_rate",
    "log_first_context",
    "log_output_per_step",
    "log_context_growth",
    "recent_failures",
    "last_test_failed",
    "log_prompt_bytes",
    "prompt_code_blocks",
    "prompt_traceback",
    "log_writing_per_step",
    "log_output_bytes",
    "long_output_share",
    "traceback_output_share",
    "syntax_error_share",
    "empty_output_share",
    "log_files_seen",
    "log_files_edited",
    "files_written",
)


KIND_BYTES = 300  # a command says what it does at its start (a heredoc's file body says nothing)
LOOK_BYTES = 4096  # of a text, the features look at this much of each end: O(1) per event
PARAM_BYTES = 1000  # and at this much of a call's params for the files it names
MAX_CODE_BLOCKS = 20

# a file a call names: a path with a source or config extension
_FILE = re.compile(
    rb"[\w./-]+\.(?:py|pyi|pyx|js|jsx|ts|tsx|go|rs|java|kt|c|h|cc|cpp|hpp|rb|php|cs|swift|scala|sh"
    rb"|rst|md|txt|toml|cfg|ini|ya?ml|json|html|css)\b"
)
_WRITES_FILE = re.compile(rb"create |cat <<|cat >|\"write\"|apply_patch")  # a call that writes a whole file
# what an output says, as literal words (a substring test is a fast scan; a regex alternation is not)
_LONG = (b"too long", b"truncated", b"output was cut", b"[...]")  # the harness cut a tool's output short
_TRACEBACK = (b"Traceback (most recent call last)", b"panicked at", b"Exception in thread")
_SYNTAX = (b"SyntaxError", b"IndentationError", b"syntax error")
EMPTY_OUTPUT = 64  # bytes: an output this small (a harness's wrapper at most) said nothing


def _says(text: bytes, words: tuple[bytes, ...]) -> bool:
    return any(word in text for word in words)


def _ends(raw) -> bytes:
    """The start and the end of a raw text: where outputs say what happened (tracebacks and
    test summaries come last), in bounded time and memory whatever its size."""
    view = memoryview(raw)
    if len(view) <= 2 * LOOK_BYTES:
        return view.tobytes()
    return view[:LOOK_BYTES].tobytes() + view[-LOOK_BYTES:].tobytes()


def kind_of(params: bytes) -> str:
    head = params[:KIND_BYTES].lower()
    for name, words in _KINDS:
        if words.search(head):
            return name
    return "other"


class State(msgspec.Struct, gc=False, array_like=True):
    """Running counts of one attempt (snapshotted with the watchdog's state)."""

    steps: int = 0
    scored: int = 0  # the last step whose features were given out
    in_call: bool = False  # the latest event was the model's own: the call goes on
    cost: float = 0.0
    tokens: int = 0
    context: int = 0  # input tokens of the latest call: how full its window was
    first_context: int = 0  # input tokens of the first call: the task's own size
    output: int = 0  # output tokens (the model's own writing and reasoning)
    window: int = DEFAULT_WINDOW
    calls: int = 0
    untooled: int = 0  # model calls that ran no tool (format errors, talk)
    step_calls: int = 0  # tool calls in the current step
    results: int = 0
    failed: int = 0
    errors: int = 0
    repeat_calls: int = 0
    repeat_errors: int = 0
    err_test: int = 0
    err_env: int = 0
    err_unknown: int = 0
    edits: int = 0
    tests: int = 0
    cycles: int = 0  # an edit followed by a test
    edited: bool = False  # an edit since the last test
    progress_step: int = 0  # last step with a call never made before
    recent: float = 0.0  # failed results, decayed per step: how the last few steps went
    last_kind: str = ""  # kind of the latest call
    test_failed: bool = False  # the latest test run failed
    kinds: dict[str, int] = msgspec.field(default_factory=dict)
    entropy_sum: float = 0.0  # sum of c*log(c) over kinds: entropy in O(1)
    seen_calls: dict[int, int] = msgspec.field(default_factory=dict)
    seen_errors: dict[str, int] = msgspec.field(default_factory=dict)
    prompt_bytes: int = 0  # the task as given (session_start's prompt)
    prompt_code: int = 0  # code blocks in it (a reproducer, a traceback, a patch)
    prompt_traceback: bool = False
    writing: int = 0  # bytes the model wrote (thinking, content, output)
    output_bytes: int = 0  # bytes of tool outputs
    long_outputs: int = 0  # outputs cut short as too long
    traceback_outputs: int = 0
    syntax_outputs: int = 0
    empty_outputs: int = 0
    files_seen: int = 0  # distinct files the calls named
    files_edited: int = 0  # distinct files named by editing calls
    files_written: int = 0  # calls that wrote a whole file (a reproducer, a new module)
    seen_files: dict[int, int] = msgspec.field(default_factory=dict)
    edited_files: dict[int, int] = msgspec.field(default_factory=dict)


def _remember(seen: dict, key) -> bool:
    """Whether `key` was seen before; remembers it (the most recent MAX_REMEMBERED)."""
    if seen.pop(key, None) is not None:
        seen[key] = 1
        return True
    if len(seen) >= MAX_REMEMBERED:
        del seen[next(iter(seen))]
    seen[key] = 1
    return False


def _number(value) -> float:
    return float(value) if (type(value) is float or type(value) is int) and math.isfinite(value) else 0.0


class Tracker:
    """Feeds one attempt's events into its `State`; says when a step is over."""

    __slots__ = ("state",)

    def __init__(self, state: State | None = None):
        self.state = state if state is not None else State()

    def feed(self, event) -> tuple[int, list[float]] | None:
        """Count one event; when it closes a step (the next model call starts, or the
        session ends), first the number and features of that step."""
        s, kind = self.state, event.event_type
        closes = s.steps > s.scored and ((kind in AGENT_EVENTS and not s.in_call) or kind == "session_end")
        closed = None
        if closes:
            closed, s.scored = (s.steps, self.vector()), s.steps
        self.take(event)
        return closed

    def take(self, event) -> None:
        """Count one event."""
        kind, s, data = event.event_type, self.state, event.data
        if kind in AGENT_EVENTS:
            if not s.in_call:
                s.in_call = True
                s.steps += 1
                if s.steps > 1 and s.step_calls == 0:
                    s.untooled += 1
                s.recent *= RECENT_DECAY
                s.step_calls = 0
            s.writing += len(data.thinking) + len(data.content) + len(data.output)
            if kind == "tool_call":
                self._call(data)
        elif kind == "usage":
            s.cost += _number(data.cost_usd)
            inp = _number(data.input_tokens) + _number(data.cache_read_tokens) + _number(data.cache_creation_tokens)
            s.tokens += int(inp + _number(data.output_tokens))
            s.output += int(_number(data.output_tokens))
            if inp:
                s.context = int(inp)
                if not s.first_context:
                    s.first_context = s.context
            if type(event.model) is str:
                s.window = window_of(event.model) or DEFAULT_WINDOW
        elif kind == "tool_result":
            s.in_call = False
            s.results += 1
            if data.result == "error":
                s.failed += 1
                s.recent += 1.0
            if s.last_kind == "test":
                s.test_failed = data.result == "error"
            self._output(data.result_data)
        elif kind == "error":
            s.in_call = False
            self._error(data)
        elif kind in ("session_start", "followup_sent", "status_change", "session_end"):
            s.in_call = False
            if kind == "session_start":
                self._prompt(data.prompt)

    def _prompt(self, raw) -> None:
        s = self.state
        s.prompt_bytes = len(raw)
        head = memoryview(raw)[: 8 * LOOK_BYTES].tobytes()
        s.prompt_code = min(head.count(b"```") // 2, MAX_CODE_BLOCKS)
        s.prompt_traceback = _says(head, _TRACEBACK)

    def _output(self, raw) -> None:
        s = self.state
        s.output_bytes += len(raw)
        ends = _ends(raw)
        s.long_outputs += _says(ends[:LOOK_BYTES], _LONG)
        s.traceback_outputs += _says(ends, _TRACEBACK)
        s.syntax_outputs += _says(ends, _SYNTAX)
        s.empty_outputs += len(raw) <= EMPTY_OUTPUT

    def _files(self, params: bytes, kind: str) -> None:
        s = self.state
        head = params[:PARAM_BYTES]
        for path in set(_FILE.findall(head)):
            key = crc32(path.rsplit(b"/", 1)[-1])  # by name: "a/b.py" and "b.py" are one file
            if not _remember(s.seen_files, key):
                s.files_seen += 1
            if kind == "edit" and not _remember(s.edited_files, key):
                s.files_edited += 1
        if kind == "edit" and _WRITES_FILE.search(head[:KIND_BYTES]):
            s.files_written += 1

    def _call(self, data) -> None:
        s = self.state
        s.calls += 1
        s.step_calls += 1
        params = bytes(data.tool_params) if data.tool_params else b""
        tool = data.tool_name if type(data.tool_name) is str else ""
        if _remember(s.seen_calls, crc32(params, crc32(tool.encode()))):
            s.repeat_calls += 1
        else:
            s.progress_step = s.steps
        kind = s.last_kind = kind_of(tool.encode() + b" " + params)
        self._files(params, kind)
        count = s.kinds.get(kind, 0)
        s.entropy_sum += (count + 1) * math.log(count + 1) - (count * math.log(count) if count else 0.0)
        s.kinds[kind] = count + 1
        if kind == "edit":
            s.edits += 1
            s.edited = True
        elif kind == "test":
            s.tests += 1
            if s.edited:
                s.cycles += 1
                s.edited = False

    def _error(self, data) -> None:
        s = self.state
        s.errors += 1
        key = data.error_fingerprint if type(data.error_fingerprint) is str else str(data.error_message)[:200]
        if _remember(s.seen_errors, key):
            s.repeat_errors += 1
        category = data.error_category
        if category == "test":
            s.err_test += 1
        elif category in ENV_CATEGORIES:
            s.err_env += 1
        elif category in (None, "unknown"):
            s.err_unknown += 1

    def vector(self) -> list[float]:
        """The features, in the order of NAMES."""
        s = self.state
        steps = max(s.steps, 1)
        calls = max(s.calls, 1)
        errors = max(s.errors, 1)
        results = max(s.results, 1)
        entropy = math.log(s.calls) - s.entropy_sum / s.calls if s.calls else 0.0
        return [
            float(s.steps),
            math.log1p(s.cost),
            s.cost / steps,
            math.log1p(s.tokens),
            math.log1p(s.tokens / steps),
            s.context / s.window,
            s.errors / steps,
            s.failed / results,
            s.repeat_calls / calls,
            s.repeat_errors / errors,
            s.edits / calls,
            s.tests / calls,
            s.cycles / steps,
            float(s.steps - s.progress_step),
            entropy,
            s.err_test / errors,
            s.err_env / errors,
            s.err_unknown / errors,
            s.untooled / steps,
            math.log1p(s.first_context),
            math.log1p(s.output / steps),
            math.log1p(max(0, s.context - s.first_context) / steps),
            s.recent,
            float(s.test_failed),
            math.log1p(s.prompt_bytes),
            float(s.prompt_code),
            float(s.prompt_traceback),
            math.log1p(s.writing / steps),
            math.log1p(s.output_bytes / results),
            s.long_outputs / results,
            s.traceback_outputs / results,
            s.syntax_outputs / results,
            s.empty_outputs / results,
            math.log1p(s.files_seen),
            math.log1p(s.files_edited),
            float(s.files_written),
        ]
