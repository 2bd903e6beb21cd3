"""One call per report kind that fills the header, so a bot only says what happened."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import uuid_utils
from google.protobuf.timestamp_pb2 import Timestamp

from polytraders.reports.v1 import reports_pb2 as rpb

from .clock import Clock, SystemClock, to_micros

_KIND_BY_BODY = {
    "observation": rpb.REPORT_KIND_OBSERVATION,
    "decision": rpb.REPORT_KIND_DECISION,
    "risk_vote": rpb.REPORT_KIND_RISK_VOTE,
    "execution": rpb.REPORT_KIND_EXECUTION,
    "settlement": rpb.REPORT_KIND_SETTLEMENT,
    "operations": rpb.REPORT_KIND_OPERATIONS,
}


def new_report_id() -> str:
    """A time-ordered UUIDv7: unique, and cheap for the archive's unique index."""
    return str(uuid_utils.uuid7())


def _kind(body_field: str, default_retention: rpb.Retention.ValueType) -> Callable[..., rpb.Report]:
    body_type = rpb.Report.DESCRIPTOR.fields_by_name[body_field].message_type.name

    def build(
        self: ReportBuilder,
        *,
        trace_id: str = "",
        causation_id: str = "",
        retention: rpb.Retention.ValueType = default_retention,
        **fields: Any,
    ) -> rpb.Report:
        return self._envelope(body_field, fields, trace_id, causation_id, retention)

    build.__name__ = body_field
    build.__doc__ = f"A report whose body is a {body_type} built from `fields`."
    return build


class ReportBuilder:
    """Builds reports for one bot; `mode` is how the bot runs (live, paper, replay, shadow)."""

    def __init__(
        self,
        bot_slug: str,
        *,
        bot_class: str = "strategy",
        mode: rpb.Mode.ValueType = rpb.MODE_LIVE,
        clock: Clock | None = None,
    ) -> None:
        self.bot_slug = bot_slug
        self.bot_class = bot_class
        self.mode = mode
        self._clock = clock or SystemClock()

    def _envelope(
        self,
        body_field: str,
        fields: dict[str, Any],
        trace_id: str,
        causation_id: str,
        retention: rpb.Retention.ValueType,
    ) -> rpb.Report:
        now = self._clock.now()
        micros = to_micros(now)
        header = rpb.ReportHeader(
            report_id=new_report_id(),
            kind=_KIND_BY_BODY[body_field],
            bot_slug=self.bot_slug,
            bot_class=self.bot_class,
            epoch=now.year * 10_000 + now.month * 100 + now.day,
            mode=self.mode,
            produced_at=Timestamp(seconds=micros // 1_000_000, nanos=micros % 1_000_000 * 1000),
            trace_id=trace_id,
            causation_id=causation_id,
            retention=retention,
        )
        return rpb.Report(header=header, **{body_field: fields})

    observation = _kind("observation", rpb.RETENTION_ONE_YEAR)
    decision = _kind("decision", rpb.RETENTION_ONE_YEAR)
    risk_vote = _kind("risk_vote", rpb.RETENTION_ONE_YEAR)
    execution = _kind("execution", rpb.RETENTION_ONE_YEAR)
    settlement = _kind("settlement", rpb.RETENTION_SEVEN_YEARS)
    operations = _kind("operations", rpb.RETENTION_ONE_YEAR)
