"""Mask the variable parts of an error message so that messages of one kind look alike.

``mask("npm ERR! network timeout at: https://registry.npmjs.org/left-pad")`` returns
``"npm ERR! network timeout at: <URL>"``.  The message is split on whitespace and each token
goes once through one compiled alternation, in which the first alternative that matches
wins: the order of ``_RULES`` is the precedence (a URL is not also a path, a UUID not a
number).  Masked tokens are memoized, because constant words repeat from message to message,
and so are tokens with numbers, by their digit shape (``blk_3871`` and ``blk_9120`` are both
``blk_1111``): that keeps masking above 200,000 messages/s when every line brings new
numbers, where one regex pass over the whole line managed 30,000.  The price: whitespace
runs collapse to one space, and a value never spans two tokens (``2024-01-02 10:11:12`` is
``<TS> <TS>``).

Choices worth knowing:

- Digit runs are masked everywhere, also inside identifiers (``blk_-6952`` -> ``blk_<NUM>``,
  ``TS2345`` -> ``TS<NUM>``): ids glued to words are the commonest variable in logs.  The miner
  still tells ``SOCKS<NUM>`` from ``HTTPS``: a word with a number in it is a value only where
  values are (see ``miner``).
- A quantity is one value with its unit and comparison sign: ``5.2 KB``, ``500ms``,
  ``1.5 seconds``, ``<1 sec`` and ``~3d`` are all ``<NUM>``, so "try again in 20s" and
  "try again in 350ms" are one error.
- A date written with month or weekday names is a timestamp: in ``Sun Jul 3 10:05:25 EST
  2005`` every word is ``<TS>`` or ``<NUM>``.  A month or weekday name is masked only next to
  a number or another date word (``May`` alone is a verb), and so is a time zone's name.
- A quoted string is masked only when it is one word (``No module named 'requests'``).
  Quoted text with spaces is usually the human-readable part of the error (a JSON
  ``"message"``) and quoted keys followed by ``:`` are structure, so both are kept.
- Long and multi-line messages are reduced by ``headline``: a Python traceback to its
  final exception line (what went wrong, not where), anything else to its first
  non-empty line, then capped at ``MAX_CHARS``.  Stack frames and the tail of a 4 KB
  compiler dump vary with the code, not with the kind of failure.
"""

from __future__ import annotations

import re

MAX_CHARS = 512

_HEX = r"[0-9a-fA-F]"
_SIZE_UNIT = r"(?:[KMGTP]i?)?B"
_TIME_UNIT = r"(?:ms|us|ns|secs?|seconds?|mins?|minutes?|hrs?|hours?|days?)"
# (placeholder, pattern) in precedence order.
_RULES: tuple[tuple[str, str], ...] = (
    ("URL", r"\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s'\"<>()\[\]{},]+"),
    ("EMAIL", r"\b[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+\b"),
    # Host names are recognised by a common top-level domain; Java packages (org.x.y) are not.
    ("HOST", r"\b(?:[A-Za-z0-9\-]+\.)+(?:com|org|net|io|dev|ai|co|edu|gov|local|internal|cloud|app)\b"),
    ("UUID", rf"\b{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}\b"),
    (
        "TS",
        r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2}\b)?"
        r"|\b\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?Z?\b",
    ),
    ("IP", r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?\b"),
    # Absolute, home- or dot-relative, Windows drive, or relative with a file extension.
    (
        "PATH",
        r"(?<![\w/\\.:\-])(?:~|\.{1,2}|[A-Za-z]:)?(?:[/\\][\w.@~+\-]+)+[/\\]?"
        r"|(?<![\w/\\.:\-])[\w.\-]+(?:/[\w.@+\-]+)+\.[A-Za-z]\w{0,4}\b",
    ),
    # A bare file name, recognised by a common extension (package-lock.json, parser.py).
    (
        "PATH_FILE",
        r"(?<![\w/\\.\-])[\w\-]+(?:\.[\w\-]+)*\.(?:py|pyi|js|jsx|mjs|cjs|ts|tsx|json|ya?ml|toml|lock"
        r"|md|txt|log|rs|go|java|kt|rb|php|c|cc|cpp|h|hpp|cs|sh|ps1|css|scss|html|xml|ini|cfg"
        r"|sql|gz|zip|tgz|whl|jar)\b",
    ),
    # A partly starred secret (``sk-proj-****abcd``) is a value; a bare ``****`` is not.
    ("STR_REDACTED", r"[A-Za-z0-9][\w\-]*\*{3,}[\w\-*]*|\*{3,}[\w\-]*[A-Za-z0-9][\w\-*]*"),
    ("HEX", rf"\b0[xX]{_HEX}+\b|\b(?={_HEX}*\d)(?={_HEX}*[a-fA-F]){_HEX}{{6,}}\b"),
    ("STR", r"'[^'\s]{1,200}'(?!\s*:)|\"[^\"\s]{1,200}\"(?!\s*:)|`[^`\s]{1,200}`"),
    # A sign is one only when it does not join two word parts (utf-8 keeps its dash).  A
    # size or duration unit belongs to its number: ``93.0 B``, ``5.2 KB`` and ``20s`` are values.
    # ``1h2m3.5s`` is one duration.
    (
        "NUM",
        rf"(?:(?<![A-Za-z0-9])[-<>~]=?)?\d+(?:\.\d+)*(?:(?:ms|[hms])\d+(?:\.\d+)?)*"
        rf"(?:(?:{_SIZE_UNIT}|{_TIME_UNIT}|[smhd])\b)?",
    ),
)

PLACEHOLDERS = tuple(dict.fromkeys(f"<{name.split('_')[0]}>" for name, _ in _RULES))
_PATTERN: re.Pattern[str] | None = None  # compiled on first use: import stays cheap
_REPLACEMENT = {name: f"<{name.split('_')[0]}>" for name, _ in _RULES}
_PLACEHOLDER_RE = re.compile(r"<(?:" + "|".join(p[1:-1] for p in PLACEHOLDERS) + r"|\*)>")
_TRACEBACK = "Traceback (most recent call last)"


def _pattern() -> re.Pattern[str]:
    global _PATTERN
    if _PATTERN is None:
        _PATTERN = re.compile("|".join(f"(?P<{name}>{rx})" for name, rx in _RULES))
    return _PATTERN


def prepare() -> None:
    """Compile the masking pattern now (`intel.prepare`)."""
    _pattern()


def _replace(match: re.Match[str]) -> str:
    return _REPLACEMENT[match.lastgroup]  # type: ignore[index]


_CACHE_LIMIT = 100_000
_cache: dict[str, str] = {}
# Masking does not depend on which digits a token holds (``0x`` aside: 0 is kept).  On UTF-8
# bytes: no multi-byte character holds these.
_DIGIT_SHAPE = bytes.maketrans(b"23456789", b"11111111")


def _with_punctuation(words: str) -> frozenset[str]:
    return frozenset(w + p for w in words.split() for p in ("", ",", ".", ";", ":", ")"))


# Month, weekday and time zone names: masked next to a number (see _in_context).
_MONTHS = "January February March April May June July August September October November December"
_WEEKDAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday"
_DATE_WORDS = _with_punctuation(
    " ".join(f"{w} {w[:3]} {w[:3].upper()} {w.upper()}" for w in f"{_MONTHS} {_WEEKDAYS}".split())
    + " Sept Tues Thur Thurs"
    + " UTC GMT EST EDT CST CDT MST MDT PST PDT CET CEST EET EEST WET WEST BST IST JST KST AEST AEDT HST AKST AKDT"
)
# A unit written apart from its number: "5.2 KB", "1.5 seconds", "<1 sec".
_UNITS = _with_punctuation(
    "B KB MB GB TB PB KiB MiB GiB TiB ms us ns sec secs second seconds min mins minute "
    "minutes hr hrs hour hours day days"
)
_IN_CONTEXT = _DATE_WORDS | _UNITS
_TIME = ("<NUM>", "<TS>")


def _mask_token(token: str) -> str:
    """Mask a token whose digits are already shaped (see ``digit_shape``)."""
    if token.isalpha():
        masked = token
    else:
        masked = "<NUM>" if token.isdigit() else _pattern().sub(_replace, token)
    if len(_cache) >= _CACHE_LIMIT:
        _cache.clear()  # ids fill the cache; starting over is cheaper than LRU upkeep
    _cache[token] = masked
    return masked


def digit_shape(text: str) -> str:
    """``text`` with every digit but 0 written 1: what masking sees (and so what it caches)."""
    return text.encode("utf-8", "surrogatepass").translate(_DIGIT_SHAPE).decode("utf-8", "surrogatepass")


def mask_tokens(text: str) -> list[str]:
    """The whitespace-separated tokens of ``text``, each with its variable parts masked."""
    tokens = digit_shape(text).split()
    cached = _cache.get
    out = [cached(token) or _mask_token(token) for token in tokens]
    if not _IN_CONTEXT.isdisjoint(out):
        out = _in_context(tokens, out)
    return out


def _in_context(tokens: list[str], masked: list[str]) -> list[str]:
    """Units joined to their number (``1.5 seconds`` -> ``<NUM>``), then date words masked
    next to numbers (``Sun Jul 3 10:05:25 EST 2005`` -> ``<TS> <TS> <NUM> <TS> <TS> <NUM>``)."""
    out: list[str] = []
    previous = ""
    for token, masked_token in zip(tokens, masked):
        if masked_token in _UNITS and previous[-1:].isdigit():
            out[-1] = _cache.get(previous + token) or _mask_token(previous + token)
        else:
            out.append(masked_token)
        previous = token
    for _ in range(2):  # twice: "Sun" is next to a number only once "Jul" is masked
        for i, token in enumerate(out):
            if token not in _DATE_WORDS:
                continue
            before = out[i - 1] if i else ""
            after = out[i + 1] if i + 1 < len(out) else ""
            if before.startswith(_TIME) or after.startswith(_TIME):
                out[i] = "<TS>" + token[-1] if not token[-1].isalpha() else "<TS>"
    return out


def mask(text: str) -> str:
    """Replace variable parts of ``text`` by placeholders such as ``<URL>`` or ``<NUM>``."""
    return " ".join(mask_tokens(text))


def headline(message: str) -> str:
    """The one line of ``message`` that names the failure, capped at ``MAX_CHARS``."""
    if "\n" in message:
        lines = [line for line in message.splitlines() if line.strip()]
        if not lines:
            return ""
        if _TRACEBACK in message:
            # The exception line is the last one that is not an indented frame or caret.
            unindented = [line for line in lines if not line[0].isspace()]
            message = unindented[-1] if unindented else lines[-1]
        else:
            message = lines[0]
    return message.strip()[:MAX_CHARS]


def normalize(message: str) -> list[str]:
    """The masked tokens of the message's headline: the template of this one message."""
    return mask_tokens(headline(message))


def is_variable(token: str) -> bool:
    """True when a template token holds a placeholder (it names no constant text)."""
    return "<" in token and _PLACEHOLDER_RE.search(token) is not None


def generalize(template: str) -> str:
    """Template with every placeholder as ``*`` and glued runs (``<NUM>.<NUM>``) merged.

    Two templates that differ only in which placeholder kind a value got (``00106228`` is
    ``<NUM>``, ``001064fc`` is ``<HEX>``) generalize to the same string; fingerprints hash this.
    """
    starred = _PLACEHOLDER_RE.sub("*", template)
    return _GLUED_STARS.sub("*", starred)


_GLUED_STARS = re.compile(r"\*(?:[.:_\-]?\*)+")
