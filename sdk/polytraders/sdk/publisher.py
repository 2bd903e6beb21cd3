"""Publishing that never blocks the bot and never loses a report.

`publish()` only serialises the report and appends it to memory. Two background threads do
the rest: the *writer* commits what was appended to the bot's SQLite outbox (within a few
milliseconds: it gathers a burst into one commit, framed as segments that tile the sender's
batches), the *sender* ships the outbox to governance in order, in batches of whole segments (by
count and linger time; one call at a time, its successor framed while it is out), marks them
delivered once the server acknowledged them, and deletes delivered segments in bulk: when it has
nothing to send, past `_PURGE_REPORTS`, and on start and close. The sender reads what it sends
from the file: a batch is a row or two.
Across outages it retries with backoff; across restarts the next process resends what is left. The server is
idempotent by report_id, so at-least-once delivery becomes exactly-once storage.

A bot publishing in a tight loop holds the GIL, and CPython hands it to a waiting thread only
once a switch interval (5 ms): the writer and sender would get a turn or two per 5 ms and the
backlog would pile up in memory. So while more than a batch is pending, every `_LEND_EVERY`-th
publish() lends the GIL to them (`time.sleep(0)`); that call costs what they run before they next
let go of it, typically a fraction of a millisecond, and at one call in 256 it stays off the p99.

What a SIGKILL can cost: reports appended but not yet committed by the writer (the last
few milliseconds). `persisted()` waits until everything published so far is on disk; a
clean exit (close(), the context manager, or interpreter exit via atexit) loses nothing.

Overflow policy (the outbox is bounded by `max_outbox_reports`): when it is full, new
ONE_YEAR reports are shed and counted per kind; SEVEN_YEARS (compliance) reports are never
shed and may exceed the bound. Shed counts are kept in the outbox file, and once the outbox
drains below `resume_fraction` of the bound an OperationsReport "publisher.overflow" says
how many of each kind were shed. Reports the server refuses as invalid are moved to a
dead-letter table (kept, never deleted) and reported the same way, so they cannot block the rest.
"""

from __future__ import annotations

import atexit
import logging
import re
import sqlite3
import threading
import time
from bisect import bisect_left
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import tenacity

from polytraders.governance.v1 import report_bus_pb2
from polytraders.reports.v1 import reports_pb2 as rpb

from .errors import field_violations
from .outbox import FRAME_BOUND, Outbox, Segment, segments_of
from .report_builders import ReportBuilder

log = logging.getLogger(__name__)

PUBLISH_METHOD = "/polytraders.governance.v1.ReportBusService/PublishReports"
_WRITE_LINGER = 0.001
_PURGE_REPORTS = 100_000
"""Acknowledged reports the sender leaves in the file while busy; it deletes them once idle, or past this."""
_LEND_EVERY = 256
"""While more than a batch is pending, every this many publish() calls lend the GIL to the outbox threads."""
_REPORT_INDEX = re.compile(r"reports\[(\d+)\]")


@dataclass(frozen=True)
class PublisherConfig:
    outbox_path: str | None = None
    """SQLite file of the outbox; default `.polytraders-outbox/<bot_slug>.sqlite` in the working
    directory. One publisher per file: a second process on it stores after the first without a
    clash, but each then counts (and flush() waits for) the other's reports too."""
    batch_size: int = 2000
    """Most reports per PublishReports call (at most the server's `max_batch_reports`, 5000 by
    default). A bot's steady trickle goes out by linger time long before this; the bound matters
    when a backlog drains, where fewer, larger calls cost less on both sides."""
    max_batch_bytes: int = 4 * 1024 * 1024
    """Most bytes per PublishReports call (well under the server's 16 MiB message limit)."""
    max_report_bytes: int = 1024 * 1024
    """Largest report publish() accepts; a larger one is refused at once (ValueError)."""
    linger: float = 0.02
    """How long a partial batch waits for company before it is sent, in seconds."""
    max_outbox_reports: int = 1_000_000
    """Bound of the outbox; beyond it ONE_YEAR reports are shed (counted and reported)."""
    resume_fraction: float = 0.5
    """Shedding is over, and reported, once the outbox is below this share of the bound."""
    call_timeout: float = 10.0
    """Deadline of one PublishReports attempt, in seconds."""
    initial_backoff: float = 0.05
    """First wait after a failed send, in seconds; doubles with jitter."""
    max_backoff: float = 2.0
    """Longest wait between sends while governance is down, in seconds."""
    close_timeout: float = 5.0
    """How long close() (and interpreter exit) waits for delivery; what is left stays in the outbox."""

    def path_for(self, bot_slug: str) -> Path:
        """The outbox file of this bot."""
        return Path(self.outbox_path or Path(".polytraders-outbox") / f"{bot_slug}.sqlite")

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {self.batch_size}")
        if self.max_report_bytes + FRAME_BOUND > self.max_batch_bytes:
            raise ValueError(
                f"max_batch_bytes ({self.max_batch_bytes}) must hold the largest report, max_report_bytes "
                f"({self.max_report_bytes}), framed"
            )


@dataclass(frozen=True)
class PublisherStats:
    pending: int
    """Reports accepted but not yet acknowledged (in memory or in the outbox)."""
    delivered: int
    """Reports governance acknowledged since this publisher started."""
    shed: int
    """Reports shed by the overflow policy since this publisher started."""
    dead_lettered: int
    """Reports governance refused as invalid since this publisher started."""
    last_error: str = ""
    """Why the last send failed ("UNAVAILABLE: ... CERTIFICATE_VERIFY_FAILED ..."); empty once a
    batch is taken again."""


@dataclass(frozen=True)
class OutboxState:
    """A publisher's backlog, as its metrics show it."""

    pending: int
    """Reports accepted but not yet acknowledged (in memory or in the outbox)."""
    outbox_bytes: int
    """Bytes of unacknowledged reports in the outbox file."""
    oldest_produced_at: datetime | None
    """When the oldest unacknowledged report in the file was produced; None when it holds none."""
    shed: int
    """Reports shed by the overflow policy since this publisher started."""
    reachable: bool
    """False while the last call to governance failed."""


class Durations:
    """Call durations in fixed buckets (seconds), kept by the sender thread, read by metrics."""

    BOUNDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

    def __init__(self) -> None:
        self.counts = [0] * (len(self.BOUNDS) + 1)  # the last one: over every bound
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(self.BOUNDS, seconds)] += 1
        self.total += seconds


class PublisherClosed(RuntimeError):
    pass


def _request_body(batch: Iterable[Segment]) -> bytes:
    return b"".join(segment.body for segment in batch)


class ReportPublisher:
    def __init__(
        self,
        channel: grpc.Channel,
        metadata: Sequence[tuple[str, str]],
        builder: ReportBuilder,
        config: PublisherConfig | None = None,
    ) -> None:
        self.config = config or PublisherConfig()
        self._builder = builder
        self._metadata = tuple(metadata)
        self._send = channel.unary_unary(
            PUBLISH_METHOD, response_deserializer=report_bus_pb2.PublishReportsResponse.FromString
        )
        self.outbox = Outbox(self.config.path_for(builder.bot_slug))
        with self.outbox.connect() as conn:
            backlog = Outbox.count(conn)
            self._shedding = Outbox.has_shed(conn)  # a previous run shed reports it has not reported yet
            self._next_seq = Outbox.next_seq(conn)  # the writer's from now on
        self._lock = threading.Lock()
        self._settled = threading.Condition(self._lock)
        self._incoming: deque[bytes | tuple[Callable[..., rpb.Report], tuple[Any, ...]]] = deque()
        self._unpurged = 0  # acknowledged reports still in the file (the sender's own count)
        self._unwritten = 0
        self._published = 0  # publish() calls, for lending the GIL
        self._depth = backlog
        self._batch_size = self.config.batch_size  # halved while governance refuses batches this big
        self._shed_since_write: Counter[int] = Counter()
        self._totals = Counter[str]()
        self._last_error = ""
        self._closed = False
        self._recovery_due = False
        self._flushers = 0
        self._wake_writer = threading.Event()
        self._wrote = threading.Condition(self._lock)
        self._rows_ready = threading.Event()
        self._hurry = threading.Event()
        self._stop_writer = threading.Event()
        self._stop_sender = threading.Event()
        self._writer = threading.Thread(
            target=self._write_loop, name=f"outbox-writer-{builder.bot_slug}", daemon=True
        )
        self._sender = threading.Thread(
            target=self._send_loop, name=f"outbox-sender-{builder.bot_slug}", daemon=True
        )
        self.acknowledgements = Durations()
        """How long each PublishReports call took from sending to governance's acknowledgement."""
        self._writer.start()
        self._sender.start()
        atexit.register(self.close)

    # -- the bot's side ---------------------------------------------------------------------------

    def publish(self, report: rpb.Report) -> bool:
        """Enqueue a report and return at once: True if accepted, False if shed by the overflow policy."""
        header = report.header
        if header.bot_slug != self._builder.bot_slug or not header.report_id:
            raise ValueError(
                f"report {header.report_id!r} is for bot {header.bot_slug!r}; this publisher publishes "
                f"{self._builder.bot_slug!r}'s reports and each needs a report_id (use the report builders)"
            )
        payload = report.SerializeToString(deterministic=True)  # canonical: governance reads it as columns
        if len(payload) > self.config.max_report_bytes:
            raise ValueError(
                f"report {header.report_id} is {len(payload)} bytes; the limit is {self.config.max_report_bytes}"
            )
        pending = self._enqueue(payload, header.kind, header.retention)
        if pending is None:
            return False
        self._published += 1  # racy across threads, and harmless: it only spaces the lending out
        if pending > self._batch_size and self._published % _LEND_EVERY == 0:
            time.sleep(0)  # the GIL to the outbox threads (module docstring)
        return True

    def publish_deferred(
        self,
        kind: rpb.ReportKind.ValueType,
        retention: rpb.Retention.ValueType,
        build: Callable[..., rpb.Report],
        *args: Any,
    ) -> bool:
        """Like publish(), but `build(*args)` runs on the writer thread: for hot paths (tag_order).

        `build` must not fail and must produce a report of `kind` and `retention` for this bot.
        Unlike publish() it never lends the GIL (module docstring): its caller is on an order's path.
        """
        return self._enqueue((build, args), kind, retention) is not None

    def _enqueue(
        self,
        item: bytes | tuple[Callable[..., rpb.Report], tuple[Any, ...]],
        kind: rpb.ReportKind.ValueType,
        retention: rpb.Retention.ValueType,
    ) -> int | None:
        """The reports pending with this one, or None if the overflow policy shed it."""
        with self._lock:
            if self._closed:
                raise PublisherClosed("publish() after close()")
            if self._depth >= self.config.max_outbox_reports and retention != rpb.RETENTION_SEVEN_YEARS:
                self._shed_since_write[kind] += 1
                self._totals["shed"] += 1
                self._shedding = True
                return None
            self._depth += 1
            self._unwritten += 1
            self._incoming.append(item)
            pending = self._depth
        if not self._wake_writer.is_set():
            self._wake_writer.set()
        return pending

    def persisted(self, timeout: float | None = None) -> bool:
        """Wait until every report published so far is committed to the outbox file."""
        deadline = None if timeout is None else time.monotonic() + timeout
        self._wake_writer.set()
        with self._wrote:
            while self._unwritten:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._wrote.wait(remaining)
        return True

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until governance acknowledged everything pending; False if `timeout` ran out first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            self._flushers += 1
        self._hurry.set()
        self._wake_writer.set()
        try:
            with self._settled:
                while self._depth > 0:
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        return False
                    self._settled.wait(remaining)
                return True
        finally:
            with self._lock:
                self._flushers -= 1
                if not self._flushers and not self._closed:
                    self._hurry.clear()

    def close(self, timeout: float | None = None) -> bool:
        """Stop accepting, try to deliver for `timeout` (config.close_timeout), keep the rest on disk."""
        with self._lock:
            if self._closed:
                return self._depth == 0
            self._closed = True
        atexit.unregister(self.close)
        delivered = self.flush(self.config.close_timeout if timeout is None else timeout)
        self._stop_sender.set()
        self._rows_ready.set()
        # The thread is a daemon: if a call is still out when this gives up, its rows stay in the outbox.
        self._sender.join(self.config.call_timeout)
        self._stop_writer.set()
        self._wake_writer.set()
        self._writer.join()
        return delivered

    def stats(self) -> PublisherStats:
        with self._lock:
            return PublisherStats(
                self._depth, self._totals["delivered"], self._totals["shed"], self._totals["dead_lettered"],
                self._last_error,
            )  # fmt: skip

    def outbox_state(self) -> OutboxState:
        """What waits in the outbox file, read from it (its own connection: any thread may ask)."""
        with closing(self.outbox.connect()) as conn:
            size, oldest = Outbox.unsent(conn)
        produced = rpb.Report.FromString(oldest).header.produced_at.ToDatetime(tzinfo=UTC) if oldest else None
        stats = self.stats()
        return OutboxState(stats.pending, size, produced, stats.shed, not stats.last_error)

    # -- the writer thread ------------------------------------------------------------------------

    def _write_loop(self) -> None:
        conn = self.outbox.connect()
        try:
            backlog = False
            while True:
                if not backlog and self._wake_writer.wait(0.2) and not self._stop_writer.is_set():
                    time.sleep(_WRITE_LINGER)  # gather a burst into one commit; fewer GIL hand-offs
                self._wake_writer.clear()
                with self._lock:
                    batch = self._take_incoming()
                    backlog = bool(self._incoming)
                    shed, self._shed_since_write = self._shed_since_write, Counter()
                try:  # each step forgets what it stored, so a later step's failure keeps only the rest
                    if batch:
                        self._store(conn, batch)
                        batch = deque()
                    if shed:
                        Outbox.add_shed(conn, dict(shed))
                        shed = Counter()
                    if self._recovery_due:
                        self._report_overflow(conn)
                except Exception:  # the disk, not the bot: keep what is not stored in memory and try again
                    log.exception("outbox write failed; %d reports kept in memory, retrying", len(batch))
                    with self._lock:
                        self._incoming.extendleft(reversed(batch))
                        self._shed_since_write.update(shed)
                    self._stop_writer.wait(0.5)
                    continue
                if self._stop_writer.is_set() and not self._incoming:
                    return
        finally:
            conn.close()

    def _take_incoming(self) -> deque[bytes | tuple[Callable[..., rpb.Report], tuple[Any, ...]]]:
        """What was published, up to the next batch boundary in seq (under the lock): a burst is
        committed a batch at a time, so the sender ships the first while the writer commits the
        rest, and its segments tile the sender's batches."""
        room = self._batch_size - (self._next_seq - 1) % self._batch_size
        if len(self._incoming) <= room:
            taken, self._incoming = self._incoming, deque()
            return taken
        return deque(self._incoming.popleft() for _ in range(room))

    def _store(self, conn, batch: deque) -> None:  # type: ignore[no-untyped-def,type-arg]
        payloads = [self._payload(item) for item in batch]
        self._append(conn, [p for p in payloads if p is not None])
        with self._wrote:
            self._unwritten -= len(batch)
            self._depth -= payloads.count(None)
            self._wrote.notify_all()
            self._settled.notify_all()
        self._rows_ready.set()

    def _append(self, conn, payloads: list[bytes]) -> None:  # type: ignore[no-untyped-def]
        """Commit to the outbox as the next seqs."""
        Outbox.append(
            conn, segments_of(self._next_seq, payloads, self._batch_size, self.config.max_batch_bytes)
        )
        self._next_seq += len(payloads)

    def _loss_report(
        self, event: str, severity: rpb.Severity.ValueType, explanation: str, metrics: dict[str, str]
    ) -> rpb.Report:
        """The OperationsReport that explains reports this publisher could not deliver."""
        return self._builder.operations(
            component=f"publisher:{self._builder.bot_slug}",
            status=rpb.COMPONENT_STATUS_DEGRADED,
            severity=severity,
            event=event,
            alert_key=f"{event}:{self._builder.bot_slug}",
            explanation=explanation,
            metrics=metrics,
        )

    @staticmethod
    def _payload(item: bytes | tuple[Callable[..., rpb.Report], tuple[Any, ...]]) -> bytes | None:
        if isinstance(item, bytes):
            return item
        build, args = item
        try:
            payload = build(*args).SerializeToString(deterministic=True)
        except Exception:  # a bug in a deferred build must not stop the outbox
            log.exception("a deferred report could not be built; it is dropped")
            return None
        time.sleep(0)  # hand the GIL back between builds: the bot's hot path comes first
        return payload

    def _report_overflow(self, conn) -> None:  # type: ignore[no-untyped-def]
        """Write the report of what was shed, taking the counts in the same transaction; the sender
        reserved its place in `_depth` already."""
        with self._lock:
            self._recovery_due = False
        try:
            with conn:
                conn.execute("BEGIN IMMEDIATE")
                shed = Outbox.take_shed(conn)
                if shed:
                    self._append(conn, [self._overflow_report(shed).SerializeToString(deterministic=True)])
        except Exception:
            with self._lock:
                self._recovery_due = True
            raise
        if shed:
            self._rows_ready.set()
            return
        with self._settled:  # another recovery's report took the counts
            self._depth -= 1
            self._settled.notify_all()

    def _overflow_report(self, shed: dict[int, int]) -> rpb.Report:
        by_kind = {
            (
                rpb.ReportKind.Name(kind).removeprefix("REPORT_KIND_").lower()
                if kind in rpb.ReportKind.values()
                else str(kind)
            ): n
            for kind, n in shed.items()
        }
        return self._loss_report(
            "publisher.overflow",
            rpb.SEVERITY_WARNING,
            (
                f"The outbox reached its bound of {self.config.max_outbox_reports} reports; "
                f"{sum(shed.values())} ONE_YEAR reports were shed before it recovered."
            ),
            metrics={f"shed.{kind}": str(n) for kind, n in sorted(by_kind.items())},
        )

    # -- the sender thread ------------------------------------------------------------------------

    def _send_loop(self) -> None:
        conn = self.outbox.connect()
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(
                lambda e: isinstance(e, grpc.RpcError) and e.code() != grpc.StatusCode.INVALID_ARGUMENT
            ),
            wait=tenacity.wait_exponential_jitter(
                multiplier=self.config.initial_backoff,
                max=self.config.max_backoff,
                jitter=self.config.initial_backoff,
            ),
            stop=tenacity.stop_when_event_set(self._stop_sender),
            sleep=self._stop_sender.wait,
            before_sleep=self._log_refusal,
            reraise=True,
        )
        in_flight: deque[tuple[list[Segment], grpc.Future, float]] = deque()
        sent_through = 0  # the last outbox seq sent ahead of its acknowledgement
        self._purge(conn)  # what an earlier run delivered but did not get round to deleting
        try:
            while not self._stop_sender.is_set():
                try:
                    sent_through = self._send_step(conn, retrying, in_flight, sent_through)
                except grpc.RpcError:
                    if self._stop_sender.is_set():
                        return
                    raise
                except Exception:  # the outbox file, not governance: start again from the oldest report
                    log.exception("outbox read or acknowledge failed; retrying")
                    for _, call, _ in in_flight:
                        call.cancel()
                    in_flight.clear()
                    sent_through = 0
                    self._stop_sender.wait(1.0)
        finally:
            for batch, call, _ in in_flight:  # the call out when the sender stopped
                if call.done() and not call.cancelled() and call.exception() is None:
                    self._acknowledged(conn, batch)
                else:
                    call.cancel()
            try:
                if self._unpurged:
                    self._purge(conn)
            finally:
                conn.close()

    def _send_step(
        self,
        conn,  # type: ignore[no-untyped-def]
        retrying: tenacity.Retrying,
        in_flight: deque[tuple[list[Segment], grpc.Future, float]],
        sent_through: int,
    ) -> int:
        """Send a batch, or settle the call in flight; returns the new sent_through.

        One call at a time keeps the archive in the order the bot published (two calls in
        flight may be stored in either order). The bot's own work overlaps the server's
        instead: the next full batch is framed while a call is out, sent the moment that call
        is answered, and the answered batch is marked delivered while the next call is out.
        """
        if not in_flight:
            batch, full = self._unsent(conn, sent_through)
            if not batch:
                if self._unpurged:  # nothing to send: the moment to delete what was delivered
                    self._purge(conn)
                self._rows_ready.wait(0.5)
                self._rows_ready.clear()
                return sent_through
            if not full and not self._hurry.is_set():
                self._hurry.wait(self.config.linger)  # let a partial batch fill up a little
                batch, _ = self._unsent(conn, sent_through)
            return self._send_ahead(batch, in_flight)
        ahead, full = self._unsent(conn, sent_through)
        body = _request_body(ahead) if full else b""
        batch, call, sent_at = in_flight.popleft()
        if call.exception() is not None:
            self._redeliver(conn, retrying)
            return 0
        self.acknowledgements.observe(time.monotonic() - sent_at)
        if body:
            sent_through = self._send_ahead(ahead, in_flight, body)
        self._acknowledged(conn, batch)
        return sent_through

    def _unsent(self, conn, after_seq: int) -> tuple[list[Segment], bool]:  # type: ignore[no-untyped-def]
        """The next batch after `after_seq`: whole segments up to the batch size and max_batch_bytes;
        and whether it is full (else it may wait for company)."""
        limit, max_bytes = self._batch_size, self.config.max_batch_bytes
        segments = Outbox.oldest(conn, limit, after_seq, max_bytes)
        if segments and (segments[0].reports > limit or len(segments[0].body) > max_bytes):
            # Governance takes fewer, or the limits changed since it was written: cut it in the file
            # itself, so acknowledgements still fall on segment ends.
            whole = segments[0]
            segments = segments_of(whole.first_seq, whole.payloads(), limit, max_bytes)
            if len(segments) > 1:  # a lone report over the byte bound goes as it is
                Outbox.replace(conn, whole, segments)
        batch: list[Segment] = []
        reports = size = 0
        for segment in segments:
            if batch and (reports + segment.reports > limit or size + len(segment.body) > max_bytes):
                return batch, True
            batch.append(segment)
            reports += segment.reports
            size += len(segment.body)
        return batch, reports >= limit

    def _send_ahead(
        self, batch: list[Segment], in_flight: deque[tuple[list[Segment], grpc.Future, float]], body: bytes = b""
    ) -> int:
        body = body or _request_body(batch)
        call = self._send.future(body, timeout=self.config.call_timeout, metadata=self._metadata)
        in_flight.append((batch, call, time.monotonic()))
        return batch[-1].end_seq - 1

    def _log_refusal(self, state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        code = error.code().name if isinstance(error, grpc.RpcError) else type(error).__name__  # type: ignore[attr-defined]
        details = error.details() if isinstance(error, grpc.RpcError) else str(error)  # type: ignore[attr-defined]
        self._last_error = f"{code}: {details}"
        log.warning("governance did not take the batch (%s: %s); kept in the outbox, retrying", code, details)

    def _redeliver(self, conn, retrying: tenacity.Retrying) -> None:  # type: ignore[no-untyped-def]
        """After a failed call: the oldest unacknowledged batch again, with retries; what governance
        refuses as invalid is set aside."""
        batch, _ = self._unsent(conn, 0)
        if not batch:
            return
        started = time.monotonic()
        try:
            retrying(
                self._send, _request_body(batch), timeout=self.config.call_timeout, metadata=self._metadata
            )
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.INVALID_ARGUMENT:  # type: ignore[attr-defined]
                raise
            self._refused(conn, batch, error)
            return
        self.acknowledgements.observe(time.monotonic() - started)  # through every retry: the bot waited that long
        self._acknowledged(conn, batch)

    def _acknowledged(self, conn, batch: list[Segment]) -> None:  # type: ignore[no-untyped-def]
        Outbox.acknowledge(conn, batch[-1].end_seq - 1)
        reports = sum(segment.reports for segment in batch)
        self._unpurged += reports
        with self._settled:
            self._depth -= reports
            self._totals["delivered"] += reports
            self._last_error = ""
            if self._shedding and self._depth <= self.config.max_outbox_reports * self.config.resume_fraction:
                self._shedding = False
                if not self._recovery_due:  # one report covers every recovery the writer has not written yet
                    self._recovery_due = True
                    self._depth += (
                        1  # the overflow report counts as pending from now, so flush() waits for it
                    )
                self._wake_writer.set()
            self._settled.notify_all()
        if self._unpurged >= _PURGE_REPORTS:
            self._purge(conn)

    def _purge(self, conn) -> None:  # type: ignore[no-untyped-def]
        """Delete delivered rows (sender thread only). A failure costs nothing but file size: the
        rows are marked delivered already, and the next purge takes them."""
        try:
            Outbox.purge_acknowledged(conn)
        except sqlite3.Error:
            log.warning("could not delete delivered reports from %s; will try again", self.outbox.path)
            return
        self._unpurged = 0

    def _refused(self, conn, batch: list[Segment], error: grpc.RpcError) -> None:  # type: ignore[no-untyped-def]
        """Governance refused the batch as invalid: set the named reports aside, or send smaller batches."""
        seqs = [seq for segment in batch for seq in range(segment.first_seq, segment.end_seq)]
        reasons: dict[int, list[str]] = {}
        for violation in field_violations(error):
            match = _REPORT_INDEX.match(violation.field)
            if match and int(match.group(1)) < len(seqs):
                reasons.setdefault(seqs[int(match.group(1))], []).append(
                    f"{violation.field}: {violation.description}"
                )
        if not reasons and len(seqs) > 1:  # the batch as a whole, by its size: send smaller ones
            self._batch_size = max(1, len(seqs) // 2)
            log.warning("governance refused a batch of %d (%s); sending %d at a time",
                        len(seqs), error.details(), self._batch_size)  # type: ignore[attr-defined]  # fmt: skip
            return
        if not reasons:  # a lone report refused as a whole: set it aside rather than loop forever
            reasons = {seqs[0]: [error.details() or "refused"]}  # type: ignore[attr-defined]
        Outbox.dead_letter(conn, batch, {seq: "; ".join(why) for seq, why in reasons.items()})
        log.error(
            "governance refused %d reports as invalid; kept in %s (dead_letter)",
            len(reasons),
            self.outbox.path,
        )
        explanation = self._loss_report(
            "publisher.dead_letter",
            rpb.SEVERITY_ERROR,
            f"Governance refused {len(reasons)} reports as invalid: {reasons[min(reasons)][0]}",
            {"dead_lettered": str(len(reasons))},
        )
        with self._settled:  # one step, so flush() never sees zero between the refusal and its report
            self._depth -= len(reasons) - 1
            self._unwritten += 1
            self._incoming.append(explanation.SerializeToString(deterministic=True))
            self._totals["dead_lettered"] += len(reasons)
            self._settled.notify_all()
        self._wake_writer.set()
