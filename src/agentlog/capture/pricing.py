"""What a model call cost: a price table shipped as data, overridable by the user.

Prices are USD per million tokens for four disjoint token kinds: input (not cached),
output (reasoning included), cache read and cache write. `[pricing."model"]` tables in
agentlog.toml replace or add models. A model missing from the table is remembered in
`unknown` and priced as None, never as zero, so a report can say what it could not price.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..config import PRICE_KINDS

TABLE = "pricing.toml"  # beside this module

KINDS = PRICE_KINDS  # input (not cached), output (reasoning included), cache read, cache write
_PROVIDER_PREFIXES = ("anthropic/", "anthropic.", "openai/", "azure/", "bedrock/")


@dataclass
class Pricing:
    models: dict[str, dict[str, float]]
    unknown: set[str] = field(default_factory=set)

    @classmethod
    def load(cls, overrides: Mapping[str, Any] | None = None, cache: dict[str, Any] | None = None) -> "Pricing":
        """The shipped table, then each `[pricing."model"]` table from the settings on top.

        `cache` (a dict the caller keeps, e.g. in a hook's state) holds the parsed shipped
        table beside the file's stamp: a short-lived process then skips the TOML parser
        (importing tomllib and parsing cost ~30 ms, more than the rest of a hook call)."""
        models = {name: dict(prices) for name, prices in _shipped(cache).items()}
        for name, prices in (overrides or {}).items():
            if isinstance(prices, Mapping):
                models[name] = {**models.get(name, {}), **{k: float(v) for k, v in prices.items() if k in KINDS}}
        return cls(models)

    def prices(self, model: str | None) -> dict[str, float] | None:
        """Exact name, else the longest table key the name starts with, else None."""
        if not model:
            return None
        name = model.lower()
        for prefix in _PROVIDER_PREFIXES:
            name = name.removeprefix(prefix)
        if name in self.models:
            return self.models[name]
        best = max((key for key in self.models if name.startswith(key)), key=len, default=None)
        return self.models[best] if best else None

    def cost(
        self,
        model: str | None,
        *,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cache_read_tokens: int = 0,
        cache_creation_tokens: int = 0,
        reasoning_tokens: int = 0,
    ) -> float | None:
        """USD for one call's disjoint token counts; None (and remembered) for unknown models."""
        prices = self.prices(model)
        if prices is None:
            self.unknown.add(model or "<no model>")
            return None
        per_token = {k: prices.get(k, 0.0) / 1_000_000 for k in KINDS}
        return round(
            input_tokens * per_token["input"]
            + (output_tokens + reasoning_tokens) * per_token["output"]
            + cache_read_tokens * per_token["cache_read"]
            + cache_creation_tokens * per_token["cache_write"],
            8,
        )

    def price_usage(self, model: str | None, data: dict[str, Any]) -> dict[str, Any]:
        """Add `cost_usd` to a usage event's data unless the transcript already gave one."""
        if data.get("cost_usd") is not None:
            data.setdefault("cost_source", "transcript")
            return data
        cost = self.cost(model, **{k: data.get(k) or 0 for k in _TOKEN_ARGS})
        if cost is None:
            data["cost_source"] = "unknown_model"
        else:
            data["cost_usd"] = cost
            data["cost_source"] = "pricing_table"
        return data


def _shipped(cache: dict[str, Any] | None) -> dict[str, dict[str, float]]:
    """`[models]` of the shipped pricing.toml, from `cache` while the file is unchanged."""
    table = Path(__file__).with_name(TABLE)
    try:
        stat = table.stat()
        stamp = [str(table), stat.st_mtime_ns, stat.st_size]
    except OSError:  # not a plain file (a zipped install): read it as a resource
        stamp = None
    if cache is not None and stamp is not None and cache.get("stamp") == stamp:
        return cache["models"]
    import tomllib  # here, not at the top: agent hooks import this module and rarely price

    if stamp is not None:
        text = table.read_text(encoding="utf-8")
    else:
        from importlib import resources

        text = resources.files(__package__).joinpath(TABLE).read_text(encoding="utf-8")
    models = tomllib.loads(text)["models"]
    if cache is not None and stamp is not None:
        cache.clear()
        cache.update(stamp=stamp, models=models)
    return models


_TOKEN_ARGS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens", "reasoning_tokens")
