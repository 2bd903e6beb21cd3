"""`gov.attribution` and `gov.revenue`: builder attribution, its quarantine, and daily revenue.

Reads are open to every caller (a bot lists only its own fills); reconciling, releasing a
quarantine case and reporting a day's revenue are operator acts.
"""

from __future__ import annotations

from datetime import datetime

from polytraders.governance.v1 import attribution_pb2 as pb
from polytraders.governance.v1 import attribution_pb2_grpc as pb_grpc

from .audit import _timestamp
from .families import Family, Mode, remote

RECONCILE_TIMEOUT = 600.0
"""Reconciling reads the exchange's whole report for the window: allow minutes, not seconds."""


class AttributionFamily(Family[pb_grpc.BuilderAttributionServiceStub, Mode]):
    stub_class = pb_grpc.BuilderAttributionServiceStub
    idempotent = frozenset({"GetReconciliation", "ListFills", "ListQuarantine"})

    @remote
    def reconcile(
        self, window_start: datetime, window_end: datetime, *, timeout: float = RECONCILE_TIMEOUT
    ) -> pb.Reconciliation:
        """Compare our fills with the exchange's builder report for [window_start, window_end)."""
        request = pb.ReconcileRequest(
            window_start=_timestamp(window_start), window_end=_timestamp(window_end)
        )
        return self._invoke(self._rpc.Reconcile, request, lambda r: r.reconciliation, timeout=timeout)

    @remote
    def reconciliation(self, reconciliation_id: str) -> pb.Reconciliation:
        request = pb.GetReconciliationRequest(reconciliation_id=reconciliation_id)
        return self._invoke(self._rpc.GetReconciliation, request, lambda r: r.reconciliation)

    @remote
    def fills(
        self, *, bot_slug: str = "", condition_id: str = "", since: datetime | None = None,
        until: datetime | None = None, limit: int = 0,
    ) -> list[pb.Fill]:  # fmt: skip
        """The fill log, newest first, with the builder code each order carried."""
        request = pb.ListFillsRequest(bot_slug=bot_slug, condition_id=condition_id, since=_timestamp(since),
                                      until=_timestamp(until), limit=limit)  # fmt: skip
        return self._invoke(self._rpc.ListFills, request, lambda r: list(r.fills))

    @remote
    def quarantine(
        self, *, include_released: bool = False, condition_id: str = "", limit: int = 0
    ) -> list[pb.QuarantineCase]:
        request = pb.ListQuarantineRequest(
            include_released=include_released, condition_id=condition_id, limit=limit
        )
        return self._invoke(self._rpc.ListQuarantine, request, lambda r: list(r.cases))

    @remote
    def release(self, case_id: str, reason: str) -> pb.QuarantineCase:
        """Let a case's records count towards revenue again (operators; the reason is kept seven years)."""
        request = pb.ReleaseQuarantineRequest(case_id=case_id, reason=reason)
        return self._invoke(self._rpc.ReleaseQuarantine, request, lambda r: r.quarantine_case)


class RevenueFamily(Family[pb_grpc.AttributionRevenueServiceStub, Mode]):
    stub_class = pb_grpc.AttributionRevenueServiceStub
    idempotent = frozenset({"GetRevenueReport", "ListRevenueReports"})

    @remote
    def report_day(self, day: int, *, timeout: float = RECONCILE_TIMEOUT) -> pb.ReportRevenueResponse:
        """Compute and publish a finished UTC day's revenue (YYYYMMDD); a re-run publishes a correction."""
        return self._invoke(self._rpc.ReportRevenue, pb.ReportRevenueRequest(day=day), timeout=timeout)

    @remote
    def get(self, day: int) -> pb.RevenueReport:
        return self._invoke(
            self._rpc.GetRevenueReport, pb.GetRevenueReportRequest(day=day), lambda r: r.report
        )

    @remote
    def list(self, from_day: int, to_day: int) -> list[pb.RevenueReport]:
        request = pb.ListRevenueReportsRequest(from_day=from_day, to_day=to_day)
        return self._invoke(self._rpc.ListRevenueReports, request, lambda r: list(r.reports))
