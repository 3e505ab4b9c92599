"""Error intelligence: fingerprint, template and category of an agent's error message.

The recorder calls ``analyze_error`` on the hot path without a miner: masking plus a hash,
no file I/O, identical in every process.  Long-running consumers and ``agentlog cluster``
use a ``TemplateMiner``, which also learns which words vary (user, branch, package and
service names) and persists what it learned.  Heavy parts (the miner and msgspec, the
compiled taxonomy) load on first use, so ``import agentlog.intel`` stays cheap.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterable, Iterator

TYPE_CHECKING = False  # typing costs ~15 ms to import; annotations only need the name

from agentlog.intel.fingerprint import fingerprint as _fingerprint

# ``mask`` the function is not re-exported: it would shadow the ``agentlog.intel.mask`` module.
from agentlog.intel.mask import normalize, prepare as _prepare_mask
from agentlog.intel.taxonomy import TRANSIENT_CATEGORIES, Taxonomy, classify, default_taxonomy, is_transient

if TYPE_CHECKING:
    from agentlog.intel.miner import TemplateMiner

__all__ = [
    "ErrorInfo",
    "TRANSIENT_CATEGORIES",
    "Taxonomy",
    "TemplateMiner",
    "analyze_error",
    "classify",
    "cluster_lines",
    "fingerprint_of",
    "is_transient",
    "prepare",
    "taxonomy_for",
]

ErrorInfo = namedtuple("ErrorInfo", "fingerprint template category confidence")
ErrorInfo.__doc__ = "What agentlog knows about one error message; confidence is in [0, 1]."


def fingerprint_of(message: str) -> str:
    """The stateless fingerprint of ``message``: the same in every process, no I/O."""
    return _fingerprint(normalize(message))


def analyze_error(
    message: str,
    fingerprint: str | None = None,
    category: str | None = None,
    *,
    miner: TemplateMiner | None = None,
    taxonomy: Taxonomy | None = None,
) -> ErrorInfo:
    """Fingerprint, template and category of ``message``.

    A caller's own ``fingerprint`` and ``category`` always win (the template is then the
    masked message, and a given category has confidence 1.0).  Without a ``miner`` the
    fingerprint is the stateless ``fingerprint_of``.
    """
    tokens = normalize(message)
    template = " ".join(tokens)
    if fingerprint is None:
        if miner is not None:
            fingerprint, template = miner.add(message)
        else:
            fingerprint = _fingerprint(tokens)
    if category is None:
        category, confidence = (taxonomy or default_taxonomy()).classify(message)
    else:
        confidence = 1.0
    return ErrorInfo(fingerprint, template, category, confidence)


def prepare(settings=None) -> Taxonomy:
    """Compile now what the first error needs (the masking pattern, the taxonomy: ~20 ms of
    regexes) and return the taxonomy of `settings` (the built-in one without). A long-running
    process (a watch, `otel serve`) calls it at start, so its first error is not late."""
    _prepare_mask()
    default_taxonomy()
    return taxonomy_for(settings) if settings is not None else default_taxonomy()


def taxonomy_for(settings) -> Taxonomy:
    """The taxonomy with the user's extra rules from the TOML table `[errors.categories]`
    (category -> list of regexes); the same everywhere (recorder, watchdog, analytics)."""
    extra = settings.section("errors").get("categories")
    return Taxonomy(extra) if extra else default_taxonomy()


def cluster_lines(
    lines: Iterable[str], miner: TemplateMiner | None = None, *, online: bool = False
) -> Iterator[tuple[str, str]]:
    """(fingerprint, template) for each line, in input order: one message per line.

    All lines are learned first, then each gets the cluster that learning put it in: the
    miner decides that a word varies only after seeing it vary, and the first lines of a
    cluster deserve the same answer as the last.  ``online`` answers each line as it is
    read instead (for endless streams), from what the lines before it taught.  Memory: one
    small int per line.  Without a ``miner`` a fresh in-memory one clusters the lines among
    themselves.
    """
    if miner is None:
        from agentlog.intel.miner import TemplateMiner

        miner = TemplateMiner()
    if online:
        for line in lines:
            yield tuple(miner.add(line.rstrip("\r\n")))
        return
    from array import array

    first_answers: dict[tuple[str, str], int] = {}
    order = array("I")
    for line in lines:
        answer = miner.add(line.rstrip("\r\n"))
        order.append(first_answers.setdefault(answer, len(first_answers)))
    # an answer whose cluster was since forgotten (the miner's cap) stays what it was
    final = [tuple(miner.resolve(answer[0]) or answer) for answer in first_answers]
    for index in order:
        yield final[index]


def __getattr__(name: str):
    # TemplateMiner pulls in msgspec; load it only when someone asks for it.
    if name == "TemplateMiner":
        from agentlog.intel.miner import TemplateMiner

        return TemplateMiner
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
