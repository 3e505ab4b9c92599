"""How many tokens a model takes in one call, by model name: the one table agentlog has.

Read by the advisor (context pressure) and by the failure-risk features (how full the
window is). A name is matched by its longest prefix, after its lower-casing, a leading `@`
and any provider path (`google/`, `openrouter/anthropic/`) are taken off; a name not in
the table has no known window (None): each caller says what it assumes then.
"""

from __future__ import annotations

from functools import lru_cache

WINDOWS: dict[str, int] = {
    "claude": 200_000,
    "gpt-5": 400_000,
    "gpt-4.1": 1_047_576,
    "gpt-4o": 128_000,
    "gpt-4-turbo": 128_000,
    "gpt-4-0125": 128_000,  # the gpt-4 turbo previews
    "gpt-4-1106": 128_000,
    "gpt4-0125": 128_000,  # SWE-agent's spelling of gpt-4-0125-preview
    "gpt-4-32k": 32_768,
    "gpt-4": 8_192,  # the original gpt-4 (gpt-4-0613)
    "o3": 200_000,
    "o4-mini": 200_000,
    "codex-mini": 200_000,
    "gemini": 1_048_576,
}


def bare_name(model: str) -> str:
    """The model's own name: lower case, without a leading `@` or a provider path."""
    return model.lower().removeprefix("@").rpartition("/")[2]


@lru_cache(maxsize=256)
def _known(name: str) -> int | None:
    best = max((key for key in WINDOWS if name.startswith(key)), key=len, default=None)
    return WINDOWS[best] if best else None


def window_of(model: str | None, extra: dict[str, int] | None = None) -> int | None:
    """The context window of `model` (tokens), with `extra` (name prefix -> tokens, e.g.
    from the settings) taking precedence; None when the model is not known."""
    if not isinstance(model, str) or not model:
        return None
    name = bare_name(model)
    if extra:
        best = max((key for key in extra if name.startswith(key.lower())), key=len, default=None)
        if best:
            return extra[best]
    return _known(name)
