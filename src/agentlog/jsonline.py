"""One JSON line decoded within bounds: the decoder every reader of JSON lines shares.

Two kinds of line get past a decoder, or through it the wrong way, and are malformed here
before the decoder sees them:

- Nested too deep. msgspec, like any recursive-descent parser, recurses once per level,
  so a line nested a few thousand levels deep raises RecursionError in the middle of a
  reader (and can overflow a thread's C stack first). Deeper than `MAX_DEPTH` is
  malformed. A line with at most `MAX_DEPTH` opening brackets cannot nest deeper (counted
  in C); only a line with more is measured exactly, its strings taken out first.
- Not UTF-8. A typed decoder skips the fields it does not read without looking into their
  strings, so the watchdog would take a line that `cat` refuses.

`suspect` screens a whole batch for both in C. `Unreadable` is a `msgspec.DecodeError`,
so every reader already reports it as the bad line it is.
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


class Unreadable(msgspec.DecodeError):
    """A line nested deeper than MAX_DEPTH, with brackets that cannot balance, or not UTF-8."""


def nesting_error(line: bytes) -> str | None:
    """Why this line nests too deep (or its brackets cannot balance), or None."""
    if line.count(b"[") + line.count(b"{") <= MAX_DEPTH:
        return None
    skeleton = _STRING.sub(b"", _ESCAPE.sub(b"", line)).translate(None, _NOT_BRACKET)
    for _ in range(MAX_DEPTH + 1):  # each round takes away the innermost level
        inner = _INNERMOST.sub(b"", skeleton)
        if inner == skeleton:
            return None if not skeleton else "its brackets do not balance"
        skeleton = inner
    return f"nested deeper than {MAX_DEPTH} levels"


def utf8_error(data: bytes) -> str | None:
    if data.isascii():
        return None
    try:
        data.decode()
    except UnicodeDecodeError as exc:
        return f"not UTF-8 at byte {exc.start}"
    return None


def suspect(joined: bytes) -> bool:
    """Whether any of these newline-separated lines may be unreadable: more than MAX_DEPTH
    opening brackets on one line, or bytes that are not UTF-8 (one pass in C for a batch)."""
    crowded = _MANY_OPENINGS.search(joined.translate(None, _NOT_OPENING_OR_NEWLINE)) is not None
    return crowded or utf8_error(joined) is not None


def decode_all(lines: list[bytes], decoder_of_list: msgspec.json.Decoder) -> list | None:
    """Every line decoded in one C call (`decoder_of_list` decodes a `list[T]`), or None when
    a line may be unreadable, is blank, holds two values (`{...},{...}`) or does not decode:
    the caller then decodes them one by one, each with its own verdict."""
    joined = b"\n,".join(lines)
    if suspect(joined):
        return None
    try:
        values = decoder_of_list.decode(b"[" + joined + b"]")
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return values if len(values) == len(lines) else None


def after_padding(line: bytes) -> bytes:
    """A line with NUL bytes, read after the last of them: a crash can leave a file's end as
    NULs, and the next writer appends its whole line after them (native/src/read.rs,
    `after_padding`)."""
    return line[line.rfind(b"\0") + 1 :]


def decode(line: bytes, decoder: msgspec.json.Decoder = _any) -> Any:
    """`decoder.decode(line)` of the line `after_padding`, or Unreadable (a DecodeError) for
    a line out of bounds."""
    line = after_padding(line)
    why = nesting_error(line) or utf8_error(line)
    if why is not None:
        raise Unreadable(why)
    return decoder.decode(line)
