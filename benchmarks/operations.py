"""A full health sweep of 97 targets, and cron firing lateness over 200 firings.

Sweep: 97 real grpc.health.v1 servers on loopback, HealthHeartbeat probing them all (and
publishing its sweep report), beside a bare concurrent Check of the same 97 on open channels.
Cron: twenty tasks firing every second for ten seconds on the system clock; lateness is each
dispatch's start minus its scheduled second, beside the event loop's own timer lateness when it
sleeps to the same second boundaries.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Mapping
from datetime import UTC, datetime

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from sqlalchemy import Engine

from polytraders.sdk.clock import SystemClock
from polytraders.sdk.health import health_check
from polytraders.servers import schema
from polytraders.servers.operations.cron import CronRunner, parse_manifest
from polytraders.servers.operations.heartbeat import FleetBot, HealthHeartbeat
from polytraders.servers.runtime.alerts import Alert
from polytraders.servers.runtime.archive import ReportArchive
from polytraders.servers.runtime.bus import ReportBus
from polytraders.servers.runtime.reporter import GovernanceReporter
from polytraders.servers.runtime.storage import make_engine

from .figures import Figure, percentile

BOTS = 97
CRON_TASKS = 20
CRON_SECONDS = 10


class _Quiet:
    async def send(self, alert: Alert) -> None:
        pass


async def _sweeps(engine: Engine, bus: ReportBus) -> dict[str, float]:
    servers, fleet = [], []
    for i in range(BOTS):
        server = grpc.aio.server()
        servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        await servicer.set("", health_pb2.HealthCheckResponse.SERVING)
        servers.append(server)
        fleet.append(
            FleetBot(
                f"bot-{i}", "strategy", ("data", "signal", "strategy", "risk")[i % 4], f"127.0.0.1:{port}"
            )
        )
    heartbeat = HealthHeartbeat(
        fleet, engine, SystemClock(), _Quiet(), GovernanceReporter(bus, "health-heartbeat", SystemClock())
    )
    began = time.perf_counter()
    await heartbeat.sweep()
    cold = time.perf_counter() - began
    warm = []
    for _ in range(10):
        began = time.perf_counter()
        fleet_health = await heartbeat.sweep()
        warm.append(time.perf_counter() - began)
        assert sum(layer.serving for layer in fleet_health.layers) == BOTS
    channels = [grpc.aio.insecure_channel(bot.target) for bot in fleet]
    checks = [health_check(channel) for channel in channels]
    await asyncio.gather(*(check(health_pb2.HealthCheckRequest()) for check in checks))
    bare = []
    for _ in range(10):
        began = time.perf_counter()
        await asyncio.gather(*(check(health_pb2.HealthCheckRequest(), timeout=0.5) for check in checks))
        bare.append(time.perf_counter() - began)
    for channel in channels:
        await channel.close()
    await heartbeat.close()
    for server in servers:
        await server.stop(None)
    return {"cold": cold, "warm": min(warm), "bare": min(bare)}


async def _cron_lateness(engine: Engine, bus: ReportBus) -> list[float]:
    async def noop(arguments: Mapping[str, str], scheduled: datetime) -> str:
        return "ok"

    text = "\n".join(f'[[task]]\nname = "t{i}"\ncron_expression = "* * * * * *"\ntarget = "governance:noop"\n'
                     f"deadline_seconds = 5\n" for i in range(CRON_TASKS))  # fmt: skip
    cron = CronRunner(parse_manifest(text), engine, SystemClock(), {"noop": noop},
                      GovernanceReporter(bus, "cron-runner", SystemClock()), _Quiet())  # fmt: skip
    stopping = asyncio.Event()
    running = asyncio.create_task(cron.run(stopping, 1.0))
    await asyncio.sleep(CRON_SECONDS + 0.5)
    stopping.set()
    await running
    dispatches = cron.dispatches("", 1000)
    return [d.lateness_micros / 1000 for d in dispatches if d.HasField("started_at")][
        : CRON_TASKS * CRON_SECONDS
    ]


async def _timer_lateness() -> list[float]:
    """How late the event loop itself wakes at whole seconds (the floor for any scheduler on it)."""
    late = []
    for _ in range(CRON_SECONDS):
        now = datetime.now(UTC).timestamp()
        target = int(now) + 1
        await asyncio.sleep(target - now)
        late.append((datetime.now(UTC).timestamp() - target) * 1000)
    return late


def run() -> list[Figure]:
    with tempfile.TemporaryDirectory() as scratch:
        engine = make_engine(f"sqlite:///{scratch}/ops.db")
        schema.prepare(engine, upgrade=True)

        async def measure() -> tuple[dict[str, float], list[float], list[float]]:
            bus = ReportBus(ReportArchive(engine), SystemClock())
            try:
                return await _sweeps(engine, bus), await _cron_lateness(engine, bus), await _timer_lateness()
            finally:
                bus.close()

        sweeps, lateness, timer = asyncio.run(measure())
        engine.dispose()
    assert len(lateness) >= 180, len(lateness)
    return [
        Figure.against("health sweep of 97 targets, warm (wall) vs bare concurrent Check", sweeps["warm"] * 1000, "ms",
                       sweeps["bare"] * 1000, "value < 1000 ms", sweeps["warm"] < 1.0),
        Figure.against("health sweep of 97 targets, first (connecting)", sweeps["cold"] * 1000, "ms",
                       sweeps["bare"] * 1000, "value < 1000 ms", sweeps["cold"] < 1.0),
        Figure.against(f"cron lateness p50 over {len(lateness)} firings vs loop timer p50", percentile(lateness, 0.5),
                       "ms", percentile(timer, 0.5), "reference (no target given)", True),
        Figure.against(f"cron lateness p99 over {len(lateness)} firings vs loop timer p99", percentile(lateness, 0.99),
                       "ms", max(timer), "p99 < 5 ms", percentile(lateness, 0.99) < 5),
    ]  # fmt: skip
