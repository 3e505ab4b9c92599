"""Shape fuzzing of every importer (issue 15): generated transcripts with what real agents
and disks write; invariants in tests/shapes/harness.py. More examples with
AGENTLOG_FUZZ_EXAMPLES=500."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from agentlog.agents import get
from shapes import (
    EXAMPLES,
    KILL_EXAMPLES,
    aider,
    atif,
    claude_code,
    codex,
    copilot_cli,
    gemini_cli,
    harness,
    openhands,
    parts_agents,
    pi,
    qwen_code,
    stores,
    swe_agent,
    vibe_kanban,
)

FORMATS = {
    "claude-code": claude_code.cases(),
    "codex": codex.cases(),
    "swe-agent": swe_agent.cases(),
    "gemini-cli": gemini_cli.cases(),
    "qwen-code": qwen_code.cases(),
    "copilot-cli": copilot_cli.cases(),
    "cursor-agent": parts_agents.cursor_cases(),
    "droid": parts_agents.droid_cases(),
    "amp": stores.amp_cases(),
    "opencode": stores.opencode_cases(),
    "atif": atif.cases(),
    "aider": aider.cases(),
    "pi": pi.cases(),
    "openclaw": pi.openclaw_cases(),
    "openhands": openhands.cases(),
    "vibe-kanban": vibe_kanban.cases(),
}
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)


@pytest.mark.parametrize("agent", sorted(FORMATS))
def test_every_shape_imports_once_with_every_skip_counted(agent: str) -> None:
    @FUZZ
    @given(case=FORMATS[agent])
    def run(case: harness.Case) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            harness.check(agent, case, Path(tmp))

    run()


@pytest.mark.parametrize("agent", sorted(FORMATS))
def test_an_import_killed_at_any_write_and_run_again_holds_every_event_once(agent: str) -> None:
    @settings(FUZZ, max_examples=KILL_EXAMPLES)
    @given(case=FORMATS[agent], points=st.lists(st.floats(0.01, 1.0), min_size=1, max_size=2), torn=st.booleans())
    def run(case: harness.Case, points: list[float], torn: bool) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            harness.check_kill(agent, case, Path(tmp), points, torn)

    run()


# formats that grow by appending; a whole-file format (a .traj) is rewritten as its run goes on,
# so a new file at its path is the same run, not another
APPENDED = sorted(agent for agent in FORMATS if get(agent).importer.append_only)


@pytest.mark.parametrize("agent", APPENDED)
def test_a_file_replaced_at_its_path_adds_its_own_events_under_ids_of_its_own(agent: str) -> None:
    @FUZZ
    @given(first=FORMATS[agent], second=FORMATS[agent])
    def run(first: harness.Case, second: harness.Case) -> None:
        heads = {content[:64] for content in first.files.values()}
        assume(first.files and not heads & {content[:64] for content in second.files.values()})
        with tempfile.TemporaryDirectory() as tmp:
            harness.check_replaced(agent, first, second, Path(tmp))

    run()
