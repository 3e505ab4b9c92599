"""What disks and crashing writers do to JSON-lines files, on top of what agents write:
a BOM, blank lines, glued records, a cut record before the next writer's, a crash's NUL
padding before it, a cut last line, junk, non-object lines, huge records, and times that are
missing, invalid or out of order.

Each shape says what it adds to the skip counts; none changes what a correct import finds
(a record is never cut unless a whole copy of it stays), so a case's truth holds through them.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from hypothesis import strategies as st

BOM = b"\xef\xbb\xbf"


def line(record: dict[str, Any]) -> bytes:
    return json.dumps(record, separators=(",", ":")).encode() + b"\n"


# times as agents write them, and as they go wrong
def times(base: int) -> st.SearchStrategy[str]:
    """An ISO time near `base` seconds into 2025, in the spellings seen in real files."""

    def spell(offset: int, style: int) -> str:
        import datetime as dt

        t = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=base + offset)
        return [
            t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            t.strftime("%Y-%m-%dT%H:%M:%SZ"),
            t.isoformat(),
            t.strftime("%Y-%m-%dT%H:%M:%S"),
        ][style]

    return st.builds(spell, st.integers(-30, 30), st.integers(0, 3))


def valid_time(value: Any) -> bool:
    """Would an importer take `value` as a record's time?"""
    from agentlog.events import parse_time

    try:
        parse_time(value)
    except (TypeError, ValueError):
        return False
    return True


BAD_TIMES = st.sampled_from([None, "", "yesterday", "2025-13-45T99:00:00Z", 1735689600, "NaN"])


@st.composite
def timestamp(draw: Any, base: int) -> Any:
    """Mostly a good time (sometimes out of order by up to 30 s), sometimes none or nonsense."""
    return draw(times(base)) if draw(st.integers(0, 9)) else draw(BAD_TIMES)


@st.composite
def damaged(draw: Any, lines: list[bytes], counted: Counter) -> bytes:
    """`lines` as a disk may hold them; the skip reasons the damage adds go into `counted`."""
    out: list[bytes] = []
    for raw in lines:
        shape = draw(st.integers(0, 29))
        if shape == 0:
            out.append(b"\n  \n")  # blank lines: nothing
        elif shape == 1 and out and out[-1].endswith(b"}\n"):
            out[-1] = out[-1][:-1]  # glued to the previous record: both are kept
        elif shape == 2:
            out.append(raw[: draw(st.integers(1, min(200, len(raw) - 2)))])  # a writer died mid-line...
            counted["malformed_json"] += 1  # ...and the next one's record is glued to the fragment
        elif shape == 3:
            out.append(draw(st.sampled_from([b"not json at all\n", b"\x00\xff\xfe\n", b'{"a": \n'])))
            counted["malformed_json"] += 1
        elif shape == 4:
            out.append(draw(st.sampled_from([b"[1, 2]\n", b'"text"\n', b"42\n", b"null\n"])))
            counted["not_an_object"] += 1
        elif shape == 5 and (not out or out[-1].endswith(b"\n")):
            # a crash left NULs (its size written, its data not), maybe after the start of its
            # line; the next writer's record follows them whole: read as if they were not there
            out.append(raw[: draw(st.integers(0, min(200, len(raw) - 2)))] + b"\0" * draw(st.integers(1, 4096)))
        out.append(raw)
    data = b"".join(out)
    if draw(st.booleans()):
        data = BOM + data
    if draw(st.integers(0, 3)) == 0 and lines:  # the last write was cut: a fragment, no newline
        data += lines[-1][: draw(st.integers(1, max(1, len(lines[-1]) - 2)))]
        counted["malformed_json"] += 1
    return data


def huge(kind: str) -> bytes:
    """A record of a type nobody knows, over a megabyte long."""
    return line({"type": kind, "blob": "x" * (1 << 20) + "é"})
