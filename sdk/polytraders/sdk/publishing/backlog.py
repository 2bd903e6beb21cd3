"""What a publisher holds that governance has not acknowledged, and who waits on it.

The bot's threads add to it, the writer moves it into the outbox file, the sender settles it.
What flush() and persisted() wait on (the pending and unwritten counts) changes under one lock,
so flush() never sees zero between a refusal and the report that explains it, and persisted()
never misses a commit; `batch_size` and `last_error` are single values one thread writes and
others read; `recovery_due` is written under the lock by the writer and the sender, and read
without it where a stale answer only delays a retry by one turn.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable
from typing import Any

from polytraders.reports.v1 import reports_pb2 as rpb

Item = bytes | tuple[Callable[..., rpb.Report], tuple[Any, ...]]
"""A report as publish() took it: serialised, or a build the writer runs (publish_deferred)."""


class PublisherClosed(RuntimeError):
    pass


class Backlog:
    """Counts and queues shared by the bot's threads, the writer and the sender (flow control)."""

    def __init__(self, pending: int, batch_size: int, bound: int, resume_fraction: float, shedding: bool) -> None:
        self._lock = threading.Lock()
        self._settled = threading.Condition(self._lock)
        """Notified whenever `depth` falls: flush() waits on it."""
        self._wrote = threading.Condition(self._lock)
        """Notified whenever the writer committed: persisted() waits on it."""
        self._incoming: deque[Item] = deque()
        self._bound = bound
        self._resume_at = bound * resume_fraction
        self.depth = pending
        """Reports accepted but not yet acknowledged (in memory or in the outbox)."""
        self.unwritten = 0
        """Reports accepted but not yet committed to the outbox."""
        self.batch_size = batch_size
        """Most reports per call; halved while governance refuses batches this big."""
        self.shedding = shedding
        """The outbox reached its bound and recovered from it no lower than resume_fraction yet."""
        self.recovery_due = False
        """The writer owes the report of what was shed (its place in `depth` is reserved)."""
        self.last_error = ""
        self._shed_since_write: Counter[int] = Counter()
        self.totals: Counter[str] = Counter()
        self._closed = False
        self._flushers = 0
        self.wake_writer = threading.Event()
        self.rows_ready = threading.Event()
        """Set when the writer committed rows the sender has not seen."""
        self.hurry = threading.Event()
        """Set while someone flushes: partial batches go without lingering."""

    # -- the bot's side ---------------------------------------------------------------------------

    def add(self, item: Item, kind: rpb.ReportKind.ValueType, retention: rpb.Retention.ValueType) -> int | None:
        """The reports pending with this one, or None if the overflow policy shed it."""
        with self._lock:
            if self._closed:
                raise PublisherClosed("publish() after close()")
            if self.depth >= self._bound and retention != rpb.RETENTION_SEVEN_YEARS:
                self._shed_since_write[kind] += 1
                self.totals["shed"] += 1
                self.shedding = True
                return None
            self.depth += 1
            self.unwritten += 1
            self._incoming.append(item)
            pending = self.depth
        if not self.wake_writer.is_set():
            self.wake_writer.set()
        return pending

    def wait_written(self, timeout: float | None) -> bool:
        """Until everything added so far is committed to the outbox; False if `timeout` ran out."""
        self.wake_writer.set()
        with self._wrote:
            return self._wrote.wait_for(lambda: not self.unwritten, timeout)

    def wait_settled(self, timeout: float | None) -> bool:
        """Until governance acknowledged everything pending; False if `timeout` ran out."""
        with self._lock:
            self._flushers += 1
        self.hurry.set()
        self.wake_writer.set()
        try:
            with self._settled:
                return self._settled.wait_for(lambda: self.depth <= 0, timeout)
        finally:
            with self._lock:
                self._flushers -= 1
                if not self._flushers and not self._closed:
                    self.hurry.clear()

    def close(self) -> bool:
        """Take no more reports; False if closed already."""
        with self._lock:
            if self._closed:
                return False
            self._closed = True
            return True

    def counts(self) -> tuple[int, int, int, int, str]:
        """pending, delivered, shed, dead-lettered, the last send error: one consistent reading."""
        with self._lock:
            totals = self.totals
            return self.depth, totals["delivered"], totals["shed"], totals["dead_lettered"], self.last_error

    # -- the writer's side ------------------------------------------------------------------------

    def take(self, next_seq: int) -> tuple[deque[Item], Counter[int], bool]:
        """What was published, up to the next batch boundary in seq: a burst is committed a batch
        at a time, so the sender ships the first while the writer commits the rest, and its
        segments tile the sender's batches. With it, the sheds counted since, and whether more
        is waiting."""
        with self._lock:
            room = self.batch_size - (next_seq - 1) % self.batch_size
            if len(self._incoming) <= room:
                taken, self._incoming = self._incoming, deque()
            else:
                taken = deque(self._incoming.popleft() for _ in range(room))
            shed, self._shed_since_write = self._shed_since_write, Counter()
            return taken, shed, bool(self._incoming)

    @property
    def has_incoming(self) -> bool:
        """Whether anything waits for the writer (a report the sender added, say, while it stored)."""
        return bool(self._incoming)

    def put_back(self, items: Iterable[Item], shed: Counter[int]) -> None:
        """A write failed: what it did not store goes first next time."""
        with self._lock:
            self._incoming.extendleft(reversed(list(items)))
            self._shed_since_write.update(shed)

    def written(self, taken: int, dropped: int) -> None:
        """The writer committed `taken` items, of which `dropped` built no report."""
        with self._wrote:
            self.unwritten -= taken
            self.depth -= dropped
            self._wrote.notify_all()
            self._settled.notify_all()
        self.rows_ready.set()

    def recovery_taken(self) -> None:
        with self._lock:
            self.recovery_due = False

    def recovery_failed(self) -> None:
        with self._lock:
            self.recovery_due = True

    def recovery_found_nothing(self) -> None:
        """Another recovery's report took the counts: the place reserved for this one goes."""
        with self._settled:
            self.depth -= 1
            self._settled.notify_all()

    # -- the sender's side ------------------------------------------------------------------------

    def delivered(self, reports: int) -> None:
        """Governance acknowledged `reports`; once the outbox drained below resume_fraction of its
        bound after shedding, the writer owes the report of what was shed."""
        with self._settled:
            self.depth -= reports
            self.totals["delivered"] += reports
            self.last_error = ""
            if self.shedding and self.depth <= self._resume_at:
                self.shedding = False
                if not self.recovery_due:  # one report covers every recovery the writer has not written yet
                    self.recovery_due = True
                    self.depth += 1  # the overflow report counts as pending from now, so flush() waits for it
                self.wake_writer.set()
            self._settled.notify_all()

    def dead_lettered(self, reports: int, explanation: bytes) -> None:
        """Governance refused `reports` as invalid; `explanation` says so, in their place. One
        step, so flush() never sees zero between the refusal and its report."""
        with self._settled:
            self.depth -= reports - 1
            self.unwritten += 1
            self._incoming.append(explanation)
            self.totals["dead_lettered"] += reports
            self._settled.notify_all()
        self.wake_writer.set()
