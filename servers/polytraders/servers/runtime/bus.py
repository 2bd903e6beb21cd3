"""The report bus: archive first, then live fan-out, so a subscriber can always catch up.

Publishes are serialised in this process, so `seq` order is commit order is fan-out order.
A subscriber registers for live reports *before* it reads the archive, drops live reports
it already read, and falls back to the archive whenever its live buffer overflowed:
the archive holds everything, so no subscriber ever sees a gap or a duplicate.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from polytraders.reports.v1 import reports_pb2

from .archive import ArchivedReport, IncomingReport, ReportArchive, ReportFilter
from polytraders.sdk.clock import Clock, to_micros
from .errors import FieldViolation, InvalidArgument
from .report_validation import report_violations

log = logging.getLogger(__name__)

_PAGE = 500


@dataclass(frozen=True)
class PublishResult:
    accepted: int
    duplicates: int
    last_seq: int | None


def retention_ends(received: datetime, retention: int) -> datetime:
    """The same calendar day 1 or 7 years on (29 February rolls forward to 1 March)."""
    years = 7 if retention == reports_pb2.RETENTION_SEVEN_YEARS else 1
    try:
        return received.replace(year=received.year + years)
    except ValueError:
        return received.replace(year=received.year + years, month=3, day=1)


class _Subscription:
    def __init__(self, report_filter: ReportFilter, capacity: int) -> None:
        self.filter = report_filter
        self.queue: asyncio.Queue[ArchivedReport | None] = asyncio.Queue(capacity)
        self.overflowed = False

    def offer(self, report: ArchivedReport) -> None:
        if self.overflowed or not self.filter.matches(report):
            return
        try:
            self.queue.put_nowait(report)
        except asyncio.QueueFull:
            self.overflowed = True  # it will re-read the archive from its last seq

    def rewind(self) -> None:
        self.overflowed = False
        while not self.queue.empty():
            self.queue.get_nowait()

    def end(self) -> None:
        self.rewind()
        self.queue.put_nowait(None)


class ReportBus:
    def __init__(
        self, archive: ReportArchive, clock: Clock, *, max_batch: int = 5000, subscriber_queue: int = 10_000
    ) -> None:
        self.archive = archive
        self._clock = clock
        self._max_batch = max_batch
        self._subscriber_queue = subscriber_queue
        self._publish_lock = asyncio.Lock()
        self._subscriptions: set[_Subscription] = set()
        self._closed = False

    def validate(self, reports: Sequence[reports_pb2.Report]) -> list[IncomingReport]:
        """All-or-nothing: one bad report rejects the batch, naming every bad field."""
        if not reports:
            raise InvalidArgument.field("reports", "at least one report is required")
        if len(reports) > self._max_batch:
            raise InvalidArgument.field(
                "reports", f"{len(reports)} reports exceed the batch limit of {self._max_batch}"
            )
        violations: list[FieldViolation] = []
        incoming: list[IncomingReport] = []
        for index, report in enumerate(reports):
            problems = report_violations(report, f"reports[{index}]")
            if problems:
                violations.extend(problems)
                continue
            header = report.header
            incoming.append(
                IncomingReport(
                    report_id=header.report_id,
                    kind=header.kind,
                    bot_slug=header.bot_slug,
                    epoch=header.epoch,
                    mode=header.mode,
                    retention=header.retention,
                    produced_at_us=header.produced_at.seconds * 1_000_000 + header.produced_at.nanos // 1000,
                    payload=report.SerializeToString(deterministic=True),
                )
            )
        if violations:
            raise InvalidArgument(violations)
        return incoming

    async def publish(self, reports: Sequence[reports_pb2.Report]) -> PublishResult:
        return await self.publish_validated(self.validate(reports))

    async def publish_validated(self, incoming: Sequence[IncomingReport]) -> PublishResult:
        received = self._clock.now().astimezone(UTC)
        expiry = {r: to_micros(retention_ends(received, r)) for r in {i.retention for i in incoming}}
        async with self._publish_lock:
            stored, duplicates = await asyncio.to_thread(
                self.archive.store, incoming, to_micros(received), expiry
            )
            for report in stored:
                for subscription in self._subscriptions:
                    subscription.offer(report)
        return PublishResult(len(stored), duplicates, stored[-1].seq if stored else None)

    async def subscribe(
        self, report_filter: ReportFilter, *, after_seq: int = 0, live_only: bool = False
    ) -> AsyncIterator[ArchivedReport]:
        """Archived reports after `after_seq`, then live ones, in seq order, until the bus closes."""
        subscription = _Subscription(report_filter, self._subscriber_queue)
        self._subscriptions.add(subscription)
        try:
            last = await asyncio.to_thread(self.archive.last_seq) if live_only else after_seq
            while not self._closed:
                while True:  # catch up from the archive
                    page = await asyncio.to_thread(self.archive.read_after, last, report_filter, _PAGE)
                    for report in page:
                        yield report
                        last = report.seq
                    if len(page) < _PAGE:
                        break
                while True:  # then follow live
                    report = await subscription.queue.get()
                    if report is None:
                        return
                    if subscription.overflowed:
                        subscription.rewind()
                        break
                    if report.seq > last:
                        yield report
                        last = report.seq
        finally:
            self._subscriptions.discard(subscription)

    async def purge_expired(self) -> int:
        return await asyncio.to_thread(self.archive.purge_expired, to_micros(self._clock.now()))

    def close(self) -> None:
        """End every subscription stream (the server is draining)."""
        self._closed = True
        for subscription in self._subscriptions:
            subscription.end()
