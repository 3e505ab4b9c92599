"""Settings: defaults, TOML file, `.env`, environment, flags — in that rising order.

Precedence (highest first): CLI flag > process environment > `.env` in the working
directory (the original system read one) > TOML file > default. Every value remembers
where it came from, so `agentlog doctor` can say why a setting has the value it has.

The environment variable names are the original system's, so existing deployments
keep working. TOML keys are the setting names in lower case (`error_loop_threshold`),
at top level or under `[agentlog]`; other tables (`[redact.patterns]`, `[pricing]`,
`[guard]`, ...) are kept as `Settings.sections` for the parts that own them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true/false, got {value!r}")


def _file_mode(value: Any) -> str:
    text = str(value).strip().lower()
    if text not in ("private", "group"):
        raise ValueError(f"expected private or group, got {value!r}")
    return text


@dataclass(frozen=True)
class Setting:
    name: str
    env: str
    parse: Callable[[Any], Any]
    default: Any
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("logging_enabled", "AGENT_WORK_LOGGING_ENABLED", _bool, True,
            "false makes every write a no-op"),
    Setting("analyzer_enabled", "AGENT_WORK_ANALYZER_ENABLED", _bool, True,
            "false makes `watch` exit at once"),
    Setting("log_dir", "AGENT_WORK_LOG_DIR", str, ".cache/agent-work-logs",
            "where the log files live"),
    Setting("redact", "AGENT_WORK_REDACT", _bool, True, "scrub secrets before writing"),
    Setting("file_mode", "AGENT_WORK_FILE_MODE", _file_mode, "private",
            "who may read the files agentlog writes: private (0600 in 0700 folders) or group (0640 in 0750)"),
    Setting("fsync", "AGENT_WORK_FSYNC", str, "none",
            "durability: none (page cache), event (fsync each line), batch"),
    Setting("max_event_bytes", "AGENT_WORK_MAX_EVENT_BYTES", int, 8 * 1024 * 1024,
            "longer events have their largest strings truncated with a marker"),
    Setting("error_loop_threshold", "AGENT_ERROR_LOOP_THRESHOLD", int, 4,
            "same error fingerprint this many times in the window is a loop"),
    Setting("error_loop_window_ms", "AGENT_ERROR_LOOP_WINDOW_MS", int, 600_000,
            "window of the error loop rule"),
    Setting("tool_loop_threshold", "AGENT_TOOL_LOOP_THRESHOLD", int, 10,
            "same tool this many times in the window is a loop"),
    Setting("tool_loop_window_ms", "AGENT_TOOL_LOOP_WINDOW_MS", int, 10_000,
            "window of the tool loop rate rule (60000 = the original's rule)"),
    Setting("stuck_threshold_ms", "AGENT_STUCK_THRESHOLD_MS", int, 300_000,
            "an unfinished attempt idle this long is stuck"),
    Setting("cost_anomaly_threshold", "AGENT_COST_ANOMALY_THRESHOLD", float, 1.0,
            "session cost in USD that raises cost_anomaly"),
    Setting("alert_cooldown_ms", "AGENT_ALERT_COOLDOWN_MS", int, 300_000,
            "an alert is not repeated for the same key within this time"),
    Setting("log_max_size_mb", "AGENT_WORK_LOG_MAX_SIZE_MB", float, 100.0,
            "rotate a log file past this size"),
    Setting("archive_retention_days", "AGENT_WORK_ARCHIVE_RETENTION_DAYS", int, 90,
            "delete archives older than this"),
    Setting("session_log_retention", "AGENT_SESSION_LOG_RETENTION", int, 100,
            "session transcripts kept live; older ones are archived"),
)
_BY_NAME = {s.name: s for s in SETTINGS}


class ConfigError(ValueError):
    """A setting with a value that cannot be parsed; names the setting and its source."""


@dataclass
class Settings:
    values: dict[str, Any]
    sources: dict[str, str]
    sections: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["values"][name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def log_path(self) -> Path:
        return Path(self.values["log_dir"])

    def section(self, name: str) -> dict[str, Any]:
        """A TOML table owned by one part of agentlog (`redact`, `pricing`, `guard`...)."""
        value = self.sections.get(name, {})
        return value if isinstance(value, dict) else {}


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
    for candidate in (cwd / "agentlog.toml",
                      Path(environ.get("XDG_CONFIG_HOME", Path.home() / ".config")) / "agentlog" / "config.toml"):
        if candidate.is_file():
            return candidate
    return None


def load(flags: Mapping[str, Any] | None = None, *, config_file: Path | None = None,
         environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> Settings:
    """Resolve every setting from its sources; flags with value None are ignored."""
    environ = os.environ if environ is None else environ
    cwd = Path.cwd() if cwd is None else cwd
    config_file = config_file or find_config_file(environ, cwd)
    table: dict[str, Any] = {}
    if config_file is not None:
        import tomllib  # only when there is a file: its parser costs a hook ~10 ms

        try:
            table = tomllib.loads(config_file.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"config file {config_file}: {exc}") from None
    file_values = {**table, **table.get("agentlog", {})}
    layers = (
        (f"file {config_file}", {k: v for k, v in file_values.items() if k in _BY_NAME}),
        (f".env {cwd / '.env'}", _by_env(read_dotenv(cwd / ".env"))),
        ("environment", _by_env(environ)),
        ("flag", {k: v for k, v in (flags or {}).items() if v is not None and k in _BY_NAME}),
    )
    values = {s.name: s.default for s in SETTINGS}
    sources = {s.name: "default" for s in SETTINGS}
    for source, layer in layers:
        for name, raw in layer.items():
            try:
                values[name] = _BY_NAME[name].parse(raw)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"{name} from {source}: {exc}") from None
            sources[name] = source
    sections = {k: v for k, v in table.items() if k not in _BY_NAME and k != "agentlog"}
    return Settings(values, sources, sections)


def _by_env(environ: Mapping[str, str]) -> dict[str, str]:
    return {s.name: environ[s.env] for s in SETTINGS if s.env in environ}
