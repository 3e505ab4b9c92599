"""The importer machinery (base.py): what reads an agent's own transcripts into events.
The importers themselves live with everything else about their agent, in agents/<name>.py;
`agentlog.agents` finds them by name."""

from __future__ import annotations

from .base import Context, Importer, ImportStats, Mapper, stable_id

__all__ = ["Context", "Importer", "ImportStats", "Mapper", "stable_id"]
