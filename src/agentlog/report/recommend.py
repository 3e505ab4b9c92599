"""Concrete recommendations from a period's figures, against configurable thresholds.

Thresholds come from the `[report]` table of the TOML settings:

    [report]
    min_success_pct = 70
    max_cost_per_session = 0.10
    max_errors_per_session = 2
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..config import default
from .. import formatting as fmt

MIN_SESSIONS_TO_COMPARE = 3  # an executor with fewer ended sessions says nothing yet


@dataclass(frozen=True)
class Thresholds:
    min_success_pct: float = default("report.min_success_pct")
    max_cost_per_session: float = default("report.max_cost_per_session")
    max_errors_per_session: float = default("report.max_errors_per_session")

    @classmethod
    def from_settings(cls, settings) -> "Thresholds":
        """The `[report]` table, parsed and checked by `agentlog.config`; defaults without settings."""
        return cls(**settings.section("report")) if settings is not None else cls()


class Code(str):
    """A part of a recommendation that is code (a fingerprint, a command): shown as code."""


@dataclass(frozen=True)
class Recommendation:
    rule: str  # low_success | high_cost | many_errors | prefer_executor | ok
    severity: str  # high | medium | low
    parts: tuple[str, ...]  # prose and `Code`, in order: each renderer escapes its own way

    @property
    def text(self) -> str:
        """Plain text, code in backticks: for chat messages and JSON."""
        return "".join(f"`{p}`" if isinstance(p, Code) else p for p in self.parts)

    def segments(self) -> list[tuple[str, bool]]:
        """(text, is code) in order, for the HTML and Markdown renderers."""
        return [(str(p), isinstance(p, Code)) for p in self.parts if p]

    def to_dict(self) -> dict[str, str]:
        return {"rule": self.rule, "severity": self.severity, "text": self.text}


def recommend(
    totals: dict[str, Any],
    executors: list[dict[str, Any]],
    models: list[dict[str, Any]],
    top_errors: list[dict[str, Any]],
    limits: Thresholds,
) -> list[Recommendation]:
    """What to do about the period, most important first; one `ok` line when nothing is off."""
    found: list[Recommendation] = []
    success = totals.get("success_pct")
    if success is not None and success < limits.min_success_pct:
        worst = _weakest(executors, limits)
        where = f"; weakest: {worst}" if worst else ""
        top = (
            (" The most common error is ", Code(top_errors[0]["fingerprint"]), f" ({top_errors[0]['occurrences']}x).")
            if top_errors
            else ()
        )
        found.append(
            Recommendation(
                "low_success",
                "high",
                (
                    f"Success rate {fmt.percent(success)} is below {fmt.percent(limits.min_success_pct)}{where}.",
                    *top,
                    " Read the planning insights below and fix the tasks' setup before re-running them.",
                ),
            )
        )
    per_session = totals.get("cost_per_session")
    if per_session is not None and per_session > limits.max_cost_per_session:
        costly = max(models, key=lambda r: r.get("avg_cost_usd") or 0, default=None)
        which = (
            f"; the most expensive model per session is {costly['model']} ({fmt.money(costly['avg_cost_usd'])})"
            if costly and costly.get("avg_cost_usd")
            else ""
        )
        found.append(
            Recommendation(
                "high_cost",
                "medium",
                (
                    f"Cost per session {fmt.money(per_session)} is above {fmt.money(limits.max_cost_per_session)}{which}. "
                    f"Trim the context the agents read (large files, whole docs), cap turns, or use a cheaper model for "
                    f"small tasks.",
                ),
            )
        )
    errors = totals.get("errors_per_session")
    if errors is not None and errors > limits.max_errors_per_session:
        top = top_errors[0] if top_errors else None
        share = (
            (
                " ",
                Code(top["fingerprint"]),
                f" alone accounts for {top['occurrences']} of {totals['errors']}; "
                f"fix its cause in the environment or the task description.",
            )
            if top
            else ()
        )
        found.append(
            Recommendation(
                "many_errors",
                "medium",
                (
                    f"{fmt.number(errors)} errors per session is above {fmt.number(limits.max_errors_per_session)}.",
                    *share,
                ),
            )
        )
    found += _prefer(executors, limits)
    return found or [Recommendation("ok", "low", ("All figures are within the thresholds.",))]


def _rated(executors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in executors if r.get("success_pct") is not None and r.get("ended", 0) >= MIN_SESSIONS_TO_COMPARE]


def _weakest(executors: list[dict[str, Any]], limits: Thresholds) -> str | None:
    """The executor with the lowest success rate, however few its sessions (their number is
    said): naming only well-sampled ones would skip one that never succeeded."""
    low = [
        r
        for r in executors
        if r.get("success_pct") is not None and r.get("ended") and r["success_pct"] < limits.min_success_pct
    ]
    if not low:
        return None
    worst = min(low, key=lambda r: (r["success_pct"], -r["ended"]))
    return f"{worst['executor']} at {fmt.percent(worst['success_pct'])} of {worst['ended']} sessions"


def _prefer(executors: list[dict[str, Any]], limits: Thresholds) -> list[Recommendation]:
    """When one executor clearly beats another that is below the threshold, say so."""
    rated = _rated(executors)
    if len(rated) < 2:
        return []
    best = max(rated, key=lambda r: r["success_pct"])
    worst = min(rated, key=lambda r: r["success_pct"])
    if worst["success_pct"] >= limits.min_success_pct or best["success_pct"] - worst["success_pct"] < 20:
        return []
    return [
        Recommendation(
            "prefer_executor",
            "medium",
            (
                f"{best['executor']} succeeded in {fmt.percent(best['success_pct'])} of its sessions, "
                f"{worst['executor']} in {fmt.percent(worst['success_pct'])}: route similar tasks to {best['executor']} "
                f"(see ",
                Code("agentlog compare"),
                ").",
            ),
        )
    ]
