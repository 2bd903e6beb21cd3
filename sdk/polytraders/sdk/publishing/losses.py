"""The OperationsReports that explain reports a publisher could not deliver.

Nothing is lost silently: reports the overflow policy shed, and reports governance refused as
invalid (kept in the outbox's dead-letter table), are each followed by a report that says how
many, of which kind, and why. They go out through the same outbox as everything else.
"""

from __future__ import annotations

from polytraders.reports.v1 import reports_pb2 as rpb

from ..report_builders import ReportBuilder


class LossReports:
    def __init__(self, builder: ReportBuilder, bound: int) -> None:
        self._builder = builder
        self._bound = bound

    def overflow(self, shed: dict[int, int]) -> bytes:
        """The reports shed while the outbox was at its bound, by kind."""
        by_kind = {
            (
                rpb.ReportKind.Name(rpb.ReportKind.ValueType(kind)).removeprefix("REPORT_KIND_").lower()
                if kind in rpb.ReportKind.values()
                else str(kind)
            ): n
            for kind, n in shed.items()
        }
        return self._report(
            "publisher.overflow",
            rpb.SEVERITY_WARNING,
            (
                f"The outbox reached its bound of {self._bound} reports; "
                f"{sum(shed.values())} ONE_YEAR reports were shed before it recovered."
            ),
            metrics={f"shed.{kind}": str(n) for kind, n in sorted(by_kind.items())},
        )

    def dead_letter(self, refused: int, first_reason: str) -> bytes:
        """Reports governance refused as invalid, with the first reason it gave."""
        return self._report(
            "publisher.dead_letter",
            rpb.SEVERITY_ERROR,
            f"Governance refused {refused} reports as invalid: {first_reason}",
            {"dead_lettered": str(refused)},
        )

    def _report(
        self, event: str, severity: rpb.Severity.ValueType, explanation: str, metrics: dict[str, str]
    ) -> bytes:
        slug = self._builder.bot_slug
        return self._builder.operations(
            component=f"publisher:{slug}",
            status=rpb.COMPONENT_STATUS_DEGRADED,
            severity=severity,
            event=event,
            alert_key=f"{event}:{slug}",
            explanation=explanation,
            metrics=metrics,
        ).SerializeToString(deterministic=True)
