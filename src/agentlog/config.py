"""Settings: defaults, TOML file, `.env`, environment, flags — in that rising order.

Precedence (highest first): CLI flag > process environment > `.env` in the working
directory (the original system read one) > TOML file > default, for every setting of
every table. Every value remembers where it came from, so `agentlog doctor` can say why a
setting has the value it has.

Each setting is declared once, in `SETTINGS`: its name (`error_loop_threshold`, or
`table.key` for a table's own: `watch.notify`), its default, and one parser that reads
its value the same way from every source — a TOML value, an environment string, a flag —
so `"5"` and `5` are both the whole number 5 wherever they are written, and `"abc"`
is an error naming the file (or variable) and the key. The parts of agentlog that own a
table read its parsed values with `Settings.section(table)`; none re-reads the file.

The environment variable names are the original system's, so existing deployments keep
working. In the TOML file, top-level settings are written at the top or under
`[agentlog]`; the watchdog's thresholds may also be written in `[watch]`. A name that is
both a setting and a table (`redact`) is the setting when given a value and the table
when given a table (`[redact.patterns]`; `[redact] enabled` is the setting too). An
unknown key is not fatal: it is reported in `Settings.warnings` with the closest known
name, which every command prints.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

# --- parsers: one per kind of value, for every source ---------------------------------


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true/false, got {value!r}")


def _whole(value: Any) -> int:
    """A whole number >= 0: `5` or `"5"`."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise ValueError(f"expected a whole number >= 0, got {value!r}")


def _number(value: Any) -> float:
    """A finite number >= 0: `2.5`, `3` or `"2.5"`."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0:
        return float(value)
    raise ValueError(f"expected a number >= 0, got {value!r}")


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    raise ValueError(f"expected text, got {value!r}")


def _choice(*options: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if value in options:
            return value
        raise ValueError(f"expected one of {', '.join(options)}, got {value!r}")

    return parse


def _duration(value: Any) -> float:
    """Seconds in `1d`, `12h`, `30m`, `45s`."""
    from .timeutil import parse_duration  # only when a duration is set: hooks stay light

    return parse_duration(_text(value))


def _duration_or_never(value: Any) -> float | None:
    return None if value == "" else _duration(value)


def _texts(value: Any) -> tuple[str, ...]:
    """A list of texts; from the environment or a flag, comma-separated."""
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ValueError(f"expected a list of texts, got {value!r}")


def _table_of(parse_value: Callable[[Any], Any]) -> Callable[[Any], dict[str, Any]]:
    """A table of name = value, each value read by `parse_value`."""

    def parse(value: Any) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise ValueError(f"expected a table, got {value!r}")
        parsed = {}
        for name, item in value.items():
            try:
                parsed[str(name)] = parse_value(item)
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
        return parsed

    return parse


def _regex(value: Any) -> str:
    import re

    try:
        re.compile(_text(value))
    except re.error as exc:
        raise ValueError(f"not a regular expression ({exc}): {value!r}") from None
    return value


def _regexes(value: Any) -> tuple[str, ...]:
    """A list of regexes (one written alone is a list of one: its commas are its own)."""
    return (_regex(value),) if isinstance(value, str) else tuple(_regex(v) for v in _texts(value))


PRICE_KINDS = ("input", "output", "cache_read", "cache_write")  # USD per million tokens


def _prices(value: Any) -> dict[str, float]:
    prices = _table_of(_number)(value)
    unknown = sorted(set(prices) - set(PRICE_KINDS))
    if unknown:
        raise ValueError(f"unknown price {', '.join(unknown)} (known: {', '.join(PRICE_KINDS)})")
    return prices


# --- the settings ---------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    name: str  # `key` (top level or [agentlog]) or `table.key`
    env: str | None
    parse: Callable[[Any], Any]
    default: Any
    help: str
    aliases: tuple[str, ...] = ()  # other keys that write it in the TOML file
    same_as: str | None = None  # unset: the value of this other setting
    secret: bool = False  # never shown (`agentlog doctor` says only whether it is set)


_ACTIONS = _choice("off", "warn", "ask", "deny")

SETTINGS: tuple[Setting, ...] = (
    Setting("logging_enabled", "AGENT_WORK_LOGGING_ENABLED", _bool, True, "false makes every write a no-op"),
    Setting("analyzer_enabled", "AGENT_WORK_ANALYZER_ENABLED", _bool, True, "false makes `watch` exit at once"),
    Setting("log_dir", "AGENT_WORK_LOG_DIR", _text, ".cache/agent-work-logs", "where the log files live"),
    Setting("redact", "AGENT_WORK_REDACT", _bool, True, "scrub secrets before writing", ("redact.enabled",)),
    Setting(
        "file_mode",
        "AGENT_WORK_FILE_MODE",
        _choice("private", "group"),
        "private",
        "who may read the files agentlog writes: private (0600 in 0700 folders) or group (0640 in 0750)",
    ),
    Setting(
        "fsync",
        "AGENT_WORK_FSYNC",
        _choice("none", "event", "batch"),
        "none",
        "durability: none (page cache), event (fsync each line), batch",
    ),
    Setting(
        "max_event_bytes",
        "AGENT_WORK_MAX_EVENT_BYTES",
        _whole,
        8 * 1024 * 1024,
        "longer events have their largest strings truncated with a marker",
    ),
    Setting(
        "clock_tolerance_ms",
        "AGENT_WORK_CLOCK_TOLERANCE_MS",
        _whole,
        300_000,
        "event times further ahead of their arrival are recorded (and watched) at arrival",
        ("watch.clock_tolerance_ms",),
    ),
    Setting(
        "error_loop_threshold",
        "AGENT_ERROR_LOOP_THRESHOLD",
        _whole,
        4,
        "same error fingerprint this many times in the window is a loop",
        ("watch.error_loop_threshold",),
    ),
    Setting(
        "error_loop_window_ms",
        "AGENT_ERROR_LOOP_WINDOW_MS",
        _whole,
        600_000,
        "window of the error loop rule",
        ("watch.error_loop_window_ms",),
    ),
    Setting(
        "tool_loop_threshold",
        "AGENT_TOOL_LOOP_THRESHOLD",
        _whole,
        10,
        "same tool this many times in the window is a loop",
        ("watch.tool_loop_threshold",),
    ),
    Setting(
        "tool_loop_window_ms",
        "AGENT_TOOL_LOOP_WINDOW_MS",
        _whole,
        10_000,
        "window of the tool loop rate rule (60000 = the original's rule, 0 = off)",
        ("watch.tool_loop_window_ms",),
    ),
    Setting(
        "stuck_threshold_ms",
        "AGENT_STUCK_THRESHOLD_MS",
        _whole,
        300_000,
        "an unfinished attempt idle this long is stuck",
        ("watch.stuck_threshold_ms",),
    ),
    Setting(
        "cost_anomaly_threshold",
        "AGENT_COST_ANOMALY_THRESHOLD",
        _number,
        1.0,
        "session cost in USD that raises cost_anomaly",
        ("watch.cost_anomaly_threshold",),
    ),
    Setting(
        "alert_cooldown_ms",
        "AGENT_ALERT_COOLDOWN_MS",
        _whole,
        300_000,
        "an alert is not repeated for the same key within this time",
        ("watch.alert_cooldown_ms",),
    ),
    Setting("log_max_size_mb", "AGENT_WORK_LOG_MAX_SIZE_MB", _number, 100.0, "rotate a log file past this size"),
    Setting(
        "archive_retention_days", "AGENT_WORK_ARCHIVE_RETENTION_DAYS", _whole, 90, "delete archives older than this"
    ),
    Setting(
        "session_log_retention",
        "AGENT_SESSION_LOG_RETENTION",
        _whole,
        100,
        "session transcripts kept live; older ones are archived",
    ),
    # [watch]: the watchdog's other rules, and its sinks
    Setting(
        "watch.tool_repeat_threshold",
        None,
        _whole,
        None,
        "identical tool calls with nothing new between that are a loop (0 = off)",
        same_as="tool_loop_threshold",
    ),
    Setting("watch.restart_threshold", None, _whole, 3, "follow-up/retry starts of one attempt that alert"),
    Setting("watch.failed_session_errors", None, _whole, 4, "errors of a failed session that alert"),
    Setting(
        "watch.waiting_statuses",
        None,
        _texts,
        ("turn_complete", "waiting"),
        "status_change statuses that mean waiting for the user (not stuck)",
    ),
    Setting("watch.session_anomaly", None, _bool, True, "false turns off the session_anomaly detector"),
    Setting(
        "watch.session_anomaly_baselines",
        None,
        _text,
        "",
        "cohort baselines file of session_anomaly (empty: state/session-baselines.json in the log dir)",
    ),
    Setting(
        "watch.session_anomaly_keys",
        None,
        _texts,
        ("executor", "model", "task_size"),
        "what makes a cohort for `agentlog risk baselines`: executor, model, task_size (most general first)",
    ),
    Setting(
        "watch.session_anomaly_min_sessions",
        None,
        _whole,
        30,
        "sessions a cohort needs (at a step index) before session_anomaly judges against it",
    ),
    Setting("watch.notify", None, _texts, (), "apprise URLs every alert goes to"),
    Setting("watch.webhook", None, _texts, (), "URLs every alert is POSTed to"),
    Setting("watch.exec", None, _table_of(_text), {}, "alert type = command run per alert"),
    Setting("watch.sinks", None, _texts, (), "other sinks, KIND=SPEC (any registered kind, a plugin's too)"),
    Setting(
        "watch.notify_since",
        None,
        _duration,
        3600.0,
        "notification sinks get only alerts newer than this (seconds; written 1h, 30m...)",
    ),
    # [redact], [errors], [pricing]
    Setting("redact.patterns", None, _table_of(_regex), {}, "more secrets: name = regex"),
    Setting("errors.categories", None, _table_of(_regexes), {}, "more error categories: name = [regexes]"),
    Setting(
        "pricing",
        None,
        _table_of(_prices),
        {},
        'model prices (USD per million tokens) on top of the shipped table: [pricing."model"]',
    ),
    # [rotate]
    Setting(
        "rotate.max_age",
        None,
        _duration_or_never,
        7 * 86400.0,
        'rotate a live file whose oldest event is older than this ("" = never)',
    ),
    Setting("rotate.stale_session", None, _duration, 7 * 86400.0, "unfinished transcripts idle this long are archived"),
    Setting("rotate.stream_days", None, _number, 30.0, "stream archive retention (0 = forever)"),
    Setting("rotate.errors_days", None, _number, 90.0, "errors archive retention (0 = forever)"),
    Setting("rotate.alerts_days", None, _number, 30.0, "alerts archive retention (0 = forever)"),
    Setting("rotate.metrics_days", None, _number, 0.0, "metrics archive retention (0 = forever)"),
    # [report]
    Setting("report.min_success_pct", None, _number, 70.0, "recommend when the success rate is below this"),
    Setting("report.max_cost_per_session", None, _number, 0.10, "recommend when a session costs more (USD)"),
    Setting("report.max_errors_per_session", None, _number, 2.0, "recommend when sessions err more"),
    # [guard]
    Setting("guard.enabled", None, _bool, True, "false: the hooks only record"),
    Setting("guard.repeat", None, _ACTIONS, "deny", "identical tool call repeated: off|warn|ask|deny"),
    Setting("guard.repeat_threshold", None, _whole, None, "unset: watch.tool_repeat_threshold"),
    Setting("guard.error_loop", None, _ACTIONS, "ask", "same error again and again: off|warn|ask|deny"),
    Setting("guard.error_loop_threshold", None, _whole, None, "unset: error_loop_threshold"),
    Setting("guard.spend", None, _ACTIONS, "deny", "past the per-session cap: off|warn|ask|deny"),
    Setting("guard.spend_cap_usd", None, _number, 0.0, "per-session cost cap (0 = none)"),
    Setting("guard.spend_warn_fraction", None, _number, 0.8, "warn from this fraction of the cap"),
    Setting("guard.stop_nudge", None, _ACTIONS, "deny", "Stop on an unresolved error loop: off|warn|ask|deny"),
    Setting("guard.timeout_ms", None, _whole, 2000, "budget of one hook call; past it the call fails open"),
    Setting("guard.transcript_usage", None, _bool, True, "read token usage from the agent's transcript"),
    # [fleet]
    Setting("fleet.nats", None, _text, "nats://127.0.0.1:4222", "NATS server(s), comma-separated"),
    Setting("fleet.creds", None, _text, None, "NATS credentials file"),
    Setting("fleet.token", None, _text, None, "NATS auth token", secret=True),
    Setting("fleet.tls_ca", None, _text, None, "CA file to verify the servers' TLS"),
    Setting("fleet.tls_cert", None, _text, None, "client certificate (mutual TLS)"),
    Setting("fleet.tls_key", None, _text, None, "client key (mutual TLS)"),
)
_BY_NAME = {s.name: s for s in SETTINGS}
# every way a key can be written in the TOML file -> its setting
_BY_KEY = {**_BY_NAME, **{alias: s for s in SETTINGS for alias in s.aliases}}
_TABLES = {key.rpartition(".")[0] for key in _BY_KEY if "." in key}
_FOLLOWERS = [s for s in SETTINGS if s.same_as]
_WITH_ENV = [s for s in SETTINGS if s.env]


def default(name: str) -> Any:
    """The default of one setting: the one place it is written."""
    return _BY_NAME[name].default


class ConfigError(ValueError):
    """A setting with a value that cannot be parsed; names the setting and its source."""


@dataclass
class Settings:
    values: dict[str, Any]
    sources: dict[str, str]
    warnings: list[str] = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["values"][name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def log_path(self) -> Path:
        return Path(self.values["log_dir"])

    def section(self, table: str) -> dict[str, Any]:
        """The parsed values of one TOML table (`watch`, `guard`...) by key, the settings
        it may also hold included; a setting that is a whole table (`pricing`): its value."""
        if table not in _TABLES:
            value = self.values.get(table)
            return value if isinstance(value, dict) else {}
        return {key.partition(".")[2]: self.values[s.name] for key, s in _BY_KEY.items() if key.startswith(table + ".")}

    def with_flags(self, flags: Mapping[str, Any]) -> "Settings":
        """These settings with flags on top (flags with value None are ignored); names are
        setting names, or keys of a table the way they are written in it (`watch.x`)."""
        values, sources = dict(self.values), dict(self.sources)
        _apply("flag", _named(flags), values, sources)
        return Settings(values, sources, self.warnings)


def read_dotenv(path: Path) -> dict[str, str]:
    """KEY=VALUE lines, `#` comments, optional quotes and `export ` — what .env files hold."""
    if not path.is_file():
        return {}
    result: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8-sig").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.removeprefix("export ").split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        result[key.strip()] = value
    return result


def find_config_file(environ: Mapping[str, str], cwd: Path) -> Path | None:
    explicit = environ.get("AGENTLOG_CONFIG")
    if explicit:
        return Path(explicit)
    for candidate in (
        cwd / "agentlog.toml",
        Path(environ.get("XDG_CONFIG_HOME", Path.home() / ".config")) / "agentlog" / "config.toml",
    ):
        if candidate.is_file():
            return candidate
    return None


def load(
    flags: Mapping[str, Any] | None = None,
    *,
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Resolve every setting from its sources; flags with value None are ignored."""
    environ = os.environ if environ is None else environ
    cwd = Path.cwd() if cwd is None else cwd
    config_file = config_file or find_config_file(environ, cwd)
    warnings: list[str] = []
    in_file = _read_file(config_file, warnings) if config_file is not None else {}
    values = {s.name: dict(s.default) if isinstance(s.default, dict) else s.default for s in SETTINGS}
    sources = {s.name: "default" for s in SETTINGS}
    for source, layer in (
        (f"file {config_file}", in_file),
        (f".env {cwd / '.env'}", _by_env(read_dotenv(cwd / ".env"))),
        ("environment", _by_env(environ)),
        ("flag", _named(flags or {})),
    ):
        _apply(source, layer, values, sources)
    return Settings(values, sources, warnings)


def _apply(source: str, layer: Mapping[str, tuple[str, Any]], values: dict[str, Any], sources: dict[str, str]) -> None:
    """Parse a layer's raw values (setting name -> (key as written, raw)) over `values`."""
    for name, (key, raw) in layer.items():
        try:
            values[name] = _BY_NAME[name].parse(raw)
        except (TypeError, ValueError) as exc:
            written = f" ({key})" if key != name else ""
            raise ConfigError(f"{name} from {source}{written}: {exc}") from None
        sources[name] = source
    for s in _FOLLOWERS:  # unset settings that follow another take its value
        if sources[s.name].startswith("default"):
            values[s.name], sources[s.name] = values[s.same_as], f"default (= {s.same_as})"


def _named(flags: Mapping[str, Any]) -> dict[str, tuple[str, Any]]:
    layer = {}
    for key, value in flags.items():
        if value is None:
            continue
        setting = _BY_KEY.get(key)
        if setting is None:
            raise ConfigError(f"unknown setting {key!r}{_did_you_mean(key)}")
        layer[setting.name] = (key, value)
    return layer


def _by_env(environ: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    return {s.name: (s.env, environ[s.env]) for s in _WITH_ENV if s.env in environ}


def _read_file(path: Path, warnings: list[str]) -> dict[str, tuple[str, Any]]:
    """Setting name -> (key as written, raw value) for every known key of the TOML file."""
    import tomllib  # only when there is a file: its parser costs a hook ~10 ms

    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"config file {path}: {exc}") from None
    found: dict[str, tuple[str, Any]] = {}

    def visit(prefix: str, table: dict[str, Any]) -> None:
        for key, value in table.items():
            written = f"{prefix}.{key}" if prefix else key
            if written == "agentlog" and isinstance(value, dict):
                visit("", value)  # [agentlog] holds top-level settings
            elif isinstance(value, dict) and written in _TABLES:
                visit(written, value)
            elif written in _BY_KEY:
                setting = _BY_KEY[written]
                if setting.name in found:
                    raise ConfigError(
                        f"{setting.name} is set twice in {path} (as {found[setting.name][0]} and {written}): keep one"
                    )
                found[setting.name] = (written, value)
            else:
                warnings.append(f"{path}: unknown key {written}{_did_you_mean(written)}; ignored")

    visit("", document)
    return found


def _did_you_mean(key: str) -> str:
    import difflib

    close = difflib.get_close_matches(key, list(_BY_KEY) + [f"agentlog.{k}" for k in _BY_NAME if "." not in k], n=1)
    return f" (did you mean {close[0].removeprefix('agentlog.')}?)" if close else ""
