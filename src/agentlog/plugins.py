"""Third-party agents, detectors and sinks, found through entry points.

A package adds one without touching agentlog by declaring, in its pyproject.toml,

    [project.entry-points."agentlog.agents"]
    my-agent = "my_package.agent"          # a module that defines an Importer subclass

    [project.entry-points."agentlog.detectors"]
    my-detector = "my_package.detector"    # a module with a @register'ed detector

    [project.entry-points."agentlog.sinks"]
    my-sink = "my_package.sink"            # a module with a @register'ed sink

Loading the module registers what it defines, exactly as agentlog's own modules do. A
plugin that fails to load is remembered with its error (`agentlog doctor` shows it) and
left out: one broken package never stops agentlog.
"""

from __future__ import annotations

from dataclasses import dataclass

GROUPS = ("agentlog.agents", "agentlog.detectors", "agentlog.sinks")


@dataclass(frozen=True)
class Plugin:
    group: str
    name: str  # the entry point's name
    value: str  # what it points at ("my_package.agent")
    distribution: str  # the package that declares it, with its version
    error: str | None = None  # why it could not be loaded


_loaded: dict[str, list[Plugin]] = {}


def load(group: str) -> list[Plugin]:
    """Import every plugin of `group` (once per process) and say how each went."""
    if group not in _loaded:
        from importlib.metadata import entry_points  # ~10 ms: only where plugins are looked for

        _loaded[group] = [_load_one(group, point) for point in entry_points(group=group)]
    return _loaded[group]


def _load_one(group: str, point) -> Plugin:
    dist = f"{point.dist.name} {point.dist.version}" if point.dist else "?"
    try:
        point.load()
    except Exception as exc:  # noqa: BLE001 - a broken plugin is reported, never fatal
        return Plugin(group, point.name, point.value, dist, f"{type(exc).__name__}: {exc}")
    return Plugin(group, point.name, point.value, dist)
