"""OpenTelemetry in and out.

agentlog otel serve     # receiver.py: OTLP/HTTP on 127.0.0.1 -> events (mapping.py)
agentlog otel export    # exporter.py: sessions -> OTLP traces, GenAI conventions (semconv.py)
"""
