"""Every agent agentlog knows: one module each (agents/<name>.py), plus those that
third-party packages add through the `agentlog.agents` entry point (see plugins.py).

An agent module holds everything about one agent: an `Importer` subclass (which defines
`name`, `executor`, `default_path`: defining it registers the agent) and, when the agent
has them, `HOOKS` (agents.base.Hooks) and `TELEMETRY` (agents.base.Telemetry). Every list
of agents (CLI choices, `hooks install`, the guard, the OTLP receiver, `watch --follow`)
comes from here, so adding an agent never means editing a list.

    from agentlog import agents
    agents.names()                  # ['claude-code', 'codex', 'swe-agent', ...]
    agents.names(having="hooks")    # those whose hooks `agentlog hooks install` manages
    agents.get("codex").importer()  # a CodexImporter
"""

from __future__ import annotations

import pkgutil
import sys
from dataclasses import dataclass
from importlib import import_module
from typing import Literal

from .. import plugins
from .base import IMPORTERS, Hooks, Importer, Telemetry

Part = Literal["hooks", "telemetry", "follow"]


@dataclass(frozen=True)
class Agent:
    """One agent: its name and executor, its importer, and the optional parts of its module."""

    name: str  # as typed on the command line
    executor: str  # the stream's `executor`
    importer: type[Importer]  # reads its own transcripts
    hooks: Hooks | None  # where its hook settings live (None: no hooks)
    telemetry: Telemetry | None  # its OTLP events (None: sends none agentlog maps)

    @property
    def follow(self) -> bool:
        """`watch --follow` can import its transcripts as they are written (its importer says)."""
        return self.importer.follow


def load() -> None:
    """Import every agent module, ours and the plugins'; defining an Importer registers it."""
    for module in pkgutil.iter_modules(__path__):
        if module.name != "base" and not module.name.startswith("_"):
            import_module(f"{__name__}.{module.name}")
    plugins.load("agentlog.agents")


def _import_own(name: str) -> None:
    module = f"{__name__}.{name.replace('-', '_')}"
    try:
        import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise


def names(having: Part | None = None) -> list[str]:
    """The agents' names, sorted; only those with hooks, telemetry or followable transcripts when asked."""
    load()
    return sorted(name for name in IMPORTERS if having is None or getattr(get(name), having))


def get(name: str) -> Agent:
    if name not in IMPORTERS:
        _import_own(name)  # one module, not all of them and the plugins: a hook call stays quick
    if name not in IMPORTERS:
        load()
    try:
        importer = IMPORTERS[name]
    except KeyError:
        raise KeyError(f"unknown agent {name!r}; known: {', '.join(sorted(IMPORTERS))}") from None
    module = sys.modules[importer.__module__]
    return Agent(name, importer.executor, importer, getattr(module, "HOOKS", None), getattr(module, "TELEMETRY", None))


def all_agents(having: Part | None = None) -> list[Agent]:
    return [get(name) for name in names(having)]


def importers() -> list[Importer]:
    """An importer of every agent, in name order."""
    return [agent.importer() for agent in all_agents()]
