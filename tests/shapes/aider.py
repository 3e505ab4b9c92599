"""aider chat histories: runs (`# aider chat started at`), user messages of one or more
`#### ` lines, replies, aider's `> ` output with every `Tokens:` spelling (commas, `k`,
cache write / cache hit / cached, `message` or `request`, no cost), errors, edits,
interrupted runs, runs that print only aider's start-up, text before the first run, a BOM,
CRLF line ends, and Markdown files that are not chat histories."""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import strategies as st

from .harness import Case


def spelled(draw: Any, value: int) -> str:
    """`value` as aider prints it, exactly: 839, 2,347 or 12k."""
    if value >= 1000 and value % 1000 == 0 and draw(st.booleans()):
        return f"{value // 1000}k"
    return f"{value:,}" if draw(st.booleans()) else str(value)


@st.composite
def history(draw: Any, name: str) -> Case:
    counted: Counter = Counter()
    lines: list[str] = []
    sessions = inputs = outputs = calls = 0
    runs = draw(st.integers(0, 4))
    if runs and draw(st.integers(0, 4)) == 0:  # the file starts mid-session
        lines += ["leftover reply text", "> Tokens: 1k sent, 10 received."]
        counted["before_first_run"] += 2
    for run in range(runs):
        lines += [
            f"# aider chat started at 2025-0{1 + run}-02 11:{draw(st.integers(10, 59))}:0{run}",
            "",
            "> Aider v0.84.0  ",
            "> Model: gpt-4o with diff edit format  ",
            "",
        ]
        active = False
        for _turn in range(draw(st.integers(0, 3))):
            active = True
            lines += [f"#### {draw(st.sampled_from(['fix the bug', 'add tests', 'why?']))}  "]
            if draw(st.booleans()):
                lines += ["#### and keep it short  "]  # one message of two lines
            lines += ["", draw(st.sampled_from(["Here is the fix.", "```python\nx = 1\n```", "Sure."])), ""]
            if draw(st.booleans()):
                lines += [f"> Applied edit to src/app_{calls}.py  "]
                calls += 1
            if draw(st.integers(0, 4)) == 0:
                lines += ["> litellm.RateLimitError: quota exceeded  "]
            if draw(st.booleans()):
                sent, received = (
                    draw(st.integers(0, 50)) * 1000 + draw(st.sampled_from([0, 0, 347])),
                    draw(st.integers(1, 5000)),
                )
                parts = [f"{spelled(draw, sent)} sent"]
                inputs += sent
                for kind in draw(
                    st.lists(st.sampled_from(["cache write", "cache hit", "cached"]), max_size=2, unique=True)
                ):
                    value = draw(st.integers(1, 9)) * 1000
                    parts.append(f"{spelled(draw, value)} {kind}")
                    inputs += value
                parts.append(f"{spelled(draw, received)} received.")
                outputs += received
                cost = draw(
                    st.sampled_from(
                        ["", " Cost: $0.05 message, $0.09 session.", " Cost: $0.0084 request, $0.01 session."]
                    )
                )
                lines += [f"> Tokens: {', '.join(parts)}{cost}  ", ""]
            if draw(st.integers(0, 5)) == 0:
                lines += ["> ^C KeyboardInterrupt  ", ""]
        sessions += active
    text = "\n".join(lines) + ("\n" if lines else "")
    if draw(st.integers(0, 4)) == 0:
        text = text.replace("\n", "\r\n")
    content = text.encode()
    if draw(st.integers(0, 9)) == 0:
        content = b"\xef\xbb\xbf" + content
    return Case(
        {name: content}, counted, sessions=sessions, input_tokens=inputs, output_tokens=outputs, tool_calls=calls
    )


@st.composite
def cases(draw: Any) -> Case:
    """Projects with their `.aider.chat.history.md`, a custom-named history, other Markdown."""
    total = Case({})
    for index in range(draw(st.integers(1, 2))):
        total = total.add(draw(history(f"proj{index}/.aider.chat.history.md")))
    if draw(st.booleans()):
        total = total.add(draw(history("proj0/notes/custom_history.md")))
    if draw(st.booleans()):
        total = total.add(Case({"proj0/README.md": b"# Project\n\n#### not a chat\n"}, tool_calls=0))
    return total
