"""OTLP request bodies -> what the mapping reads: the official `opentelemetry-proto` messages
for metrics and traces; log requests go to the native decoder as protobuf (native/src/otlp/),
so a JSON one is parsed into its message and serialized first."""

from __future__ import annotations

import base64
import json
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

REQUESTS = {
    "logs": ExportLogsServiceRequest,
    "metrics": ExportMetricsServiceRequest,
    "traces": ExportTraceServiceRequest,
}
_HEX_IDS = frozenset({"traceId", "spanId", "parentSpanId"})


class BadRequest(ValueError):
    """The body is not the OTLP request it was sent as (the receiver's 400)."""


def decode(signal: str, body: bytes, is_json: bool) -> Any:
    request = REQUESTS[signal]()
    try:
        if is_json:
            json_format.ParseDict(_ids_to_base64(json.loads(body)), request, ignore_unknown_fields=True)
        else:
            request.ParseFromString(body)
    except Exception as exc:  # noqa: BLE001 - protobuf raises DecodeError, ParseError, ValueError...
        raise BadRequest(f"cannot decode {type(request).__name__}: {exc}") from None
    return request


def protobuf(signal: str, body: bytes, is_json: bool) -> bytes:
    """The body as protobuf (a JSON body decoded and serialized)."""
    return decode(signal, body, True).SerializeToString() if is_json else body


def _ids_to_base64(node: Any) -> Any:
    """OTLP/JSON writes trace and span ids as hex; protobuf's JSON mapping expects base64."""
    if isinstance(node, dict):
        return {
            k: (
                base64.b64encode(bytes.fromhex(v)).decode()
                if k in _HEX_IDS and isinstance(v, str) and v
                else _ids_to_base64(v)
            )
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_ids_to_base64(v) for v in node]
    return node
