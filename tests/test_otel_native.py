"""The native OTLP log mapping (native/src/otlp/): agents' events described as data, mapped
without Python per record; a plugin's Python handler still called (the slow path)."""

from __future__ import annotations

import random
import weakref

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from agentlog.agents.base import Mapped, attr
from agentlog.otel import mapping
from agentlog.otel.decode import BadRequest
from agentlog.otel.mapping import TelemetryMapper

T0 = 1_767_000_000_000_000_000
ISO0 = "2025-12-29T09:20:00.000Z"


def value(v) -> AnyValue:
    if isinstance(v, bool):
        return AnyValue(bool_value=v)
    if isinstance(v, int):
        return AnyValue(int_value=v)
    if isinstance(v, float):
        return AnyValue(double_value=v)
    if isinstance(v, bytes):
        return AnyValue(bytes_value=v)
    if isinstance(v, list):
        out = AnyValue()
        out.array_value.values.extend(value(x) for x in v)
        return out
    return AnyValue(string_value=v)


def request(*records: tuple[str, dict], service: str = "claude-code") -> bytes:
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    rl.resource.attributes.append(KeyValue(key="service.name", value=value(service)))
    logs = rl.scope_logs.add().log_records
    for name, attrs in records:
        record = logs.add()
        record.time_unix_nano = T0
        record.event_name = name
        record.attributes.extend(KeyValue(key=k, value=value(v)) for k, v in attrs.items())
    return req.SerializeToString()


def mapped(mapper: TelemetryMapper, body: bytes) -> list[dict]:
    return [event for chunk in mapper.logs(body) for event in chunk]


def shape(events: list[dict]) -> list[tuple]:
    return [(e["event_type"], e["data"], e.get("model")) for e in events]


def test_claude_code_events_are_mapped_as_their_tables_say():
    mapper = TelemetryMapper()
    events = mapped(
        mapper,
        request(
            ("api_request", {"session.id": "s", "model": "m1", "input_tokens": "1200", "cost_usd": "0.5"}),
            ("tool_result", {"session.id": "s", "tool_name": "Bash", "success": "TRUE", "tool_use_id": ""}),
            ("tool_result", {"session.id": "s", "tool_input": "[1, 2]", "tool_result_size_bytes": 0}),
            ("api_error", {"session.id": "s", "error": 529, "attempt": "x"}),
            ("api_error", {"session.id": "s", "error": "", "status_code": "529"}),
            ("user_prompt", {"session.id": "s", "prompt": "more", "prompt_length": 4}),
        ),
    )
    assert shape(events) == [
        ("session_start", {"prompt_type": "initial"}, "m1"),
        ("usage", {"input_tokens": 1200, "cost_usd": 0.5, "model": "m1"}, "m1"),
        ("tool_call", {"tool_name": "Bash", "call_id": ""}, None),
        ("tool_result", {"tool_name": "Bash", "call_id": "", "result": "success"}, None),
        ("tool_call", {"tool_name": "unknown", "tool_params": [1, 2]}, None),
        ("tool_result", {"tool_name": "unknown", "result": "error", "result_data": 0}, None),
        ("error", {"error_message": "unknown failed", "tool_name": "unknown"}, None),
        ("error", {"error_message": "529"}, None),
        ("error", {"error_message": "API error", "status_code": "529"}, None),
        ("followup_sent", {"message": "more", "reason": "user", "prompt_length": 4}, None),
    ]
    assert {e["attempt_id"] for e in events} == {"s"} and {e["timestamp"] for e in events} == {ISO0}
    assert mapper.logged_usage == {"s"}


def test_records_without_a_session_or_a_mapping_are_counted_not_recorded():
    mapper = TelemetryMapper()
    assert mapped(mapper, request(("api_request", {"model": "m"}), ("tool_decision", {"session.id": "s"}))) == []
    assert mapped(mapper, request(("api_request", {"session.id": "s"}), service="somebody")) == []
    assert mapper.skipped == {"no_session_id": 1, "unmapped:tool_decision": 1, "unmapped:api_request": 1}


def test_usage_without_a_cost_is_priced():
    class Pricing:
        def price_usage(self, model, data):
            data["cost_usd"] = 0.125 if model == "m" and data["input_tokens"] == 10 else None

    body = request(("api_request", {"session.id": "s", "model": "m", "input_tokens": 10}))
    events = mapped(TelemetryMapper(Pricing()), body)
    assert events[-1]["data"] == {"input_tokens": 10, "cost_usd": 0.125, "model": "m"}


def test_a_plugin_agent_maps_with_data_or_with_python(monkeypatch):
    """An agent a plugin adds gets the native mapping for the shapes it describes as data,
    and its own Python handler (given every attribute) for the rest."""
    seen = []

    def custom(m, attrs, session, ts, executor):
        seen.append(attrs)
        return m.event(session, executor, "agent_output", {"output": attrs["text"]}, ts)

    tables = mapping._Tables(
        {"acme": {"said": custom, "cost": Mapped("usage", {"cost_usd": attr("usd", "dollars", kind="float")})}},
        {"acme": "ACME"},
        {"acme-cli": "acme"},
        {},
    )
    monkeypatch.setattr(mapping, "_tables", lambda: tables)
    events = mapped(
        TelemetryMapper(),
        request(
            ("acme.said", {"session.id": "p", "text": "hi", "tags": ["a", 1], "raw": b"\x01\xff"}),
            ("cost", {"session.id": "p", "usd": 0, "dollars": "2.5"}),
            service="acme-cli",
        ),
    )
    assert shape(events) == [
        ("session_start", {"prompt_type": "initial"}, None),
        ("agent_output", {"output": "hi"}, None),
        ("usage", {"cost_usd": 2.5}, None),
    ]
    assert seen == [{"service.name": "acme-cli", "session.id": "p", "text": "hi", "tags": ["a", 1], "raw": "01ff"}]
    assert {e["executor"] for e in events} == {"ACME"}


def test_malformed_protobuf_is_a_bad_request_never_a_crash():
    mapper = TelemetryMapper()
    rng = random.Random(21)
    good = request(("api_request", {"session.id": "s", "input_tokens": 3}))
    bodies = [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))) for _ in range(500)]
    bodies += [good[:cut] for cut in range(1, len(good))]
    refused = 0
    for body in bodies:
        try:
            assert all(isinstance(chunk, list) for chunk in mapper.logs(body))
        except BadRequest as exc:
            assert "cannot decode ExportLogsServiceRequest" in str(exc)
            refused += 1
    assert refused > len(bodies) // 2
    with pytest.raises(BadRequest):
        mapper.logs(b"\x0a\xff\xff\xff\xff\x0f")  # a length past the end


def test_a_request_is_mapped_a_chunk_at_a_time():
    body = request(*[("tool_result", {"session.id": f"s{i % 3}", "success": "true"}) for i in range(40)])
    chunks = list(TelemetryMapper().logs(body, 10))
    assert sum(map(len, chunks)) == 3 + 80  # a session_start each, a tool_call and a tool_result a record
    assert all(10 <= len(chunk) < 10 + 3 for chunk in chunks[:-1]) and chunks[-1]


def test_a_dropped_mapper_is_freed_at_once():
    """The native mapper holds the mapper's memory, not the mapper: no cycle outlives it."""
    mapper = TelemetryMapper()
    mapped(mapper, request(("api_request", {"session.id": "s"})))
    dropped = weakref.ref(mapper)
    del mapper
    assert dropped() is None
