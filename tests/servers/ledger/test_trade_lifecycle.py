"""A fill through the exchange's trade lifecycle: booked on its first status, adjusted when a later
one changes its fee, reversed completely when it FAILED, and unmoved by redeliveries."""

from __future__ import annotations

from datetime import timedelta

import grpc
import pytest

from polytraders.governance.v1 import ledger_pb2 as pb
from polytraders.governance.v1 import ledger_pb2_grpc as pb_grpc
from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk import ManualClock
from polytraders.servers.runtime.archive import ReportFilter
from polytraders.servers.runtime.mesh import MeshThread
from tests.conftest import start_mesh
from tests.servers.ledger.test_pnl import BUY, MARKET, OPS, SELL, YES, _trade, fill


@pytest.fixture
def ledger(database_url: str, clock: ManualClock):  # type: ignore[no-untyped-def]
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
def test_each_status_of_a_trade_books_what_it_changes(ledger, case, statuses, after, booked) -> None:  # type: ignore[no-untyped-def]
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


def test_a_failed_buy_replays_the_sales_after_it(ledger) -> None:  # type: ignore[no-untyped-def]
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


def test_a_failure_that_would_leave_a_sale_of_tokens_never_held_is_refused(ledger) -> None:  # type: ignore[no-untyped-def]
    _, pnl = ledger
    bought = _trade(fill("mm-1", YES, BUY, "0.40", "10"), "A")
    pnl.RecordFill(pb.RecordFillRequest(report=bought), metadata=OPS)
    pnl.RecordFill(pb.RecordFillRequest(report=_trade(fill("mm-1", YES, SELL, "0.50", "10"), "S")), metadata=OPS)
    with pytest.raises(grpc.RpcError) as refused:
        pnl.RecordFill(pb.RecordFillRequest(report=_trade(bought, "A", "FAILED")), metadata=OPS)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "never held" in str(refused.value.details())
    assert pnl.GetPnl(pb.GetPnlRequest(), metadata=OPS).total.fills == 2  # nothing changed


def test_hex_identifiers_are_one_key_in_any_case(ledger) -> None:  # type: ignore[no-untyped-def]
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
