"""BuilderAttribution: reconcile the fill log with the exchange's builder report, quarantine, alert.

It only reads: the exchange through the read-only adapter, our fills from the archive. A
reconciliation that cannot read the exchange's whole report ends FAILED, keeps nothing of the
partial report, quarantines nothing and alerts; it never treats a missing report as empty.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from polytraders.governance.v1 import attribution_pb2 as pb
from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk.clock import Clock, to_timestamp
from polytraders.sdk.config import canonical_json
from polytraders.sdk.report_builders import new_report_id
from polytraders.servers.runtime.alerts import Alert, AlertSink
from polytraders.servers.runtime.errors import FailedPrecondition, FieldViolation, InvalidArgument
from polytraders.servers.runtime.reporter import GovernanceReporter

from .exchange import ExchangeUnavailable, ReaderFactory, describe, trades_in_window
from .fill_log import FillLog
from .reconcile import Finding, Outcome, is_failed, reconcile_builder_trades
from .store import KIND_NUMBERS, LISTED, AttributionStore, case_id

COMPONENT = "builder-attribution"
MAX_WINDOW = timedelta(days=31)


@dataclass(frozen=True)
class AttributionSettings:
    builder_code: str
    """Polytraders' bytes32 builder code; empty means attribution is not configured."""
    volume_drift_tolerance: Decimal
    """Largest |exchange − local| / local notional that is not a discrepancy, per market and in total."""


def check_window(start: datetime | None, end: datetime | None, now: datetime) -> tuple[datetime, datetime]:
    violations = []
    if start is None:
        violations.append(FieldViolation("window_start", "is required"))
    if end is None:
        violations.append(FieldViolation("window_end", "is required"))
    if start is not None and end is not None:
        if end <= start:
            violations.append(FieldViolation("window_end", "must be after window_start"))
        elif end - start > MAX_WINDOW:
            violations.append(
                FieldViolation("window_end", f"the window may span at most {MAX_WINDOW.days} days")
            )
    if violations:
        raise InvalidArgument(violations)
    assert start is not None and end is not None
    if end > now:
        raise FailedPrecondition(
            f"the window ends {end.isoformat()}, after now: reconcile a window once it is over, "
            "or its report would be counted as complete"
        )
    return start, end


def discrepancy(finding: Finding, case: str) -> pb.Discrepancy:
    trade_id, _, liquidity = finding.key.rpartition(":")
    return pb.Discrepancy(
        kind=KIND_NUMBERS[finding.kind], trade_id=trade_id, liquidity=liquidity, condition_id=finding.condition_id,
        bot_slug=finding.bot_slug, local_value=finding.local_value, exchange_value=finding.exchange_value,
        explanation=finding.explanation, case_id=case,
    )  # fmt: skip


@dataclass(frozen=True)
class AttributionParts:
    """What BuilderAttribution and the revenue reporter share."""

    store: AttributionStore
    exchange: ReaderFactory
    clock: Clock
    alerts: AlertSink


class AttributionService:
    """What both services hold: the shared parts, their own reporter, and a lock that runs one job at a time."""

    def __init__(self, parts: AttributionParts, reporter: GovernanceReporter) -> None:
        self._store, self._exchange, self._clock, self._alerts = (
            parts.store,
            parts.exchange,
            parts.clock,
            parts.alerts,
        )
        self._reporter = reporter
        self._running = asyncio.Lock()


class BuilderAttribution(AttributionService):
    def __init__(
        self,
        fill_log: FillLog,
        parts: AttributionParts,
        settings: AttributionSettings,
        reporter: GovernanceReporter,
    ) -> None:
        super().__init__(parts, reporter)
        self.fill_log = fill_log
        self._settings = settings

    @property
    def builder_code(self) -> str:
        if not self._settings.builder_code:
            raise FailedPrecondition(
                "attribution has no builder code configured: set builder_code in [server] or POLYTRADERS_BUILDER_CODE"
            )
        return self._settings.builder_code

    async def reconcile(self, start: datetime | None, end: datetime | None) -> pb.Reconciliation:
        start, end = check_window(start, end, self._clock.now())
        code = self.builder_code
        async with self._running:  # one at a time: cases and the exchange's rate limit are shared
            started = self._clock.now()
            previous = await asyncio.to_thread(self._store.last_status, start, end)
            await self.fill_log.catch_up()
            result, cases = await asyncio.to_thread(self._reconcile, code, start, end, started)
        await self._announce(result, cases, previous)
        return result

    def _reconcile(
        self, code: str, start: datetime, end: datetime, started: datetime
    ) -> tuple[pb.Reconciliation, list[tuple[str, Finding]]]:
        result = pb.Reconciliation(
            reconciliation_id=new_report_id(), window_start=to_timestamp(start), window_end=to_timestamp(end),
            started_at=to_timestamp(started),
        )  # fmt: skip
        fills = [fill.for_reconciliation() for fill in self.fill_log.window(start, end)]
        reader = self._exchange()
        outcome: Outcome | None = None
        try:
            report = reader.builder_trades(
                code, after=math.floor(start.timestamp()) - 1, before=math.ceil(end.timestamp())
            )
            kept = self._store.keep_exchange_trades(
                result.reconciliation_id, trades_in_window(report, start, end)
            )
            outcome = reconcile_builder_trades(fills, kept, code, self._settings.volume_drift_tolerance)
        except ExchangeUnavailable as error:
            self._store.forget_exchange_trades(result.reconciliation_id)
            result.status = pb.RECONCILIATION_STATUS_FAILED
            result.failure = f"the exchange's builder report could not be read: {describe(error)}"
            result.local_fills = sum(1 for fill in fills if not is_failed(fill.status))
        finally:
            result.pages, result.retries = reader.pages, reader.retries
            reader.close()
        cases: list[tuple[str, Finding]] = []
        finished = self._clock.now()
        if outcome is not None:
            opened = self._store.open_cases(
                result.reconciliation_id, [(case_id(f, start, end), f) for f in outcome.findings], finished
            )
            cases = list(zip(opened, outcome.findings, strict=True))
            result.status = (
                pb.RECONCILIATION_STATUS_DISCREPANCIES if cases else pb.RECONCILIATION_STATUS_CLEAN
            )
            result.local_fills, result.exchange_trades = outcome.local_fills, outcome.exchange_trades
            result.duplicate_trades = outcome.duplicate_trades
            result.local_volume_micros = outcome.local_volume_micros
            result.exchange_volume_micros = outcome.exchange_volume_micros
            result.volume_drift = str(outcome.volume_drift)
            result.discrepancies.extend(discrepancy(f, case) for case, f in cases[:LISTED])
            result.discrepancies_omitted = max(0, len(cases) - LISTED)
        result.finished_at.CopyFrom(to_timestamp(finished))
        self._store.save_reconciliation(result)
        return result, cases

    async def _announce(
        self, result: pb.Reconciliation, cases: list[tuple[str, Finding]], previous: int | None
    ) -> None:
        """An OperationsReport for every run, an alert for every run that is not clean (resolved by
        the window's next clean run), and the SEVEN_YEARS record of what was quarantined."""
        window = f"{result.window_start.ToJsonString()}..{result.window_end.ToJsonString()}"
        metrics = {
            "reconciliation_id": result.reconciliation_id, "local_fills": str(result.local_fills),
            "exchange_trades": str(result.exchange_trades), "duplicate_trades": str(result.duplicate_trades),
            "discrepancies": str(len(cases)), "volume_drift": result.volume_drift, "pages": str(result.pages),
            "retries": str(result.retries),
        }  # fmt: skip
        status_name = pb.ReconciliationStatus.Name(result.status).removeprefix("RECONCILIATION_STATUS_")
        if result.status == pb.RECONCILIATION_STATUS_FAILED:
            explanation = f"builder attribution reconciliation of {window} FAILED: {result.failure}; nothing quarantined"
            severity = rpb.SEVERITY_ERROR
        elif cases:
            kinds = sorted({f.kind.value for _, f in cases})
            explanation = (f"builder attribution reconciliation of {window}: {len(cases)} discrepancies "
                           f"({', '.join(kinds)}); the affected records are quarantined until an operator releases them")  # fmt: skip
            severity = rpb.SEVERITY_WARNING
        else:
            explanation = f"builder attribution reconciliation of {window}: CLEAN"
            await self._reporter.operations(COMPONENT, "attribution.reconcile", rpb.COMPONENT_STATUS_HEALTHY,
                                            rpb.SEVERITY_INFO, explanation, metrics)  # fmt: skip
            if previous not in (None, pb.RECONCILIATION_STATUS_CLEAN):
                await self._alerts.send(Alert(COMPONENT, f"attribution.reconcile:{window}", rpb.SEVERITY_INFO,
                                              explanation, metrics, resolved=True))  # fmt: skip
            return
        await self._alerts.send(
            Alert(COMPONENT, f"attribution.reconcile:{window}", severity, explanation, metrics)
        )
        if cases:
            details = {
                "reconciliation_id": result.reconciliation_id, "status": status_name,
                "window_start": result.window_start.ToJsonString(), "window_end": result.window_end.ToJsonString(),
                "cases": [{"case_id": case, "kind": f.kind.value, "condition_id": f.condition_id, "record": f.key,
                           "records": len(f.record_keys), "explanation": f.explanation}
                          for case, f in cases[:LISTED]],
                "cases_not_listed": max(0, len(cases) - LISTED),
            }  # fmt: skip
            await self._reporter.record(
                "attribution.quarantine", self._settings.builder_code, explanation, canonical_json(details)
            )

    async def release(self, case: str, by: str, reason: str) -> pb.QuarantineCase:
        violations = []
        if not case:
            violations.append(FieldViolation("case_id", "is required"))
        if not reason.strip():
            violations.append(FieldViolation("reason", "is required: say why the records may count again"))
        if violations:
            raise InvalidArgument(violations)
        released = await asyncio.to_thread(self._store.release, case, by, reason.strip(), self._clock.now())
        details = {"case_id": case, "kind": pb.DiscrepancyKind.Name(released.kind), "released_by": by,
                   "reason": reason.strip(), "records": list(released.record_keys)}  # fmt: skip
        explanation = (
            f"{by} released quarantine case {case} ({len(released.record_keys)} records): {reason.strip()}"
        )
        await self._reporter.record(
            "attribution.quarantine.release", by, explanation, canonical_json(details)
        )
        return released
