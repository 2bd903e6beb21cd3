"""Helpers for tests that run several `serve` processes: a subscriber on a thread, who leads a
duty, bounded waits, and what the archive holds."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import select

from polytraders.governance.v1 import report_bus_pb2 as pb
from polytraders.governance.v1 import report_bus_pb2_grpc as pb_grpc
from polytraders.servers.mesh import LEAD_PREFIX
from polytraders.servers.runtime.archive import report_archive
from polytraders.servers.runtime.storage import make_engine

BOT = [("authorization", "Bearer dev-bot-token")]
AUDITOR = [("authorization", "Bearer dev-auditor-token")]


class Tail:
    """A SubscribeReports stream of demo-bot's reports on one process, read on a thread."""

    def __init__(self, address: str) -> None:
        self.cursors: list[int] = []
        self._channel = grpc.insecure_channel(address)
        request = pb.SubscribeReportsRequest(bot_slugs=["demo-bot"])
        self._stream = pb_grpc.ReportBusServiceStub(self._channel).SubscribeReports(request, metadata=AUDITOR)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        with contextlib.suppress(grpc.RpcError):
            for item in self._stream:
                self.cursors.append(int(item.cursor))

    def wait_for(self, count: int) -> list[int]:
        deadline = time.monotonic() + 60
        while len(self.cursors) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return list(self.cursors)

    def close(self) -> None:
        self._stream.cancel()
        self._channel.close()


def rows(url: str, query: Any) -> list[Any]:
    """What `query` finds in the database the processes share (an engine of its own, disposed)."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(query))
    finally:
        engine.dispose()


def stored_demo_cursors(postgres_url: str) -> list[int]:
    query = select(report_archive.c.seq).where(report_archive.c.bot_slug == "demo-bot").order_by(report_archive.c.seq)
    return [seq for (seq,) in rows(postgres_url, query)]


def leads(address: str, duty: str) -> bool:
    with grpc.insecure_channel(address) as channel:
        probe = health_pb2.HealthCheckRequest(service=LEAD_PREFIX + duty)
        try:
            return health_pb2_grpc.HealthStub(channel).Check(probe, timeout=5).status == health_pb2.HealthCheckResponse.SERVING
        except grpc.RpcError:
            return False


def until(condition: Callable[[], bool], what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)
