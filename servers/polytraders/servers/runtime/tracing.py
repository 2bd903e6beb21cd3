"""OpenTelemetry traces of the mesh's calls: a SERVER span for every call the governance
interceptor handles (unary and streams, refusals included), opentelemetry-instrumentation-grpc's
client interceptors on the channels to other processes, spans exported by OTLP (or the console),
all as the standard OTEL_* variables say; nothing at all when they do not turn tracing on.

Server spans are opened and closed by the interceptor's own per-call record (`_Call`), not by the
instrumentation's server interceptor: that one is a second interceptor layer with a proxy around
every call's context, paid by every call whether its trace is sampled or not; and its stream
wrapper iterates a handler as an async generator, while the mesh's stream handlers write to their
context, so it left streams untraced. A span is named
after the method and carries OpenTelemetry's RPC attributes; an error status only for the codes
those conventions count as the server's failure.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import grpc

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


_FAILED_ON_THE_SERVER = frozenset({
    grpc.StatusCode.UNKNOWN, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNIMPLEMENTED,
    grpc.StatusCode.INTERNAL, grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DATA_LOSS,
})  # fmt: skip
"""The codes OpenTelemetry's RPC conventions count as a server span's error; the rest are the
caller's mistakes, answered as they should be."""


class ServerSpans:
    """Opens a call's SERVER span, current while the call runs, as a child of the caller's context
    (W3C `traceparent` metadata, or whatever OTEL_PROPAGATORS names); closes it with the call's code."""

    def __init__(self, tracer_provider: Any) -> None:
        from opentelemetry import context, propagate, trace

        self._tracer = tracer_provider.get_tracer(__name__)
        self._extract, self._attach, self._detach = propagate.extract, context.attach, context.detach
        self._in_context, self._server = trace.set_span_in_context, trace.SpanKind.SERVER
        self._error = trace.Status(trace.StatusCode.ERROR)

    def open(self, method: str, metadata: Sequence[tuple[str, str | bytes]] | None) -> tuple[Any, Any]:
        caller = self._extract(dict(metadata or ()))
        span = self._tracer.start_span(method, caller, self._server, _attributes(method))
        return span, self._attach(self._in_context(span, caller))

    def close(self, opened: tuple[Any, Any], code: grpc.StatusCode) -> None:
        span, token = opened
        self._detach(token)
        if span.is_recording():
            span.set_attribute("rpc.grpc.status_code", code.value[0])
            if code in _FAILED_ON_THE_SERVER:
                span.set_status(self._error)
        span.end()


@lru_cache(maxsize=1024)
def _attributes(method: str) -> dict[str, str]:
    service, _, name = method.lstrip("/").partition("/")
    return {"rpc.system": "grpc", "rpc.service": service, "rpc.method": name}


def client_interceptors(tracer_provider: Any) -> list[Any]:
    return tracing.aio_interceptors(tracer_provider)
