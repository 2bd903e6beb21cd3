"""Fills per second through PnLReporter (validate, book, journal and position in SQLite, publish the
SEVEN_YEARS `pnl.fill` SettlementReport into the archive and ledger), beside a plain-Python
average-cost loop over the same fills in the same run."""

from __future__ import annotations

import asyncio
import tempfile
import time
from decimal import Decimal

from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk.clock import SystemClock
from polytraders.sdk.report_builders import ReportBuilder
from polytraders.servers import schema
from polytraders.servers.ledger.book import PnLLedger, RebateShares
from polytraders.servers.runtime.archive import ReportArchive
from polytraders.servers.runtime.bus import ReportBus
from polytraders.servers.runtime.reporter import GovernanceReporter
from polytraders.servers.runtime.storage import make_engine

from .figures import Figure

FILLS = 5_000
BOTS, TOKENS = 10, 20


def _fills() -> list[rpb.Report]:
    builders = [ReportBuilder(f"bot-{b}", bot_class="execution") for b in range(BOTS)]
    fills = []
    for n in range(FILLS):
        sell, group = n % 4 == 3, n // 4  # each (bot, token) scales in three times, then out once
        fills.append(builders[group % BOTS].execution(
            event=rpb.EXECUTION_EVENT_FILL, trade_id=f"t{n}", condition_id=f"0xm{group % TOKENS}", token_id=str(group % TOKENS),
            side=rpb.SIDE_SELL if sell else rpb.SIDE_BUY, price=f"0.{40 + n % 20}", filled_size_micros=1_000_000,
            fee_micros=1_000, liquidity=rpb.LIQUIDITY_TAKER,
        ))  # fmt: skip
    return fills


def _plain_loop(fills: list[rpb.Report]) -> float:
    """The least an average-cost ledger does: a dict of (size, cost) and integer arithmetic."""
    began = time.perf_counter()
    held: dict[tuple[str, str], list[int]] = {}
    realised = 0
    for fill in fills:
        e = fill.execution
        price, size = Decimal(e.price), e.filled_size_micros
        position = held.setdefault((fill.header.bot_slug, e.token_id), [0, 0])
        amount = int(price * size)
        if e.side == rpb.SIDE_BUY:
            position[0] += size
            position[1] += amount
        else:
            removed = position[1] * size // position[0]
            realised += amount - removed
            position[0] -= size
            position[1] -= removed
    return len(fills) / (time.perf_counter() - began)


def _through_pnl(fills: list[rpb.Report]) -> float:
    with tempfile.TemporaryDirectory() as scratch:
        engine = make_engine(f"sqlite:///{scratch}/pnl.db")
        schema.prepare(engine, upgrade=True)

        async def book() -> float:
            clock = SystemClock()
            bus = ReportBus(ReportArchive(engine), clock)
            ledger = PnLLedger(engine, bus, clock, GovernanceReporter(bus, "pnl-reporter", clock),
                               RebateShares(Decimal("0.2"), {}))  # fmt: skip
            began = time.perf_counter()
            for fill in fills:
                await ledger.record_fill(fill)
            rate = len(fills) / (time.perf_counter() - began)
            bus.close()
            return rate

        rate = asyncio.run(book())
        engine.dispose()
        return rate


def run() -> list[Figure]:
    fills = _fills()
    ours = _through_pnl(fills)
    plain = max(_plain_loop(fills) for _ in range(3))
    return [
        Figure.against("PnL fills/s incl. SettlementReport (SQLite) vs plain average-cost loop", ours, "fills/s", plain,
                       "reference (no target given)", True),
    ]  # fmt: skip
