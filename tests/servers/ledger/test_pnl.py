"""PnLReporter over gRPC on both backends, every number computed by hand in the test."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from polytraders.governance.v1 import ledger_pb2 as pb
from polytraders.governance.v1 import ledger_pb2_grpc as pb_grpc
from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk import Governance, ManualClock, ReportBuilder
from polytraders.servers import schema
from polytraders.servers.ledger.book import PnLLedger, RebateShares, journal_key, pnl_unpublished
from polytraders.servers.mesh import MeshThread
from polytraders.servers.runtime.archive import ReportArchive, ReportFilter
from polytraders.servers.runtime.bus import ReportBus
from polytraders.servers.runtime.reporter import GovernanceReporter
from polytraders.servers.runtime.storage import make_engine
from tests.conftest import start_mesh
from tests.contract.rpc import violations
from tests.sdk.test_publisher import archived

OPS = [("authorization", "Bearer dev-operator-token")]
MARKET, YES, NO = "0x" + "aa" * 32, "1001", "1002"
OTHER, OTHER_YES, OTHER_NO = "0x" + "bb" * 32, "2001", "2002"
CODE = "0x" + "ab" * 32
T0 = datetime(2026, 11, 24, 10, tzinfo=UTC)


def fill(bot: str, token: str, side: int, price: str, shares: str, *, market: str = MARKET, fee: int = 0,
         maker: bool = False, taker_fee: int = 0, at: timedelta = timedelta(), rebate: int = 0) -> rpb.Report:  # fmt: skip
    matched = Timestamp()
    matched.FromDatetime(T0 + at)
    size = int(Decimal(shares) * 1_000_000)
    return ReportBuilder(bot, bot_class="execution").execution(
        event=rpb.EXECUTION_EVENT_FILL, trade_id=f"t-{bot}-{token}-{at.total_seconds()}", condition_id=market,
        token_id=token, side=side, price=price, filled_size_micros=size, fee_micros=fee, rebate_micros=rebate,
        liquidity=rpb.LIQUIDITY_MAKER if maker else rpb.LIQUIDITY_TAKER, builder_code=CODE, matched_at=matched,
        metrics={"taker_fee_micros": str(taker_fee)} if taker_fee else {},
    )  # fmt: skip


BUY, SELL = rpb.SIDE_BUY, rpb.SIDE_SELL


@pytest.fixture
def ledger(database_url: str, clock: ManualClock):
    mesh = start_mesh(database_url, clock, maker_rebate_shares=(f"{MARKET}=0.25",))
    yield mesh, pb_grpc.PnLReporterServiceStub(grpc.insecure_channel(mesh.address))
    mesh.stop()


def test_a_trading_day_by_hand(ledger, database_url: str) -> None:
    mesh, pnl = ledger

    def book(report: rpb.Report) -> pb.RecordFillResponse:
        return pnl.RecordFill(pb.RecordFillRequest(report=report), metadata=OPS)

    # scale in on YES: 100 at 0.40 (taker, 0.50 fee), then a partial fill of 50 at 0.46 (0.23 fee)
    first = book(fill("mm-1", YES, BUY, "0.40", "100", fee=500_000, at=timedelta(minutes=1)))
    assert (first.position.size_micros, first.position.cost_micros, first.realised_pnl_micros) == (
        100_000_000,
        40_000_000,
        0,
    )
    second = book(fill("mm-1", YES, BUY, "0.46", "50", fee=230_000, at=timedelta(minutes=2)))
    assert (second.position.size_micros, second.position.cost_micros) == (
        150_000_000,
        63_000_000,
    )  # average 0.42
    # scale out: sell 60 at 0.50 as maker; the rebate is 25 % (this market's share) of the 1.00 taker fee
    sale = fill("mm-1", YES, SELL, "0.50", "60", maker=True, taker_fee=1_000_000, at=timedelta(minutes=3))
    third = book(sale)
    assert third.realised_pnl_micros == 30_000_000 - 25_200_000  # 60 × 0.50 − 60 × 0.42
    assert (third.position.size_micros, third.position.cost_micros) == (90_000_000, 37_800_000)
    # the same fill report again books nothing
    again = book(sale)
    assert again.booked is False and again.position.size_micros == 90_000_000
    # and NO of the same market
    book(fill("mm-1", NO, BUY, "0.55", "30", fee=165_000, at=timedelta(minutes=4)))

    # outcome tokens cannot be shorted: refused, nothing changes
    with pytest.raises(grpc.RpcError) as refused:
        book(fill("mm-1", YES, SELL, "0.50", "100", at=timedelta(minutes=5)))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "report.execution.filled_size_micros" in violations(refused.value)

    # marks: YES at the mid of 0.47/0.49; NO's book is one-sided, so its last trade, 0.52
    assert (
        pnl.RecordMark(
            pb.RecordMarkRequest(token_id=YES, best_bid="0.47", best_ask="0.49"), metadata=OPS
        ).mark
        == "0.48"
    )
    pnl.RecordMark(pb.RecordMarkRequest(token_id=NO, best_ask="0.60", last_trade_price="0.52"), metadata=OPS)
    positions = {
        p.token_id: p
        for p in pnl.ListPositions(pb.ListPositionsRequest(bot_slug="mm-1"), metadata=OPS).positions
    }
    assert positions[YES].unrealised_pnl_micros == 90 * 480_000 - 37_800_000  # 5.40
    assert positions[NO].unrealised_pnl_micros == 30 * 520_000 - 16_500_000  # −0.90

    # a second bot in another market, which resolves to 0 for it
    book(fill("mm-2", OTHER_YES, BUY, "0.30", "10", market=OTHER, fee=21_000, at=timedelta(minutes=6)))
    # the market resolves: YES pays 1, NO pays 0
    settled = pnl.RecordResolution(pb.RecordResolutionRequest(condition_id=MARKET, winning_token_id=YES,
                                                              token_ids=[YES, NO]), metadata=OPS).settled  # fmt: skip
    assert {(p.token_id, p.realised_pnl_micros) for p in settled} == {
        (YES, 4_800_000 + 52_200_000),
        (NO, -16_500_000),
    }
    pnl.RecordResolution(pb.RecordResolutionRequest(condition_id=OTHER, winning_token_id=OTHER_NO,
                                                    token_ids=[OTHER_YES, OTHER_NO]), metadata=OPS)  # fmt: skip

    by_bot = pnl.GetPnl(pb.GetPnlRequest(group_by=[pb.PNL_DIMENSION_BOT]), metadata=OPS)
    rows = {r.bot_slug: r for r in by_bot.rows}
    assert rows["mm-1"].realised_pnl_micros == 4_800_000 + 52_200_000 - 16_500_000  # 40.50
    assert (rows["mm-1"].gross_fee_micros, rows["mm-1"].rebate_micros) == (
        500_000 + 230_000 + 165_000,
        250_000,
    )
    assert rows["mm-1"].net_pnl_micros == 40_500_000 - (895_000 - 250_000)
    assert rows["mm-2"].realised_pnl_micros == -3_000_000 and rows["mm-2"].net_pnl_micros == -3_021_000
    assert by_bot.total.realised_pnl_micros == 37_500_000 and by_bot.total.fills == 5
    for dims in (
        [pb.PNL_DIMENSION_MARKET],
        [pb.PNL_DIMENSION_BOT, pb.PNL_DIMENSION_MARKET, pb.PNL_DIMENSION_BUILDER],
    ):
        grouped = pnl.GetPnl(pb.GetPnlRequest(group_by=dims), metadata=OPS)
        for field in (
            "realised_pnl_micros",
            "gross_fee_micros",
            "rebate_micros",
            "net_pnl_micros",
            "notional_micros",
        ):
            assert (
                sum(getattr(r, field) for r in grouped.rows)
                == getattr(grouped.total, field)
                == getattr(by_bot.total, field)
            )
    window = Timestamp()
    window.FromDatetime(T0 + timedelta(minutes=2, seconds=30))
    early = pnl.GetPnl(pb.GetPnlRequest(until=window), metadata=OPS).total
    assert (early.fills, early.realised_pnl_micros, early.gross_fee_micros) == (2, 0, 730_000)

    reports = [r.settlement for r in archived(database_url, "pnl-reporter") if r.HasField("settlement")]
    fills = [r for r in reports if r.record_type == "pnl.fill"]
    assert len(fills) == 5 and fills[2].cash_delta_micros == 30_000_000 + 250_000
    assert fills[2].metrics["average_cost"] == "0.420000"
    assert sorted(r.realised_pnl_micros for r in reports if r.record_type == "pnl.resolution") == [
        -16_500_000, -3_000_000, 52_200_000,
    ]  # fmt: skip


def test_fills_published_on_the_bus_are_booked(mesh: MeshThread) -> None:
    with Governance(mesh.address, token="dev-bot-token", bot_slug="demo-bot") as bot:
        bot.reports.publish_now([fill("demo-bot", YES, BUY, "0.25", "8", fee=10_000)])
    pnl = pb_grpc.PnLReporterServiceStub(grpc.insecure_channel(mesh.address))
    deadline = time.monotonic() + 20
    while not (
        positions := pnl.ListPositions(
            pb.ListPositionsRequest(), metadata=[("authorization", "Bearer dev-bot-token")]
        ).positions
    ):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert [(p.bot_slug, p.size_micros, p.cost_micros) for p in positions] == [
        ("demo-bot", 8_000_000, 2_000_000)
    ]


BAD = [
    ("not a fill", lambda: rpb.Report(header=rpb.ReportHeader(report_id="r", bot_slug="b"),
                                      execution=rpb.ExecutionReport(event=rpb.EXECUTION_EVENT_ORDER_TAGGED)),
     "report.execution.event"),
    ("price above 1", lambda: fill("mm-1", YES, BUY, "1.5", "1"), "report.execution.price"),
    ("no size", lambda: fill("mm-1", YES, BUY, "0.5", "0"), "report.execution.filled_size_micros"),
    ("sell with nothing held", lambda: fill("mm-1", YES, SELL, "0.5", "1"), "report.execution.filled_size_micros"),
    ("paper fill", lambda: _with(fill("mm-1", YES, BUY, "0.5", "1"), mode=rpb.MODE_PAPER), "report.header.mode"),
    ("no trade id", lambda: _trade(fill("mm-1", YES, BUY, "0.5", "1"), ""), "report.execution.trade_id"),
    ("unknown status", lambda: _with(fill("mm-1", YES, BUY, "0.5", "1"), trade_status="SETTLED"),
     "report.execution.trade_status"),
    ("price of 1e-7", lambda: fill("mm-1", YES, BUY, "0.0000001", "1"), "report.execution.price"),
    ("price of 1", lambda: fill("mm-1", YES, BUY, "1", "1"), "report.execution.price"),
    ("off the market's grid", lambda: _with(fill("mm-1", YES, BUY, "0.435", "1"), tick="0.01"),
     "report.execution.price"),
    ("a tick that is no price", lambda: _with(fill("mm-1", YES, BUY, "0.5", "1"), tick="2"), "report.execution.metrics"),
    ("a rebate on a taker fill", lambda: fill("mm-1", YES, BUY, "0.5", "1", rebate=10), "report.execution.rebate_micros"),
    ("fractional taker fee", lambda: _with(fill("mm-1", YES, BUY, "0.5", "1"), taker_fee="1.5"),
     "report.execution.metrics"),
    ("overlong price", lambda: fill("mm-1", YES, BUY, "0." + "5" * 40, "1"), "report.execution.price"),
]  # fmt: skip


def _trade(report: rpb.Report, trade_id: str, status: str = "", fee: int | None = None) -> rpb.Report:
    """The same fill under `trade_id`, as its `status` (a new report of it), with its `fee`."""
    copy = rpb.Report()
    copy.CopyFrom(report)
    copy.header.report_id = ReportBuilder("x").operations().header.report_id
    copy.execution.trade_id, copy.execution.trade_status = trade_id, status
    if fee is not None:
        copy.execution.fee_micros = fee
    return copy


def _with(
    report: rpb.Report, *, mode: int | None = None, trade_status: str = "", taker_fee: str = "", tick: str = ""
) -> rpb.Report:
    if tick:
        report.execution.metrics["tick_size"] = tick
    if mode is not None:
        report.header.mode = mode
    if trade_status:
        report.execution.trade_status = trade_status
    if taker_fee:
        report.execution.metrics["taker_fee_micros"] = taker_fee
    return report


@pytest.mark.parametrize(("case", "report", "field"), BAD, ids=[b[0] for b in BAD])
def test_bad_fills_name_the_field_and_change_nothing(ledger, case, report, field) -> None:
    _, pnl = ledger
    with pytest.raises(grpc.RpcError) as refused:
        pnl.RecordFill(pb.RecordFillRequest(report=report()), metadata=OPS)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT and field in violations(refused.value)
    assert pnl.ListPositions(pb.ListPositionsRequest(include_closed=True), metadata=OPS).positions == []
    assert pnl.GetPnl(pb.GetPnlRequest(), metadata=OPS).total.fills == 0


def test_a_bot_books_only_its_own_fills(mesh: MeshThread) -> None:
    pnl = pb_grpc.PnLReporterServiceStub(grpc.insecure_channel(mesh.address))
    with pytest.raises(grpc.RpcError) as refused:
        pnl.RecordFill(pb.RecordFillRequest(report=fill("someone-else", YES, BUY, "0.5", "1")),
                       metadata=[("authorization", "Bearer dev-bot-token")])  # fmt: skip
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_a_neg_risk_conversion_carries_the_cost_over(ledger) -> None:
    """Event with outcomes A, B, C: 10 NO-A at 0.70 and 10 NO-B at 0.80 (cost 15.00) convert into 10
    YES-C and (2 − 1) × 10 = 10 pUSD. Either way C pays 20 and A or B pays 10: the same exposure, so
    nothing is realised and YES-C carries the remaining 5.00 of cost (0.50 a share)."""
    _, pnl = ledger
    market_a, market_b, market_c = ("0x" + c * 64 for c in "abc")
    for market, token, price in ((market_a, "no-a", "0.70"), (market_b, "no-b", "0.80")):
        pnl.RecordFill(
            pb.RecordFillRequest(report=fill("arb-1", token, BUY, price, "10", market=market)), metadata=OPS
        )
    request = pb.RecordConversionRequest(bot_slug="arb-1", from_no_token_ids=["no-a", "no-b"], amount_micros=10_000_000,
                                         to_yes=[pb.OutcomeToken(condition_id=market_c, token_id="yes-c")],
                                         conversion_id="0x" + "99" * 32)  # fmt: skip
    converted = pnl.RecordConversion(request, metadata=OPS)
    assert converted.realised_pnl_micros == 0
    assert [(p.token_id, p.size_micros, p.cost_micros) for p in converted.positions] == [
        ("no-a", 0, 0), ("no-b", 0, 0), ("yes-c", 10_000_000, 5_000_000),
    ]  # fmt: skip
    assert (
        pnl.RecordConversion(request, metadata=OPS).realised_pnl_micros == 0
    )  # the same conversion books nothing
    with pytest.raises(grpc.RpcError) as refused:
        pnl.RecordConversion(pb.RecordConversionRequest(bot_slug="arb-1", from_no_token_ids=["no-a"], amount_micros=1,
                                                        to_yes=request.to_yes, conversion_id="0x01"), metadata=OPS)  # fmt: skip
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "amount_micros" in violations(
        refused.value
    )
    settled = pnl.RecordResolution(pb.RecordResolutionRequest(condition_id=market_c, winning_token_id="yes-c",
                                                              token_ids=["yes-c"]), metadata=OPS).settled  # fmt: skip
    assert [p.realised_pnl_micros for p in settled] == [10_000_000 - 5_000_000]  # 20 in all for 15 of cost


def test_a_later_status_of_the_same_fill_is_not_booked_again(ledger) -> None:
    _, pnl = ledger
    matched = fill("mm-1", YES, BUY, "0.40", "10", fee=1_000)
    matched.execution.trade_status = "MATCHED"
    confirmed = rpb.Report()
    confirmed.CopyFrom(matched)
    confirmed.header.report_id = "0190c4e0-1c2d-7a3b-8c4d-5e6f708192a3"  # a new report of the same trade
    confirmed.execution.trade_status = "CONFIRMED"
    assert pnl.RecordFill(pb.RecordFillRequest(report=matched), metadata=OPS).booked
    again = pnl.RecordFill(pb.RecordFillRequest(report=confirmed), metadata=OPS)
    assert (again.booked, again.position.size_micros) == (False, 10_000_000)


class _BusThatFailsOnce(ReportBus):
    """The bus going away between a booking's commit and its report (a crash at that point)."""

    failed = False

    async def publish(self, reports):
        if not self.failed:
            self.failed = True
            raise ConnectionError("the bus went away")
        return await super().publish(reports)


def test_a_booking_whose_report_did_not_reach_the_bus_publishes_it_on_the_next_start(
    database_url: str, clock: ManualClock
) -> None:
    engine = make_engine(database_url)
    schema.prepare(engine, upgrade=True)

    def ledger(bus: ReportBus) -> PnLLedger:
        return PnLLedger(
            engine, bus, clock, GovernanceReporter(bus, "pnl-reporter", clock), RebateShares(Decimal(0), {})
        )

    try:
        failing = _BusThatFailsOnce(ReportArchive(engine), clock)
        with pytest.raises(ConnectionError):
            asyncio.run(ledger(failing).record_fill(fill("mm-1", YES, BUY, "0.40", "10")))
        assert ReportArchive(engine).count() == 0  # booked, but nothing said yet

        restarted = ledger(ReportBus(ReportArchive(engine), clock))
        again = asyncio.run(restarted.record_fill(fill("mm-1", YES, BUY, "0.40", "10")))
        assert not again.booked  # the booking itself was kept
        stored = [
            rpb.Report.FromString(a.payload) for a in ReportArchive(engine).read_after(0, ReportFilter(), 10)
        ]
        assert [(r.settlement.record_type, r.settlement.position_micros) for r in stored] == [
            ("pnl.fill", 10_000_000)
        ]
        with engine.connect() as conn:  # published, then forgotten: a later start sends nothing again
            assert conn.execute(select(func.count()).select_from(pnl_unpublished)).scalar_one() == 0
    finally:
        engine.dispose()


@given(st.text())
def test_a_journal_key_is_the_uuid5_of_its_name(name: str) -> None:
    """Keys stored before the quick writer must still be found: the same UUIDv5, to the character."""
    assert journal_key(name) == str(uuid.uuid5(uuid.NAMESPACE_URL, name))
