"""Where governance raises alerts. One call shape for every group, so the sink can be swapped.

Every alert goes to the `AlertRouter` the mesh hands each group: it always reaches the bus as an
OperationsReport (`alert.trigger` / `alert.resolve`, grouped by `alert_key`), and the operations
group adds the pager and log sinks to the same router, so no caller changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from polytraders.reports.v1 import reports_pb2 as rpb

from .reporter import GovernanceReporter


@dataclass(frozen=True)
class Alert:
    component: str
    """Who raises it, e.g. "builder-attribution"."""
    alert_key: str
    """Stable across the alert's life: a trigger and its resolve share it (PagerDuty's dedup key)."""
    severity: rpb.Severity.ValueType
    explanation: str
    metrics: Mapping[str, str] = field(default_factory=dict)
    resolved: bool = False


class AlertSink(Protocol):
    async def send(self, alert: Alert) -> None: ...


class BusAlertSink:
    """Alerts as OperationsReports on `polytraders.reports.operations`."""

    def __init__(self, reporter: GovernanceReporter) -> None:
        self._reporter = reporter

    async def send(self, alert: Alert) -> None:
        status = rpb.COMPONENT_STATUS_HEALTHY if alert.resolved else rpb.COMPONENT_STATUS_DEGRADED
        await self._reporter.operations(
            alert.component,
            "alert.resolve" if alert.resolved else "alert.trigger",
            status,
            alert.severity,
            alert.explanation,
            alert.metrics,
            alert_key=alert.alert_key,
        )


class AlertRouter:
    """Every alert to every sink, in the order they were added (the bus first)."""

    def __init__(self, *sinks: AlertSink) -> None:
        self._sinks = list(sinks)

    def add(self, sink: AlertSink) -> None:
        self._sinks.append(sink)

    async def send(self, alert: Alert) -> None:
        for sink in self._sinks:
            await sink.send(alert)
