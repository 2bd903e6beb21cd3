"""Domain objects of the operations group on a real bus and store, driven by an injected clock."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Engine

from polytraders.sdk import ManualClock
from polytraders.servers import schema
from polytraders.servers.runtime.alerts import Alert
from polytraders.servers.runtime.archive import ReportArchive
from polytraders.servers.runtime.bus import ReportBus
from polytraders.servers.runtime.reporter import GovernanceReporter
from polytraders.servers.runtime.storage import make_engine

T = TypeVar("T")


@dataclass
class Alerts:
    """An alert sink that keeps what it was sent."""

    sent: list[Alert] = field(default_factory=list)

    async def send(self, alert: Alert) -> None:
        self.sent.append(alert)


@dataclass
class Desk:
    engine: Engine
    clock: ManualClock
    bus: ReportBus
    alerts: Alerts

    def reporter(self, slug: str) -> GovernanceReporter:
        return GovernanceReporter(self.bus, slug, self.clock)


def desk_on(database_url: str, start: datetime, scenario: Callable[[Desk], Awaitable[T]]) -> T:
    """Run `scenario` on a fresh event loop with a real store and bus; the clock starts at `start`."""
    engine = make_engine(database_url)
    schema.prepare(engine, upgrade=True)

    async def run() -> T:
        clock = ManualClock(start)
        bus = ReportBus(ReportArchive(engine), clock)
        try:
            return await scenario(Desk(engine, clock, bus, Alerts()))
        finally:
            bus.close()

    try:
        return asyncio.run(run())
    finally:
        engine.dispose()
