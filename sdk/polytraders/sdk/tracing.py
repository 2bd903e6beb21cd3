"""OpenTelemetry for governance calls: W3C trace context on every call (opentelemetry-instrumentation-grpc's
client interceptors), and a report built inside a span carrying that span's trace id.

Off, at no cost, unless the standard OTEL_* variables turn tracing on (OTEL_TRACES_EXPORTER other
than "none", or an OTLP endpoint; OTEL_SDK_DISABLED=true wins) or a client is given a tracer
provider. The bot configures the provider and its exporter as it does for its own spans.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import grpc
from opentelemetry import trace


def enabled(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the standard OTEL_* variables ask for traces."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = {e.strip() for e in environ.get("OTEL_TRACES_EXPORTER", "").split(",") if e.strip()}
    endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    return bool(exporters - {"none"}) or bool(endpoint and "none" not in exporters)


def current_trace_id() -> str:
    """The current span's trace id as W3C writes it (32 hex digits); "" outside a span."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else ""


def traced(channel: grpc.Channel, tracer_provider: Any = None) -> grpc.Channel:
    """A blocking channel that carries trace context (and records client spans)."""
    from opentelemetry.instrumentation.grpc import client_interceptor
    from opentelemetry.instrumentation.grpc.grpcext import intercept_channel

    intercepted: grpc.Channel = intercept_channel(
        channel, client_interceptor(tracer_provider=tracer_provider)
    )
    return intercepted


def aio_interceptors(tracer_provider: Any = None) -> list[Any]:
    """The interceptors an asyncio channel needs to carry trace context (and record client spans)."""
    from opentelemetry.instrumentation.grpc import aio_client_interceptors

    return list(aio_client_interceptors(tracer_provider=tracer_provider))
