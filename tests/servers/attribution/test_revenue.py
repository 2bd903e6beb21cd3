"""AttributionRevenueReporter: the exchange's builder fees and rebates beside our fills, quarantine
left out with its reasons, published SEVEN_YEARS into the compliance ledger."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from polytraders.governance.v1 import attribution_pb2 as pb
from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk import FailedPreconditionError, InvalidArgumentError, NotFoundError
from polytraders.servers.runtime import ledger
from tests.sdk.test_publisher import archived
from tests.servers.attribution.day import DAY_TRADES, MARKET_A, MARKET_B, WINDOW, Desk, DeskFactory, Trade

MAKER = "0x" + "5a" * 20
REVENUE_DAY = 20261123


def serve_rebates(desk: Desk, rows: list[dict[str, Any]], *, status: int = 200) -> None:
    """`GET /rebates/current`: rows for the asked date and maker address, as the CLOB sends them."""

    def handle(query: dict[str, list[str]]) -> tuple[int, Any]:
        if status != 200:
            return status, {"error": "unavailable"}
        return 200, [
            r
            for r in rows
            if r["date"] == query["date"][0] and r["maker_address"] == query["maker_address"][0]
        ]

    desk.clob.routes[("GET", "/rebates/current")] = handle


def rebate(market: str, amount: str) -> dict[str, Any]:
    return {"date": "2026-11-23", "condition_id": market, "asset_address": "0x" + "c0" * 20,
            "maker_address": MAKER, "rebated_fees_usdc": amount}  # fmt: skip


REVENUE_SETTINGS = {"maker_addresses": (MAKER,), "builder_taker_fee_bps": 10, "builder_maker_fee_bps": 5}


def test_a_day_of_revenue_with_a_quarantined_trade_left_out_then_corrected(desk: DeskFactory) -> None:
    stranger = Trade("t-9", MARKET_A, "10", "0.5", timedelta(hours=8), fee_usdc="0.005")
    day = desk([*DAY_TRADES, stranger], volume_drift_tolerance="0.5", **REVENUE_SETTINGS)
    serve_rebates(day, [rebate(MARKET_A, "0.0125"), rebate(MARKET_B, "0.003")])
    day.log(DAY_TRADES)

    response = day.operator.revenue.report_day(REVENUE_DAY)  # reconciles the day first

    assert response.published, response.failure
    report = response.report
    # Builder fees the exchange reported: 0.2 + 0.05 (market A) + 0.08 + 0.08 (B); t-9 is held back.
    assert report.builder_fee_micros == 410_000
    # Ours at 10 bps taker / 5 bps maker: A 100 × 0.001 + 50 × 0.0005 = 0.125; B 2 × 40 × 0.001 = 0.08.
    assert report.expected_builder_fee_micros == 205_000
    assert (report.exchange_rebate_micros, report.internal_rebate_micros) == (15_500, 12_500)
    assert report.counted_trades == 4
    (excluded,) = report.exclusions
    assert (excluded.record_key, excluded.builder_fee_micros) == ("t-9:TAKER", 5_000)
    assert excluded.kind == pb.DISCREPANCY_KIND_UNKNOWN_TRADE
    assert "no bot of ours logged that fill" in excluded.reason
    markets = {m.condition_id: m for m in report.markets}
    assert (markets[MARKET_A].builder_fee_micros, markets[MARKET_B].builder_fee_micros) == (250_000, 160_000)
    assert sum(m.builder_fee_micros for m in report.markets) == report.builder_fee_micros
    assert "1 records were excluded by quarantine, withholding 0.005000 pUSD" in report.explanation
    # twice what our rates imply is beyond the 50 % tolerance; the rebates (24 % apart) are not
    assert list(report.differences) == [
        "builder fees: the exchange reported 0.410000 pUSD, our fills imply 0.205000 pUSD"
    ]
    alerts = [r.operations for r in archived(day.database_url, "governance-alerts")]
    assert [(a.alert_key, a.severity) for a in alerts if a.component == "attribution-revenue"] == [
        ("attribution.revenue:20261123", rpb.SEVERITY_WARNING)
    ]
    assert day.operator.revenue.get(REVENUE_DAY) == report

    (published,) = [r for r in archived(day.database_url, "attribution-revenue") if r.HasField("settlement")]
    assert published.header.report_id == report.report_id
    assert published.header.retention == rpb.RETENTION_SEVEN_YEARS
    assert (published.settlement.record_type, published.settlement.gross_fee_micros) == (
        "attribution.revenue.daily",
        410_000,
    )
    assert published.settlement.period_start.ToDatetime().date().isoformat() == "2026-11-23"
    assert '"record_key":"t-9:TAKER"' in published.settlement.details_json
    assert ledger.verify(day.mesh.mesh.parts.engine, "attribution-revenue", False).ok

    for case in day.operator.attribution.quarantine():
        day.operator.attribution.release(case.case_id, "t-9 was a manual trade from the desk console")
    corrected = day.operator.revenue.report_day(REVENUE_DAY).report

    assert corrected.corrects_report_id == report.report_id
    assert (corrected.builder_fee_micros, corrected.counted_trades, len(corrected.exclusions)) == (
        415_000,
        5,
        0,
    )
    assert day.operator.revenue.get(REVENUE_DAY) == corrected
    assert day.operator.revenue.list(20261101, 20261130) == [corrected]
    assert len(day.builder_requests()) == 1  # the day's reconciliation is reused, not run again
    # read-only by construction: nothing but the two report reads ever reached the exchange
    assert set(day.clob.paths()) == {"GET /builder/trades", "GET /rebates/current"}


def test_revenue_is_not_reported_when_the_exchange_cannot_be_read(desk: DeskFactory) -> None:
    day = desk(DAY_TRADES, clob_attempts=2, **REVENUE_SETTINGS)
    serve_rebates(day, [], status=500)
    day.log(DAY_TRADES)

    response = day.operator.revenue.report_day(REVENUE_DAY)

    assert not response.published
    assert "rebates could not be read" in response.failure and "HTTP 500" in response.failure
    with pytest.raises(NotFoundError):
        day.operator.revenue.get(REVENUE_DAY)
    alerts = [r.operations for r in archived(day.database_url, "governance-alerts")]
    assert [(a.component, a.severity) for a in alerts] == [("attribution-revenue", rpb.SEVERITY_ERROR)]


BAD_DAYS = [
    ("not a date", lambda g: g.revenue.report_day(20261340), InvalidArgumentError, "day"),
    ("zero", lambda g: g.revenue.get(0), InvalidArgumentError, "day"),
    ("backwards", lambda g: g.revenue.list(20261130, 20261101), InvalidArgumentError, "to_day"),
    ("bad from", lambda g: g.revenue.list(2026, 20261101), InvalidArgumentError, "from_day"),
    ("too long", lambda g: g.revenue.list(20200101, 20261101), InvalidArgumentError, "to_day"),
    ("not ended", lambda g: g.revenue.report_day(20261124), FailedPreconditionError, ""),
    ("nothing yet", lambda g: g.revenue.get(20261123), NotFoundError, ""),
]


@pytest.mark.parametrize(("case", "call", "error", "field"), BAD_DAYS, ids=[c[0] for c in BAD_DAYS])
def test_bad_days_name_the_field_and_publish_nothing(desk: DeskFactory, case, call, error, field) -> None:
    day = desk(DAY_TRADES, **REVENUE_SETTINGS)
    with pytest.raises(error) as refused:
        call(day.operator)
    if field:
        assert [v.field for v in refused.value.violations] == [field]
    assert archived(day.database_url, "attribution-revenue") == []
    assert day.builder_requests() == []


def test_without_a_builder_code_attribution_refuses_to_run(desk: DeskFactory) -> None:
    day = desk(DAY_TRADES, builder_code="")
    with pytest.raises(FailedPreconditionError, match="POLYTRADERS_BUILDER_CODE"):
        day.operator.attribution.reconcile(*WINDOW)
    with pytest.raises(FailedPreconditionError, match="POLYTRADERS_BUILDER_CODE"):
        day.operator.revenue.report_day(REVENUE_DAY)
