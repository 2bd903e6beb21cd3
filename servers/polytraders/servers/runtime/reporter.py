"""How a governance bot speaks on the bus: reports under its own slug, published in-process."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk.clock import Clock
from polytraders.sdk.report_builders import ReportBuilder

from .bus import ReportBus


class GovernanceReporter:
    def __init__(self, bus: ReportBus, bot_slug: str, clock: Clock) -> None:
        self._bus = bus
        self.builder = ReportBuilder(bot_slug, bot_class="governance", clock=clock)

    async def decision_record(
        self, component: str, event: str, subject: str, explanation: str, metrics: dict[str, str]
    ) -> None:
        """An OperationsReport of what happened and the SEVEN_YEARS SettlementReport of the decision."""
        operations = self.builder.operations(
            component=component, event=event, status=rpb.COMPONENT_STATUS_HEALTHY, severity=rpb.SEVERITY_INFO,
            explanation=explanation, metrics=metrics,
        )  # fmt: skip
        record = self.builder.settlement(
            causation_id=operations.header.report_id, record_type=event, subject=subject,
            explanation=explanation, metrics=metrics,
        )  # fmt: skip
        await self._bus.publish([operations, record])

    async def operations(
        self,
        component: str,
        event: str,
        status: rpb.ComponentStatus.ValueType,
        severity: rpb.Severity.ValueType,
        explanation: str,
        metrics: Mapping[str, str],
        *,
        alert_key: str = "",
    ) -> str:
        """One OperationsReport (ONE_YEAR); returns its report_id."""
        report = self.builder.operations(
            component=component, event=event, status=status, severity=severity, explanation=explanation,
            metrics=dict(metrics), alert_key=alert_key,
        )  # fmt: skip
        await self._bus.publish([report])
        return report.header.report_id

    async def record(
        self, record_type: str, subject: str, explanation: str, details_json: str, **fields: Any
    ) -> str:
        """One SEVEN_YEARS SettlementReport with structured details (and any other settlement
        `fields`); returns its report_id."""
        report = self.builder.settlement(
            record_type=record_type,
            subject=subject,
            explanation=explanation,
            details_json=details_json,
            **fields,
        )
        await self._bus.publish([report])
        return report.header.report_id
