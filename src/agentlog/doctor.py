"""`agentlog doctor`: the troubleshooting questions in one call, each problem with its fix.

Effective configuration and where each value came from; log dir present and writable;
log files with sizes and last event time; whether a watchdog is running (its heartbeat)
and how far behind the stream it is; alerts written recently; sinks reachable.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import config
import msgspec

from .events import BOM, parse_time
from .store import layout
from .store.reader import last_line

STALE_HEARTBEAT_S = 15.0
LAG_WARN_BYTES = 1 << 20


@dataclass
class Check:
    name: str
    status: str  # ok | warn | problem
    detail: str
    fix: str | None = None


@dataclass
class DoctorReport:
    settings: list[tuple[str, Any, str]] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)

    @property
    def problems(self) -> list[Check]:
        return [c for c in self.checks if c.status == "problem"]

    @property
    def warnings(self) -> list[Check]:
        return [c for c in self.checks if c.status == "warn"]

    def add(self, name: str, status: str, detail: str, fix: str | None = None) -> None:
        self.checks.append(Check(name, status, detail, fix))

    def as_dict(self) -> dict[str, Any]:
        return {
            "settings": [{"name": n, "value": v, "source": s} for n, v, s in self.settings],
            "checks": [asdict(c) for c in self.checks],
        }


def diagnose(
    settings: config.Settings, *, notify: list[str] = (), webhooks: list[str] = (), now: float | None = None
) -> DoctorReport:
    now = time.time() if now is None else now
    report = DoctorReport(
        settings=[(s.name, _shown(s, settings.values[s.name]), settings.sources[s.name]) for s in config.SETTINGS]
    )
    log_dir = settings.log_path
    _switches(report, settings)
    if _log_dir(report, log_dir):
        _files(report, log_dir, now)
        _watchdog(report, log_dir, now)
        _alerts(report, log_dir, now)
        _dead_letters(report, log_dir)
    _extra_sinks(report, notify, webhooks)
    _registries(report)
    return report


def _registries(report: DoctorReport) -> None:
    """The agents, detectors and sinks this installation knows, the plugins' marked; a plugin
    that fails to load is a problem (it is left out until fixed)."""
    from . import agents, plugins
    from .watch.detectors import detector_names
    from .watch.sinks import kinds

    found = {"agents": agents.names(), "detectors": detector_names(), "sinks": kinds()}
    for group, names in found.items():
        loaded = {p.name: p for p in plugins.load(f"agentlog.{group}") if p.error is None}
        shown = [f"{name} (plugin {loaded[name].distribution})" if name in loaded else name for name in names]
        report.add(group, "ok", ", ".join(shown))
        for plugin in plugins.load(f"agentlog.{group}"):
            if plugin.error:
                report.add(
                    f"plugin {plugin.name}",
                    "problem",
                    f"{plugin.value} from {plugin.distribution} does not load: {plugin.error}",
                    f"fix or uninstall {plugin.distribution.split()[0]} (it is left out until then)",
                )


def _shown(setting: config.Setting, value: Any) -> Any:
    return ("(set)" if value is not None else None) if setting.secret else value


def _switches(report: DoctorReport, settings: config.Settings) -> None:
    if not settings.logging_enabled:
        report.add(
            "logging",
            "problem",
            f"disabled ({settings.sources['logging_enabled']}): nothing is recorded",
            "unset AGENT_WORK_LOGGING_ENABLED or set it to true",
        )
    if not settings.analyzer_enabled:
        report.add(
            "analyzer",
            "warn",
            f"disabled ({settings.sources['analyzer_enabled']}): `watch` exits at once",
            "unset AGENT_WORK_ANALYZER_ENABLED or set it to true",
        )
    for warning in settings.warnings:
        report.add("config", "warn", warning, "correct the key's name, or remove it")


def _log_dir(report: DoctorReport, log_dir: Path) -> bool:
    if not log_dir.is_dir():
        report.add(
            "log dir",
            "problem",
            f"{log_dir} does not exist",
            f"mkdir -p {log_dir} (agentlog watch and the recorder also create it), or point "
            "AGENT_WORK_LOG_DIR / --log-dir at the right place",
        )
        return False
    try:
        with tempfile.NamedTemporaryFile(dir=log_dir, prefix=".doctor-"):
            pass
    except OSError as exc:
        report.add(
            "log dir",
            "problem",
            f"{log_dir} is not writable: {exc.strerror}",
            f"fix the permissions (chown/chmod) of {log_dir} for user {os.getuid()}",
        )
        return False
    report.add("log dir", "ok", f"{log_dir.resolve()} is writable")
    return True


def _last_time(path: Path) -> float | None:
    raw = last_line(path)
    try:
        return parse_time(msgspec.json.decode(raw.removeprefix(BOM))["timestamp"]) if raw else None
    except (msgspec.DecodeError, KeyError, TypeError, ValueError, AttributeError):
        return None


def _files(report: DoctorReport, log_dir: Path, now: float) -> None:
    for kind, name in layout.KINDS.items():
        path = log_dir / name
        if not path.exists():
            status = "warn" if kind == "stream" else "ok"
            report.add(
                f"file {name}",
                status,
                "not present yet",
                "record events (agentlog emit, the Python API, agentlog demo)" if kind == "stream" else None,
            )
            continue
        last = _last_time(path)
        when = f", last event {_age(now - last)} ago" if last else ""
        report.add(f"file {name}", "ok", f"{path.stat().st_size:,} bytes{when}")


def _watchdog(report: DoctorReport, log_dir: Path, now: float) -> None:
    from .watch.watchdog import read_heartbeat

    beat = read_heartbeat(log_dir)
    if beat is None:
        report.add("watchdog", "warn", "no watchdog has run on this log dir", "start one: agentlog watch")
        return
    age = now - float(beat.get("updated_epoch", 0))
    alive = _pid_alive(int(beat.get("pid", 0)))
    if beat.get("running") and (age > STALE_HEARTBEAT_S or not alive):
        report.add(
            "watchdog",
            "problem",
            f"pid {beat.get('pid')} stopped without saying so (last heartbeat {_age(age)} ago): killed or hung",
            "restart it: agentlog watch (it resumes from its checkpoint, no alert lost or repeated)",
        )
        return
    if not beat.get("running"):
        report.add("watchdog", "warn", f"not running (last ran {_age(age)} ago)", "start one: agentlog watch")
        return
    lag = int(beat.get("lag_bytes", 0))
    detail = (
        f"running, pid {beat['pid']}, {lag:,} bytes behind the stream, "
        f"{beat.get('active_attempts', 0)} active attempts, last event {beat.get('last_event_time')}"
    )
    if lag > LAG_WARN_BYTES:
        report.add("watchdog", "warn", detail, "it is catching up; if the lag grows, check CPU and disk")
    else:
        report.add("watchdog", "ok", detail)
    for name, status in (beat.get("sinks") or {}).items():
        if status.get("retrying"):
            report.add(
                f"sink {name}",
                "problem",
                f"failing ({status.get('failures')} failures): {status.get('last_error')}; "
                f"{status.get('pending_bytes', 0):,} bytes of alerts waiting",
                "check the URL/service; alerts are kept and retried with backoff, nothing is lost",
            )
        else:
            report.add(f"sink {name}", "ok", f"{status.get('delivered', 0)} delivered")


def _alerts(report: DoctorReport, log_dir: Path, now: float) -> None:
    from .store.alerts import read_alerts

    recent = 0
    for alert in read_alerts(log_dir):
        try:
            if now - parse_time(alert.timestamp) < 86400:
                recent += 1
        except ValueError:
            continue
    report.add("alerts", "ok", f"{recent} alert(s) written in the last 24 h")


def _dead_letters(report: DoctorReport, log_dir: Path) -> None:
    path = log_dir / layout.STATE / "dead-letters.jsonl"
    if path.exists():
        count = sum(1 for _ in path.open("rb"))
        report.add(
            "dead letters",
            "warn",
            f"{count} alert(s) a sink refused for good, in {path}",
            "read the reasons there; fix the sink (URL, token, hook script) and resend if needed",
        )


def _extra_sinks(report: DoctorReport, notify: list[str], webhooks: list[str]) -> None:
    from .watch.sinks import make_sink

    for kind, spec in [("apprise", u) for u in notify] + [("webhook", u) for u in webhooks]:
        try:
            sink = make_sink(kind, spec)
        except ValueError as exc:
            report.add(f"{kind} URL", "problem", str(exc), "check the URL's scheme and parts")
            continue
        problem = sink.check()
        if problem:
            report.add(f"sink {sink.name}", "problem", problem, "start the service or fix the URL")
        else:
            report.add(f"sink {sink.name}", "ok", "reachable" if kind == "webhook" else "URL understood")


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"
