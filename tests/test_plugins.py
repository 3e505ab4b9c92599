"""A third-party package adds an agent, a detector and a sink through entry points: the
example package in tests/plugin_example is built and installed with pip (into a folder of
its own on PYTHONPATH, so the other tests never see it) and used from the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).parent / "plugin_example"
TRANSCRIPT = [
    {"time": "2026-01-05T10:00:00Z", "type": "prompt", "text": "fix the tests"},
    {"time": "2026-01-05T10:00:01Z", "type": "tool", "id": "t1", "name": "bash", "input": {"cmd": "cat .env"}},
    {"time": "2026-01-05T10:00:03Z", "type": "result", "id": "t1", "ok": False, "output": "1 failed"},
    {"time": "2026-01-05T10:00:04Z", "type": "usage", "model": "gpt-5", "input": 1200, "output": 300},
]


def pip_install(source: Path, target: Path) -> Path:
    """`pip install` of a package folder into `target` (its own site dir, entry points and all)."""
    build = target.parent / f"{target.name}-src"
    subprocess.run(["cp", "-r", str(source), str(build)], check=True)  # pip builds in place: keep tests/ clean
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(build),
        ],
        check=True,
        capture_output=True,
    )
    return target


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    return pip_install(EXAMPLE, tmp_path_factory.mktemp("plugins") / "site")


def agentlog(site: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site), "COLUMNS": "200"}
    found = subprocess.run([sys.executable, "-m", "agentlog", *args], env=env, capture_output=True, text=True)
    if check and found.returncode != 0:
        raise AssertionError(f"agentlog {' '.join(args)} exited {found.returncode}: {found.stderr}")
    return found


def help_of(site: Path, *command: str) -> str:
    return "".join(agentlog(site, *command, "--help").stdout.split())  # click wraps choices anywhere


def test_the_plugin_agent_is_a_choice_where_it_fits(site):
    assert "toy-agent" in help_of(site, "import")
    assert "toy-agent" in help_of(site, "watch")  # --follow: its transcripts are appended to
    hooks = help_of(site, "hooks", "install")
    assert "claude-code" in hooks and "toy-agent" not in hooks  # it has no hooks


def test_doctor_lists_the_plugins(site, tmp_path):
    out = agentlog(site, "doctor", "--log-dir", str(tmp_path), check=False).stdout
    flat = " ".join(out.split())
    for group, name in (("agents", "toy-agent"), ("detectors", "sensitive_file"), ("sinks", "jsonl")):
        assert f"{name} (plugin agentlog-example 0.1.0)" in flat, (group, out)


def test_plugin_agent_detector_and_sink_end_to_end(site, tmp_path):
    src = tmp_path / "sessions"
    src.mkdir()
    (src / "s1.jsonl").write_text("".join(json.dumps(r) + "\n" for r in TRANSCRIPT))
    logs = tmp_path / "logs"
    imported = agentlog(site, "import", "toy-agent", str(src), "--log-dir", str(logs), "--open-after", "0")
    assert "1 sessions, 5 events" in imported.stdout
    stream = [json.loads(line) for line in (logs / "agent-work-stream.jsonl").read_text().splitlines()]
    assert {e["executor"] for e in stream} == {"TOY_AGENT"}
    assert [e["event_type"] for e in stream] == ["session_start", "tool_call", "tool_result", "usage", "session_end"]
    sink_file = tmp_path / "alerts-copy.jsonl"
    agentlog(site, "watch", "--replay", "--once", "--quiet", "--log-dir", str(logs), "--sink", f"jsonl={sink_file}")
    copied = [json.loads(line) for line in sink_file.read_text().splitlines()]
    journal = [json.loads(line) for line in (logs / "agent-alerts.jsonl").read_text().splitlines()]
    assert [a["type"] for a in copied] == ["sensitive_file"] == [a["type"] for a in journal]
    assert copied[0]["tool_name"] == "bash" and copied[0]["severity"] == "high"


def test_the_plugins_are_invisible_without_the_package(tmp_path):
    """The registries hold only agentlog's own modules when no plugin is installed (the
    example package is installed nowhere but in the folder the tests above add)."""
    found = subprocess.run([sys.executable, "-m", "agentlog", "import", "--help"], capture_output=True, text=True)
    assert "toy-agent" not in found.stdout and "claude-code" in found.stdout


def test_a_broken_plugin_is_reported_and_left_out(tmp_path):
    broken = tmp_path / "broken"
    (broken / "agentlog_broken").mkdir(parents=True)
    (broken / "agentlog_broken" / "__init__.py").write_text("")
    (broken / "agentlog_broken" / "agent.py").write_text("raise RuntimeError('half installed')\n")
    (broken / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=70.1"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "agentlog-broken"\nversion = "1.0"\n'
        '[project.entry-points."agentlog.agents"]\nbroken-agent = "agentlog_broken.agent"\n'
        '[tool.setuptools]\npackages = ["agentlog_broken"]\n'
    )
    site = pip_install(broken, tmp_path / "site")
    assert "claude-code" in agentlog(site, "import", "--help").stdout  # agentlog works on
    doctor = agentlog(site, "doctor", "--log-dir", str(tmp_path / "logs"), check=False)
    flat = " ".join(doctor.stdout.split())
    assert "broken-agent" in flat and "RuntimeError: half installed" in flat and "agentlog-broken 1.0" in flat
    assert doctor.returncode == 1
