"""An answer's shape on the wire: alerts as the tools show them, and every answer within
2 KB of JSON."""

from __future__ import annotations

from typing import Any

import msgspec

MAX_BYTES = 2048  # an answer's size on the wire (UTF-8 JSON)


def short(value: Any, size: int = 160) -> Any:
    if type(value) is str and len(value) > size:
        return value[: size - 1] + "…"
    return value


def alert_view(alert: Any, acknowledged: bool = False) -> dict[str, Any]:
    found = {
        "id": alert.alert_id,
        "type": alert.type,
        "severity": alert.severity,
        "recommendation": alert.recommendation,
        "at": alert.event_time,
    }
    if getattr(alert, "decision", None):
        found["decision"] = alert.decision
    if acknowledged:
        found["acknowledged"] = True
    return found


def ago(now: float, then: float | None) -> float | None:
    return None if then is None else round(max(0.0, now - then), 1)


def fit(answer: dict[str, Any], limit: int = MAX_BYTES) -> dict[str, Any]:
    """The answer within `limit` bytes of JSON: strings cut first, then the longest lists'
    last items dropped (they are ordered most telling first), with `truncated` set."""
    encode = msgspec.json.encode
    if len(encode(answer)) <= limit:
        return answer
    answer = _cut_strings(answer, 120)
    answer["truncated"] = True
    while len(encode(answer)) > limit:
        lists = [(len(encode(v)), k) for k, v in answer.items() if isinstance(v, list) and v]
        if not lists:
            answer = _cut_strings(answer, 40)
            break
        key = max(lists)[1]
        answer[key] = answer[key][:-1]
    return answer


def _cut_strings(value: Any, size: int) -> Any:
    if isinstance(value, str):
        return short(value, size)
    if isinstance(value, dict):
        return {k: _cut_strings(v, size) for k, v in value.items()}
    if isinstance(value, list):
        return [_cut_strings(v, size) for v in value]
    return value
