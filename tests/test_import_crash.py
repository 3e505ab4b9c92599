"""An import SIGKILLed at a write (a log line, a cut log line, the state file) and run again
holds every event exactly once: stream, errors, transcripts, metrics (issue 15 item 2).
Real processes on the shared fixtures; the generated shapes get the same in test_import_shapes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import ROOT, SHARED
from shapes import harness

SOURCES = {
    "claude-code": [SHARED / "fixtures" / "claude-code", ROOT / "tests" / "data" / "transcripts" / "claude-code"],
    "codex": [SHARED / "fixtures" / "codex", ROOT / "tests" / "data" / "transcripts" / "codex"],
    "swe-agent": [SHARED / "fixtures" / "swe-agent"],
}


@pytest.mark.slow
@pytest.mark.parametrize("agent", sorted(SOURCES))
def test_killed_at_spread_out_writes_then_run_again_every_event_once(agent: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    for index, folder in enumerate(SOURCES[agent]):
        shutil.copytree(folder, src / str(index))
    writes = harness.run_import(agent, src, tmp_path / "clean")
    clean = harness.store(tmp_path / "clean")
    assert sum(clean[harness.layout.STREAM].values()) > 20
    for point in range(1, writes, max(1, writes // 8)):
        killed = tmp_path / f"killed-{point}"
        harness.run_import(agent, src, killed, kill_at=point, torn=point % 2 == 1)
        harness.run_import(agent, src, killed)
        assert harness.store(killed) == clean, f"killed at write {point} of {writes}"
