"""The layers hold: the import graph drawn from the source (scripts/check_layers.py) has no
cycle and no arrow from a lower layer to a higher one."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "check_layers.py"


def checker():
    spec = importlib.util.spec_from_file_location("check_layers", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_agentlog_has_no_cycle_and_no_upward_import():
    found = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True)
    assert found.returncode == 0, found.stdout


def test_the_check_catches_an_upward_import_and_a_cycle(tmp_path):
    package = tmp_path / "agentlog"
    for name, text in {
        "__init__.py": "",
        "events.py": "from . import config\n",
        "config.py": "def load():\n    from .events import X\n",  # a lazy import counts too
        "store/__init__.py": "",
        "store/writer.py": "from ..cli import main\n",
        "cli/__init__.py": "from ..store import writer\n",
    }.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(text)
    found = checker().problems(tmp_path)
    assert "upward: agentlog.store.writer (store) imports agentlog.cli (cli)" in found
    assert "cycle: agentlog.config <-> agentlog.events" in found
    assert any(line.startswith("cycle:") and "agentlog.store.writer" in line for line in found)
    assert len(found) == 3
