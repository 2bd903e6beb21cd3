"""The sender thread: the outbox shipped to governance in order, in batches of whole segments.

One call at a time keeps the archive in the order the bot published (two calls in flight may be
stored in either order). The bot's own work overlaps the server's instead: the next full batch
is framed while a call is out, sent the moment that call is answered, and the answered batch is
marked delivered while the next call is out. A partial batch waits `linger` for company unless
someone flushes. Delivered rows are deleted in bulk: when there is nothing to send, past
`_PURGE_REPORTS`, and on start and stop. The sender reads what it sends from the file: a batch is
a row or two.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from bisect import bisect_left
from collections import deque
from collections.abc import Iterable, Sequence

import grpc

from polytraders.governance.v1 import report_bus_pb2

from ..outbox import Outbox, Segment, segments_of
from . import log
from .backlog import Backlog
from .losses import LossReports
from .redelivery import Redelivery

PUBLISH_METHOD = "/polytraders.governance.v1.ReportBusService/PublishReports"
_PURGE_REPORTS = 100_000
"""Acknowledged reports the sender leaves in the file while busy; it deletes them once idle, or past this."""

InFlight = deque[tuple[list[Segment], "grpc.Future[report_bus_pb2.PublishReportsResponse]", float]]
"""The call out (at most one): its batch, its future, when it was sent."""


class Durations:
    """Call durations in fixed buckets (seconds), kept by the sender thread, read by metrics."""

    BOUNDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

    def __init__(self) -> None:
        self.counts = [0] * (len(self.BOUNDS) + 1)  # the last one: over every bound
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(self.BOUNDS, seconds)] += 1
        self.total += seconds


def request_body(batch: Iterable[Segment]) -> bytes:
    """A PublishReportsRequest of the batch's reports: its segments' framed bytes, joined."""
    return b"".join(segment.body for segment in batch)


class OutboxSender:
    def __init__(
        self,
        channel: grpc.Channel,
        metadata: Sequence[tuple[str, str]],
        outbox: Outbox,
        backlog: Backlog,
        losses: LossReports,
        *,
        max_batch_bytes: int,
        linger: float,
        call_timeout: float,
        initial_backoff: float,
        max_backoff: float,
        name: str,
    ) -> None:
        self._send: grpc.UnaryUnaryMultiCallable[bytes, report_bus_pb2.PublishReportsResponse] = channel.unary_unary(
            PUBLISH_METHOD, response_deserializer=report_bus_pb2.PublishReportsResponse.FromString
        )
        self._metadata = tuple(metadata)
        self._outbox = outbox
        self._backlog = backlog
        self._max_batch_bytes = max_batch_bytes
        self._linger = linger
        self._call_timeout = call_timeout
        self._stop = threading.Event()
        self._redelivery = Redelivery(backlog, outbox, losses, initial_backoff, max_backoff, self._stop)
        self._unpurged = 0  # acknowledged reports still in the file
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.acknowledgements = Durations()
        """How long each PublishReports call took from sending to governance's acknowledgement."""

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """End after the call out, if any (waiting for it up to call_timeout: the thread is a
        daemon, and a batch whose call is still out stays in the outbox)."""
        self._stop.set()
        self._backlog.rows_ready.set()
        self._thread.join(self._call_timeout)

    def _run(self) -> None:
        conn = self._outbox.connect()
        in_flight: InFlight = deque()
        sent_through = 0  # the last outbox seq sent ahead of its acknowledgement
        self._purge(conn)  # what an earlier run delivered but did not get round to deleting
        try:
            while not self._stop.is_set():
                try:
                    sent_through = self._step(conn, in_flight, sent_through)
                except grpc.RpcError:
                    if self._stop.is_set():
                        return
                    raise
                except Exception:  # the outbox file, not governance: start again from the oldest report
                    log.exception("outbox read or acknowledge failed; retrying")
                    for _, call, _ in in_flight:
                        call.cancel()
                    in_flight.clear()
                    sent_through = 0
                    self._stop.wait(1.0)
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

    def _step(self, conn: sqlite3.Connection, in_flight: InFlight, sent_through: int) -> int:
        """Send a batch, or settle the call in flight; returns the new sent_through."""
        backlog = self._backlog
        if not in_flight:
            batch, full = self._unsent(conn, sent_through)
            if not batch:
                if self._unpurged:  # nothing to send: the moment to delete what was delivered
                    self._purge(conn)
                backlog.rows_ready.wait(0.5)
                backlog.rows_ready.clear()
                return sent_through
            if not full and not backlog.hurry.is_set():
                backlog.hurry.wait(self._linger)  # let a partial batch fill up a little
                batch, _ = self._unsent(conn, sent_through)
            return self._send_ahead(batch, in_flight)
        ahead, full = self._unsent(conn, sent_through)
        body = request_body(ahead) if full else b""
        batch, call, sent_at = in_flight.popleft()
        if call.exception() is not None:
            self._redeliver(conn)
            return 0
        self.acknowledgements.observe(time.monotonic() - sent_at)
        if body:
            sent_through = self._send_ahead(ahead, in_flight, body)
        self._acknowledged(conn, batch)
        return sent_through

    def _unsent(self, conn: sqlite3.Connection, after_seq: int) -> tuple[list[Segment], bool]:
        """The next batch after `after_seq`: whole segments up to the batch size and max_batch_bytes;
        and whether it is full (else it may wait for company)."""
        limit, max_bytes = self._backlog.batch_size, self._max_batch_bytes
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

    def _send_ahead(self, batch: list[Segment], in_flight: InFlight, body: bytes = b"") -> int:
        body = body or request_body(batch)
        call = self._send.future(body, timeout=self._call_timeout, metadata=self._metadata)
        in_flight.append((batch, call, time.monotonic()))
        return batch[-1].end_seq - 1

    def _redeliver(self, conn: sqlite3.Connection) -> None:
        """After a failed call: the oldest unacknowledged batch again, until governance takes it."""
        batch, _ = self._unsent(conn, 0)
        if not batch:
            return
        started = time.monotonic()
        try:
            self._redelivery.send(self._send, request_body(batch), timeout=self._call_timeout, metadata=self._metadata)
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.INVALID_ARGUMENT:
                raise
            self._redelivery.refused(conn, batch, error)
            return
        self.acknowledgements.observe(time.monotonic() - started)  # through every retry: the bot waited that long
        self._acknowledged(conn, batch)

    def _acknowledged(self, conn: sqlite3.Connection, batch: list[Segment]) -> None:
        Outbox.acknowledge(conn, batch[-1].end_seq - 1)
        reports = sum(segment.reports for segment in batch)
        self._unpurged += reports
        self._backlog.delivered(reports)
        if self._unpurged >= _PURGE_REPORTS:
            self._purge(conn)

    def _purge(self, conn: sqlite3.Connection) -> None:
        """Delete delivered rows. A failure costs nothing but file size: the rows are marked
        delivered already, and the next purge takes them."""
        try:
            Outbox.purge_acknowledged(conn)
        except sqlite3.Error:
            log.warning("could not delete delivered reports from %s; will try again", self._outbox.path)
            return
        self._unpurged = 0
