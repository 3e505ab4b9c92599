"""One JSON line decoded within bounds: the decoder every reader of JSON lines shares.

msgspec, like any recursive-descent parser, recurses once per level of nesting, so a line
nested a few thousand levels deep raises RecursionError in the middle of a reader (and
can overflow a thread's C stack first). A line nested deeper than `MAX_DEPTH` is therefore
malformed, and is caught before the parser sees it: a line with at most `MAX_DEPTH`
opening brackets cannot nest deeper (counted in C, for a whole batch at once by
`crowded`); only a line with more is measured exactly, its strings taken out first.
`TooDeep` is a `msgspec.DecodeError`, so every reader already reports it as the bad line
it is.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

MAX_DEPTH = 64  # levels of arrays and objects; events use 3 or 4, tool params a few more

_ESCAPE = re.compile(rb"\\.", re.S)
_STRING = re.compile(rb'"[^"]*"')
_INNERMOST = re.compile(rb"\[\]|\{\}")  # both kinds in one pass: one level per round
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_NOT_OPENING_OR_NEWLINE = bytes(b for b in range(256) if b not in b"[{\n")
_MANY_OPENINGS = re.compile(rb"[^\n]{%d}" % (MAX_DEPTH + 1))
_any = msgspec.json.Decoder()


class TooDeep(msgspec.DecodeError):
    """A line nested deeper than MAX_DEPTH (or with brackets that cannot balance)."""


def nesting_error(line: bytes) -> str | None:
    """Why this line cannot be decoded within bounds, or None when it can."""
    if line.count(b"[") + line.count(b"{") <= MAX_DEPTH:
        return None
    skeleton = _STRING.sub(b"", _ESCAPE.sub(b"", line)).translate(None, _NOT_BRACKET)
    for _ in range(MAX_DEPTH + 1):  # each round takes away the innermost level
        inner = _INNERMOST.sub(b"", skeleton)
        if inner == skeleton:
            return None if not skeleton else "not valid JSON (its brackets do not balance)"
        skeleton = inner
    return f"nested deeper than {MAX_DEPTH} levels"


def crowded(joined: bytes) -> bool:
    """Whether any of these newline-separated lines has more than MAX_DEPTH opening
    brackets: only then can one of them be too deep (one pass in C for a whole batch)."""
    return _MANY_OPENINGS.search(joined.translate(None, _NOT_OPENING_OR_NEWLINE)) is not None


def decode(line: bytes, decoder: msgspec.json.Decoder = _any) -> Any:
    """`decoder.decode(line)`, or TooDeep (a DecodeError) for a line nested too deep."""
    why = nesting_error(line)
    if why is not None:
        raise TooDeep(why)
    return decoder.decode(line)
