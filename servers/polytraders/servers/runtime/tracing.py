"""OpenTelemetry traces of the mesh's calls: opentelemetry-instrumentation-grpc's server interceptor
on every unary RPC, its client interceptors on the channels to other processes, spans exported
by OTLP (or the console), all as the standard OTEL_* variables say; nothing at all when they do
not turn tracing on.

The instrumentation's stream wrapper iterates a handler as an async generator, while the mesh's
stream handlers write with `context.write` (so a stream's end and cleanup run in the RPC's own
task): streams are left untraced; the unary calls around them carry the context.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from polytraders.sdk import tracing

SERVICE_NAME = "polytraders-governance"


def provider_from_env() -> Any:
    """A tracer provider exporting as OTEL_TRACES_EXPORTER says (otlp by default, console), sampled
    as OTEL_TRACES_SAMPLER says; None when the variables do not turn tracing on."""
    if not tracing.enabled():
        return None
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    provider = TracerProvider(resource=Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", SERVICE_NAME)}))
    for name in {e.strip() for e in os.environ.get("OTEL_TRACES_EXPORTER", "otlp").split(",")} - {"none", ""}:
        if name == "console":
            provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
        elif name == "otlp":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        else:
            raise ValueError(f"OTEL_TRACES_EXPORTER: {name!r} is not one of otlp, console, none")
    return provider


def server_interceptor(tracer_provider: Any, streams: Iterable[str]) -> Any:
    """The instrumentation's aio server interceptor for every RPC but the `streams` (full method names)."""
    from opentelemetry.instrumentation.grpc import aio_server_interceptor

    untraced = frozenset(streams)
    return aio_server_interceptor(tracer_provider=tracer_provider, filter_=lambda call: call.method not in untraced)


def client_interceptors(tracer_provider: Any) -> list[Any]:
    return tracing.aio_interceptors(tracer_provider)
