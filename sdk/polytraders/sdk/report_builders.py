"""One call per report kind that fills the header, so a bot only says what happened."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import uuid_utils

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


def seeded_report_ids(seed: str) -> Callable[[], str]:
    """Report ids that depend only on `seed` and the order they are asked for (UUIDv5): a replay
    run twice names its reports the same."""
    counter = itertools.count(1)
    return lambda: str(uuid.uuid5(uuid.NAMESPACE_URL, f"polytraders-replay:{seed}:{next(counter)}"))


def _kind(body_field: str, default_retention: rpb.Retention.ValueType) -> Callable[..., rpb.Report]:
    message_type = rpb.Report.DESCRIPTOR.fields_by_name[body_field].message_type
    assert message_type is not None, f"Report.{body_field} is not a message"
    body_type = message_type.name

    def build(
        self: ReportBuilder,
        *,
        trace_id: str = "",
        causation_id: str = "",
        retention: rpb.Retention.ValueType = default_retention,
        produced_at: datetime | None = None,
        **fields: Any,
    ) -> rpb.Report:
        return self._envelope(body_field, fields, trace_id, causation_id, retention, produced_at)

    build.__name__ = body_field
    build.__doc__ = (
        f"A report whose body is a {body_type} built from `fields`; produced now unless `produced_at`."
    )
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
        report_ids: Callable[[], str] = new_report_id,
    ) -> None:
        self.bot_slug = bot_slug
        self.bot_class = bot_class
        self.mode = mode
        self.clock = clock or SystemClock()
        self.report_ids = report_ids
        """Where report ids come from: UUIDv7 live; a seeded sequence in a replay, so its output is byte-identical."""
        self.current_trace_id: Callable[[], str] | None = None
        """Where a report built without a trace_id takes one (the current span's, when tracing is on)."""

    def _envelope(
        self,
        body_field: str,
        fields: dict[str, Any],
        trace_id: str,
        causation_id: str,
        retention: rpb.Retention.ValueType,
        produced_at: datetime | None,
    ) -> rpb.Report:
        now = produced_at or self.clock.now()
        micros = to_micros(now)
        body: dict[str, Any] = {body_field: fields}
        report = rpb.Report(**body)
        header = report.header  # set in place: cheaper than building a header and copying it in
        header.report_id = self.report_ids()
        header.kind = _KIND_BY_BODY[body_field]
        header.bot_slug = self.bot_slug
        header.bot_class = self.bot_class
        header.epoch = now.year * 10_000 + now.month * 100 + now.day
        header.mode = self.mode
        header.produced_at.seconds, header.produced_at.nanos = divmod(micros, 1_000_000)
        header.produced_at.nanos *= 1000
        header.trace_id = trace_id or (self.current_trace_id() if self.current_trace_id is not None else "")
        header.causation_id = causation_id
        header.retention = retention
        return report

    observation = _kind("observation", rpb.RETENTION_ONE_YEAR)
    decision = _kind("decision", rpb.RETENTION_ONE_YEAR)
    risk_vote = _kind("risk_vote", rpb.RETENTION_ONE_YEAR)
    execution = _kind("execution", rpb.RETENTION_ONE_YEAR)
    settlement = _kind("settlement", rpb.RETENTION_SEVEN_YEARS)
    operations = _kind("operations", rpb.RETENTION_ONE_YEAR)
