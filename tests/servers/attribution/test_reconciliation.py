"""Reconciliation scenarios over gRPC: our fills on the bus, the exchange's report from a local CLOB
read by the real polymarket-client, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from polytraders.governance.v1 import attribution_pb2 as pb
from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk import (
    FailedPreconditionError,
    Governance,
    InvalidArgumentError,
    NotFoundError,
    OrderIntent,
    PermissionDeniedError,
)
from polytraders.sdk.audit import _timestamp
from polytraders.servers.attribution.store import exchange_trades
from tests.sdk.test_publisher import archived
from tests.servers.attribution.day import (
    CODE,
    DAY,
    DAY_TRADES,
    MARKET_A,
    OTHER_CODE,
    WINDOW,
    Desk,
    DeskFactory,
    Trade,
    fill_report,
)
from tests.support.clob import serve_builder_trades

KIND = pb.DiscrepancyKind


def kinds(result: pb.Reconciliation) -> list[str]:
    return sorted(KIND.Name(d.kind).removeprefix("DISCREPANCY_KIND_") for d in result.discrepancies)


def operations(desk: Desk, slug: str) -> list[rpb.OperationsReport]:
    return [r.operations for r in archived(desk.database_url, slug) if r.HasField("operations")]


def settlements(desk: Desk, record_type: str) -> list[rpb.Report]:
    return [
        r
        for r in archived(desk.database_url, "builder-attribution")
        if r.settlement.record_type == record_type
    ]


def test_a_clean_day_agrees_and_quarantines_nothing(desk: DeskFactory) -> None:
    day = desk(DAY_TRADES)
    day.log(DAY_TRADES)
    day.log(
        [Trade("paper-1", MARKET_A, "10", "0.5", timedelta(hours=5))], mode=rpb.MODE_PAPER
    )  # never on the exchange
    day.log(
        [Trade("t-0", MARKET_A, "10", "0.5", timedelta(seconds=-1))]
    )  # the day before: outside the window

    result = day.operator.attribution.reconcile(*WINDOW)

    assert result.status == pb.RECONCILIATION_STATUS_CLEAN, result.discrepancies
    assert (result.local_fills, result.exchange_trades, result.duplicate_trades) == (4, 4, 0)
    assert result.local_volume_micros == result.exchange_volume_micros == 230_000_000
    assert result.volume_drift == "0.000000"
    assert day.operator.attribution.quarantine() == []
    start = int(DAY.timestamp())
    assert day.builder_requests() == [
        {"builder_code": [CODE], "after": [str(start - 1)], "before": [str(start + 86_400)]}
    ]
    assert day.operator.attribution.reconciliation(result.reconciliation_id) == result
    reported = operations(day, "builder-attribution")
    assert [(r.event, r.severity) for r in reported] == [("attribution.reconcile", rpb.SEVERITY_INFO)]
    assert reported[0].metrics["reconciliation_id"] == result.reconciliation_id
    assert operations(day, "governance-alerts") == []


def test_a_fill_missing_the_code_is_quarantined_and_alerted(desk: DeskFactory) -> None:
    uncoded = Trade("t-5", MARKET_A, "40", "0.5", timedelta(hours=6), bot="exec-bot-2", code="")
    day = desk(DAY_TRADES)  # the exchange saw no code on t-5, so it is not in its report
    day.log([*DAY_TRADES, uncoded])

    result = day.operator.attribution.reconcile(*WINDOW)

    assert result.status == pb.RECONCILIATION_STATUS_DISCREPANCIES
    assert kinds(result) == ["MISSING_CODE"]
    (found,) = result.discrepancies
    assert (found.trade_id, found.liquidity, found.bot_slug, found.condition_id) == (
        "t-5",
        "TAKER",
        "exec-bot-2",
        MARKET_A,
    )
    assert "carried no builder code" in found.explanation and "builder fee is lost" in found.explanation
    (case,) = day.operator.attribution.quarantine()
    assert (case.case_id, list(case.record_keys), case.released) == (found.case_id, ["t-5:TAKER"], False)
    (alert,) = operations(day, "governance-alerts")
    assert (alert.event, alert.severity, alert.component) == (
        "alert.trigger",
        rpb.SEVERITY_WARNING,
        "builder-attribution",
    )
    assert alert.alert_key.startswith("attribution.reconcile:2026-11-23T00:00:00Z")
    (record,) = settlements(day, "attribution.quarantine")
    assert record.header.retention == rpb.RETENTION_SEVEN_YEARS
    assert found.case_id in record.settlement.details_json


def test_a_fill_report_without_a_code_takes_the_code_of_its_tag(desk: DeskFactory) -> None:
    """Execution bots may leave the code off the fill; the SDK's tag report of the same trace names it."""
    day = desk(DAY_TRADES)
    day.log(DAY_TRADES[1:])
    day.log([dataclasses.replace(DAY_TRADES[0], code="")], trace_id="trace-t1")
    tag = Governance(day.mesh.address, token="dev-bot-token", bot_slug="demo-bot", builder_code=CODE)
    tag.tag_order(OrderIntent.limit("101", "BUY", Decimal("0.5"), Decimal("200"), trace_id="trace-t1"))
    assert tag.reports.flush(timeout=10)
    tag.close()

    result = day.operator.attribution.reconcile(*WINDOW)

    assert result.status == pb.RECONCILIATION_STATUS_CLEAN, result.discrepancies
    (fill,) = [f for f in day.operator.attribution.fills() if f.trade_id == "t-1"]
    assert (fill.builder_code, fill.code_source) == (CODE, "tag")


def test_an_exchange_trade_unknown_to_us_is_quarantined(desk: DeskFactory) -> None:
    stranger = Trade("t-9", MARKET_A, "10", "0.5", timedelta(hours=8))
    day = desk([*DAY_TRADES, stranger])
    day.log(DAY_TRADES)

    result = day.operator.attribution.reconcile(*WINDOW)

    assert "UNKNOWN_TRADE" in kinds(result)
    (unknown,) = [d for d in result.discrepancies if d.kind == KIND.DISCREPANCY_KIND_UNKNOWN_TRADE]
    assert (unknown.trade_id, unknown.exchange_value, unknown.bot_slug) == ("t-9", "10000000@0.5", "")
    assert "no bot of ours logged that fill" in unknown.explanation
    # one more attributed fill in market A than we logged: its count is off as well
    assert kinds(result) == ["ORDER_COUNT_MISMATCH", "UNKNOWN_TRADE", "VOLUME_DRIFT", "VOLUME_DRIFT"]
    held = {key for case in day.operator.attribution.quarantine() for key in case.record_keys}
    assert "t-9:TAKER" in held


# The exchange reports 0.5 % more notional in market A than our fills show (a price-improvement
# it booked that our log did not): 150.75 vs 150 pUSD; over the day 230.75 vs 230 (0.33 %).
DRIFTED = [dataclasses.replace(DAY_TRADES[0], size_usdc="100.75"), *DAY_TRADES[1:]]


def test_a_half_percent_drift_under_tolerance_is_clean(desk: DeskFactory) -> None:
    day = desk(DRIFTED, volume_drift_tolerance="0.01")
    day.log(DAY_TRADES)

    result = day.operator.attribution.reconcile(*WINDOW)

    assert result.status == pb.RECONCILIATION_STATUS_CLEAN, result.discrepancies
    assert (result.local_volume_micros, result.exchange_volume_micros) == (230_000_000, 230_750_000)
    assert result.volume_drift == "0.003261"


def test_a_half_percent_drift_over_tolerance_quarantines_the_market_and_the_day(desk: DeskFactory) -> None:
    day = desk(DRIFTED, volume_drift_tolerance="0.001")
    day.log(DAY_TRADES)

    result = day.operator.attribution.reconcile(*WINDOW)

    assert kinds(result) == ["VOLUME_DRIFT", "VOLUME_DRIFT"]
    market, total = result.discrepancies
    assert (market.condition_id, market.local_value, market.exchange_value) == (
        MARKET_A,
        "150000000",
        "150750000",
    )
    assert "drift 0.005000" in market.explanation
    assert (total.condition_id, total.local_value, total.exchange_value) == ("", "230000000", "230750000")
    cases = {c.case_id: sorted(c.record_keys) for c in day.operator.attribution.quarantine()}
    assert cases[market.case_id] == ["t-1:TAKER", "t-2:MAKER"]
    assert cases[total.case_id] == ["t-1:TAKER", "t-2:MAKER", "t-3:TAKER", "t-4:TAKER"]


def test_a_page_served_twice_counts_once(desk: DeskFactory) -> None:
    rows = [t.row() for t in DAY_TRADES]
    day = desk([*rows[:2], *rows[:2], *rows[2:]], page_size=2)
    day.log(DAY_TRADES)

    result = day.operator.attribution.reconcile(*WINDOW)

    assert result.status == pb.RECONCILIATION_STATUS_CLEAN, result.discrepancies
    assert (result.exchange_trades, result.duplicate_trades, result.pages) == (4, 2, 3)
    assert [q.get("next_cursor") for q in day.builder_requests()] == [None, ["Mg=="], ["NA=="]]


def test_an_exchange_500_is_retried_and_the_day_reconciles(desk: DeskFactory) -> None:
    day = desk(DAY_TRADES, failures=[500])
    day.log(DAY_TRADES)

    result = day.operator.attribution.reconcile(*WINDOW)

    assert result.status == pb.RECONCILIATION_STATUS_CLEAN, result.discrepancies
    assert (result.retries, len(day.builder_requests())) == (1, 2)


def test_an_exchange_down_all_window_fails_the_run_quarantines_nothing_and_alerts(desk: DeskFactory) -> None:
    day = desk(DAY_TRADES, failures=[503] * 10, clob_attempts=3)
    day.log(DAY_TRADES)

    result = day.operator.attribution.reconcile(*WINDOW)

    assert result.status == pb.RECONCILIATION_STATUS_FAILED
    assert "could not be read" in result.failure and "503" in result.failure
    assert (result.retries, len(day.builder_requests()), result.local_fills) == (2, 3, 4)
    assert list(result.discrepancies) == []
    assert day.operator.attribution.quarantine(include_released=True) == []
    (alert,) = operations(day, "governance-alerts")
    assert (alert.severity, alert.event) == (rpb.SEVERITY_ERROR, "alert.trigger")
    assert "FAILED" in alert.explanation and "nothing quarantined" in alert.explanation
    assert (
        day.operator.attribution.reconciliation(result.reconciliation_id).status
        == pb.RECONCILIATION_STATUS_FAILED
    )
    with day.mesh.mesh.parts.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(exchange_trades)).scalar_one() == 0


def test_a_partly_read_report_keeps_nothing_when_the_exchange_goes_down(desk: DeskFactory) -> None:
    day = desk(DAY_TRADES, page_size=2, clob_attempts=2)
    day.clob.routes[("GET", "/builder/trades")] = _first_page_then_down(
        day.clob.routes[("GET", "/builder/trades")]
    )
    day.log(DAY_TRADES)

    result = day.operator.attribution.reconcile(*WINDOW)

    assert (result.status, result.pages) == (pb.RECONCILIATION_STATUS_FAILED, 1)
    with day.mesh.mesh.parts.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(exchange_trades)).scalar_one() == 0


def _first_page_then_down(serve):
    def handle(query):
        return serve(query) if "next_cursor" not in query else (502, {"error": "bad gateway"})

    return handle


def test_an_operator_releases_a_case_with_a_reason_on_the_record(desk: DeskFactory) -> None:
    day = desk(DAY_TRADES)
    day.log([*DAY_TRADES, Trade("t-5", MARKET_A, "40", "0.5", timedelta(hours=6), code=OTHER_CODE)])
    (found,) = day.operator.attribution.reconcile(*WINDOW).discrepancies
    assert "carried builder code " + OTHER_CODE in found.explanation

    released = day.operator.attribution.release(found.case_id, "bot misconfigured; code fixed in deploy 412")

    assert (released.released, released.released_by) == (True, "dev-operator")
    assert released.release_reason == "bot misconfigured; code fixed in deploy 412"
    assert day.operator.attribution.quarantine() == []
    assert [c.case_id for c in day.operator.attribution.quarantine(include_released=True)] == [found.case_id]
    (record,) = settlements(day, "attribution.quarantine.release")
    assert "deploy 412" in record.settlement.explanation
    with pytest.raises(FailedPreconditionError):
        day.operator.attribution.release(found.case_id, "again")
    # found again by the next run: the same case, still released
    again = day.operator.attribution.reconcile(*WINDOW)
    assert [d.case_id for d in again.discrepancies] == [found.case_id]
    assert day.operator.attribution.quarantine() == []


def test_a_bot_reads_only_its_own_fills(desk: DeskFactory) -> None:
    day = desk(DAY_TRADES)
    day.log([*DAY_TRADES, Trade("t-7", MARKET_A, "1", "0.5", timedelta(hours=9), bot="demo-bot")])
    with Governance(day.mesh.address, token="dev-bot-token", bot_slug="demo-bot") as bot:
        assert [f.trade_id for f in bot.attribution.fills()] == ["t-7"]
    everything = day.operator.attribution.fills()
    assert [f.trade_id for f in everything] == ["t-4", "t-7", "t-3", "t-2", "t-1"]
    assert everything[-1].notional_micros == 100_000_000


BAD_RECONCILE = [
    ("window_start", dict(window_end=WINDOW[1]), "window_start"),
    ("window_end", dict(window_start=WINDOW[0]), "window_end"),
    ("backwards", dict(window_start=WINDOW[1], window_end=WINDOW[0]), "window_end"),
    ("too long", dict(window_start=DAY - timedelta(days=40), window_end=DAY), "window_end"),
]


@pytest.mark.parametrize(("case", "window", "field"), BAD_RECONCILE, ids=[c[0] for c in BAD_RECONCILE])
def test_a_bad_window_names_its_field_and_runs_nothing(
    desk: DeskFactory, case: str, window: dict, field: str
) -> None:
    day = desk(DAY_TRADES)
    request = pb.ReconcileRequest(**{k: _timestamp(v) for k, v in window.items()})
    with pytest.raises(InvalidArgumentError) as refused:
        day.operator.attribution._invoke(day.operator.attribution._rpc.Reconcile, request)
    assert [v.field for v in refused.value.violations] == [field]
    with (
        Governance(day.mesh.address, token="dev-bot-token", bot_slug="demo-bot") as bot,
        pytest.raises(PermissionDeniedError),
    ):
        bot.attribution.reconcile(*WINDOW)
    assert day.builder_requests() == []
    with pytest.raises(NotFoundError):
        day.operator.attribution.reconciliation("00000000-0000-0000-0000-000000000000")


BAD_READS = [
    ("limit", lambda g: g.attribution.fills(limit=5000), InvalidArgumentError, "limit"),
    ("quarantine limit", lambda g: g.attribution.quarantine(limit=-1), InvalidArgumentError, "limit"),
    (
        "reconciliation id",
        lambda g: g.attribution.reconciliation(""),
        InvalidArgumentError,
        "reconciliation_id",
    ),
    ("release case", lambda g: g.attribution.release("", "why"), InvalidArgumentError, "case_id"),
    ("release reason", lambda g: g.attribution.release("abc", "  "), InvalidArgumentError, "reason"),
    ("unknown case", lambda g: g.attribution.release("abc", "why"), NotFoundError, ""),
]


@pytest.mark.parametrize(("case", "call", "error", "field"), BAD_READS, ids=[c[0] for c in BAD_READS])
def test_bad_requests_name_the_field_and_change_nothing(desk: DeskFactory, case, call, error, field) -> None:
    day = desk(DAY_TRADES)
    day.log(DAY_TRADES)
    assert day.operator.attribution.reconcile(*WINDOW).status == pb.RECONCILIATION_STATUS_CLEAN
    with pytest.raises(error) as refused:
        call(day.operator)
    if field:
        assert [v.field for v in refused.value.violations] == [field]
    assert day.operator.attribution.quarantine(include_released=True) == []
    assert len(day.operator.attribution.fills()) == 4


def test_a_window_that_has_not_ended_is_refused(desk: DeskFactory) -> None:
    day = desk(DAY_TRADES)
    now = day.clock.now()
    with pytest.raises(FailedPreconditionError, match="reconcile a window once it is over"):
        day.operator.attribution.reconcile(now - timedelta(hours=1), now + timedelta(hours=1))
    assert day.builder_requests() == []


def test_reports_that_cannot_be_clob_fills_stay_out_of_the_log(desk: DeskFactory) -> None:
    day = desk(DAY_TRADES)
    day.log(DAY_TRADES)
    for bad in (dataclasses.replace(DAY_TRADES[0], trade_id="t-nan", price="NaN"),
                dataclasses.replace(DAY_TRADES[0], trade_id="t" * 200),
                dataclasses.replace(DAY_TRADES[0], trade_id="t-big", price="7")):  # fmt: skip
        day.operator.reports.publish_now([fill_report(bad, day.clock)])

    result = day.operator.attribution.reconcile(*WINDOW)

    assert result.status == pb.RECONCILIATION_STATUS_CLEAN, result.discrepancies
    assert sorted(f.trade_id for f in day.operator.attribution.fills()) == ["t-1", "t-2", "t-3", "t-4"]


def test_a_report_that_pages_in_a_circle_fails_the_run(desk: DeskFactory) -> None:
    day = desk(DAY_TRADES, page_size=2)
    serve = day.clob.routes[("GET", "/builder/trades")]

    def circle(query):
        status, body = serve({k: v for k, v in query.items() if k != "next_cursor"})
        return status, {**body, "next_cursor": "Mg=="}

    day.clob.routes[("GET", "/builder/trades")] = circle
    day.log(DAY_TRADES)

    result = day.operator.attribution.reconcile(*WINDOW)

    assert result.status == pb.RECONCILIATION_STATUS_FAILED and "repeated cursor 'Mg=='" in result.failure
    assert day.operator.attribution.quarantine(include_released=True) == []


def test_a_released_case_does_not_let_new_records_through(desk: DeskFactory) -> None:
    stranger = Trade("t-9", MARKET_A, "10", "0.5", timedelta(hours=8))
    day = desk(DAY_TRADES + [stranger], volume_drift_tolerance="0.5")
    day.log(DAY_TRADES)
    first = day.operator.attribution.reconcile(*WINDOW)
    (count,) = [d for d in first.discrepancies if d.kind == KIND.DISCREPANCY_KIND_ORDER_COUNT_MISMATCH]
    day.operator.attribution.release(count.case_id, "t-9 explained")
    day.clob.routes.clear()
    serve_builder_trades(day.clob, [t.row() for t in [*DAY_TRADES, stranger,
                                                       Trade("t-10", MARKET_A, "10", "0.5", timedelta(hours=9))]])  # fmt: skip

    second = day.operator.attribution.reconcile(*WINDOW)

    (again,) = [d for d in second.discrepancies if d.kind == KIND.DISCREPANCY_KIND_ORDER_COUNT_MISMATCH]
    assert again.case_id != count.case_id
    held = {c.case_id: list(c.record_keys) for c in day.operator.attribution.quarantine()}
    assert held[again.case_id] == ["t-10:TAKER"]
