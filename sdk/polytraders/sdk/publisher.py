"""Publishing that never blocks the bot and never loses a report.

`publish()` only serialises the report and appends it to memory. Two background threads do
the rest, each a module of `polytraders.sdk.publishing` beside the backlog they share (flow
control and shedding), redelivery and the loss reports: the *writer* commits what was appended
to the bot's SQLite outbox as soon as it gets a turn, the *sender* ships the outbox to
governance in order and marks what the server acknowledged as delivered. Across outages it
retries with backoff; across restarts the next process resends what is left. The server is
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
import time
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc

from polytraders.reports.v1 import reports_pb2 as rpb

from .outbox import FRAME_BOUND, Outbox
from .publishing.backlog import Backlog, PublisherClosed
from .publishing.losses import LossReports
from .publishing.sender import Durations, OutboxSender
from .publishing.writer import OutboxWriter
from .report_builders import ReportBuilder

__all__ = ["OutboxState", "PublisherClosed", "PublisherConfig", "PublisherStats", "ReportPublisher"]

_LEND_EVERY = 256
"""While more than a batch is pending, every this many publish() calls lend the GIL to the outbox threads."""


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


class ReportPublisher:
    def __init__(
        self,
        channel: grpc.Channel,
        metadata: Sequence[tuple[str, str]],
        builder: ReportBuilder,
        config: PublisherConfig | None = None,
    ) -> None:
        self.config = config or PublisherConfig()
        config = self.config
        self._bot_slug = builder.bot_slug
        self.outbox = Outbox(config.path_for(builder.bot_slug))
        with closing(self.outbox.connect()) as conn:
            pending = Outbox.count(conn)
            shedding = Outbox.has_shed(conn)  # a previous run shed reports it has not reported yet
        self._backlog = Backlog(pending, config.batch_size, config.max_outbox_reports, config.resume_fraction, shedding)
        self._published = 0  # publish() calls, for lending the GIL
        losses = LossReports(builder, config.max_outbox_reports)
        self._writer = OutboxWriter(
            self.outbox, self._backlog, losses, config.max_batch_bytes, f"outbox-writer-{builder.bot_slug}"
        )
        self._sender = OutboxSender(
            channel, metadata, self.outbox, self._backlog, losses,
            max_batch_bytes=config.max_batch_bytes, linger=config.linger, call_timeout=config.call_timeout,
            initial_backoff=config.initial_backoff, max_backoff=config.max_backoff,
            name=f"outbox-sender-{builder.bot_slug}",
        )  # fmt: skip
        self.acknowledgements: Durations = self._sender.acknowledgements
        """How long each PublishReports call took from sending to governance's acknowledgement."""
        self._writer.start()
        self._sender.start()
        atexit.register(self.close)

    def publish(self, report: rpb.Report) -> bool:
        """Enqueue a report and return at once: True if accepted, False if shed by the overflow policy."""
        header = report.header
        if header.bot_slug != self._bot_slug or not header.report_id:
            raise ValueError(
                f"report {header.report_id!r} is for bot {header.bot_slug!r}; this publisher publishes "
                f"{self._bot_slug!r}'s reports and each needs a report_id (use the report builders)"
            )
        payload = report.SerializeToString(deterministic=True)  # canonical: governance reads it as columns
        if len(payload) > self.config.max_report_bytes:
            raise ValueError(
                f"report {header.report_id} is {len(payload)} bytes; the limit is {self.config.max_report_bytes}"
            )
        pending = self._backlog.add(payload, header.kind, header.retention)
        if pending is None:
            return False
        self._published += 1  # racy across threads, and harmless: it only spaces the lending out
        if pending > self._backlog.batch_size and self._published % _LEND_EVERY == 0:
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
        return self._backlog.add((build, args), kind, retention) is not None

    def persisted(self, timeout: float | None = None) -> bool:
        """Wait until every report published so far is committed to the outbox file."""
        return self._backlog.wait_written(timeout)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until governance acknowledged everything pending; False if `timeout` ran out first."""
        return self._backlog.wait_settled(timeout)

    def close(self, timeout: float | None = None) -> bool:
        """Stop accepting, try to deliver for `timeout` (config.close_timeout), keep the rest on disk."""
        if not self._backlog.close():
            return self.stats().pending == 0
        atexit.unregister(self.close)
        delivered = self.flush(self.config.close_timeout if timeout is None else timeout)
        self._sender.stop()
        self._writer.stop()
        return delivered

    def stats(self) -> PublisherStats:
        return PublisherStats(*self._backlog.counts())

    def outbox_state(self) -> OutboxState:
        """What waits in the outbox file, read from it (its own connection: any thread may ask)."""
        with closing(self.outbox.connect()) as conn:
            size, oldest = Outbox.unsent(conn)
        produced = rpb.Report.FromString(oldest).header.produced_at.ToDatetime(tzinfo=UTC) if oldest else None
        stats = self.stats()
        return OutboxState(stats.pending, size, produced, stats.shed, not stats.last_error)
