"""The report bus: archive first, then live fan-out, so a subscriber can always catch up.

One writer per process (a worker thread while anything is pending) stores publishes, so `seq`
order is commit order is fan-out order.
A subscriber registers for live reports *before* it reads the archive, drops live reports
it already read, and falls back to the archive whenever its live buffer overflowed:
the archive holds everything, so no subscriber ever sees a gap or a duplicate.

When other processes write the same archive (PostgreSQL; the mesh starts the sequencer), this
process's own reports and those the broker brings from the others (`deliver`) reach subscribers
through one sequencer that
hands them out strictly in `seq` order: a report past the next expected `seq` first has the
reports before it read from the archive (the archive numbers in commit order, so they are
there), and one already handed out is dropped. The sequencer also looks at the archive's last
`seq` every `watermark_seconds`, so reports whose broker message never came arrive all the same,
and reads at once what a run handed over lacks (a report too large for any broker message).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncGenerator, Callable, Iterable, Sequence
from contextlib import aclosing
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime

from polytraders.reports.v1 import reports_pb2
from polytraders.sdk.clock import Clock, to_micros

from .archive import ArchivedReport, IncomingBatch, ReportArchive, ReportFilter, StoredBatch
from .errors import FieldViolation, InvalidArgument
from .report_validation import report_violations, to_incoming
from .requests import WireRequest

log = logging.getLogger(__name__)

_PAGE = 500
GROUP_REPORTS = 500
_RETENTIONS = (reports_pb2.RETENTION_ONE_YEAR, reports_pb2.RETENTION_SEVEN_YEARS)
_Run = tuple[int, int, Iterable[ArchivedReport]]
"""Stored reports for the sequencer: the first and last `seq` of the run, and its reports."""


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


following: ContextVar[str] = ContextVar("following", default="")
"""The follower (the mesh duty running in this context, e.g. "ledger.pnl") that subscriptions
opened here belong to: `ReportBus.follower_lags` reports how far behind each one is."""


class _Subscription:
    def __init__(self, report_filter: ReportFilter, capacity: int) -> None:
        self.filter = report_filter
        self.queue: asyncio.Queue[ArchivedReport | None] = asyncio.Queue(capacity)
        self.overflowed = False
        self.follower = following.get()
        self.position = 0
        """The cursor of the last report handed to the subscriber."""
        self.catching_up = True
        """Reading the archive (at first, or after its live queue overflowed) rather than live reports."""
        self.behind_since: float | None = None
        """time.monotonic() when it last had nothing left to take; None while it has nothing."""

    def lag(self, last_seq: int) -> int:
        """Reports still to look at: while it reads the archive (or will, its queue having
        overflowed), every one after its position whether its filter takes them or not; once
        live, those waiting in its queue."""
        if self.catching_up or self.overflowed:
            return max(0, last_seq - self.position)
        return self.queue.qsize()

    def offer(self, report: ArchivedReport) -> None:
        if self.overflowed or not self.filter.matches(report):
            return
        if self.behind_since is None:
            self.behind_since = time.monotonic()
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
        self,
        archive: ReportArchive,
        clock: Clock,
        *,
        max_batch: int = 5000,
        subscriber_queue: int = 10_000,
        watermark_seconds: float = 1.0,
    ) -> None:
        self.archive = archive
        self._clock = clock
        self._max_batch = max_batch
        self._subscriber_queue = subscriber_queue
        self._pending: list[tuple[IncomingBatch, asyncio.Future[PublishResult]]] = []
        self._queue_lock = threading.Lock()
        self._writing = False
        self._subscriptions: set[_Subscription] = set()
        self._closed = False
        self._watermark_seconds = watermark_seconds
        self.on_stored: list[Callable[[Sequence[StoredBatch]], None]] = []
        """Called on the loop with what each write committed (the broker relay sends it on)."""
        self._inbox: asyncio.Queue[_Run] | None = None
        self._sequencer: asyncio.Task[None] | None = None
        self.delivered = 0
        """The sequencer's mark: every report up to this cursor has been handed to subscribers."""
        self.followers: set[str] = set()
        """Every follower that has subscribed in this process (see `following`)."""
        self.on_commit: Callable[[float], None] | None = None
        """Told, on the writer's thread, how many seconds each group commit took."""
        self.last_stored = 0
        """The last cursor this process stored or handed out: what follower lag is measured to."""
        self.demand = asyncio.Event()
        """Set while anything subscribes here: only then need other processes' reports come live."""
        self.no_demand = asyncio.Event()
        """Set while nothing does (`demand`'s complement, to be waited on)."""
        self.no_demand.set()

    def validate(
        self, reports: Sequence[reports_pb2.Report], request: WireRequest | None = None
    ) -> IncomingBatch:
        """All-or-nothing: one bad report rejects the batch, naming every bad field.

        `request` is the PublishReportsRequest the reports came in, with its bytes, when they
        came over gRPC: their headers are read from it a column at a time, and each is stored
        as published.
        """
        if not reports:
            raise InvalidArgument.field("reports", "at least one report is required")
        if len(reports) > self._max_batch:
            raise InvalidArgument.field(
                "reports", f"{len(reports)} reports exceed the batch limit of {self._max_batch}"
            )
        incoming = to_incoming(reports, request)
        if incoming is not None:
            return incoming
        violations: list[FieldViolation] = []
        for index, report in enumerate(reports):
            where = f"reports[{index}]"
            violations.extend(report_violations(report, where))
        raise InvalidArgument(violations or [FieldViolation("reports", "holds an invalid report")])

    async def publish(self, reports: Sequence[reports_pb2.Report]) -> PublishResult:
        return await self.publish_validated(self.validate(reports))

    async def publish_validated(self, incoming: IncomingBatch) -> PublishResult:
        """Queue the batch for the writer and wait until it is stored (or refused as a whole)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[PublishResult] = loop.create_future()
        with self._queue_lock:
            self._pending.append((incoming, done))
            idle, self._writing = not self._writing, True
        if idle:
            try:
                loop.run_in_executor(None, self._write_pending, loop)
            except BaseException:  # no writer started: the next publish starts one
                with self._queue_lock:
                    self._writing = False
                raise
        return await done

    def _next_group(self) -> list[tuple[IncomingBatch, asyncio.Future[PublishResult]]]:
        """The oldest pending batches, up to GROUP_REPORTS reports (at least one batch).

        Small batches from many bots share a commit; big ones are written one or two at a
        time, so the next batches are validated while this one is written.
        """
        size = 0
        for taken, (batch, _) in enumerate(self._pending):
            if taken and size + len(batch) > GROUP_REPORTS:
                break
            size += len(batch)
        else:
            taken = len(self._pending)
        group, self._pending = self._pending[:taken], self._pending[taken:]
        return group

    def _write_pending(self, loop: asyncio.AbstractEventLoop) -> None:
        """Group commit, on a worker thread until nothing is pending: the batches that queued
        while the last transaction ran go into the next one (up to GROUP_REPORTS reports, at
        least one batch).

        The thread takes the next group itself the moment a store returns, so the database
        never waits for the event loop to come round; the loop only hears the outcome (and
        fans it out) in store order. Each batch stays all-or-nothing: a failed transaction
        fails every batch in it.
        """
        while True:
            with self._queue_lock:
                if not self._pending:
                    self._writing = False
                    return
                group = self._next_group()
            try:
                received = self._clock.now().astimezone(UTC)
                expiry: dict[int, int] = {r: to_micros(retention_ends(received, r)) for r in _RETENTIONS}
                started = time.perf_counter()
                outcome: list[StoredBatch] | Exception = self.archive.store(
                    [batch for batch, _ in group], to_micros(received), expiry
                )
                if self.on_commit is not None:
                    self.on_commit(time.perf_counter() - started)
            except Exception as error:  # noqa: BLE001 - handed to every caller in the group
                outcome = error
            except BaseException:  # the thread itself is going: let the next publish start another
                with self._queue_lock:
                    self._writing = False
                raise
            try:
                loop.call_soon_threadsafe(self._settle, group, outcome)
            except RuntimeError:  # the loop closed under us: none of its callers is left to tell
                with self._queue_lock:
                    self._pending.clear()
                    self._writing = False
                return

    def _settle(
        self,
        group: list[tuple[IncomingBatch, asyncio.Future[PublishResult]]],
        outcome: list[StoredBatch] | Exception,
    ) -> None:
        """On the loop: fan the stored reports out, then answer each caller of the group."""
        if isinstance(outcome, Exception):
            for _, done in group:
                if not done.done():
                    done.set_exception(outcome)
            return
        for listener in self.on_stored:
            listener(outcome)
        self.last_stored = max([self.last_stored, *(b.last_seq for b in outcome if b.last_seq is not None)])
        for (_, done), stored in zip(group, outcome, strict=True):
            if self._inbox is not None:
                if stored.last_seq is not None:
                    self.deliver(stored.first_seq, stored.last_seq, stored.archived())
            elif self._subscriptions:
                for report in stored.archived():
                    for subscription in self._subscriptions:
                        subscription.offer(report)
            if not done.done():
                done.set_result(PublishResult(len(stored.reports), stored.duplicates, stored.last_seq))

    def deliver(self, first_seq: int, last_seq: int, reports: Iterable[ArchivedReport]) -> None:
        """Hand the stored reports `first_seq`..`last_seq` (in `seq` order) to the sequencer, which
        fans them out in order (any of them `reports` lacks it reads from the archive). `reports`
        is read only if someone subscribes by then: with no subscriber the sequencer just moves its
        mark, and nothing is built per report."""
        if self._inbox is not None and not self._closed and last_seq >= first_seq:
            self._inbox.put_nowait((first_seq, last_seq, reports))

    async def start_sequencer(self) -> None:
        """Start handing out from the archive's last `seq` on, before this process publishes: a
        process that never publishes sees every other process's reports all the same."""
        last = await asyncio.to_thread(self.archive.last_seq)
        if self._inbox is None:
            self._inbox = asyncio.Queue()
            self._sequencer = asyncio.get_running_loop().create_task(self._sequence(self._inbox, last))

    async def _sequence(self, inbox: asyncio.Queue[_Run], delivered: int) -> None:
        self.delivered = delivered
        while not self._closed:
            try:
                async with asyncio.timeout(self._watermark_seconds):  # unlike wait_for, no task of its own to wake first
                    _, last, reports = await inbox.get()
            except TimeoutError:
                last = await asyncio.to_thread(self.archive.last_seq)
                if last > self.delivered:
                    self.delivered = await self._fill(self.delivered, last)
                continue
            if not self._subscriptions:  # nobody to hand them to (a subscriber reads the archive first)
                self.delivered = max(self.delivered, last)
                continue
            for report in reports:
                if report.seq <= self.delivered:
                    continue
                if report.seq > self.delivered + 1:
                    self.delivered = await self._fill(self.delivered, report.seq - 1)
                self._offer(report)
                self.delivered = report.seq
            if last > self.delivered:  # a run that came without some of its reports (too large to relay)
                self.delivered = await self._fill(self.delivered, last)

    async def _fill(self, delivered: int, through: int) -> int:
        """Hand out the archive's reports after `delivered` up to `through`; returns `through`."""
        everything = ReportFilter()
        while delivered < through and self._subscriptions:
            page = await asyncio.to_thread(self.archive.read_after, delivered, everything, min(_PAGE, through - delivered))
            for report in page:
                self._offer(report)
            if len(page) < min(_PAGE, through - delivered):
                log.warning("reports %d..%d are not in the archive (purged?)", delivered + 1, through)
                break
            delivered = page[-1].seq
        return through

    def _offer(self, report: ArchivedReport) -> None:
        for subscription in self._subscriptions:
            subscription.offer(report)

    async def subscribe(
        self, report_filter: ReportFilter, *, after_seq: int = 0, live_only: bool = False
    ) -> AsyncGenerator[ArchivedReport, None]:
        """Archived reports after `after_seq`, then live ones, in seq order, until the bus closes."""
        async with aclosing(self.subscribe_batches(report_filter, after_seq=after_seq, live_only=live_only)) as batches:
            async for batch in batches:
                for report in batch:
                    yield report

    async def subscribe_batches(
        self, report_filter: ReportFilter, *, after_seq: int = 0, live_only: bool = False, max_reports: int = _PAGE
    ) -> AsyncGenerator[list[ArchivedReport], None]:
        """`subscribe` in lists of at most `max_reports`: an archive page at a time while catching
        up, then the live reports already waiting (one, when they come slower than they are read)."""
        subscription = _Subscription(report_filter, self._subscriber_queue)
        self._subscriptions.add(subscription)
        self.demand.set()
        self.no_demand.clear()
        if subscription.follower:
            self.followers.add(subscription.follower)
        try:
            subscription.position = await asyncio.to_thread(self.archive.last_seq) if live_only else after_seq
            while not self._closed:
                subscription.catching_up = True
                subscription.behind_since = subscription.behind_since or time.monotonic()
                while True:  # catch up from the archive
                    page = await asyncio.to_thread(self.archive.read_after, subscription.position, report_filter, max_reports)
                    if page:
                        subscription.position = page[-1].seq
                        yield page
                    if len(page) < max_reports:
                        break
                subscription.catching_up = False
                while True:  # then follow live
                    if subscription.queue.empty():
                        subscription.behind_since = None  # it has taken everything there is
                    report = await subscription.queue.get()
                    batch: list[ArchivedReport] = []
                    while report is not None and not subscription.overflowed:
                        if report.seq > subscription.position:
                            batch.append(report)
                            subscription.position = report.seq
                        if len(batch) == max_reports or subscription.queue.empty():
                            break
                        report = subscription.queue.get_nowait()
                    # what still waits has waited at most since now: lag seconds measure a stall, not a busy follower
                    subscription.behind_since = None if subscription.queue.empty() else time.monotonic()
                    if batch:
                        yield batch
                    if report is None:
                        return
                    if subscription.overflowed:  # what it missed is in the archive
                        subscription.rewind()
                        break
        finally:
            self._subscriptions.discard(subscription)
            if not self._subscriptions:
                self.demand.clear()
                self.no_demand.set()

    @property
    def subscribers(self) -> int:
        """Live subscriptions (followers' and callers' streams)."""
        return len(self._subscriptions)

    def follower_lags(self, last_seq: int) -> dict[str, int]:
        """How many reports each follower's subscription has still to look at, given the
        archive's last cursor (a follower with several subscriptions shows its furthest behind)."""
        lags: dict[str, int] = {}
        for subscription in list(self._subscriptions):  # metrics read this from another thread
            if subscription.follower:
                lag = subscription.lag(last_seq)
                lags[subscription.follower] = max(lag, lags.get(subscription.follower, 0))
        return lags

    def follower_lag_seconds(self) -> dict[str, float]:
        """How long each follower has had reports waiting for it (0 once it took every one)."""
        now = time.monotonic()
        lags: dict[str, float] = {}
        for subscription in list(self._subscriptions):
            if subscription.follower:
                behind = now - subscription.behind_since if subscription.behind_since is not None else 0.0
                lags[subscription.follower] = max(behind, lags.get(subscription.follower, 0.0))
        return lags

    async def purge_expired(self) -> int:
        return await asyncio.to_thread(self.archive.purge_expired, to_micros(self._clock.now()))

    def close(self) -> None:
        """End every subscription stream (the server is draining) and give back the archive's
        kept connections (a write still to come takes one and gives it back)."""
        self._closed = True
        self.archive.close()
        if self._sequencer is not None:
            self._sequencer.cancel()
        for subscription in self._subscriptions:
            subscription.end()
