"""Vibe Kanban data folders (test-made with vkkit: the schema of the project's migrations,
generated rows): workspaces with setup scripts and coding-agent processes that passed,
failed or were killed, console logs whose Stdout chunks cut the agent's stream-json lines
anywhere, kept as files or in `execution_process_logs`, console lines that are not JSON,
stream lines that are not JSON, and log messages nobody knows yet."""

from __future__ import annotations

import json
import tempfile
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from vkkit import Store, claude_stream, console

from .harness import Case


@st.composite
def cases(draw: Any) -> Case:
    counted: Counter = Counter()
    sessions = calls = inputs = outputs = 0
    with tempfile.TemporaryDirectory() as scratch:
        store = Store(Path(scratch) / "vk", wal=False)
        for index in range(draw(st.integers(1, 3))):
            _space, session = store.workspace(f"task {index}", f"task-{index}")
            sessions += 1
            if draw(st.booleans()):
                store.process(
                    session,
                    reason="setupscript",
                    status=draw(st.sampled_from(["completed", "failed"])),
                    started=f"2026-01-07 10:0{index}:00.000",
                    completed=f"2026-01-07 10:0{index}:01.000",
                )
                calls += 1
            for turn in range(draw(st.integers(0, 2))):
                sid = str(uuid.UUID(int=(index << 124) | (turn << 120) | draw(st.integers(1, 2**64))))
                tool = draw(st.booleans())
                tokens = (draw(st.integers(0, 9000)), draw(st.integers(1, 900)))
                lines = claude_stream(sid, tool=tool, tokens=tokens)
                if draw(st.integers(0, 4)) == 0:
                    lines.insert(1, "plain text the agent printed")
                    counted["stdout_not_json"] += 1
                log = console(lines, chunk=draw(st.integers(5, 400)))
                if draw(st.integers(0, 4)) == 0:
                    log += json.dumps({"BrandNew": 1}).encode() + b"\n"
                    counted["unknown_log_message:BrandNew"] += 1
                if draw(st.integers(0, 4)) == 0:
                    log = b"not json\n" + log
                    counted["malformed_json"] += 1
                status = draw(st.sampled_from(["completed", "completed", "failed", "killed"]))
                store.process(
                    session,
                    prompt=f"do {turn}",
                    status=status,
                    exit_code=0 if status == "completed" else 1,
                    started=f"2026-01-07 11:{index}{turn}:00.000",
                    completed=f"2026-01-07 11:{index}{turn}:30.000",
                    agent_session_id=sid,
                    log=log,
                    log_in_db=draw(st.booleans()),
                )
                calls += tool
                inputs += tokens[0]
                outputs += tokens[1]
        store.close()
        root = Path(scratch)
        files = {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    return Case(files, counted, sessions=sessions, input_tokens=inputs, output_tokens=outputs, tool_calls=calls)
