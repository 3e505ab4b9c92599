"""Importers for agents' own transcripts, one module per agent, found by name.

    from agentlog.capture.importers import get, names
    get("claude-code")  # -> a ClaudeCodeImporter
"""

from __future__ import annotations

import pkgutil
from importlib import import_module

from .base import IMPORTERS, Context, Importer, ImportStats, Mapper, stable_id

__all__ = ["Context", "Importer", "ImportStats", "Mapper", "get", "names", "stable_id"]


def _discover() -> None:
    """Import every module in this package; defining an Importer subclass registers it."""
    for module in pkgutil.iter_modules(__path__):
        if module.name != "base":
            import_module(f"{__name__}.{module.name}")


def names() -> list[str]:
    _discover()
    return sorted(IMPORTERS)


def get(name: str) -> Importer:
    _discover()
    try:
        return IMPORTERS[name]()
    except KeyError:
        raise KeyError(f"no importer {name!r}; known: {', '.join(sorted(IMPORTERS))}") from None
