"""Stateless fingerprint ids: the same masked template gives the same id in every process.

An id reads ``<slug>-<hash>``, e.g. ``npm_err_network_timeout-3f9a1c2b``: the slug is up to
four constant words of the template (for people), the hash is 8 hex digits of BLAKE2b over
the generalized template (for uniqueness).  Both are pure functions of the template, so a
short-lived ``agentlog emit`` and a week-long watchdog agree without talking to each other.
A template with no constant word gets the slug ``e``.
"""

from __future__ import annotations

import re

try:  # the C module behind hashlib.blake2b, without hashlib's ~6 ms OpenSSL import
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - other Python implementations
    from hashlib import blake2b

from agentlog.intel.mask import generalize, is_variable

SLUG_WORDS = 4
SLUG_CHARS = 40
_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def slug(tokens: list[str]) -> str:
    """Up to ``SLUG_WORDS`` constant words of the template, lowercased and joined by ``_``."""
    words: list[str] = []
    for token in tokens:
        if is_variable(token):
            continue
        word = _NON_ALNUM.sub("_", token.lower()).strip("_")
        if word:
            words.append(word)
            if len(words) == SLUG_WORDS:
                break
    return "_".join(words)[:SLUG_CHARS].rstrip("_") or "e"


def fingerprint(tokens: list[str]) -> str:
    """The id of a masked template given as tokens (see the module docstring)."""
    # surrogatepass: a lone surrogate (JSON can decode to one) is hashed instead of raising
    digest = blake2b(generalize(" ".join(tokens)).encode("utf-8", "surrogatepass"), digest_size=4).hexdigest()
    return f"{slug(tokens)}-{digest}"
