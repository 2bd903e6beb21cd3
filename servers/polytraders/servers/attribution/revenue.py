"""AttributionRevenueReporter: a day's builder fees and maker rebates, the exchange's figures beside ours.

The exchange's figures are what counts (its builder report as the day's reconciliation read it,
and its rebate endpoint); our fills give the expected figures beside them. Records held by an
unreleased quarantine case are left out of both, and the report lists each with its reason. The
report is a SEVEN_YEARS SettlementReport ("attribution.revenue.daily"), so it is in the
compliance ledger; producing a day again publishes a correction naming the report it replaces.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction

from google.protobuf import json_format

from polytraders.governance.v1 import attribution_pb2 as pb
from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk.clock import to_timestamp
from polytraders.sdk.config import canonical_json
from polytraders.servers.runtime.alerts import Alert
from polytraders.servers.runtime.errors import FailedPrecondition, InvalidArgument, NotFound
from polytraders.servers.runtime.reporter import GovernanceReporter

from .builder_attribution import AttributionParts, AttributionService, BuilderAttribution
from .exchange import ExchangeUnavailable, describe, rebates_by_market
from .fill_log import FillRecord
from .reconcile import ExchangeTrade, Kind, beyond, is_failed
from .store import KIND_NUMBERS, Exclusion

COMPONENT = "attribution-revenue"
RECORD_TYPE = "attribution.revenue.daily"


@dataclass(frozen=True)
class RevenueSettings:
    maker_addresses: tuple[str, ...]
    """Our makers' addresses, whose rebates the exchange reports per day."""
    taker_fee_bps: int
    """Our builder fee on taker fills, in basis points of notional."""
    maker_fee_bps: int
    """Our builder fee on maker fills."""
    tolerance: Decimal = Decimal("0.001")
    """How far the exchange's figures may stray from ours (a share of ours) before it is flagged."""


def parse_day(day: int, field: str = "day") -> datetime:
    try:
        if not 20000101 <= day <= 99991230:
            raise ValueError(day)
        return datetime(day // 10000, day // 100 % 100, day % 100, tzinfo=UTC)
    except ValueError:
        raise InvalidArgument.field(
            field, f"must be a UTC day as YYYYMMDD (2000 to 9999), got {day}"
        ) from None


def pusd(micros: int) -> str:
    return f"{Decimal(micros).scaleb(-6):f} pUSD"


def builder_fee(fill: FillRecord, settings: RevenueSettings) -> int:
    bps = settings.taker_fee_bps if fill.liquidity == "TAKER" else settings.maker_fee_bps
    return int((Decimal(fill.notional_micros) * bps / 10_000).to_integral_value(ROUND_HALF_EVEN))


def compute_revenue(
    day: int,
    builder_code: str,
    reconciliation_id: str,
    trades: list[ExchangeTrade],
    fills: list[FillRecord],
    exchange_rebates: dict[str, int],
    exclusions: dict[str, Exclusion],
    settings: RevenueSettings,
) -> pb.RevenueReport:
    """The day's figures; pure, so every number in a report can be recomputed from its inputs."""
    markets: defaultdict[str, pb.MarketRevenue] = defaultdict(pb.MarketRevenue)
    excluded: list[pb.RevenueExclusion] = []
    for trade in trades:
        if is_failed(trade.status):
            continue
        held = exclusions.get(trade.key)
        if held:
            excluded.append(pb.RevenueExclusion(
                record_key=trade.key, case_id=held.case_id, kind=KIND_NUMBERS[Kind(held.kind)], reason=held.reason,
                builder_fee_micros=trade.builder_fee_micros,
            ))  # fmt: skip
            continue
        market = markets[trade.condition_id]
        market.builder_fee_micros += trade.builder_fee_micros
        market.trades += 1
    listed = {e.record_key for e in excluded}
    for fill in fills:
        if is_failed(fill.trade_status):
            continue
        held = exclusions.get(fill.key)
        if held:
            if fill.key not in listed:
                listed.add(fill.key)
                excluded.append(pb.RevenueExclusion(record_key=fill.key, case_id=held.case_id,
                                                    kind=KIND_NUMBERS[Kind(held.kind)], reason=held.reason))  # fmt: skip
            continue
        market = markets[fill.condition_id]
        if fill.builder_code == builder_code:
            market.expected_builder_fee_micros += builder_fee(fill, settings)
        if fill.liquidity == "MAKER":
            market.internal_rebate_micros += fill.rebate_micros
    for condition_id, rebate in exchange_rebates.items():
        markets[condition_id].exchange_rebate_micros += rebate
    report = pb.RevenueReport(day=day, builder_code=builder_code, reconciliation_id=reconciliation_id)
    for condition_id in sorted(markets):
        market = markets[condition_id]
        market.condition_id = condition_id
        report.markets.append(market)
        report.builder_fee_micros += market.builder_fee_micros
        report.expected_builder_fee_micros += market.expected_builder_fee_micros
        report.exchange_rebate_micros += market.exchange_rebate_micros
        report.internal_rebate_micros += market.internal_rebate_micros
        report.counted_trades += market.trades
    report.exclusions.extend(sorted(excluded, key=lambda e: e.record_key))
    report.differences.extend(differences(report, settings))
    report.explanation = explain(report)
    return report


def differences(report: pb.RevenueReport, settings: RevenueSettings) -> list[str]:
    """Where the exchange's figures and ours disagree beyond the tolerance (only what both sides measure)."""
    tolerance = Fraction(settings.tolerance)
    found = []
    if (settings.taker_fee_bps or settings.maker_fee_bps) and beyond(
        tolerance, report.expected_builder_fee_micros, report.builder_fee_micros
    ):
        found.append(f"builder fees: the exchange reported {pusd(report.builder_fee_micros)}, our fills imply "
                     f"{pusd(report.expected_builder_fee_micros)}")  # fmt: skip
    if settings.maker_addresses and beyond(
        tolerance, report.internal_rebate_micros, report.exchange_rebate_micros
    ):
        found.append(f"maker rebates: the exchange reported {pusd(report.exchange_rebate_micros)}, our fills accrued "
                     f"{pusd(report.internal_rebate_micros)}")  # fmt: skip
    return found


def explain(report: pb.RevenueReport) -> str:
    day = f"{report.day // 10000:04d}-{report.day // 100 % 100:02d}-{report.day % 100:02d}"
    text = (
        f"On {day} (UTC) the exchange reported {pusd(report.builder_fee_micros)} of builder fees on "
        f"{report.counted_trades} trades carrying builder code {report.builder_code}; our fills imply "
        f"{pusd(report.expected_builder_fee_micros)} at the configured rates (difference "
        f"{pusd(report.builder_fee_micros - report.expected_builder_fee_micros)}). Maker rebates: the exchange "
        f"reported {pusd(report.exchange_rebate_micros)}, our fills accrued {pusd(report.internal_rebate_micros)}."
    )
    if report.differences:
        text += f" Beyond tolerance: {'; '.join(report.differences)}."
    if not report.exclusions:
        return text + " Nothing was excluded by quarantine."
    withheld = sum(e.builder_fee_micros for e in report.exclusions)
    reasons = "; ".join(
        f"{e.record_key} ({pb.DiscrepancyKind.Name(e.kind).removeprefix('DISCREPANCY_KIND_')}, case {e.case_id})"
        for e in report.exclusions[:20]
    )
    more = f"; and {len(report.exclusions) - 20} more" if len(report.exclusions) > 20 else ""
    return (
        text + f" {len(report.exclusions)} records were excluded by quarantine, withholding "
        f"{pusd(withheld)} of reported builder fees until an operator releases them: {reasons}{more}."
    )


class AttributionRevenue(AttributionService):
    def __init__(
        self, attribution: BuilderAttribution, parts: AttributionParts, settings: RevenueSettings,
        reporter: GovernanceReporter,
    ) -> None:  # fmt: skip
        super().__init__(parts, reporter)
        self._attribution = attribution
        self._settings = settings

    async def report_day(self, day: int) -> pb.ReportRevenueResponse:
        start = parse_day(day)
        end = start + timedelta(days=1)
        if end > self._clock.now():
            raise FailedPrecondition(
                f"day {day} has not ended yet (UTC); its revenue can be reported from {end:%Y-%m-%d}"
            )
        code = self._attribution.builder_code
        async with self._running:
            reconciliation = await asyncio.to_thread(self._store.latest_reconciliation, start, end)
            if reconciliation is None:
                reconciliation = await self._attribution.reconcile(start, end)
            if reconciliation.status == pb.RECONCILIATION_STATUS_FAILED:
                return await self._failed(day, reconciliation.failure)
            await self._attribution.fill_log.catch_up()
            try:
                report = await asyncio.to_thread(self._compute, day, code, reconciliation.reconciliation_id)
            except ExchangeUnavailable as error:
                return await self._failed(day, f"the exchange's rebates could not be read: {describe(error)}")
            previous = await asyncio.to_thread(self._store.revenue_reports, day, day)
            if previous:
                report.corrects_report_id = previous[0].report_id
            produced = self._clock.now()
            report.produced_at.CopyFrom(to_timestamp(produced))
            details = json_format.MessageToDict(report, preserving_proto_field_name=True)
            report.report_id = await self._reporter.record(
                RECORD_TYPE, code, report.explanation, canonical_json(details),
                gross_fee_micros=report.builder_fee_micros, rebate_micros=report.exchange_rebate_micros,
                period_start=to_timestamp(start), period_end=to_timestamp(end), corrects_report_id=report.corrects_report_id,
                metrics={"excluded_records": str(len(report.exclusions)), "counted_trades": str(report.counted_trades),
                         "expected_builder_fee_micros": str(report.expected_builder_fee_micros),
                         "internal_rebate_micros": str(report.internal_rebate_micros)},
            )  # fmt: skip
            await asyncio.to_thread(self._store.save_revenue, report)
        if report.differences:
            await self._alerts.send(Alert(COMPONENT, f"attribution.revenue:{day}", rpb.SEVERITY_WARNING,
                                          f"revenue for {day} disagrees with our fills: {'; '.join(report.differences)}",
                                          {"report_id": report.report_id}))  # fmt: skip
        return pb.ReportRevenueResponse(published=True, report=report)

    def _compute(self, day: int, code: str, reconciliation_id: str) -> pb.RevenueReport:
        start = parse_day(day)
        date = f"{start:%Y-%m-%d}"
        reader = self._exchange()
        try:
            rebates: dict[str, int] = defaultdict(int)
            for maker in self._settings.maker_addresses:
                for market, amount in rebates_by_market(reader.current_rebates(date, maker)).items():
                    rebates[market] += amount
        finally:
            reader.close()
        trades = self._store.exchange_trades_of(reconciliation_id)
        fills = self._attribution.fill_log.window(start, start + timedelta(days=1))
        exclusions = self._store.exclusions([t.key for t in trades] + [f.key for f in fills])
        return compute_revenue(
            day, code, reconciliation_id, trades, fills, rebates, exclusions, self._settings
        )

    async def _failed(self, day: int, failure: str) -> pb.ReportRevenueResponse:
        explanation = f"revenue for {day} was not reported: {failure}"
        await self._alerts.send(
            Alert(COMPONENT, f"attribution.revenue:{day}", rpb.SEVERITY_ERROR, explanation)
        )
        return pb.ReportRevenueResponse(published=False, failure=failure)

    async def report(self, day: int) -> pb.RevenueReport:
        parse_day(day)
        reports = await asyncio.to_thread(self._store.revenue_reports, day, day)
        if not reports:
            raise NotFound(f"no revenue report for {day}")
        return reports[0]

    async def reports(self, from_day: int, to_day: int) -> list[pb.RevenueReport]:
        start, end = parse_day(from_day, "from_day"), parse_day(to_day, "to_day")
        if end < start:
            raise InvalidArgument.field("to_day", "must not be before from_day")
        if (end - start).days > 366:
            raise InvalidArgument.field("to_day", "the range may span at most 366 days")
        return await asyncio.to_thread(self._store.revenue_reports, from_day, to_day)
