"""One error taxonomy for the recorder, the watchdog and analytics, as data.

``RULES`` maps a category to regexes (searched case-insensitively).  Categories are tried in
the order of ``RULES``, specific before generic: a failing test is a test failure whatever
it asserts; a 429 from git's HTTPS remote is a rate
limit, not a git error; ``Permission denied (publickey)`` is auth, not a file permission.
The first category with a hit wins; the order puts transient kinds (network, timeout)
before the tools that report them, so ``npm ERR! network timeout`` is network, not npm.  Confidence grows with the number of its patterns that
hit and shrinks for every other category that also hit (the message is ambiguous):
``0.75`` for one hit, ``0.9`` for two or more, minus ``0.1`` per rival, at least ``0.4``.
``unknown`` has confidence ``0.0``.

Configuration adds rules with ``Taxonomy({"billing": [r"insufficient_quota"]})``: extra
rules are tried before the built-in ones, so a team's knowledge overrides ours.
"""

from __future__ import annotations

import re
from collections import Counter

UNKNOWN = "unknown"
# Kinds worth retrying as they are: the cause is outside the agent and tends to pass.
TRANSIENT_CATEGORIES = frozenset({"rate_limit", "timeout", "network", "service_unavailable"})

RULES: dict[str, list[str]] = {
    "test": [
        r"^FAILED |\S+::\S+ FAILED",
        r"assertionerror",
        r"\d+ failed|\btests? failed",
        r"expected .* (?:to (?:be|equal)|received)",
    ],
    "context_window": [
        r"context[ _-]?(?:length|window)",
        r"maximum context",
        r"prompt is too long",
        r"too many tokens",
        r"input (?:is )?too long",
        r"token limit",
        r"reduce the length of the messages",
        r"max_tokens",
    ],
    "content_policy": [
        r"content[ _-]?(?:policy|filter|management)",
        r"safety (?:system|filter)",
        r"flagged",
        r"usage polic(?:y|ies)",
        r"output blocked",
    ],
    "rate_limit": [
        r"rate[ _-]?limit",
        r"too many requests",
        r"\b429\b",
        r"quota",
        r"throttl",
        r"requests per (?:min|minute|day)",
        r"tokens per min",
    ],
    "oom": [
        r"out of memory",
        r"\boom\b",
        r"oom[ -]?kill",
        r"memoryerror",
        r"cannot allocate memory",
        r"heap out of memory",
        r"exit code 137",
        r"killed process \d+",
        r"signal 9\b|sigkill",
    ],
    "auth": [
        r"\b401\b",
        r"unauthori[sz]ed",
        r"invalid (?:x-)?api[ _-]?key",
        r"incorrect api key",
        r"authentication",
        r"permission denied \(publickey",
        r"could not read username",
        r"invalid (?:credentials|token)|token (?:has )?expired",
        r"not logged in|please (?:run )?.{0,20}login",
        r"bad credentials",
    ],
    "sandbox": [
        r"sandbox",
        r"seatbelt",
        r"landlock|seccomp",
        r"not allowed (?:in|by) (?:the )?(?:current )?(?:sandbox|approval|policy)",
        r"(?:command|tool use) (?:was )?(?:rejected|denied|blocked) by (?:the )?(?:user|policy|hook)",
        r"requires approval|approval (?:policy|required)",
        r"read-only file ?system",
        r"network access (?:is )?(?:disabled|blocked|denied)",
    ],
    "permission": [
        r"permission denied",
        r"\beacces\b|\beperm\b",
        r"operation not permitted",
        r"\b403\b",
        r"forbidden",
        r"access (?:is )?denied",
    ],
    "service_unavailable": [
        r"\b50[0234]\b",
        r"\b529\b",
        r"overloaded",
        r"(?:service|server) (?:is )?(?:temporarily )?unavailable",
        r"internal server error",
        r"bad gateway",
        r"server_error|api_error",
    ],
    "model_error": [
        r"model[_ ]not[_ ]found|does not exist or you do not have access",
        r"invalid[_ ]request[_ ]error",
        r"(?:unsupported|unknown|invalid) model",
        r"does not support (?:tools|images|function)",
        r"invalid (?:json|tool[_ ]call|function call)|malformed (?:response|tool)",
        r"stop[_ ]reason|finish[_ ]reason",
    ],
    "network": [
        r"\b(?:econnreset|econnrefused|enotfound|ehostunreach|enetunreach|eai_again)\b",
        r"connection (?:reset|refused|closed|aborted|error)",
        r"\bnetwork (?:error|timeout|is unreachable|request|connection|changed)",
        r"socket hang up|broken pipe",
        r"could not resolve host|name resolution|getaddrinfo|dns",
        r"sslerror|ssl: |certificate verify failed|tls handshake",
        r"disconnect|reconnect",
        r"apiconnectionerror|connecterror",
    ],
    "timeout": [
        r"time[d ]?\s?out",
        r"etimedout",
        r"deadline exceeded",
        r"took too long|exceeded .*(?:time|duration)",
    ],
    "git": [
        r"^fatal:|\bfatal: ",
        r"\bgit\b",
        r"merge conflict|conflict \(content\)",
        r"not a git repository",
        r"failed to push|non-fast-forward|rejected.*(?:fetch first|non-fast-forward)",
        r"pathspec|detached head|refs?/heads",
        r"your local changes .* would be overwritten",
    ],
    "dependency": [
        r"no module named|modulenotfounderror|importerror",
        r"cannot find module|module not found",
        r"npm err!|npm error|\bE404\b|eresolve",
        r"could not find a version|no matching distribution",
        r"dependency|peer dep|unable to resolve",
        r"pip(?:3)? install|resolutionimpossible",
        r"package .* (?:not found|is not installed)",
    ],
    "lint": [
        r"\blint",
        r"eslint|ruff|flake8|pylint|prettier|mypy|black",
        r"\b[EFW]\d{3}\b",
        r"would reformat|formatting",
        r"type error|incompatible type",
    ],
    "build": [
        r"\bbuild\b",
        r"compil(?:e|ation|er)",
        r"\berror TS\d+|\berror\[E\d{4}\]",
        r"syntaxerror|syntax error",
        r"webpack|\btsc\b|cargo|rustc|\bgcc\b|\bmake(?:\[\d+\])?:|makefile",
        r"linker|undefined reference|cannot find symbol",
    ],
}

_TRANSIENT_TEXT = re.compile(
    r"rate[ _-]?limit|too many requests|\b429\b|time[d ]?\s?out|etimedout|deadline exceeded"
    r"|unavailable|overloaded|\b50[234]\b|\b529\b|reconnect|econnreset|connection reset"
    r"|socket hang up|try again|temporar",
    re.IGNORECASE,
)


_FLAGS = re.IGNORECASE | re.MULTILINE


class Taxonomy:
    """Categorizes error messages by ``RULES`` plus optional extra rules.

    Every pattern is searched at once natively (``_core.PatternSet``, the ``regex`` crate):
    one by one with ``re``, case-insensitively, the rules cost ~0.15 ms a message, most of
    recording an error event.  A pattern the ``regex`` crate would not read as ``re`` does
    (a look-around, a back-reference, verbose mode, ``&&`` or ``[`` in a class) is searched
    with ``re``, as is every pattern for a message that is not plain ASCII or holds U+001C to
    U+001F (there the two differ on what is whitespace and what is a word character).
    """

    def __init__(self, extra_rules: dict[str, list[str]] | None = None) -> None:
        from .. import _core

        merged: dict[str, list[str]] = {}
        for category, patterns in (extra_rules or {}).items():
            merged[category] = list(patterns)
        for category, patterns in RULES.items():
            merged.setdefault(category, []).extend(patterns)
        self.categories = tuple(merged)
        self._sources = [p for patterns in merged.values() for p in patterns]
        self._set = _core.PatternSet(self._sources)
        self._foreign = self._set.foreign
        self._category_of = [category for category, patterns in merged.items() for _ in patterns]
        # `re` reads a pattern only where the native set cannot (a foreign pattern, a message
        # not plain ASCII). The user's and the foreign ones are compiled now, so a bad one
        # fails here (re.error) as configuration; the built-ins on first need (all of them
        # cost ~20 ms, which a process recording one error would pay for nothing).
        given = {p for patterns in (extra_rules or {}).values() for p in patterns}
        self._compiled = {
            i: re.compile(p, _FLAGS) for i, p in enumerate(self._sources) if p in given or i in self._foreign
        }

    def _re(self, index: int) -> re.Pattern[str]:
        compiled = self._compiled.get(index)
        if compiled is None:
            compiled = self._compiled[index] = re.compile(self._sources[index], _FLAGS)
        return compiled

    def hits(self, message: str) -> list[int]:
        """The indices of the patterns that hit ``message`` (categories in order, then their
        patterns), ascending."""
        found = self._set.hits(message)
        if found is None:  # not plain ASCII: `re` alone reads it as `re` does
            return [i for i in range(len(self._sources)) if self._re(i).search(message)]
        foreign = [i for i in self._foreign if self._re(i).search(message)]
        return sorted(found + foreign) if foreign else found

    def classify(self, message: str) -> tuple[str, float]:
        """(category, confidence) of ``message``; (``unknown``, 0.0) when no rule applies."""
        # a Counter keeps first-seen order: that of the categories, as the hits ascend
        counts = Counter(self._category_of[i] for i in self.hits(message))
        if not counts:
            return UNKNOWN, 0.0
        winner, hits = next(iter(counts.items()))
        confidence = (0.9 if hits >= 2 else 0.75) - 0.1 * (len(counts) - 1)
        return winner, round(max(confidence, 0.4), 2)


_default: Taxonomy | None = None


def default_taxonomy() -> Taxonomy:
    """The built-in taxonomy, compiled on first use (keeps ``import agentlog.intel`` cheap)."""
    global _default
    if _default is None:
        _default = Taxonomy()
    return _default


def classify(message: str, extra_rules: dict[str, list[str]] | None = None) -> tuple[str, float]:
    """(category, confidence) by the built-in rules, or by them plus ``extra_rules``."""
    taxonomy = Taxonomy(extra_rules) if extra_rules else default_taxonomy()
    return taxonomy.classify(message)


def is_transient(kind: str) -> bool:
    """True when a category, fingerprint, template or message names a passing failure.

    Transient: rate limits, timeouts, dropped connections and unavailable services, the
    failures a retry or a reconnect tends to fix.  A category name is judged by
    ``TRANSIENT_CATEGORIES``; anything else by its words (``rate_limit_exceeded-3f9a1c2b``).
    """
    if kind in TRANSIENT_CATEGORIES:
        return True
    if kind == UNKNOWN or kind in RULES:
        return False
    return _TRANSIENT_TEXT.search(kind) is not None
