"""The attribution group's servicers, and how the group is built from the mesh's parts."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

from polymarket import PRODUCTION
from prometheus_client.core import Metric

from polytraders.clients.clob import ClobReader, RateLimit, RetryPolicy, environment_at
from polytraders.governance.v1 import attribution_pb2 as pb
from polytraders.governance.v1 import attribution_pb2_grpc as pb_grpc
from polytraders.sdk.clock import to_timestamp
from polytraders.sdk.tagging import BuilderCode
from polytraders.servers.runtime import auth
from polytraders.servers.runtime.config import ServerConfig
from polytraders.servers.runtime.errors import FailedPrecondition, InvalidArgument
from polytraders.servers.runtime.metrics import gauge
from polytraders.servers.runtime.parts import MeshParts
from polytraders.servers.runtime.reporter import GovernanceReporter
from polytraders.servers.runtime.requests import ServicerContext, instant, page_size
from polytraders.servers.runtime.server import ServiceBinding

from .builder_attribution import AttributionParts, AttributionSettings, BuilderAttribution
from .exchange import ReaderFactory
from .fill_log import FillLog, FillRecord
from .revenue import AttributionRevenue, RevenueSettings
from .store import AttributionStore

ATTRIBUTION_ACCESS = {
    "Reconcile": auth.OPERATE,
    "GetReconciliation": auth.READ,
    "ListFills": auth.READ,
    "ListQuarantine": auth.READ,
    "ReleaseQuarantine": auth.OPERATE,
}
REVENUE_ACCESS = {
    "ReportRevenue": auth.OPERATE,
    "GetRevenueReport": auth.READ,
    "ListRevenueReports": auth.READ,
}


def _fill_message(fill: FillRecord) -> pb.Fill:
    return pb.Fill(
        report_id=fill.report_id, bot_slug=fill.bot_slug, trade_id=fill.trade_id, liquidity=fill.liquidity,
        order_id=fill.order_id, condition_id=fill.condition_id, token_id=fill.token_id, side=fill.side,
        price=str(fill.price), size_micros=fill.size_micros, notional_micros=fill.notional_micros,
        fee_micros=fill.fee_micros, rebate_micros=fill.rebate_micros, builder_code=fill.builder_code,
        code_source=fill.code_source, matched_at=to_timestamp(fill.matched_at), trade_status=fill.trade_status,
    )  # fmt: skip


class BuilderAttributionServicer(pb_grpc.BuilderAttributionServiceServicer):
    def __init__(self, attribution: BuilderAttribution, store: AttributionStore) -> None:
        self._attribution = attribution
        self._store = store

    async def Reconcile(self, request: pb.ReconcileRequest, context: ServicerContext) -> pb.ReconcileResponse:
        result = await self._attribution.reconcile(
            instant(request.window_start, "window_start"), instant(request.window_end, "window_end")
        )
        return pb.ReconcileResponse(reconciliation=result)

    async def GetReconciliation(
        self, request: pb.GetReconciliationRequest, context: ServicerContext
    ) -> pb.GetReconciliationResponse:
        if not request.reconciliation_id:
            raise InvalidArgument.field("reconciliation_id", "is required")
        found = await asyncio.to_thread(self._store.reconciliation, request.reconciliation_id)
        return pb.GetReconciliationResponse(reconciliation=found)

    async def ListFills(self, request: pb.ListFillsRequest, context: ServicerContext) -> pb.ListFillsResponse:
        bot_slug = auth.current_principal().slug_to_read(request.bot_slug)
        limit = page_size(request.limit)
        log = self._attribution.fill_log
        await log.catch_up()
        found = await asyncio.to_thread(log.list, bot_slug, request.condition_id.lower(),
                                        instant(request.since, "since"), instant(request.until, "until"), limit)  # fmt: skip
        return pb.ListFillsResponse(fills=[_fill_message(f) for f in found])

    async def ListQuarantine(
        self, request: pb.ListQuarantineRequest, context: ServicerContext
    ) -> pb.ListQuarantineResponse:
        cases = await asyncio.to_thread(
            self._store.cases,
            request.include_released,
            request.condition_id.lower(),
            page_size(request.limit),
        )
        return pb.ListQuarantineResponse(cases=cases)

    async def ReleaseQuarantine(
        self, request: pb.ReleaseQuarantineRequest, context: ServicerContext
    ) -> pb.ReleaseQuarantineResponse:
        released = await self._attribution.release(
            request.case_id, auth.current_principal().name, request.reason
        )
        return pb.ReleaseQuarantineResponse(quarantine_case=released)


class AttributionRevenueServicer(pb_grpc.AttributionRevenueServiceServicer):
    def __init__(self, revenue: AttributionRevenue) -> None:
        self._revenue = revenue

    async def ReportRevenue(
        self, request: pb.ReportRevenueRequest, context: ServicerContext
    ) -> pb.ReportRevenueResponse:
        return await self._revenue.report_day(request.day)

    async def GetRevenueReport(
        self, request: pb.GetRevenueReportRequest, context: ServicerContext
    ) -> pb.GetRevenueReportResponse:
        return pb.GetRevenueReportResponse(report=await self._revenue.report(request.day))

    async def ListRevenueReports(
        self, request: pb.ListRevenueReportsRequest, context: ServicerContext
    ) -> pb.ListRevenueReportsResponse:
        return pb.ListRevenueReportsResponse(
            reports=await self._revenue.reports(request.from_day, request.to_day)
        )


def previous_day(moment: datetime) -> datetime:
    """The UTC day before the one `moment` falls in, as its midnight."""
    midnight = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight - timedelta(days=1)


def clob_readers(config: ServerConfig) -> ReaderFactory:
    """A fresh adapter per run (its page and retry counts are that run's), one rate limit for all."""
    environment = environment_at(config.clob_url) if config.clob_url else PRODUCTION
    retry = RetryPolicy(attempts=config.clob_attempts, backoff_seconds=config.clob_backoff_seconds)
    rate_limit = RateLimit(config.clob_requests_per_second)
    return lambda: ClobReader(environment, retry=retry, rate_limit=rate_limit)


def attribution_settings(config: ServerConfig) -> tuple[AttributionSettings, RevenueSettings]:
    """Checked at start-up: a bad value stops the server with the setting named."""
    code = str(BuilderCode(config.builder_code)) if config.builder_code else ""
    try:
        tolerance = Decimal(config.volume_drift_tolerance)
    except InvalidOperation:
        tolerance = Decimal(-1)
    if not tolerance.is_finite() or tolerance < 0:
        raise ValueError(
            f"volume_drift_tolerance must be a non-negative decimal, got {config.volume_drift_tolerance!r}"
        )
    for bps in (config.builder_taker_fee_bps, config.builder_maker_fee_bps):
        if not 0 <= bps <= 10_000:
            raise ValueError(f"builder fee rates are basis points between 0 and 10000, got {bps}")
    return (
        AttributionSettings(code, tolerance),
        RevenueSettings(
            config.maker_addresses, config.builder_taker_fee_bps, config.builder_maker_fee_bps, tolerance
        ),
    )


def attribution_bindings(parts: MeshParts) -> list[ServiceBinding]:
    settings, revenue_settings = attribution_settings(parts.config)
    store = AttributionStore(parts.engine)
    shared = AttributionParts(store, clob_readers(parts.config), parts.clock, parts.alerts)
    attribution = BuilderAttribution(FillLog(parts.engine, parts.bus.archive), shared, settings,
                                     GovernanceReporter(parts.bus, "builder-attribution", parts.clock))  # fmt: skip
    revenue = AttributionRevenue(attribution, shared, revenue_settings,
                                 GovernanceReporter(parts.bus, "attribution-revenue", parts.clock))  # fmt: skip

    async def reconcile_previous_day(arguments: Mapping[str, str], scheduled: datetime) -> str:
        start = previous_day(scheduled)
        result = await attribution.reconcile(start, start + timedelta(days=1))
        status = pb.ReconciliationStatus.Name(result.status).removeprefix("RECONCILIATION_STATUS_")
        if result.status == pb.RECONCILIATION_STATUS_FAILED:
            raise FailedPrecondition(
                f"reconciliation {result.reconciliation_id} of {start:%Y-%m-%d} FAILED: {result.failure}"
            )
        return f"reconciliation {result.reconciliation_id} of {start:%Y-%m-%d}: {status}, {len(result.discrepancies)} discrepancies"

    async def revenue_previous_day(arguments: Mapping[str, str], scheduled: datetime) -> str:
        day = int(f"{previous_day(scheduled):%Y%m%d}")
        response = await revenue.report_day(day)
        if not response.published:
            raise FailedPrecondition(f"revenue for {day} not reported: {response.failure}")
        return f"revenue for {day}: report {response.report.report_id}"

    def held() -> Iterator[Metric]:
        yield gauge("polytraders_quarantined_records", "Records held back from revenue now, by the kind of their case.",
                    ["kind"], [((kind.lower(),), count) for kind, count in sorted(store.held_records().items())])  # fmt: skip

    parts.metrics.state(held)
    parts.commands["attribution.reconcile"] = reconcile_previous_day
    parts.commands["attribution.revenue"] = revenue_previous_day
    return [
        ServiceBinding.of(pb, "BuilderAttributionService",
                          BuilderAttributionServicer(attribution, store), ATTRIBUTION_ACCESS),
        ServiceBinding.of(pb, "AttributionRevenueService",
                          AttributionRevenueServicer(revenue), REVENUE_ACCESS),
    ]  # fmt: skip
