"""A trading day of fills, the exchange's builder report of it, and governance between them.

`desk(trades, ...)` starts a local CLOB serving the exchange's side and a mesh whose attribution
group reads it through the real polymarket-client; `desk.log(trades)` publishes our side as
execution bots would (FILL ExecutionReports on the bus).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk import Governance, ManualClock, ReportBuilder
from polytraders.servers.mesh import MeshThread
from tests.conftest import start_mesh
from tests.support.clob import LocalClob, builder_trade, local_clob, serve_builder_trades

CODE = "0x" + "ab" * 32
OTHER_CODE = "0x" + "cd" * 32
MARKET_A = "0x" + "a1" * 32
MARKET_B = "0x" + "b2" * 32
DAY = datetime(2026, 11, 23, tzinfo=UTC)
WINDOW = (DAY, DAY + timedelta(days=1))
MICROS = Decimal(1_000_000)


@dataclass(frozen=True)
class Trade:
    """One side of one trade, as both our log and the exchange would record it."""

    trade_id: str
    market: str
    size: str
    price: str
    at: timedelta
    liquidity: str = "TAKER"
    bot: str = "exec-bot-1"
    code: str = CODE
    fee_usdc: str = "0"
    rebate_micros: int = 0
    size_usdc: str | None = None
    """What the exchange reports as notional, when not size × price."""

    def row(self) -> dict[str, Any]:
        return builder_trade(
            self.trade_id, self.market, self.size, self.price, int((DAY + self.at).timestamp()), builder=CODE,
            trade_type=self.liquidity, fee_usdc=self.fee_usdc, size_usdc=self.size_usdc,
        )  # fmt: skip


# Two markets, four fills: market A 100 + 50 = 150 pUSD notional, market B 40 + 40 = 80.
DAY_TRADES = [
    Trade("t-1", MARKET_A, "200", "0.5", timedelta(hours=1), fee_usdc="0.2"),
    Trade("t-2", MARKET_A, "100", "0.5", timedelta(hours=2), liquidity="MAKER", fee_usdc="0.05",
          rebate_micros=12_500),
    Trade("t-3", MARKET_B, "100", "0.4", timedelta(hours=3), fee_usdc="0.08"),
    Trade("t-4", MARKET_B, "100", "0.4", timedelta(hours=23, minutes=59, seconds=59), fee_usdc="0.08"),
]  # fmt: skip


def fill_report(
    trade: Trade, clock: ManualClock, *, mode: int = rpb.MODE_LIVE, trace_id: str = ""
) -> rpb.Report:
    size = int(Decimal(trade.size) * MICROS)
    matched = Timestamp()
    matched.FromDatetime(DAY + trade.at)
    builder = ReportBuilder(trade.bot, bot_class="execution", mode=mode, clock=clock)
    return builder.execution(
        trace_id=trace_id, event=rpb.EXECUTION_EVENT_FILL, order_id=f"order-{trade.trade_id}",
        trade_id=trade.trade_id, condition_id=trade.market, token_id="101", side=rpb.SIDE_BUY,
        price=trade.price, size_micros=size, filled_size_micros=size, builder_code=trade.code,
        fee_micros=0, rebate_micros=trade.rebate_micros,
        liquidity=rpb.LIQUIDITY_MAKER if trade.liquidity == "MAKER" else rpb.LIQUIDITY_TAKER,
        trade_status="CONFIRMED", matched_at=matched,
    )  # fmt: skip


@dataclass
class Desk:
    clob: LocalClob
    mesh: MeshThread
    operator: Governance
    clock: ManualClock
    database_url: str

    def log(self, trades: list[Trade], **options: Any) -> None:
        self.operator.reports.publish_now([fill_report(t, self.clock, **options) for t in trades])

    def builder_requests(self) -> list[dict[str, list[str]]]:
        return [r.query for r in self.clob.requests if r.path == "/builder/trades"]


DeskFactory = Callable[..., Desk]


@pytest.fixture
def desk(database_url: str, clock: ManualClock) -> Iterator[DeskFactory]:
    with ExitStack() as stack:

        def start(
            exchange: list[Trade | dict[str, Any]], *, failures: list[int] | None = None, page_size: int = 300,
            **settings: Any,
        ) -> Desk:  # fmt: skip
            clob = stack.enter_context(local_clob())
            rows = [t.row() if isinstance(t, Trade) else t for t in exchange]
            serve_builder_trades(clob, rows, page_size=page_size, failures=failures)
            settings = {"builder_code": CODE, "clob_url": clob.url, "clob_backoff_seconds": 0.0,
                        "clob_requests_per_second": 0.0, **settings}  # fmt: skip
            mesh = start_mesh(database_url, clock, **settings)
            stack.callback(mesh.stop)
            operator = stack.enter_context(
                Governance(mesh.address, token="dev-operator-token", bot_slug="ops-desk")
            )
            desks.append(Desk(clob, mesh, operator, clock, database_url))
            return desks[-1]

        desks: list[Desk] = []
        yield start
        for (
            day
        ) in desks:  # read-only by construction: nothing but the two report reads ever reached the exchange
            assert set(day.clob.paths()) <= {"GET /builder/trades", "GET /rebates/current"}, day.clob.paths()
