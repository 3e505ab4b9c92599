"""`agentlog otel serve|export`: OpenTelemetry in (agents' OTLP telemetry) and out (GenAI traces)."""

from __future__ import annotations

import os
import sys

import click

from .common import listen, resolve_token, settings_options


@click.group()
def otel() -> None:
    """OpenTelemetry: receive agents' OTLP telemetry, export sessions as GenAI traces."""


@otel.command("serve")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; anything but loopback requires a token.",
)
@click.option(
    "--port", default=4318, show_default=True, type=click.IntRange(0, 65535), help="Port (0 = any free port)."
)
@click.option(
    "--token",
    help="Require `Authorization: Bearer TOKEN` (16+ characters) on every request "
    "[env AGENTLOG_OTEL_TOKEN]; exporters send it with OTEL_EXPORTER_OTLP_HEADERS.",
)
@settings_options
def serve_cmd(settings, host: str, port: int, token: str | None) -> None:
    """OTLP/HTTP receiver (/v1/logs, /v1/traces, /v1/metrics; protobuf or JSON, gzip or not).

    Takes only OTLP content types, refuses requests from web pages (a foreign Origin) and
    host names other than localhost unless a token is required."""
    from ..otel.receiver import TOKEN_ENV, serve
    from ..web.server import url

    token = resolve_token(host, token, TOKEN_ENV)
    sock = listen(host, port)
    click.echo(f"agentlog otel: listening on {url(sock)}")
    sys.stdout.flush()
    serve(settings, sock, token=token)


@otel.command("export")
@click.option(
    "--endpoint",
    default=lambda: os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
    show_default="$OTEL_EXPORTER_OTLP_ENDPOINT or http://127.0.0.1:4318",
    help="OTLP/HTTP base URL.",
)
@click.option("--attempt", "attempts", multiple=True, help="Only this attempt (repeatable).")
@click.option("--since", help="Only events since (7d, 2h, ISO time).")
@settings_options
def export_cmd(settings, endpoint: str, attempts: tuple[str, ...], since: str | None) -> None:
    """Write sessions as OTLP traces (GenAI conventions) to an OTLP endpoint."""
    from ..otel.exporter import export, sessions_of
    from ..otel.semconv import SEMCONV_VERSION
    from ..timeutil import parse_when

    sessions = sessions_of(settings.log_path, list(attempts) or None, parse_when(since) if since else None)
    stats = export(sessions, endpoint)
    click.echo(
        f"exported {stats.sessions} sessions, {stats.spans} spans, {stats.events} events "
        f"({stats.input_tokens} input / {stats.output_tokens} output tokens) to {endpoint} "
        f"[GenAI semconv {SEMCONV_VERSION}]"
    )
