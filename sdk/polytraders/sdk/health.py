"""Give any bot a grpc.health.v1 endpoint (with reflection) that HealthHeartbeat can poll.

endpoint = serve_health("momentum-btc-1h", port=7001)
endpoint.set_serving(False)   # e.g. while the bot resyncs
"""

from __future__ import annotations

from concurrent import futures
from typing import Any, overload

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import REGISTRY, CollectorRegistry, start_http_server

_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING

_CHECK = "/grpc.health.v1.Health/Check"
_Request = health_pb2.HealthCheckRequest
_Response = health_pb2.HealthCheckResponse


@overload
def health_check(channel: grpc.aio.Channel) -> grpc.aio.UnaryUnaryMultiCallable[_Request, _Response]: ...
@overload
def health_check(channel: grpc.Channel) -> grpc.UnaryUnaryMultiCallable[_Request, _Response]: ...
def health_check(channel: Any) -> Any:
    """grpc.health.v1's Check on `channel`, typed (the stubs' HealthStub declares no RPCs); as the
    generated stub makes it, a registered method."""
    return channel.unary_unary(
        _CHECK,
        request_serializer=_Request.SerializeToString,
        response_deserializer=_Response.FromString,
        _registered_method=True,
    )


class HealthEndpoint:
    """A running health server; the overall status ("") and the bot's own (its slug) move together."""

    def __init__(
        self, server: grpc.Server, servicer: health.HealthServicer, bot_slug: str, host: str, port: int,
        metrics: _MetricsHttp | None = None,
    ):  # fmt: skip
        self._server = server
        self._servicer = servicer
        self.bot_slug = bot_slug
        self.address = f"{host}:{port}"
        self.port = port
        self._metrics = metrics
        self.metrics_port = metrics.port if metrics else None
        """Where /metrics is served beside health (None: not served)."""

    def set_serving(self, serving: bool = True) -> None:
        for name in ("", self.bot_slug):
            self._servicer.set(name, _SERVING if serving else _NOT_SERVING)

    def stop(self, grace: float | None = None) -> None:
        self._servicer.enter_graceful_shutdown()
        self._server.stop(grace).wait()
        if self._metrics is not None:
            self._metrics.close()


class AsyncHealthEndpoint:
    def __init__(
        self,
        server: grpc.aio.Server,
        servicer: health.aio.HealthServicer,
        bot_slug: str,
        host: str,
        port: int,
    ):
        self._server = server
        self._servicer = servicer
        self.bot_slug = bot_slug
        self.address = f"{host}:{port}"
        self.port = port

    async def set_serving(self, serving: bool = True) -> None:
        for name in ("", self.bot_slug):
            await self._servicer.set(name, _SERVING if serving else _NOT_SERVING)

    async def stop(self, grace: float | None = None) -> None:
        await self._servicer.enter_graceful_shutdown()
        await self._server.stop(grace)


class _MetricsHttp:
    """prometheus-client's HTTP exposition of a registry, on its own thread."""

    def __init__(self, host: str, port: int, registry: CollectorRegistry) -> None:
        self._server, self._thread = start_http_server(port, addr=host, registry=registry)
        self.port: int = self._server.server_port

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def serve_health(
    bot_slug: str, port: int = 0, *, host: str = "127.0.0.1", metrics_port: int | None = None,
    registry: CollectorRegistry = REGISTRY,
) -> HealthEndpoint:  # fmt: skip
    """Start a health server on its own threads; port 0 picks a free port (see `.port`). With a
    `metrics_port`, `registry` (prometheus-client's default one unless given) is served there as
    /metrics too: register `PublisherMetrics(gov)` in it and governance's figures are among them."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix=f"health-{bot_slug}"))
    servicer = health.HealthServicer(experimental_non_blocking=True)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    reflection.enable_server_reflection([health.SERVICE_NAME, reflection.SERVICE_NAME], server)
    bound = server.add_insecure_port(f"{host}:{port}")
    server.start()
    try:
        metrics = None if metrics_port is None else _MetricsHttp(host, metrics_port, registry)
    except OSError:
        server.stop(None)
        raise
    endpoint = HealthEndpoint(server, servicer, bot_slug, host, bound, metrics)
    endpoint.set_serving(True)
    return endpoint


async def serve_health_async(bot_slug: str, port: int = 0, *, host: str = "127.0.0.1") -> AsyncHealthEndpoint:
    """The same on the running asyncio loop."""
    server = grpc.aio.server()
    servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    reflection.enable_server_reflection([health.SERVICE_NAME, reflection.SERVICE_NAME], server)
    bound = server.add_insecure_port(f"{host}:{port}")
    await server.start()
    endpoint = AsyncHealthEndpoint(server, servicer, bot_slug, host, bound)
    await endpoint.set_serving(True)
    return endpoint
