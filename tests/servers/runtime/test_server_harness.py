"""The server factory every group reuses: auth, error mapping, limits, health while draining."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from polytraders.governance.v1 import report_bus_pb2 as pb
from polytraders.governance.v1 import report_bus_pb2_grpc as pb_grpc
from polytraders.sdk.report_builders import ReportBuilder
from polytraders.servers.mesh import MeshThread
from polytraders.servers.runtime import auth
from polytraders.servers.runtime.archive import ReportFilter
from polytraders.servers.runtime.bus_service import ACCESS
from polytraders.servers.runtime.config import ServerConfig
from polytraders.servers.runtime.server import ServiceBinding, start_server
from tests.conftest import DEV_TOKENS

OPERATOR = [("authorization", "Bearer dev-operator-token")]


class _ExplodingBus(pb_grpc.ReportBusServiceServicer):
    """A servicer with a bug in it: what the caller sees must not include the secret."""

    async def PublishReports(self, request, context):
        raise RuntimeError("secret connection string postgres://admin:hunter2@db")


def _binding(servicer: object, access: dict[str, frozenset[auth.Role]] = ACCESS) -> ServiceBinding:
    return ServiceBinding.of(pb, "ReportBusService", servicer, access)


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def test_an_unexpected_exception_is_internal_without_traceback(
    loop: asyncio.AbstractEventLoop, caplog
) -> None:
    async def scenario() -> grpc.aio.AioRpcError:
        server = await start_server(
            [_binding(_ExplodingBus())],
            host="127.0.0.1",
            port=0,
            tokens=auth.TokenBook.from_file(DEV_TOKENS),
            max_message_bytes=1 << 20,
        )
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
                with pytest.raises(grpc.aio.AioRpcError) as failed:
                    await pb_grpc.ReportBusServiceStub(channel).PublishReports(
                        pb.PublishReportsRequest(), metadata=OPERATOR
                    )
                return failed.value
        finally:
            await server.drain(0)

    with caplog.at_level(logging.ERROR):
        error = loop.run_until_complete(scenario())
    assert error.code() == grpc.StatusCode.INTERNAL
    assert "hunter2" not in error.details() and "Traceback" not in error.details()
    assert "internal error (ref " in error.details()
    assert "hunter2" in caplog.text  # the operator still gets the whole story in the log


def test_every_rpc_must_declare_who_may_call_it() -> None:
    with pytest.raises(ValueError, match="PurgeExpiredReports"):
        _binding(object(), {"PublishReports": auth.READ, "SubscribeReports": auth.READ})


def test_disabling_auth_is_logged_loudly(loop: asyncio.AbstractEventLoop, caplog) -> None:
    async def scenario() -> None:
        server = await start_server([], host="127.0.0.1", port=0, tokens=None, max_message_bytes=1 << 20)
        await server.drain(0)

    with caplog.at_level(logging.WARNING):
        loop.run_until_complete(scenario())
    assert "AUTH IS DISABLED" in caplog.text


@pytest.mark.parametrize(
    ("header", "code"),
    [
        ("Bearer not-a-known-token", grpc.StatusCode.UNAUTHENTICATED),
        ("Basic ZGV2OmRldg==", grpc.StatusCode.UNAUTHENTICATED),
        ("Bearer ", grpc.StatusCode.UNAUTHENTICATED),
    ],
)
def test_a_bad_authorization_header_is_unauthenticated(
    mesh: MeshThread, header: str, code: grpc.StatusCode
) -> None:
    with grpc.insecure_channel(mesh.address) as channel:
        with pytest.raises(grpc.RpcError) as refused:
            pb_grpc.ReportBusServiceStub(channel).PurgeExpiredReports(
                pb.PurgeExpiredReportsRequest(), metadata=[("authorization", header)], timeout=5
            )
    assert refused.value.code() == code


def test_a_message_over_the_size_limit_is_resource_exhausted(tmp_path: Path) -> None:
    config = ServerConfig(
        port=0,
        database_url=f"sqlite:///{tmp_path / 'g.db'}",
        tokens_file=str(DEV_TOKENS),
        max_message_bytes=64 * 1024,
    )
    running = MeshThread(config)
    try:
        builder = ReportBuilder("demo-bot")
        big = [builder.operations(component="x", explanation="y" * 1000) for _ in range(100)]
        with grpc.insecure_channel(running.address) as channel:
            with pytest.raises(grpc.RpcError) as refused:
                pb_grpc.ReportBusServiceStub(channel).PublishReports(
                    pb.PublishReportsRequest(reports=big), metadata=OPERATOR, timeout=5
                )
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        # Only the refused batch is checked: the mesh's own groups may report meanwhile.
        stored = running.mesh.parts.bus.archive.read_after(
            0, ReportFilter(bot_slugs=frozenset({"demo-bot"})), 200
        )
        assert stored == []
    finally:
        running.stop()


def test_draining_reports_not_serving_and_ends_subscriber_streams(tmp_path: Path) -> None:
    config = ServerConfig(port=0, database_url=f"sqlite:///{tmp_path / 'g.db'}", tokens_file=str(DEV_TOKENS))
    running = MeshThread(config)
    health = running.mesh.server.health
    with grpc.insecure_channel(running.address) as channel:
        stream = pb_grpc.ReportBusServiceStub(channel).SubscribeReports(
            pb.SubscribeReportsRequest(), metadata=OPERATOR, timeout=30
        )
        running.call(running.mesh.parts.bus.publish([ReportBuilder("demo-bot").operations(component="x")]))
        assert next(iter(stream)).cursor == "1"

        async def status_during_drain() -> int:
            running.mesh.parts.bus.close()
            await health.enter_graceful_shutdown()
            reply = await health.Check(health_pb2.HealthCheckRequest(service=""), None)
            return reply.status

        assert running.call(status_during_drain()) == health_pb2.HealthCheckResponse.NOT_SERVING
        assert list(stream) == []  # the stream ended cleanly instead of hanging
        running.stop()


def test_health_check_needs_no_token(mesh: MeshThread) -> None:
    with grpc.insecure_channel(mesh.address) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
