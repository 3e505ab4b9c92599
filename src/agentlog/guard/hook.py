"""`agentlog hook <agent> <event>`: one hook call of Claude Code or Codex.

    payload (stdin) -> events (payloads.py) + usage from the agent's transcript
    -> recorder (same store, attempt id = the agent's session id)
    -> the session's new events fed to the watchdog's Engine (state.py keeps it)
    -> policies (policies.py) -> one decision -> an alert + the agent's JSON on stdout

The agent waits for this process before every tool call, so only what the call needs
is imported (no click, rich, duckdb), and it fails open: any error is written to
`<log_dir>/state/hook-errors.log` (or stderr) and the process exits 0 with no output,
also when the time budget (`[guard] timeout_ms`) runs out. It never exits 2, which
the agents read as "block". An agent that reads no output as a refusal (Cursor) gets its
explicit "go on" instead (`Hooks.fail_open`), on every path that decides nothing.

Most calls are answered by a resident guard process (server.py) through client.py; this
module is imported by that tiny client too, so it imports nothing at its top but what the
interpreter has loaded already (annotations are never evaluated).
"""

from __future__ import annotations

import os
import sys
import time

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (~7 ms)
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

    from ..agents import Agent
    from .config import GuardConfig

ERRORS_LOG = "hook-errors.log"
DEFAULT_BUDGET_S = 2.0
MAX_PAYLOAD = 16 * 1024 * 1024  # larger payloads have their largest strings cut to fit, with a marker
MAX_READ = 128 * 1024 * 1024  # larger ones cannot be parsed within a hook's memory: dropped, logged
MAX_TRANSCRIPT_READ = 4 * 1024 * 1024  # per call: a long transcript is caught up over several calls
FINAL_EVENTS = frozenset({"Stop", "SubagentStop", "SessionEnd"})  # the last message is complete
USAGE_EVENTS = FINAL_EVENTS | {"PreToolUse", "UserPromptSubmit", "PreCompact"}


class HookTimeout(BaseException):
    """The time budget ran out (a BaseException: no library `except Exception` swallows it)."""


class PayloadError(ValueError):
    """The payload is not a JSON object with a session id."""


# -- the entry point -----------------------------------------------------------------------

USAGE = "usage: agentlog hook AGENT EVENT [--log-dir DIR] [--config FILE] [--fail-open TEXT] < payload.json"


def run(argv: list[str], stdin: Any = None, stdout: Any = None) -> int:
    """Run one hook call in this process; always returns 0 (fail open)."""
    from .config import GuardConfig

    stdin = stdin if stdin is not None else sys.stdin.buffer
    stdout = stdout if stdout is not None else sys.stdout
    log_dir: Path | None = None
    _arm(DEFAULT_BUDGET_S)
    try:
        agent_name, event_name, flags, config_file = _parse(argv)
        from .. import config as config_mod

        try:
            settings = config_mod.load(flags, config_file=config_file)
        except config_mod.ConfigError:  # say so in the log dir the rest of the settings name
            from pathlib import Path

            log_dir = config_mod.load(flags, config_file=Path(os.devnull)).log_path
            raise
        from ..store import modes

        modes.use(settings.file_mode)
        log_dir = settings.log_path
        guard = GuardConfig.from_section(settings.section("guard"))
        _arm(guard.timeout_ms / 1000 if guard.timeout_ms else None, since_start=True)
        from ..agents import get

        raw = read_payload(stdin)
        output = handle(get(agent_name), event_name, raw, settings, guard)
        _arm(None)
        if output is None:
            _say(stdout, fail_open(argv))
        else:
            from ..events import encode

            _say(stdout, encode(output).decode() + "\n", strict=True)
    except BaseException as exc:  # noqa: BLE001 - whatever happened, the agent goes on
        _arm(None)
        log_failure(log_dir, argv, exc)
        _say(stdout, fail_open(argv))
    return 0


def fail_open(argv: list[str]) -> str:
    """What this call prints when it decides nothing or fails: an explicit "go on" for an
    agent that reads no answer as a refusal (Cursor), else nothing. The installed command
    carries it (`--fail-open TEXT`, what the native client prints too); a command without
    it gets the agent's own `Hooks.fail_open`."""
    given = None  # the last one counts, as in the native client
    for i, arg in enumerate(argv):
        if arg == "--fail-open" and i + 1 < len(argv):
            given = argv[i + 1]
        elif arg.startswith("--fail-open="):
            given = arg.split("=", 1)[1]
    if given is not None:
        return given
    try:
        from ..agents import get

        return get(_parse(argv)[0]).hooks.fail_open
    except BaseException:  # noqa: BLE001 - no agent, no hooks: nothing to say
        return ""


def _say(stdout: Any, text: str, strict: bool = False) -> None:
    """Write the answer; `strict`: let a failure reach run's handler (which prints fail_open)."""
    if not text:
        return
    try:
        stdout.write(text)
        stdout.flush()
    except (OSError, ValueError):
        if strict:
            raise


def _parse(argv: list[str]) -> tuple[str, str, dict[str, Any], Path | None]:
    from pathlib import Path

    args, flags, config_file = list(argv), {}, None
    positional = []
    while args:
        arg = args.pop(0)
        if arg in ("--log-dir", "--config", "--fail-open") and args:
            value = args.pop(0)
            if arg == "--log-dir":
                flags["log_dir"] = value
            elif arg == "--config":
                config_file = Path(value)
        elif arg.startswith("--fail-open="):
            pass  # read by fail_open
        elif arg.startswith(("--log-dir=", "--config=")):
            name, value = arg.split("=", 1)
            if name == "--log-dir":
                flags["log_dir"] = value
            else:
                config_file = Path(value)
        else:
            positional.append(arg)
    if len(positional) != 2:
        raise PayloadError(USAGE)
    return positional[0], positional[1], flags, config_file


# -- the time budget -------------------------------------------------------------------------

_started = time.monotonic()


def _expired(signum: int, frame: Any) -> None:
    raise HookTimeout(f"time budget exceeded after {time.monotonic() - _started:.3f} s")


def _arm(seconds: float | None, since_start: bool = False) -> None:
    """Raise HookTimeout once `seconds` (from process start if `since_start`) have passed."""
    import signal

    if not hasattr(signal, "setitimer"):
        return
    if seconds is None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        return
    if since_start:
        seconds = max(0.001, seconds - (time.monotonic() - _started))
    signal.signal(signal.SIGALRM, _expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)


def log_failure(log_dir: Path | None, argv: list[str], exc: BaseException) -> None:
    """One line per failure in state/hook-errors.log (stderr when that cannot be written)."""
    import traceback  # only a failing call pays for it (~9 ms)
    from pathlib import Path

    from ..events import encode, now_iso

    record = {
        "timestamp": now_iso(),
        "argv": argv,
        "error": f"{type(exc).__name__}: {exc}",
        "where": traceback.format_exception(exc)[-2].strip()[:500] if exc.__traceback__ else None,
    }
    line = encode(record) + b"\n"
    if log_dir is not None:
        try:
            from ..store import modes

            path = Path(log_dir) / "state"
            modes.make_dirs(path)
            fd = modes.create(path / ERRORS_LOG, os.O_WRONLY | os.O_APPEND)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
            return
        except OSError:
            pass
    try:
        sys.stderr.write(f"agentlog hook (failed open): {record['error']}\n")
    except (OSError, ValueError):
        pass


# -- one call --------------------------------------------------------------------------------


def handle(agent: Agent, event_name: str, raw: bytes, settings: Any, guard: GuardConfig) -> dict[str, Any] | None:
    """Record the payload, update the detectors, decide; returns the agent's output or None.
    An agent whose hooks differ from Claude Code's has its event named and its payload
    reshaped as Claude Code's first (agents.base.Hooks), and its answer written its way."""
    spec = agent.hooks
    event_name = spec.canonical(event_name)
    payload = _payload(raw, (lambda p: spec.adapt(event_name, p)) if spec.adapt else None)
    if payload is None:
        return None  # an event this agent sends that is not one agentlog records
    if spec.native:
        payload["hook_event_name"] = event_name  # the mapper reads the Claude Code name
    attempt_id = (spec.attempt_id and spec.attempt_id(payload)) or payload["session_id"]
    if not settings.logging_enabled:
        return None
    from ..capture.importers.base import Context
    from .payloads import HookMapper
    from .state import SessionState

    log_dir = settings.log_path
    with SessionState(log_dir, attempt_id) as state:
        ctx = Context(_LazyPricing(settings, state.section("pricing")))
        mapper = HookMapper(attempt_id, agent.executor, ctx, state.section("mapper"))
        events = mapper.feed(payload, event_name)
        if guard.transcript_usage and event_name in USAGE_EVENTS and agent.importer.tokens != "absent":
            usage = transcript_usage(
                agent, payload.get("transcript_path"), state, ctx, attempt_id, final=event_name in FINAL_EVENTS
            )
            lead = 1 if events and events[0]["event_type"] == "session_start" else 0
            events[lead:lead] = usage  # after the session starts, before this call's tool call
        events = _record(settings, events)
        call_id = next((e["event_id"] for e in reversed(events) if e["event_type"] == "tool_call"), None)
        if not guard.enabled:
            state.save()
            return None
        decision, attempt = _decide(attempt_id, event_name, payload, state, settings, guard, call_id)
        state.save()
    if decision is None:
        return None
    trigger = call_id or (events[-1]["event_id"] if events else None)
    from ..recorder import redactor

    from .kept import kept

    redact = kept("redactor", (settings.redact, settings.section("redact").get("patterns")), lambda: redactor(settings))
    write_alert(log_dir, decision, attempt_id, agent.executor, trigger, event_name, redact)
    return (spec.render or render)(event_name, decision)


def read_payload(stdin: Any, head: bytes = b"") -> bytes:
    """The payload, read whole up to MAX_READ (+1 byte, which tells a larger one). `head`:
    what a caller read of it already."""
    if len(head) <= MAX_PAYLOAD:
        head += stdin.read(MAX_PAYLOAD + 1 - len(head))
    if len(head) > MAX_PAYLOAD:  # rare: a huge tool output; read the rest to cut it down
        head += stdin.read(MAX_READ + 1 - len(head))
    return head


def _payload(raw: bytes, adapt: Any = None) -> dict[str, Any] | None:
    import msgspec

    from .. import jsonline

    if len(raw) > MAX_READ:
        raise PayloadError(f"payload larger than {MAX_READ} bytes: not recorded")
    try:
        payload = jsonline.decode(raw.removeprefix(b"\xef\xbb\xbf"))
    except msgspec.DecodeError as exc:
        raise PayloadError(f"payload is not JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise PayloadError(f"payload is a JSON {type(payload).__name__}, not an object")
    if len(raw) > MAX_PAYLOAD:
        _shrink(payload, msgspec.json.encode)
    if adapt is not None:
        payload = adapt(payload)
        if payload is None:
            return None
    if not isinstance(payload.get("session_id"), str) or not payload["session_id"]:
        raise PayloadError("payload has no session_id")
    return payload


def _shrink(payload: dict[str, Any], encode: Any) -> None:
    """Cut the largest strings (a tool's huge output) until the payload fits MAX_PAYLOAD;
    each cut ends in a visible `…[agentlog: truncated N chars]`."""
    from ..recorder import truncate_largest

    size = len(encode(payload))
    while size > MAX_PAYLOAD and truncate_largest(payload, size - MAX_PAYLOAD):
        size = len(encode(payload))


def _record(settings: Any, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Record the events (one gap-free sequence also across concurrent hook processes);
    returns them as written (stamped: their ids)."""
    if not events:
        return []
    from ..recorder import Recorder
    from .kept import forget, kept

    # kept across a resident guard's calls: built for these settings in this log dir
    key = (os.path.abspath(settings.log_dir), dict(settings.values))
    recorder = kept("recorder", key, lambda: Recorder(settings, locked=True), Recorder.close)
    try:
        recorded = [e for e in map(recorder.record, events) if e is not None]
        recorder.flush()  # the acknowledgement point: the answer goes out after it
    except BaseException:
        forget("recorder", Recorder.close)  # stopped half-way: its numbering may be off the files
        raise
    return recorded


class _LazyPricing:
    """The price table, loaded only when a usage event needs pricing, and parsed once per
    session: the shipped table is kept in the session's guard state (`cache`)."""

    def __init__(self, settings: Any, cache: dict[str, Any]):
        self.settings, self.cache, self._pricing = settings, cache, None

    def price_usage(self, model: str | None, data: dict[str, Any]) -> dict[str, Any]:
        if self._pricing is None:
            from ..capture.pricing import Pricing

            self._pricing = Pricing.load(self.settings.section("pricing"), cache=self.cache)
        return self._pricing.price_usage(model, data)


# -- usage from the agent's transcript --------------------------------------------------------


def transcript_usage(
    agent: Agent, path: Any, state: Any, ctx: Any, attempt_id: str, final: bool
) -> list[dict[str, Any]]:
    """Usage events from the part of the agent's transcript written since the last call,
    mapped by the agent's importer (the same counting rules as `agentlog import`)."""
    if not isinstance(path, str) or not path:
        return []
    import os
    from pathlib import Path

    from ..capture.importers.base import decode_record
    from ..store import cursor

    file = Path(path).expanduser()
    seen = state.section("transcript")
    try:
        if seen.get("path") != str(file):
            seen.clear()  # another transcript
        if cursor.resume(file, seen):  # another, rotated or rewritten file: from its start
            seen.update(path=str(file), line=0, mapper={})
        lines, end = cursor.read_lines(file, seen, MAX_TRANSCRIPT_READ)
        size = os.stat(file).st_size
    except OSError:
        return []
    mapper = agent.importer().mapper(file, ctx, seen["mapper"])
    mapper.attempt_id, mapper.lifecycle = attempt_id, False
    line_no = seen["line"]
    usage: list[dict[str, Any]] = []
    for raw in lines:
        line_no += 1
        record, problem = decode_record(raw) if raw.strip() else (None, "blank")
        if record is not None:
            usage.extend(e for e in mapper.feed(record, line_no) if e["event_type"] == "usage")
    if final and end >= size:
        usage.extend(e for e in mapper.flush() if e["event_type"] == "usage")
    cursor.advance(file, seen, end)
    seen.update(line=line_no, mapper=mapper.state)
    for event in usage:
        event["executor"] = agent.executor
    return usage


# -- the detectors and the decision ------------------------------------------------------------


def _decide(
    attempt_id: str,
    event_name: str,
    payload: dict[str, Any],
    state: Any,
    settings: Any,
    guard: GuardConfig,
    call_id: str | None,
):
    from .feed import feed
    from .policies import View, decide

    memory = state.section("policy")
    engine, findings = feed(settings, guard, attempt_id, state, memory)
    attempt = engine.active.get(attempt_id)
    view = View(event_name, payload, findings, call_id, attempt, memory, guard)
    return decide(view), attempt


def write_alert(
    log_dir: Path, decision: Any, attempt_id: str, executor: str, trigger: str | None, hook_event: str, redact: Any
) -> None:
    """The decision as a line of agent-alerts.jsonl: the analyzer's format, plus `decision`.
    `redact` scrubs the line: a reason quotes the payload's tool input, which no recorder saw."""
    from ..events import new_event_id, now_iso
    from ..store.alerts import AlertJournal
    from ..watch.engine import alert_id

    now = now_iso()
    key = f"guard_{decision.policy}|{attempt_id}|{decision.subject}"
    record = {
        "timestamp": now,
        "type": f"guard_{decision.policy}",
        "attempt_id": attempt_id,
        "severity": decision.severity,
        "recommendation": decision.recommendation,
        "alert_id": alert_id(key, trigger or new_event_id()),
        "executor": executor,
        "message": decision.reason,
        **decision.evidence,
        "event_time": now,
        "key": key,
        "decision": decision.action,
        "hook_event": hook_event,
    }
    journal = AlertJournal(log_dir)
    try:
        journal.write(record, redact)
    finally:
        journal.close()


def render(event_name: str, decision: Any) -> dict[str, Any]:
    """The decision in the agents' documented hook output format."""
    action, reason = decision.action, decision.reason
    if event_name == "PreToolUse":
        if action in ("deny", "ask"):
            return {
                "hookSpecificOutput": {
                    "hookEventName": "PreToolUse",
                    "permissionDecision": action,
                    "permissionDecisionReason": reason,
                }
            }
        return {
            "systemMessage": reason,
            "hookSpecificOutput": {"hookEventName": "PreToolUse", "additionalContext": reason},
        }
    if action == "deny":  # Stop: keep working with the reason; UserPromptSubmit: drop the prompt
        return {"decision": "block", "reason": reason}
    return {"systemMessage": reason}
