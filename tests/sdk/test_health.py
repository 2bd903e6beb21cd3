"""serve_health: any bot exposes grpc.health.v1 (and reflection) in two lines."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from polytraders.sdk import serve_health, serve_health_async

SERVING, NOT_SERVING = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING


def _status(address: str, service: str = "") -> int:
    with grpc.insecure_channel(address) as channel:
        return (
            health_pb2_grpc.HealthStub(channel)
            .Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            .status
        )


def test_a_bot_serves_health_and_can_flip_it() -> None:
    endpoint = serve_health("momentum-btc-1h")
    try:
        assert _status(endpoint.address) == SERVING
        assert _status(endpoint.address, "momentum-btc-1h") == SERVING
        endpoint.set_serving(False)
        assert _status(endpoint.address) == NOT_SERVING
        listed = subprocess.run(
            [str(Path(sys.executable).parent / "grpcurl"), "-plaintext", endpoint.address, "list"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert "grpc.health.v1.Health" in listed.stdout.split()
    finally:
        endpoint.stop()


def test_the_asyncio_health_endpoint() -> None:
    async def scenario() -> list[int]:
        endpoint = await serve_health_async("paper-runner")
        try:
            async with grpc.aio.insecure_channel(endpoint.address) as channel:
                stub = health_pb2_grpc.HealthStub(channel)
                first = (await stub.Check(health_pb2.HealthCheckRequest(), timeout=5)).status
                await endpoint.set_serving(False)
                second = (await stub.Check(health_pb2.HealthCheckRequest(), timeout=5)).status
            return [first, second]
        finally:
            await endpoint.stop()

    assert asyncio.run(scenario()) == [SERVING, NOT_SERVING]
