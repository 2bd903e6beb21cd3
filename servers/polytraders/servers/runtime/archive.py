"""The report archive: one row per report, stored once, in publish order.

The schema is built for the publish path: `seq` is the clustered key (SQLite's rowid),
the only secondary index is the unique `report_id` (time-ordered UUIDv7 ids keep its
inserts at the right edge of the B-tree), and everything a subscriber filters on
(`kind`, `bot_slug`, `epoch`, `mode`) is a plain column read while scanning by `seq`.
The topic is `polytraders.reports.<kind>` and the partition key `bot_slug+epoch`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Table,
    delete,
    func,
    insert,
    select,
)
from sqlalchemy.exc import IntegrityError

from polytraders.reports.v1 import reports_pb2

from .storage import metadata

report_archive = Table(
    "report_archive",
    metadata,
    # Assigned by the writer, so fan-out knows each stored report's position before commit.
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False),
    Column("report_id", String(36), nullable=False, unique=True),
    Column("kind", SmallInteger, nullable=False),
    Column("bot_slug", String(128), nullable=False),
    Column("epoch", Integer, nullable=False),
    Column("mode", SmallInteger, nullable=False),
    Column("retention", SmallInteger, nullable=False),
    Column("produced_at_us", BigInteger, nullable=False),
    Column("received_at_us", BigInteger, nullable=False),
    Column("expires_at_us", BigInteger, nullable=False),
    Column("payload", LargeBinary, nullable=False),
)

_TOPIC_BY_KIND = {
    reports_pb2.REPORT_KIND_OBSERVATION: "observation",
    reports_pb2.REPORT_KIND_DECISION: "decision",
    reports_pb2.REPORT_KIND_RISK_VOTE: "risk_vote",
    reports_pb2.REPORT_KIND_EXECUTION: "execution",
    reports_pb2.REPORT_KIND_SETTLEMENT: "settlement",
    reports_pb2.REPORT_KIND_OPERATIONS: "operations",
}


def topic_for(kind: int) -> str:
    return f"polytraders.reports.{_TOPIC_BY_KIND[kind]}"


@dataclass(frozen=True, slots=True)
class ArchivedReport:
    """A report as the archive holds it; `seq` is its position on the bus."""

    seq: int
    report_id: str
    kind: int
    bot_slug: str
    epoch: int
    mode: int
    payload: bytes

    @property
    def topic(self) -> str:
        return topic_for(self.kind)

    @property
    def partition_key(self) -> str:
        return f"{self.bot_slug}+{self.epoch}"


@dataclass(frozen=True, slots=True)
class IncomingReport:
    """A validated report on its way in."""

    report_id: str
    kind: int
    bot_slug: str
    epoch: int
    mode: int
    retention: int
    produced_at_us: int
    payload: bytes


@dataclass(frozen=True)
class ReportFilter:
    """Which reports a subscriber wants; empty sets mean all, 0 epochs mean unbounded."""

    kinds: frozenset[int] = frozenset()
    bot_slugs: frozenset[str] = frozenset()
    modes: frozenset[int] = frozenset()
    epoch_from: int = 0
    epoch_to: int = 0

    def matches(self, report: ArchivedReport) -> bool:
        return (
            (not self.kinds or report.kind in self.kinds)
            and (not self.bot_slugs or report.bot_slug in self.bot_slugs)
            and (not self.modes or report.mode in self.modes)
            and (not self.epoch_from or report.epoch >= self.epoch_from)
            and (not self.epoch_to or report.epoch <= self.epoch_to)
        )

    def where(self, table: Table) -> list:  # type: ignore[type-arg]
        clauses = []
        if self.kinds:
            clauses.append(table.c.kind.in_(sorted(self.kinds)))
        if self.bot_slugs:
            clauses.append(table.c.bot_slug.in_(sorted(self.bot_slugs)))
        if self.modes:
            clauses.append(table.c.mode.in_(sorted(self.modes)))
        if self.epoch_from:
            clauses.append(table.c.epoch >= self.epoch_from)
        if self.epoch_to:
            clauses.append(table.c.epoch <= self.epoch_to)
        return clauses


class ReportArchive:
    """Stores batches all-or-nothing and idempotently; reads them back in `seq` order.

    One writer per process (a lock); a second process writing the same database is safe
    too: a clash on `seq` or `report_id` rolls the batch back and it is retried afresh.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._write_lock = threading.Lock()
        self._last_seq: int | None = None
        self._insert = insert(report_archive)

    def last_seq(self) -> int:
        with self._engine.connect() as conn:
            return conn.execute(select(func.coalesce(func.max(report_archive.c.seq), 0))).scalar_one()

    def store(
        self, batch: Sequence[IncomingReport], received_at_us: int, expires_at_us: dict[int, int]
    ) -> tuple[list[ArchivedReport], int]:
        """Store what is new in `batch`; returns the stored reports and the duplicate count."""
        unique: dict[str, IncomingReport] = {}
        for report in batch:
            unique.setdefault(report.report_id, report)
        with self._write_lock:
            for attempt in range(3):
                try:
                    stored = self._store_new(list(unique.values()), received_at_us, expires_at_us)
                except IntegrityError:
                    self._last_seq = None  # another writer moved on; reload and retry
                    if attempt == 2:
                        raise
                    continue
                return stored, len(batch) - len(stored)
        raise AssertionError("unreachable")

    def _store_new(
        self, candidates: list[IncomingReport], received_at_us: int, expires_at_us: dict[int, int]
    ) -> list[ArchivedReport]:
        with self._engine.begin() as conn:
            known = set(
                conn.execute(
                    select(report_archive.c.report_id).where(
                        report_archive.c.report_id.in_([r.report_id for r in candidates])
                    )
                ).scalars()
            )
            fresh = [r for r in candidates if r.report_id not in known]
            if not fresh:
                return []
            if self._last_seq is None:
                self._last_seq = conn.execute(
                    select(func.coalesce(func.max(report_archive.c.seq), 0))
                ).scalar_one()
            first = self._last_seq + 1
            conn.execute(
                self._insert,
                [
                    {
                        "seq": first + i,
                        "report_id": r.report_id,
                        "kind": r.kind,
                        "bot_slug": r.bot_slug,
                        "epoch": r.epoch,
                        "mode": r.mode,
                        "retention": r.retention,
                        "produced_at_us": r.produced_at_us,
                        "received_at_us": received_at_us,
                        "expires_at_us": expires_at_us[r.retention],
                        "payload": r.payload,
                    }
                    for i, r in enumerate(fresh)
                ],
            )
        self._last_seq = first + len(fresh) - 1
        return [
            ArchivedReport(first + i, r.report_id, r.kind, r.bot_slug, r.epoch, r.mode, r.payload)
            for i, r in enumerate(fresh)
        ]

    def read_after(self, after_seq: int, report_filter: ReportFilter, limit: int) -> list[ArchivedReport]:
        t = report_archive
        query = (
            select(t.c.seq, t.c.report_id, t.c.kind, t.c.bot_slug, t.c.epoch, t.c.mode, t.c.payload)
            .where(t.c.seq > after_seq, *report_filter.where(t))
            .order_by(t.c.seq)
            .limit(limit)
        )
        with self._engine.connect() as conn:
            return [ArchivedReport(*row) for row in conn.execute(query)]

    def count(self) -> int:
        with self._engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(report_archive)).scalar_one()

    def purge_expired(self, now_us: int) -> int:
        """Remove reports whose retention ended; a SEVEN_YEARS row expires only after seven years."""
        with self._write_lock, self._engine.begin() as conn:
            return conn.execute(delete(report_archive).where(report_archive.c.expires_at_us <= now_us)).rowcount
