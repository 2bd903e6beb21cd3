"""A fill through the exchange's trade lifecycle: booked on its first status, adjusted when a later
one changes its fee, reversed completely when it FAILED, and unmoved by redeliveries."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import select

from polytraders.governance.v1 import ledger_pb2 as pb
from polytraders.governance.v1 import ledger_pb2_grpc as pb_grpc
from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk import Governance, ManualClock
from polytraders.servers.ledger.book import pnl_entries
from polytraders.servers.mesh import MeshThread
from polytraders.servers.runtime.archive import ReportFilter
from tests.conftest import start_mesh
from tests.contract.rpc import violations
from tests.servers.ledger.test_pnl import BUY, MARKET, OPS, SELL, T0, YES, _trade, fill
from tests.support.mesh_processes import until

BOT = [("authorization", "Bearer dev-bot-token")]


@pytest.fixture
def ledger(database_url: str, clock: ManualClock):
    mesh = start_mesh(database_url, clock, maker_rebate_shares=(f"{MARKET}=0.25",))
    yield mesh, pb_grpc.PnLReporterServiceStub(grpc.insecure_channel(mesh.address))
    mesh.stop()


BOUGHT = fill("mm-1", YES, BUY, "0.40", "10", fee=1_000)  # 10 at 0.40: cost 4.00, fee 0.001

# (case, [(status, fee)] of one trade in arrival order, (size, cost, fills, gross fee), booked per call)
LIFECYCLES = [
    ("matched, mined, confirmed", [("MATCHED", 1_000), ("MINED", 1_000), ("CONFIRMED", 1_000)],
     (10_000_000, 4_000_000, 1, 1_000), [True, False, False]),
    ("REST's prefixed statuses", [("TRADE_STATUS_MATCHED", 1_000), ("TRADE_STATUS_CONFIRMED", 1_000)],
     (10_000_000, 4_000_000, 1, 1_000), [True, False]),
    ("a later fee is an adjustment", [("MATCHED", 1_000), ("MINED", 1_500), ("CONFIRMED", 1_500)],
     (10_000_000, 4_000_000, 1, 1_500), [True, True, False]),
    ("a stale earlier status changes nothing", [("MATCHED", 1_000), ("CONFIRMED", 1_200), ("MATCHED", 1_000)],
     (10_000_000, 4_000_000, 1, 1_200), [True, True, False]),
    ("failed is reversed completely", [("MATCHED", 1_000), ("RETRYING", 1_000), ("FAILED", 1_000)],
     (0, 0, 0, 0), [True, False, True]),
    ("a redelivered failure changes nothing", [("MATCHED", 1_000), ("FAILED", 1_000), ("FAILED", 1_000),
                                               ("CONFIRMED", 1_000)], (0, 0, 0, 0), [True, True, False, False]),
    ("failed before it was booked", [("FAILED", 1_000), ("MATCHED", 1_000)], (0, 0, 0, 0), [False, False]),
    ("the same report twice", [("MATCHED", 1_000), ("", 1_000)], (10_000_000, 4_000_000, 1, 1_000), [True, False]),
]  # fmt: skip


@pytest.mark.parametrize(("case", "statuses", "after", "booked"), LIFECYCLES, ids=[c[0] for c in LIFECYCLES])
def test_each_status_of_a_trade_books_what_it_changes(ledger, case, statuses, after, booked) -> None:
    mesh, pnl = ledger
    answers = [
        pnl.RecordFill(pb.RecordFillRequest(report=_trade(BOUGHT, "trade-1", status, fee)), metadata=OPS).booked
        for status, fee in statuses
    ]
    assert answers == booked
    positions = pnl.ListPositions(pb.ListPositionsRequest(include_closed=True), metadata=OPS).positions
    size, cost = (positions[0].size_micros, positions[0].cost_micros) if positions else (0, 0)
    total = pnl.GetPnl(pb.GetPnlRequest(), metadata=OPS).total
    assert (size, cost, total.fills, total.gross_fee_micros) == after
    assert total.realised_pnl_micros == 0 and total.net_pnl_micros == -after[3]
    kinds = [r.settlement.record_type for r in _settlements(mesh)]
    assert kinds.count("pnl.fill") == (statuses[0][0] != "FAILED")
    assert kinds.count("pnl.reversal") == (after[2] == 0 and statuses[0][0] != "FAILED")


def test_a_failed_buy_replays_the_sales_after_it(ledger) -> None:
    """Buy 10 at 0.40 (A) and 10 at 0.60 (B), sell 10 at 0.70: average cost 0.50, realised 2.00.
    A FAILED: only B was bought, so the sale realised 0.70 − 0.60 = 1.00 a share: 1.00 in all."""
    _, pnl = ledger
    a = _trade(fill("mm-1", YES, BUY, "0.40", "10", fee=100), "A")
    b = _trade(fill("mm-1", YES, BUY, "0.60", "10", fee=100, at=timedelta(seconds=1)), "B")
    sold = _trade(fill("mm-1", YES, SELL, "0.70", "10", fee=100, at=timedelta(seconds=2)), "S")
    for report in (a, b, sold):
        pnl.RecordFill(pb.RecordFillRequest(report=report), metadata=OPS)
    assert pnl.GetPnl(pb.GetPnlRequest(), metadata=OPS).total.realised_pnl_micros == 2_000_000
    reversed_a = pnl.RecordFill(pb.RecordFillRequest(report=_trade(a, "A", "FAILED")), metadata=OPS)
    assert reversed_a.booked and reversed_a.realised_pnl_micros == -1_000_000
    assert (reversed_a.position.size_micros, reversed_a.position.cost_micros) == (0, 0)  # B bought what S sold
    total = pnl.GetPnl(pb.GetPnlRequest(), metadata=OPS).total
    assert (total.realised_pnl_micros, total.fills, total.gross_fee_micros) == (1_000_000, 2, 200)
    assert total.notional_micros == 6_000_000 + 7_000_000


def test_a_failure_that_would_leave_a_sale_of_tokens_never_held_is_refused(ledger) -> None:
    _, pnl = ledger
    bought = _trade(fill("mm-1", YES, BUY, "0.40", "10"), "A")
    pnl.RecordFill(pb.RecordFillRequest(report=bought), metadata=OPS)
    pnl.RecordFill(pb.RecordFillRequest(report=_trade(fill("mm-1", YES, SELL, "0.50", "10"), "S")), metadata=OPS)
    with pytest.raises(grpc.RpcError) as refused:
        pnl.RecordFill(pb.RecordFillRequest(report=_trade(bought, "A", "FAILED")), metadata=OPS)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "never held" in str(refused.value.details())
    assert pnl.GetPnl(pb.GetPnlRequest(), metadata=OPS).total.fills == 2  # nothing changed


def test_hex_identifiers_are_one_key_in_any_case(ledger) -> None:
    """The market's rebate share is configured lowercase; a fill that names it in capitals gets it,
    and a later status in the other case is the same trade."""
    _, pnl = ledger
    upper = fill("mm-1", YES, BUY, "0.40", "10", maker=True, taker_fee=4_000, market=MARKET.upper().replace("0X", "0x"))
    booked = pnl.RecordFill(pb.RecordFillRequest(report=_trade(upper, "T")), metadata=OPS)
    again = _trade(fill("mm-1", YES, BUY, "0.40", "10", maker=True, taker_fee=4_000), "T", "CONFIRMED")
    assert booked.booked and not pnl.RecordFill(pb.RecordFillRequest(report=again), metadata=OPS).booked
    total = pnl.GetPnl(pb.GetPnlRequest(group_by=[pb.PNL_DIMENSION_MARKET]), metadata=OPS)
    assert [r.condition_id for r in total.rows] == [MARKET]
    assert total.total.rebate_micros == 1_000  # 0.25 of the 4,000 taker fee


def _settlements(mesh: MeshThread) -> list[rpb.Report]:
    stored = mesh.mesh.parts.bus.archive.read_after(0, ReportFilter(bot_slugs=frozenset({"pnl-reporter"})), 1000)
    return [rpb.Report.FromString(r.payload) for r in stored]


def test_a_fill_the_books_cannot_take_from_the_bus_is_alerted_and_listed(ledger) -> None:
    mesh, pnl = ledger
    oversold = _trade(fill("demo-bot", YES, SELL, "0.50", "3"), "oversell")
    with Governance(mesh.address, token="dev-bot-token", bot_slug="demo-bot") as bot:
        bot.reports.publish_now([oversold])
        # listed in the booking's transaction, alerted just after it
        until(lambda: bot_rejections(pnl) and _refusal_alerts(mesh), "the oversell listed and alerted")
    rejected = bot_rejections(pnl)
    assert [(r.report_id, r.trade_id, r.field) for r in rejected] == [
        (oversold.header.report_id, "oversell", "report.execution.filled_size_micros")
    ]
    assert "cannot be shorted" in rejected[0].reason
    alerts = _refusal_alerts(mesh)
    assert [(a.alert_key, a.severity) for a in alerts] == [(f"pnl:rejected:{oversold.header.report_id}", rpb.SEVERITY_ERROR)]
    with pytest.raises(grpc.RpcError) as refused:  # a bot reads only its own
        pnl.ListRejectedFills(pb.ListRejectedFillsRequest(bot_slug="mm-1"), metadata=BOT)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED


def _refusal_alerts(mesh: MeshThread) -> list[rpb.OperationsReport]:
    return [r.operations for r in _operations(mesh) if r.operations.alert_key.startswith("pnl:rejected:")]


def bot_rejections(pnl: pb_grpc.PnLReporterServiceStub) -> list[pb.RejectedFill]:
    return list(pnl.ListRejectedFills(pb.ListRejectedFillsRequest(), metadata=BOT).rejected)


def test_a_rebate_payout_books_what_accrual_rounding_got_wrong(ledger) -> None:
    """Three maker fills each accrue 0.25 of a 3-micro taker fee: 0.75 rounds half-even to 1, so
    3 micro-units accrue; the exchange paid 2 for the day. The day's rebates then equal the wallet."""
    _, pnl = ledger
    for i in range(3):
        maker = fill("mm-1", YES, BUY, "0.40", "1", maker=True, taker_fee=3, at=timedelta(minutes=i))
        pnl.RecordFill(pb.RecordFillRequest(report=_trade(maker, f"m{i}")), metadata=OPS)
    day = pb.GetPnlRequest(since=_at(T0.replace(hour=0)), until=_at(T0.replace(hour=0) + timedelta(days=1)))
    assert pnl.GetPnl(day, metadata=OPS).total.rebate_micros == 3
    payout = pb.RecordRebatePayoutRequest(bot_slug="mm-1", condition_id=MARKET.upper().replace("0X", "0x"),
                                          day=int(T0.strftime("%Y%m%d")), amount_micros=2)  # fmt: skip
    paid = pnl.RecordRebatePayout(payout, metadata=OPS)
    assert (paid.accrued_micros, paid.paid_micros, paid.adjustment_micros) == (3, 2, -1) and paid.settlement_report_id
    assert pnl.RecordRebatePayout(payout, metadata=OPS).adjustment_micros == 0  # the same payout again
    total = pnl.GetPnl(day, metadata=OPS).total
    assert (total.rebate_micros, total.adjustment_micros) == (2, -1)
    assert pnl.GetPnl(pb.GetPnlRequest(since=day.until), metadata=OPS).total.rebate_micros == 0  # the next day


PAYOUTS = [
    ("no bot", {"condition_id": MARKET, "day": 20261124, "amount_micros": 1}, "bot_slug", grpc.StatusCode.INVALID_ARGUMENT),
    ("no market", {"bot_slug": "mm-1", "day": 20261124, "amount_micros": 1}, "condition_id",
     grpc.StatusCode.INVALID_ARGUMENT),
    ("not a day", {"bot_slug": "mm-1", "condition_id": MARKET, "day": 20261332, "amount_micros": 1}, "day",
     grpc.StatusCode.INVALID_ARGUMENT),
    ("negative", {"bot_slug": "mm-1", "condition_id": MARKET, "day": 20261124, "amount_micros": -1}, "amount_micros",
     grpc.StatusCode.INVALID_ARGUMENT),
]  # fmt: skip


@pytest.mark.parametrize(("case", "fields", "field", "code"), PAYOUTS, ids=[c[0] for c in PAYOUTS])
def test_a_bad_payout_names_its_field_and_books_nothing(ledger, case, fields, field, code) -> None:
    _, pnl = ledger
    with pytest.raises(grpc.RpcError) as refused:
        pnl.RecordRebatePayout(pb.RecordRebatePayoutRequest(**fields), metadata=OPS)
    assert refused.value.code() == code and field in violations(refused.value)
    assert pnl.GetPnl(pb.GetPnlRequest(), metadata=OPS).total == pb.PnlRow()
    with pytest.raises(grpc.RpcError) as denied:
        pnl.RecordRebatePayout(pb.RecordRebatePayoutRequest(**fields), metadata=BOT)
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_the_total_marks_open_positions_and_every_grouping_sums_to_it(ledger) -> None:
    """A seeded random day: fills of three bots in two markets, redeliveries, later statuses with
    other fees, failures and marks. Total = proceeds - costs + holdings x mark - fees + rebates,
    computed here from what stood, and each grouping's rows add up to it."""
    _, pnl = ledger
    rng = random.Random(20261206)
    tokens = {YES: MARKET, "2001": "0x" + "bb" * 32}
    held: dict[tuple[str, str], int] = {}
    trades: list[rpb.Report] = []
    failed: set[str] = set()
    for i in range(60):
        bot, token = rng.choice(["mm-1", "mm-2", "arb-1"]), rng.choice(list(tokens))
        if trades and rng.random() < 0.25:  # a later word on an earlier trade
            earlier = rng.choice(trades)
            status = rng.choice(["MINED", "CONFIRMED", "FAILED", ""])
            report = _trade(earlier, earlier.execution.trade_id, status, earlier.execution.fee_micros + rng.randrange(3))
            answer = pnl_call(pnl, report)
            if status == "FAILED" and answer is not None:
                failed.add(earlier.execution.trade_id)
            continue
        side = SELL if held.get((bot, token), 0) >= 2_000_000 and rng.random() < 0.4 else BUY
        shares = "1" if side == SELL else str(rng.randrange(1, 5))
        price = f"0.{rng.randrange(10, 90):02d}"
        maker = rng.random() < 0.3
        report = _trade(fill(bot, token, side, price, shares, market=tokens[token], fee=rng.randrange(0, 500),
                             maker=maker, taker_fee=rng.randrange(0, 400) if maker else 0,
                             at=timedelta(seconds=i)), f"t{i}")  # fmt: skip
        if pnl_call(pnl, report) is not None:
            trades.append(report)
            size = report.execution.filled_size_micros
            held[(bot, token)] = held.get((bot, token), 0) + (size if side == BUY else -size)
    for token in tokens:
        pnl.RecordMark(pb.RecordMarkRequest(token_id=token, best_bid="0.44", best_ask="0.46"), metadata=OPS)
    positions = pnl.ListPositions(pb.ListPositionsRequest(include_closed=True), metadata=OPS).positions
    expected_cash = 0
    trades_now = {(t.execution.trade_id): t for t in trades}
    for trade_id, t in trades_now.items():
        if trade_id in failed:
            continue
        amount = notional_of(t)
        expected_cash += amount if t.execution.side == SELL else -amount
    marked = sum(round(Decimal("0.45") * p.size_micros) for p in positions)
    total = pnl.GetPnl(pb.GetPnlRequest(), metadata=OPS).total
    fees_net = total.gross_fee_micros - total.rebate_micros
    assert total.total_pnl_micros == expected_cash + marked - fees_net
    assert total.fills == len([t for t in trades_now if t not in failed])
    for dimensions in ([pb.PNL_DIMENSION_BOT], [pb.PNL_DIMENSION_MARKET], [pb.PNL_DIMENSION_BUILDER],
                       [pb.PNL_DIMENSION_BOT, pb.PNL_DIMENSION_MARKET]):  # fmt: skip
        rows = pnl.GetPnl(pb.GetPnlRequest(group_by=dimensions), metadata=OPS).rows
        for name in ("total_pnl_micros", "unrealised_pnl_micros", "gross_fee_micros", "rebate_micros", "fills"):
            assert sum(getattr(r, name) for r in rows) == getattr(total, name), (dimensions, name)


def pnl_call(pnl: pb_grpc.PnLReporterServiceStub, report: rpb.Report) -> pb.RecordFillResponse | None:
    """RecordFill; None when the books refused it (a failure that would leave an oversell)."""
    try:
        return pnl.RecordFill(pb.RecordFillRequest(report=report), metadata=OPS)
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, error
        return None


def notional_of(report: rpb.Report) -> int:
    return round(Decimal(report.execution.price) * report.execution.filled_size_micros)


def _at(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def _operations(mesh: MeshThread) -> list[rpb.Report]:
    stored = mesh.mesh.parts.bus.archive.read_after(0, ReportFilter(kinds=frozenset({rpb.REPORT_KIND_OPERATIONS})), 1000)
    return [rpb.Report.FromString(r.payload) for r in stored]


def test_any_window_adds_whole_spans_and_the_entries_at_its_edges_exactly(ledger) -> None:
    """Fills spread over five hours; windows cut anywhere (inside one hour, across several, open at
    either end) answer what the journal's entries in them sum to."""
    mesh, pnl = ledger
    rng = random.Random(7)
    for i in range(80):
        at = timedelta(minutes=rng.randrange(0, 300), seconds=rng.randrange(60))
        report = fill(rng.choice(["mm-1", "mm-2"]), YES, BUY, f"0.{rng.randrange(10, 90)}", "1", fee=rng.randrange(100), at=at)
        pnl.RecordFill(pb.RecordFillRequest(report=_trade(report, f"w{i}")), metadata=OPS)
    with mesh.mesh.parts.engine.connect() as conn:
        entries = conn.execute(select(pnl_entries.c.bot_slug, pnl_entries.c.at_us, pnl_entries.c.fee_micros,
                                      pnl_entries.c.notional_micros)).all()  # fmt: skip
    for _ in range(40):
        since = T0 + timedelta(minutes=rng.randrange(-30, 330), seconds=rng.randrange(60))
        until = since + timedelta(minutes=rng.choice([1, 17, 59, 61, 150, 400]))
        request = pb.GetPnlRequest(group_by=[pb.PNL_DIMENSION_BOT])
        if rng.random() < 0.8:
            request.since.CopyFrom(_at(since))
        if rng.random() < 0.8:
            request.until.CopyFrom(_at(until))
        low = request.since.ToMicroseconds() if request.HasField("since") else -1
        high = request.until.ToMicroseconds() if request.HasField("until") else 2**62
        expected: dict[str, tuple[int, int, int]] = {}
        for bot, at_us, fee, notional in entries:
            if low <= at_us < high:
                count, fees, traded = expected.get(bot, (0, 0, 0))
                expected[bot] = (count + 1, fees + fee, traded + notional)
        answer = pnl.GetPnl(request, metadata=OPS)
        assert {r.bot_slug: (r.fills, r.gross_fee_micros, r.notional_micros) for r in answer.rows} == expected, request
