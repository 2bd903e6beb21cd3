"""BuilderAttribution and AttributionRevenue contract: who may call what, and what each refusal is.

Only refusals and reads: a contract run must not make a deploy reconcile against the real exchange.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import pytest

from polytraders.governance.v1 import attribution_pb2 as pb
from polytraders.governance.v1 import attribution_pb2_grpc as pb_grpc

from .conftest import DEADLINE, Target
from .rpc import violations

SERVES = ("polytraders.governance.v1.BuilderAttributionService", "polytraders.governance.v1.AttributionRevenueService")
"""The services these cases call (one process of a split mesh may serve none of them)."""


def _window(start: int, end: int) -> pb.ReconcileRequest:
    request = pb.ReconcileRequest()
    request.window_start.seconds = start  # set raw: the server, not this client, must judge the range
    request.window_end.seconds = end
    return request


Call = Callable[[Target], Any]


def _attribution(target: Target) -> pb_grpc.BuilderAttributionServiceStub:
    return pb_grpc.BuilderAttributionServiceStub(target.channel)


def _revenue(target: Target) -> pb_grpc.AttributionRevenueServiceStub:
    return pb_grpc.AttributionRevenueServiceStub(target.channel)


REFUSALS: list[tuple[str, str | None, Call, grpc.StatusCode, str | None]] = [
    ("no token", None, lambda t: _attribution(t).ListQuarantine(pb.ListQuarantineRequest(), metadata=t.metadata(None),
                                                                timeout=DEADLINE), grpc.StatusCode.UNAUTHENTICATED, None),
    ("bot reconciles", "bot", lambda t: _attribution(t).Reconcile(_window(1_795_392_000, 1_795_478_400),
                                                                  metadata=t.metadata("bot"), timeout=DEADLINE),
     grpc.StatusCode.PERMISSION_DENIED, None),
    ("auditor releases", "auditor", lambda t: _attribution(t).ReleaseQuarantine(
        pb.ReleaseQuarantineRequest(case_id="x", reason="y"), metadata=t.metadata("auditor"), timeout=DEADLINE),
     grpc.StatusCode.PERMISSION_DENIED, None),
    ("backwards window", "operator", lambda t: _attribution(t).Reconcile(_window(1_795_478_400, 1_795_392_000),
                                                                         metadata=t.metadata("operator"), timeout=DEADLINE),
     grpc.StatusCode.INVALID_ARGUMENT, "window_end"),
    ("window out of range", "operator", lambda t: _attribution(t).Reconcile(_window(-70_000_000_000, 1_795_392_000),
                                                                            metadata=t.metadata("operator"), timeout=DEADLINE),
     grpc.StatusCode.INVALID_ARGUMENT, "window_start"),
    ("no window", "operator", lambda t: _attribution(t).Reconcile(pb.ReconcileRequest(), metadata=t.metadata("operator"),
                                                                  timeout=DEADLINE), grpc.StatusCode.INVALID_ARGUMENT,
     "window_start"),
    ("unknown reconciliation", "auditor", lambda t: _attribution(t).GetReconciliation(
        pb.GetReconciliationRequest(reconciliation_id="no-such-run"), metadata=t.metadata("auditor"), timeout=DEADLINE),
     grpc.StatusCode.NOT_FOUND, None),
    ("unknown case", "operator", lambda t: _attribution(t).ReleaseQuarantine(
        pb.ReleaseQuarantineRequest(case_id="no-such-case", reason="checked"), metadata=t.metadata("operator"),
        timeout=DEADLINE), grpc.StatusCode.NOT_FOUND, None),
    ("release without reason", "operator", lambda t: _attribution(t).ReleaseQuarantine(
        pb.ReleaseQuarantineRequest(case_id="no-such-case"), metadata=t.metadata("operator"), timeout=DEADLINE),
     grpc.StatusCode.INVALID_ARGUMENT, "reason"),
    ("fills limit", "auditor", lambda t: _attribution(t).ListFills(pb.ListFillsRequest(limit=1001),
                                                                   metadata=t.metadata("auditor"), timeout=DEADLINE),
     grpc.StatusCode.INVALID_ARGUMENT, "limit"),
    ("bot reads another bot's fills", "bot", lambda t: _attribution(t).ListFills(
        pb.ListFillsRequest(bot_slug="some-other-bot"), metadata=t.metadata("bot"), timeout=DEADLINE),
     grpc.StatusCode.PERMISSION_DENIED, None),
    ("not a day", "auditor", lambda t: _revenue(t).GetRevenueReport(pb.GetRevenueReportRequest(day=20261399),
                                                                    metadata=t.metadata("auditor"), timeout=DEADLINE),
     grpc.StatusCode.INVALID_ARGUMENT, "day"),
    ("bot reports revenue", "bot", lambda t: _revenue(t).ReportRevenue(pb.ReportRevenueRequest(day=20261123),
                                                                       metadata=t.metadata("bot"), timeout=DEADLINE),
     grpc.StatusCode.PERMISSION_DENIED, None),
    ("day not over", "operator", lambda t: _revenue(t).ReportRevenue(pb.ReportRevenueRequest(day=29991231),
                                                                     metadata=t.metadata("operator"), timeout=DEADLINE),
     grpc.StatusCode.FAILED_PRECONDITION, None),
]  # fmt: skip


@pytest.mark.parametrize(("case", "role", "call", "code", "field"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_attribution_refusals(target: Target, case, role, call, code, field) -> None:
    if role:
        target.metadata(role)  # skips when the deploy's token for that role was not given
    with pytest.raises(grpc.RpcError) as refused:
        call(target)
    assert refused.value.code() == code, refused.value.details()
    if field:
        assert field in violations(refused.value)


def test_every_role_reads_quarantine_and_revenue(target: Target) -> None:
    for role in ("operator", "auditor", "bot"):
        cases = _attribution(target).ListQuarantine(pb.ListQuarantineRequest(limit=5), metadata=target.metadata(role),
                                                    timeout=DEADLINE)  # fmt: skip
        assert len(cases.cases) <= 5
        reports = _revenue(target).ListRevenueReports(pb.ListRevenueReportsRequest(from_day=20260101, to_day=20261231),
                                                      metadata=target.metadata(role), timeout=DEADLINE)  # fmt: skip
        assert all(20260101 <= r.day <= 20261231 for r in reports.reports)
