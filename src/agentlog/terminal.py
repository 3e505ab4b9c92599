"""Recorded text as a terminal may show it: control characters made visible.

Error messages, outputs, executor names and task titles come from other programs. Printed
raw, an escape sequence in them retitles the window (``ESC ]0;...BEL``), clears the screen
(``ESC [2J``), recolours or hides what follows, or plants a link (OSC 8); a carriage return
or a bidirectional override makes a line read as something it is not. Every line and
table cell printed for people goes through :func:`printable`, which shows such characters
as escapes (``\\x1b]0;...``) instead; :func:`cell` also keeps Rich from reading the text
as markup (``[/]`` would raise, ``[link=...]`` would plant a link). JSON and CSV outputs
keep the data as it is (JSON escapes it).
"""

from __future__ import annotations

import re
from typing import Any

# C0 controls but tab and newline, DEL, C1 controls (0x9b is CSI on its own), and the
# bidirectional marks, embeddings, overrides and isolates ("Trojan Source").
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_UNSAFE_ONE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return _NAMED.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def printable(value: Any, *, one_line: bool = False) -> str:
    """`value` as text with every control character escaped; newlines and tabs stay
    unless `one_line` (then they show as ``\\n`` and ``\\t`` too)."""
    text = "" if value is None else str(value)
    pattern = _UNSAFE_ONE_LINE if one_line else _UNSAFE
    return pattern.sub(_escape, text) if pattern.search(text) else text


def cell(value: Any, style: str = ""):
    """A Rich ``Text`` of `value` made printable: never parsed as markup."""
    from rich.text import Text

    return Text(printable(value), style=style)
