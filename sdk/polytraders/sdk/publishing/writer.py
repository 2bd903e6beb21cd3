"""The writer thread: what publish() took, committed to the bot's outbox file.

It gathers a burst into one commit (within `_WRITE_LINGER`), cut at the sender's batch
boundaries so the sender ships one batch while the next is written; deferred reports are built
here, off the bot's path. A failing disk keeps what it could not store in memory and tries again.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import Counter, deque
from contextlib import closing

from ..outbox import Outbox, segments_of
from . import log
from .backlog import Backlog, Item
from .losses import LossReports

_WRITE_LINGER = 0.001


class OutboxWriter:
    def __init__(
        self, outbox: Outbox, backlog: Backlog, losses: LossReports, max_batch_bytes: int, name: str
    ) -> None:
        self._outbox = outbox
        self._backlog = backlog
        self._losses = losses
        self._max_batch_bytes = max_batch_bytes
        with closing(outbox.connect()) as conn:
            self._next_seq = Outbox.next_seq(conn)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Commit what is left in memory, then end."""
        self._stop.set()
        self._backlog.wake_writer.set()
        self._thread.join()

    def _run(self) -> None:
        backlog = self._backlog
        conn = self._outbox.connect()
        try:
            more = False
            while True:
                if not more and backlog.wake_writer.wait(0.2) and not self._stop.is_set():
                    time.sleep(_WRITE_LINGER)  # gather a burst into one commit; fewer GIL hand-offs
                backlog.wake_writer.clear()
                batch, shed, more = backlog.take(self._next_seq)
                try:  # each step forgets what it stored, so a later step's failure keeps only the rest
                    if batch:
                        self._store(conn, batch)
                        batch = deque()
                    if shed:
                        Outbox.add_shed(conn, dict(shed))
                        shed = Counter()
                    if backlog.recovery_due:
                        self._report_overflow(conn)
                except Exception:  # the disk, not the bot: keep what is not stored in memory and try again
                    log.exception("outbox write failed; %d reports kept in memory, retrying", len(batch))
                    backlog.put_back(batch, shed)
                    self._stop.wait(0.5)
                    continue
                if self._stop.is_set() and not backlog.has_incoming:
                    return
        finally:
            conn.close()

    def _store(self, conn: sqlite3.Connection, batch: deque[Item]) -> None:
        payloads = [_payload(item) for item in batch]
        self._append(conn, [p for p in payloads if p is not None])
        self._backlog.written(len(batch), payloads.count(None))

    def _append(self, conn: sqlite3.Connection, payloads: list[bytes]) -> None:
        """Commit to the outbox as the next seqs."""
        segments = segments_of(self._next_seq, payloads, self._backlog.batch_size, self._max_batch_bytes)
        Outbox.append(conn, segments)
        self._next_seq += len(payloads)

    def _report_overflow(self, conn: sqlite3.Connection) -> None:
        """Write the report of what was shed, taking the counts in the same transaction; the sender
        reserved its place in the backlog already."""
        self._backlog.recovery_taken()
        try:
            with conn:
                conn.execute("BEGIN IMMEDIATE")
                shed = Outbox.take_shed(conn)
                if shed:
                    self._append(conn, [self._losses.overflow(shed)])
        except Exception:
            self._backlog.recovery_failed()
            raise
        if shed:
            self._backlog.rows_ready.set()
        else:
            self._backlog.recovery_found_nothing()


def _payload(item: Item) -> bytes | None:
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

