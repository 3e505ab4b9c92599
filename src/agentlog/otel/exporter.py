"""`agentlog otel export`: sessions as OTLP traces, following the GenAI conventions.

One trace per attempt: an `invoke_agent` root span over the session, an `execute_tool`
child span per tool call (call -> result), a `chat` child span per usage event with the
usage attributes. Every event also rides along whole, as a span event carrying
`agentlog.event`, so viewers (Langfuse, Phoenix, Jaeger) see the conventions and
`agentlog otel serve` rebuilds exactly the events that were sent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from ..events import encode, parse_time
from . import semconv


@dataclass
class ExportStats:
    sessions: int = 0
    spans: int = 0
    events: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


def sessions_of(log_dir: Path, attempts: list[str] | None = None, since: float | None = None) -> dict[str, list[dict]]:
    """Events by attempt, in file order, from the live stream and its archives."""
    from ..store.reader import read_kind, read_session

    if attempts:
        return {a: list(read_session(log_dir, a)) for a in attempts}
    by_attempt: dict[str, list[dict]] = {}
    for event in read_kind(log_dir, "stream"):
        if since is not None and _ns(event) / 1e9 < since:
            continue
        by_attempt.setdefault(event["attempt_id"], []).append(event)
    return by_attempt


def _ns(event: dict[str, Any]) -> int:
    try:
        return int(parse_time(event["timestamp"]) * 1e9)
    except (KeyError, TypeError, ValueError):
        return 0


def export(
    sessions: dict[str, list[dict]], endpoint: str, *, headers: dict[str, str] | None = None, exporter: Any = None
) -> ExportStats:
    """Send the sessions to `endpoint` (an OTLP/HTTP base URL); returns what was sent."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import SpanLimits, TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces", headers=headers)
    limits = SpanLimits(max_events=1_000_000, max_attributes=256, max_event_attributes=64, max_span_attributes=256)
    provider = TracerProvider(resource=Resource.create({"service.name": "agentlog"}), span_limits=limits)
    provider.add_span_processor(BatchSpanProcessor(exporter, max_export_batch_size=256))
    tracer = provider.get_tracer("agentlog", schema_url=semconv.SCHEMA_URL)
    stats = ExportStats()
    try:
        for attempt_id, events in sessions.items():
            if events:
                _session(tracer, attempt_id, events, stats)
        provider.force_flush()
    finally:
        provider.shutdown()
    return stats


def _session(tracer: Any, attempt_id: str, events: list[dict[str, Any]], stats: ExportStats) -> None:
    from opentelemetry import trace

    first = events[0]
    executor = next((e["executor"] for e in events if e.get("executor")), "agent")
    model = next((e["model"] for e in events if e.get("model")), None)
    start = min(_ns(e) for e in events)
    end = max(_ns(e) for e in events)
    usage = [e for e in events if e["event_type"] == "usage"]
    totals = _totals(usage)
    attrs = {
        semconv.OPERATION: semconv.INVOKE_AGENT,
        semconv.AGENT_NAME: executor,
        semconv.CONVERSATION_ID: attempt_id,
        semconv.EXECUTOR: executor,
        semconv.PROVIDER: semconv.PROVIDERS.get(executor, executor.lower()),
        semconv.INPUT_TOKENS: totals["input"],
        semconv.OUTPUT_TOKENS: totals["output"],
        semconv.CACHE_READ_TOKENS: totals["cache_read"],
        semconv.CACHE_CREATION_TOKENS: totals["cache_creation"],
        semconv.COST_USD: totals["cost"],
    }
    if model:
        attrs[semconv.REQUEST_MODEL] = model
    if first.get("task_id"):
        attrs[semconv.AGENT_ID] = first["task_id"]
    root = tracer.start_span(f"invoke_agent {executor}", start_time=start, attributes=attrs)
    context = trace.set_span_in_context(root)
    tools, loose = _pair_tools(events)
    for event in loose:
        if event["event_type"] == "usage":
            continue
        _carry(root, event)
    if any(e["event_type"] == "error" for e in loose) and not tools:
        root.set_attribute(semconv.ERROR_TYPE, "agent_error")
    root.end(end_time=max(end, start))  # ended first: exported before its children
    stats.spans += 1
    for group in tools:
        _tool_span(tracer, context, executor, attempt_id, group)
        stats.spans += 1
    for event in usage:
        _chat_span(tracer, context, executor, attempt_id, event)
        stats.spans += 1
    stats.sessions += 1
    stats.events += len(events)
    stats.input_tokens += sum(int(e["data"].get("input_tokens") or 0) for e in usage)
    stats.output_tokens += sum(int(e["data"].get("output_tokens") or 0) for e in usage)


def _totals(usage: Iterable[dict[str, Any]]) -> dict[str, Any]:
    totals = {"input": 0, "output": 0, "cache_read": 0, "cache_creation": 0, "cost": 0.0}
    for event in usage:
        data = event["data"]
        read, created = int(data.get("cache_read_tokens") or 0), int(data.get("cache_creation_tokens") or 0)
        totals["input"] += int(data.get("input_tokens") or 0) + read + created
        totals["output"] += int(data.get("output_tokens") or 0) + int(data.get("reasoning_tokens") or 0)
        totals["cache_read"] += read
        totals["cache_creation"] += created
        totals["cost"] += float(data.get("cost_usd") or 0.0)
    return totals


def _pair_tools(events: list[dict[str, Any]]) -> tuple[list[list[dict]], list[dict]]:
    """Tool calls with their result (and the error that followed it), and the other events."""
    groups: list[list[dict]] = []
    open_calls: dict[Any, list[dict]] = {}
    loose: list[dict] = []
    last_result: list[dict] | None = None
    for event in events:
        kind, data = event["event_type"], event.get("data") or {}
        if kind == "tool_call":
            group = [event]
            groups.append(group)
            open_calls[data.get("call_id") or data.get("tool_name")] = group
            last_result = None
        elif kind == "tool_result" and (data.get("call_id") or data.get("tool_name")) in open_calls:
            group = open_calls.pop(data.get("call_id") or data.get("tool_name"))
            group.append(event)
            last_result = group if data.get("result") == "error" else None
        elif (
            kind == "error" and last_result is not None and data.get("call_id") == last_result[0]["data"].get("call_id")
        ):
            last_result.append(event)
            last_result = None
        else:
            loose.append(event)
    return groups, loose


def _tool_span(tracer: Any, context: Any, executor: str, attempt_id: str, group: list[dict]) -> None:
    from opentelemetry.trace import Status, StatusCode

    call = group[0]["data"]
    result = next((e for e in group if e["event_type"] == "tool_result"), None)
    attrs = {
        semconv.OPERATION: semconv.EXECUTE_TOOL,
        semconv.TOOL_NAME: call.get("tool_name") or "unknown",
        semconv.CONVERSATION_ID: attempt_id,
        semconv.EXECUTOR: executor,
        semconv.TOOL_CALL_ARGUMENTS: json.dumps(call.get("tool_params"), ensure_ascii=False)[:4000],
    }
    if call.get("call_id"):
        attrs[semconv.TOOL_CALL_ID] = str(call["call_id"])
    if result is not None and isinstance(result["data"].get("result_data"), str):
        attrs[semconv.TOOL_CALL_RESULT] = result["data"]["result_data"][:4000]
    start = _ns(group[0])
    span = tracer.start_span(
        f"execute_tool {attrs[semconv.TOOL_NAME]}", context=context, start_time=start, attributes=attrs
    )
    for event in group:
        _carry(span, event)
    if result is not None and result["data"].get("result") == "error":
        span.set_attribute(semconv.ERROR_TYPE, "tool_error")
        span.set_status(Status(StatusCode.ERROR, str(result["data"].get("result_data") or "")[:500]))
    span.end(end_time=max(start, _ns(group[-1])))


def _chat_span(tracer: Any, context: Any, executor: str, attempt_id: str, event: dict[str, Any]) -> None:
    totals = _totals([event])
    model = event["data"].get("model") or event.get("model")
    attrs = {
        semconv.OPERATION: semconv.CHAT,
        semconv.CONVERSATION_ID: attempt_id,
        semconv.EXECUTOR: executor,
        semconv.PROVIDER: semconv.PROVIDERS.get(executor, executor.lower()),
        semconv.INPUT_TOKENS: totals["input"],
        semconv.OUTPUT_TOKENS: totals["output"],
        semconv.CACHE_READ_TOKENS: totals["cache_read"],
        semconv.CACHE_CREATION_TOKENS: totals["cache_creation"],
        semconv.COST_USD: totals["cost"],
    }
    if event["data"].get("reasoning_tokens"):
        attrs[semconv.REASONING_TOKENS] = int(event["data"]["reasoning_tokens"])
    if model:
        attrs[semconv.REQUEST_MODEL] = model
    start = _ns(event)
    span = tracer.start_span(f"chat {model or ''}".strip(), context=context, start_time=start, attributes=attrs)
    _carry(span, event)
    span.end(end_time=start)


def _carry(span: Any, event: dict[str, Any]) -> None:
    span.add_event(event["event_type"], attributes={semconv.EVENT: encode(event).decode()}, timestamp=_ns(event))
