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
from typing import NamedTuple

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
    select,
)
from sqlalchemy.exc import IntegrityError

from polytraders.reports.v1 import reports_pb2

from .ledger import ComplianceLedger, LedgerRecord
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


class ArchivedReport(NamedTuple):
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


class IncomingReport(NamedTuple):
    """A validated report on its way in; its fields are the row's, in column order."""

    report_id: str
    kind: int
    bot_slug: str
    epoch: int
    mode: int
    retention: int
    produced_at_us: int
    payload: bytes
    corrects: str = ""
    """For SEVEN_YEARS settlement records: the report_id of the record this one corrects."""


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


_ID_CHUNK = 1000  # ids per duplicate-check query, well under every driver's parameter limit


class ReportArchive:
    """Stores batches all-or-nothing and idempotently; reads them back in `seq` order.

    One writer per process (a lock); a second process writing the same database is safe
    too: a clash on `seq` or `report_id` rolls the batch back and it is retried afresh.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._ledger = ComplianceLedger()
        self._write_lock = threading.Lock()
        self._last_seq: int | None = None
        # Rows go to the driver as tuples: SQLAlchemy's per-row parameter processing would
        # cost more than the insert itself on the publish path.
        marker = "?" if engine.dialect.paramstyle == "qmark" else "%s"
        columns = [c.name for c in report_archive.columns]
        self._known_ids_sql = lambda n: (
            f"SELECT report_id FROM {report_archive.name} WHERE report_id IN ({', '.join([marker] * n)})"
        )
        self._insert_sql = f"INSERT INTO {report_archive.name} ({', '.join(columns)}) VALUES ({', '.join([marker] * len(columns))})"

    def last_seq(self) -> int:
        with self._engine.connect() as conn:
            return conn.execute(select(func.coalesce(func.max(report_archive.c.seq), 0))).scalar_one()

    def store(
        self,
        batches: Sequence[Sequence[IncomingReport]],
        received_at_us: int,
        expires_at_us: dict[int, int],
    ) -> list[tuple[list[ArchivedReport], int]]:
        """Store what is new in each batch, all batches in one transaction (group commit).

        Returns, per batch, the reports it stored (with their seq) and how many were duplicates.
        """
        with self._write_lock:
            for attempt in range(3):
                try:
                    return self._store_new(batches, received_at_us, expires_at_us)
                except IntegrityError:
                    self._last_seq = None  # another writer moved on; reload and retry
                    self._ledger.forget_heads()
                    if attempt == 2:
                        raise
                except BaseException:
                    self._ledger.forget_heads()  # the chain heads it advanced were rolled back
                    raise
        raise AssertionError("unreachable")

    def _store_new(
        self,
        batches: Sequence[Sequence[IncomingReport]],
        received_at_us: int,
        expires_at_us: dict[int, int],
    ) -> list[tuple[list[ArchivedReport], int]]:
        with self._engine.begin() as conn:
            ids = list({r.report_id: None for batch in batches for r in batch})
            known: set[str] = set()
            for start in range(0, len(ids), _ID_CHUNK):
                chunk = ids[start : start + _ID_CHUNK]
                known.update(
                    row[0] for row in conn.exec_driver_sql(self._known_ids_sql(len(chunk)), tuple(chunk))
                )
            if self._last_seq is None:
                self._last_seq = conn.execute(
                    select(func.coalesce(func.max(report_archive.c.seq), 0))
                ).scalar_one()
            seq = self._last_seq
            rows: list[tuple] = []  # type: ignore[type-arg]
            compliance: list[LedgerRecord] = []
            results: list[tuple[list[ArchivedReport], int]] = []
            for batch in batches:
                stored: list[ArchivedReport] = []
                for r in batch:
                    if r.report_id in known:
                        continue
                    known.add(r.report_id)
                    seq += 1
                    rows.append((seq, *r[:7], received_at_us, expires_at_us[r.retention], r.payload))
                    stored.append(
                        ArchivedReport(seq, r.report_id, r.kind, r.bot_slug, r.epoch, r.mode, r.payload)
                    )
                    if r.retention == reports_pb2.RETENTION_SEVEN_YEARS:
                        compliance.append(LedgerRecord(r.bot_slug, r.report_id, r.corrects, r.payload))
                results.append((stored, len(batch) - len(stored)))
            if rows:
                conn.exec_driver_sql(self._insert_sql, rows)
                self._ledger.append(conn, compliance, received_at_us)
        self._last_seq = seq
        return results

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
            return conn.execute(
                delete(report_archive).where(report_archive.c.expires_at_us <= now_us)
            ).rowcount
