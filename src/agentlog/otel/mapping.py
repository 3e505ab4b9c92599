"""OTLP logs, metrics and traces -> agentlog events.

Logs: Claude Code (`claude_code.*`) and Codex (`codex.*`) telemetry events, as each agent
module describes them (agents.base.Telemetry); the session id (`session.id`, Codex's
`conversation.id`) is the attempt id, as with the hooks. A request is decoded and mapped
natively (`agentlog._core.LogMapper`, native/src/otlp/): an event an agent maps as data
(`Mapped`) never becomes Python until its event dicts; one it maps with a Python handler
(a plugin's, or a shape the native mapper lacks) gets its attributes as a dict and is
called: the slow path.
Metrics: Claude Code's `claude_code.token.usage` / `claude_code.cost.usage`, as usage
events, only for sessions that send no `api_request` log events (which carry the same
tokens per call) — so a session exporting both is not counted twice.
Traces: GenAI spans (the conventions in semconv.py): agentlog's own export carries each
event whole (`agentlog.event`); other producers' `execute_tool` and `chat` spans are
mapped from their convention attributes.
"""

from __future__ import annotations

import functools
import json
from itertools import islice
from typing import Any, Iterator, NamedTuple

from .. import _core
from ..otlp_values import as_float, as_int, attributes, iso_of, json_or_text
from . import semconv
from .decode import BadRequest, decode, protobuf

MAX_SESSIONS = 10_000


class TelemetryMapper:
    """Turns OTLP requests into events; remembers per session what it saw."""

    def __init__(self, pricing: Any = None):
        self.pricing = pricing
        self.started: dict[str, bool] = {}  # sessions that have a session_start
        self.logged_usage: set[str] = set()  # sessions whose api_request logs carry usage
        self.cumulative: dict[tuple, float] = {}  # last value of cumulative metric points
        self.skipped: dict[str, int] = {}
        tables = _tables()
        agents = {prefix: (tables.executors[prefix], handlers) for prefix, handlers in tables.handlers.items()}
        self._logs = _core.LogMapper(self, agents, tables.services, MAX_SESSIONS)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def map(self, signal: str, body: bytes, is_json: bool, chunk: int = 64) -> Iterator[list[dict[str, Any]]]:
        """The events of an export request ("logs", "metrics", "traces") in lists of about
        `chunk`, each mapped when asked for; BadRequest at once when the body is not one."""
        if signal == "logs":
            return self.logs(protobuf(signal, body, is_json), chunk)
        events = getattr(self, signal)(decode(signal, body, is_json))
        return iter(lambda: list(islice(events, chunk)), [])

    def logs(self, body: bytes, chunk: int = 64) -> Iterator[list[dict[str, Any]]]:
        """The events of an ExportLogsServiceRequest (protobuf), in lists of about `chunk`,
        each mapped when asked for; BadRequest at once when the body is not one."""
        try:
            return self._logs.logs(self, body, chunk)
        except _core.DecodeError as exc:
            raise BadRequest(str(exc)) from None

    def event(
        self, session: str, executor: str, event_type: str, data: dict[str, Any], timestamp: str, model: Any = None
    ) -> list[dict[str, Any]]:
        """One event, preceded by the session's session_start when this is its first."""
        events = []
        if not self.started.get(session) and event_type != "session_start":
            events.append(self._make(session, executor, "session_start", {"prompt_type": "initial"}, timestamp, model))
        if event_type == "session_start":
            if self.started.get(session):
                return []
        self.started[session] = True
        if len(self.started) > MAX_SESSIONS:
            del self.started[next(iter(self.started))]
        events.append(self._make(session, executor, event_type, data, timestamp, model))
        return events

    @staticmethod
    def _make(
        session: str, executor: str, event_type: str, data: dict[str, Any], timestamp: str, model: Any
    ) -> dict[str, Any]:
        event = {
            "timestamp": timestamp,
            "attempt_id": session,
            "event_type": event_type,
            "executor": executor,
            "data": {k: v for k, v in data.items() if v is not None},
        }
        if isinstance(model, str) and model:
            event["model"] = model
        return event

    def tool(
        self,
        session: str,
        executor: str,
        timestamp: str,
        name: Any,
        params: Any,
        call_id: Any,
        success: bool,
        output: Any,
        duration_ms: Any,
        error: Any = None,
    ) -> list[dict[str, Any]]:
        name = name if isinstance(name, str) and name else "unknown"
        events = self.event(
            session,
            executor,
            "tool_call",
            {"tool_name": name, "tool_params": json_or_text(params), "call_id": call_id},
            timestamp,
        )
        events += self.event(
            session,
            executor,
            "tool_result",
            {
                "tool_name": name,
                "call_id": call_id,
                "result": "success" if success else "error",
                "result_data": output,
                "duration_ms": as_float(duration_ms),
            },
            timestamp,
        )
        if not success:
            message = error if isinstance(error, str) and error else f"{name} failed"
            events += self.event(
                session,
                executor,
                "error",
                {"error_message": message[:1000], "tool_name": name, "call_id": call_id},
                timestamp,
            )
        return events

    def usage(
        self, session: str, executor: str, timestamp: str, data: dict[str, Any], model: Any
    ) -> list[dict[str, Any]]:
        if data.get("cost_usd") is None and self.pricing is not None:
            self.pricing.price_usage(model if isinstance(model, str) else None, data)
        data["model"] = model
        return self.event(session, executor, "usage", data, timestamp, model)

    # -- metrics -------------------------------------------------------------------------

    def metrics(self, request: Any) -> Iterator[dict[str, Any]]:
        for resource_metrics in request.resource_metrics:
            resource = attributes(resource_metrics.resource.attributes)
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    field, executor = _tables().metrics.get(metric.name, (None, ""))
                    if field is None or metric.WhichOneof("data") != "sum":
                        self.skip(f"unmapped_metric:{metric.name}")
                        continue
                    cumulative = metric.sum.aggregation_temporality == 2
                    for point in metric.sum.data_points:
                        yield from self._point(metric.name, field, executor, point, resource, cumulative)

    def _point(
        self, name: str, field: str, executor: str, point: Any, resource: dict[str, Any], cumulative: bool
    ) -> list[dict[str, Any]]:
        attrs = {**resource, **attributes(point.attributes)}
        session = attrs.get("session.id")
        if not isinstance(session, str) or not session:
            self.skip("no_session_id")
            return []
        if session in self.logged_usage:
            self.skip("metric_covered_by_logs")
            return []
        value = point.as_double if point.WhichOneof("value") == "as_double" else float(point.as_int)
        if cumulative:
            key = (session, name, attrs.get("type"), attrs.get("model"))
            value, self.cumulative[key] = value - self.cumulative.get(key, 0.0), value
            if len(self.cumulative) > 4 * MAX_SESSIONS:
                del self.cumulative[next(iter(self.cumulative))]
        if value <= 0:
            return []
        if field == "tokens":
            kind = TOKEN_TYPES.get(attrs.get("type"))
            if kind is None:
                self.skip("unknown_token_type")
                return []
            data = {kind: int(value), "source": "otel_metric"}
        else:
            data = {"cost_usd": value, "source": "otel_metric"}
        return self.event(
            session,
            executor,
            "usage",
            {**data, "model": attrs.get("model")},
            iso_of(point.time_unix_nano),
            attrs.get("model"),
        )

    # -- traces ---------------------------------------------------------------------------

    def traces(self, request: Any) -> Iterator[dict[str, Any]]:
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    yield from self._span(span)

    def _span(self, span: Any) -> list[dict[str, Any]]:
        attrs = attributes(span.attributes)
        carried = [attrs.get(semconv.EVENT)] + [attributes(e.attributes).get(semconv.EVENT) for e in span.events]
        whole = [json.loads(c) for c in carried if isinstance(c, str)]
        if whole:
            for event in whole:
                if event.get("event_type") == "session_start":
                    self.started[event["attempt_id"]] = True
            return whole
        session = attrs.get(semconv.CONVERSATION_ID)
        if not isinstance(session, str) or not session:
            self.skip("span_without_conversation_id")
            return []
        executor = attrs.get(semconv.EXECUTOR) or attrs.get(semconv.AGENT_NAME) or "OTEL"
        timestamp = iso_of(span.start_time_unix_nano)
        operation = attrs.get(semconv.OPERATION)
        if operation == semconv.EXECUTE_TOOL:
            failed = span.status.code == 2 or semconv.ERROR_TYPE in attrs
            return self.tool(
                session,
                executor,
                timestamp,
                attrs.get(semconv.TOOL_NAME),
                attrs.get(semconv.TOOL_CALL_ARGUMENTS),
                attrs.get(semconv.TOOL_CALL_ID),
                not failed,
                attrs.get(semconv.TOOL_CALL_RESULT),
                (span.end_time_unix_nano - span.start_time_unix_nano) / 1e6,
                span.status.message or attrs.get(semconv.ERROR_TYPE),
            )
        if operation in (semconv.CHAT, "text_completion", "generate_content"):
            return self.usage(session, executor, timestamp, split_usage(attrs), attrs.get(semconv.REQUEST_MODEL))
        self.skip(f"unmapped_span:{operation}")
        return []


def split_usage(attrs: dict[str, Any]) -> dict[str, Any]:
    """GenAI usage attributes (cached inside input) as agentlog's disjoint counts."""
    read = as_int(attrs.get(semconv.CACHE_READ_TOKENS)) or 0
    created = as_int(attrs.get(semconv.CACHE_CREATION_TOKENS)) or 0
    total_in = as_int(attrs.get(semconv.INPUT_TOKENS))
    return {
        "input_tokens": None if total_in is None else max(0, total_in - read - created),
        "output_tokens": as_int(attrs.get(semconv.OUTPUT_TOKENS)),
        "cache_read_tokens": read or None,
        "cache_creation_tokens": created or None,
        "reasoning_tokens": as_int(attrs.get(semconv.REASONING_TOKENS)),
        "cost_usd": as_float(attrs.get(semconv.COST_USD)),
    }


TOKEN_TYPES = {
    "input": "input_tokens",
    "output": "output_tokens",
    "cacheRead": "cache_read_tokens",
    "cacheCreation": "cache_creation_tokens",
}


class _Tables(NamedTuple):
    """The agents' telemetry, indexed for the receiver: built once per process."""

    handlers: dict[str, dict[str, Any]]  # prefix -> bare event name -> Mapped or handler
    executors: dict[str, str]  # prefix -> executor
    services: dict[str, str]  # service.name -> prefix
    metrics: dict[str, tuple[str, str]]  # metric name -> (field, executor)


@functools.cache
def _tables() -> _Tables:
    from .. import agents

    tables = _Tables({}, {}, {}, {})
    for agent in agents.all_agents(having="telemetry"):
        telemetry = agent.telemetry
        tables.handlers[telemetry.prefix] = telemetry.handlers
        tables.executors[telemetry.prefix] = agent.executor
        tables.services.update(dict.fromkeys(telemetry.services, telemetry.prefix))
        tables.metrics.update({name: (field, agent.executor) for name, field in telemetry.metrics.items()})
    return tables
