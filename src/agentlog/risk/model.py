"""The failure-risk model: logistic regressions over `features.NAMES`, as plain JSON.

Scoring is a dot product and a sigmoid in pure Python (a few microseconds a step): the
watch path imports neither numpy nor scikit-learn. A cohort (the executor) with enough
labelled runs has its own regression: the same feature can mean opposite things for two
agents (long tool outputs go with failure for one, with success for the other). Any other
executor is scored by the pooled regression, with its own intercept where it has one. Each
cohort has its alert threshold, set by conformal calibration on the successful runs it was
calibrated on (see `train.py`); and the model says which features pushed a score up.

The default model ships in this package (`default_model.json`); `agentlog risk train`
writes one fitted on your own history, used when AGENTLOG_RISK_MODEL names it.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .features import NAMES

MODEL_ENV = "AGENTLOG_RISK_MODEL"
FORMAT = "agentlog-risk-2"
CLIP = 4.0  # standard deviations


@dataclass
class Linear:
    """One logistic regression over standardised features."""

    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float

    def __post_init__(self) -> None:
        if not len(self.mean) == len(self.scale) == len(self.coef) == len(NAMES):
            raise ValueError(f"a risk regression needs {len(NAMES)} means, scales and coefficients")
        # clipping z to +-CLIP is clipping x to mean +- CLIP * scale: then z * coef = x * w + b
        self._terms = [
            (m - CLIP * s, m + CLIP * s, c / s) if s else (0.0, 0.0, 0.0)
            for m, s, c in zip(self.mean, self.scale, self.coef)
        ]
        self._b = self.intercept - sum(m * c / s for m, s, c in zip(self.mean, self.scale, self.coef) if s)

    def parts(self, vector: list[float]) -> list[float]:
        """Each feature's contribution to the logit, against the mean run. A value is taken
        at most CLIP scales from the mean: a run unlike all the training runs in one
        feature (a task prompt ten times the usual size) is not scored by that alone."""
        return [
            (x - m) / s * c if s else 0.0 for x, m, s, c in zip(self._clipped(vector), self.mean, self.scale, self.coef)
        ]

    def _clipped(self, vector: list[float]) -> list[float]:
        return [lo if x < lo else hi if x > hi else x for x, (lo, hi, _) in zip(vector, self._terms)]

    def logit(self, vector: list[float]) -> float:
        z = self._b
        for x, (lo, hi, w) in zip(vector, self._terms):
            z += (lo if x < lo else hi if x > hi else x) * w
        return z

    def to_json(self) -> dict[str, Any]:
        return {"mean": self.mean, "scale": self.scale, "coef": self.coef, "intercept": self.intercept}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> "Linear":
        return cls(list(doc["mean"]), list(doc["scale"]), list(doc["coef"]), float(doc["intercept"]))


@dataclass
class Model:
    names: list[str]
    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float
    cohorts: dict[str, float] = field(default_factory=dict)  # executor -> intercept offset of the pooled regression
    thresholds: dict[str, float] = field(default_factory=dict)  # executor -> alert threshold (none: never alert)
    alpha: float = 0.1  # at most this share of successful runs alert
    meta: dict[str, Any] = field(default_factory=dict)  # what it was trained on
    own: dict[str, Linear] = field(default_factory=dict)  # executor -> its own regression

    def __post_init__(self) -> None:
        if list(self.names) != list(NAMES):
            raise ValueError(f"risk model features {self.names} are not this agentlog's {list(NAMES)}")
        self._pooled = Linear(self.mean, self.scale, self.coef, self.intercept)

    def _of(self, executor: str | None) -> tuple[Linear, float]:
        own = self.own.get(executor or "")
        return (own, 0.0) if own is not None else (self._pooled, self.cohorts.get(executor or "", 0.0))

    def logit(self, vector: list[float], executor: str | None = None) -> float:
        linear, offset = self._of(executor)
        return linear.logit(vector) + offset

    def score(self, vector: list[float], executor: str | None = None) -> float:
        """The probability that the run ends unresolved, given its features so far."""
        z = self.logit(vector, executor)
        return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0

    def threshold(self, executor: str | None) -> float:
        return self.thresholds.get(executor or "", math.inf)

    def drivers(self, vector: list[float], executor: str | None = None, top: int = 3) -> list[tuple[str, float, float]]:
        """The features that raised the score most: (name, value, contribution to the logit)."""
        parts = list(zip(self._of(executor)[0].parts(vector), self.names, vector))
        parts.sort(reverse=True)
        return [(name, x, round(part, 3)) for part, name, x in parts[:top] if part > 0]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "names": self.names,
            "mean": self.mean,
            "scale": self.scale,
            "coef": self.coef,
            "intercept": self.intercept,
            "cohorts": self.cohorts,
            "thresholds": {k: (v if math.isfinite(v) else None) for k, v in self.thresholds.items()},
            "alpha": self.alpha,
            "meta": self.meta,
            "own": {k: v.to_json() for k, v in sorted(self.own.items())},
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> "Model":
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise ValueError(f"not an agentlog risk model (format {FORMAT!r})")
        thresholds = {k: (math.inf if v is None else float(v)) for k, v in doc.get("thresholds", {}).items()}
        return cls(
            doc["names"],
            doc["mean"],
            doc["scale"],
            doc["coef"],
            doc["intercept"],
            dict(doc.get("cohorts") or {}),
            thresholds,
            float(doc.get("alpha", 0.1)),
            doc.get("meta") or {},
            {k: Linear.from_json(v) for k, v in (doc.get("own") or {}).items()},
        )

    def save(self, path: Path) -> None:
        tmp = Path(path).with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, path)


def load(path: str | Path | None = None) -> Model:
    """The model at `path`, else the one AGENTLOG_RISK_MODEL names, else the packaged default."""
    path = path or os.environ.get(MODEL_ENV)
    if path:
        try:
            return Model.from_json(json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"risk model {path}: {exc}") from None
    text = resources.files(__package__).joinpath("default_model.json").read_text(encoding="utf-8")
    return Model.from_json(json.loads(text))
