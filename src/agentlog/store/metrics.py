"""The aggregated line written to agent-metrics.jsonl when a session ends.

Derived from the session's own transcript, so the Python API, `agentlog emit` (one
process per event) and the importers all produce the same numbers.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Iterable

from ..events import now_iso, parse_time, succeeded

_ENVELOPE = ("attempt_id", "session_id", "task_id", "task_title", "executor", "executor_variant", "model", "branch")
_TOKENS = ("input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens", "reasoning_tokens")


def session_metrics(events: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """One metrics record for an attempt's events (in transcript order)."""
    envelope: dict[str, Any] = {}
    tokens = Counter()
    fingerprints: Counter[str] = Counter()
    categories: Counter[str] = Counter()
    counts = Counter()
    cost = 0.0
    first_ts = last_ts = None
    end: dict[str, Any] = {}
    for event in events:
        for key in _ENVELOPE:
            if event.get(key) is not None:
                envelope[key] = event[key]
        first_ts = first_ts or event.get("timestamp")
        last_ts = event.get("timestamp") or last_ts
        kind = event.get("event_type")
        data = event.get("data") or {}
        counts[kind] += 1
        if kind == "session_start" and data.get("prompt_type") == "retry":
            counts["retries"] += 1
        elif kind == "tool_result" and data.get("result") == "error":
            counts["tool_failures"] += 1
        elif kind == "error":
            fingerprints[data.get("error_fingerprint") or "unknown"] += 1
            categories[data.get("error_category") or "unknown"] += 1
        elif kind == "usage":
            for key in _TOKENS:
                tokens[key] += _number(data.get(key))
            cost += _number(data.get("cost_usd"))
        elif kind == "session_end":
            end = data
    total_tokens = sum(tokens.values()) or int(_number(end.get("total_tokens")))
    cost = cost or _number(end.get("cost_usd"))
    success = succeeded(end)
    metrics = {
        "completion_status": end.get("completion_status"),
        "success": success,
        "duration_ms": end.get("duration_ms", _duration_ms(first_ts, last_ts)),
        "total_tokens": total_tokens,
        **{key: tokens[key] for key in _TOKENS},
        "cost_usd": round(cost, 6),
        "tool_calls": counts["tool_call"],
        "tool_failures": counts["tool_failures"],
        "errors": counts["error"],
        "error_fingerprints": dict(fingerprints),
        "error_categories": dict(categories),
        "followups": counts["followup_sent"],
        "retry_count": counts["retries"],
        "first_shot_success": success and counts["followup_sent"] == 0 and counts["retries"] == 0,
    }
    record = {"timestamp": last_ts or now_iso(), **envelope, "event_type": "session_metrics", "metrics": metrics}
    if end.get("outcome") is not None:
        record["outcome"] = end["outcome"]
    return record


def _number(value: Any) -> float:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def _duration_ms(first: str | None, last: str | None) -> float | None:
    try:
        return round((parse_time(last) - parse_time(first)) * 1000)
    except (TypeError, ValueError):
        return None
