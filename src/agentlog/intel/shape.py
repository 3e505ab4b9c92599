"""How the miner sees a message: a *shape* of slots, one per token.

A token without a placeholder is a word and stands for itself, in the singular (messages
pluralize by count: ``1 error`` / ``2 errors``).  A token with a placeholder is a value,
``VALUE``, or ``key=`` followed by ``VALUE`` when it reads ``key=value``: the key is
structure.  A run of one kind of value (``an<NUM> an<NUM> ...``) is one slot, a list of
any length.  A position the miner learned to vary is ``<*>``, or ``key=<*>`` when all its
values had one key; it admits values but never a *fixed* word: an upper-case code
(``ENOTFOUND``, ``GET``) or an empty ``key=``, which name cases rather than hold values.
"""

from __future__ import annotations

import re

from agentlog.intel.mask import is_variable

WILDCARD = "<*>"
VALUE = "* "  # a value's slot; the space keeps it from equalling any token

_CACHE_LIMIT = 100_000  # tokens remembered with their slot; cleared when full
_PLURAL_S = re.compile(r"(?<=[A-Za-z]{2}[A-RT-Za-rt-z])s(?=\W?$)")
_KEYED = re.compile(r"\W*[A-Za-z_][\w.\-]*=(?!=)")


def slot(token: str) -> str:
    """A token as the miner compares it (see the module docstring)."""
    found = _slots.get(token)
    if found is None:
        if token.endswith(WILDCARD):  # a learned position, as saved
            found = token
        elif not is_variable(token):
            found = _PLURAL_S.sub("", token)
        else:
            keyed = _KEYED.match(token)
            found = keyed.group(0) + VALUE if keyed else VALUE
        if len(_slots) >= _CACHE_LIMIT:
            _slots.clear()
        _slots[token] = found
    return found


_slots: dict[str, str] = {}  # words repeat from message to message
_CODE = re.compile(r"\W*[A-Z][A-Z0-9_]*[A-Z][A-Z0-9_]*\W*")


def is_fixed(word: str) -> bool:
    """A word that names a case rather than holding a value, so it never joins a variable:
    an upper-case code (``ENOTFOUND``, ``SIGKILL``, ``state=LOOKING``, ``GET``: a
    programmer's constant) or an empty ``key=`` (no value is a case of its own)."""
    keyed = _KEYED.match(word)
    value = word[keyed.end() :] if keyed else word
    return not value or _CODE.fullmatch(value) is not None


def is_learned(slot_: str) -> bool:
    """A position learned to vary: ``<*>``, or ``key=<*>`` when its values shared a key."""
    return slot_.endswith(WILDCARD)


def admits(learned: str, word: str) -> bool:
    """Whether slot ``learned`` takes ``word``: itself, or any value that is not a fixed
    word, under the same key when the position learned one (``user=<*>``)."""
    if learned == word:
        return True
    if not learned.endswith(WILDCARD) or is_fixed(word):
        return False
    return word.startswith(learned[: -len(WILDCARD)])


def learned_slot(values: list[str]) -> str:
    """``key=<*>`` when every value reads ``key=...`` with one key, else ``<*>``."""
    keys = {m.group(0) if (m := _KEYED.match(v)) else None for v in values}
    key = keys.pop() if len(keys) == 1 else None
    return (key or "") + WILDCARD


def shape_of(tokens: list[str]) -> tuple[str, ...]:
    """The slots of ``tokens``; a run of one kind of value (``an<NUM> an<NUM> ...``) is one."""
    shape: list[str] = []
    previous = None
    for token in tokens:
        s = slot(token)
        if not (s == VALUE and token == previous):
            shape.append(s)
        previous = token
    return tuple(shape)


def words_of(shape: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The shape without its values: what stays when values are optional or of any length."""
    return tuple(s for s in shape if s != VALUE)


def shown(learned: str, token: str) -> str:
    """The template's token for a learned position: ``<*>``, or ``user=<*>`` under a key."""
    return learned if learned == WILDCARD else token[: token.index("=") + 1] + WILDCARD


def token_at(tokens: list[str], position: int) -> int | None:
    """Index in ``tokens`` of the token that makes slot ``position`` of their shape."""
    slots = -1
    previous = None
    for index, token in enumerate(tokens):
        if not (slot(token) == VALUE and token == previous):
            slots += 1
            if slots == position:
                return index
        previous = token
    return None
