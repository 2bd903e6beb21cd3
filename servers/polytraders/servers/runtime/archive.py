"""The report archive: one row per report, stored once, in publish order.

The schema is built for the publish path: `seq` is the clustered key (SQLite's rowid),
the only secondary index is the unique `report_id` (time-ordered UUIDv7 ids keep its
inserts at the right edge of the B-tree), and everything a subscriber filters on
(`kind`, `bot_slug`, `epoch`, `mode`) is a plain column read while scanning by `seq`.
The topic is `polytraders.reports.<kind>` and the partition key `bot_slug+epoch`.
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, fields
from functools import lru_cache
from itertools import chain, count, islice, repeat
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
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
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.pool import PoolProxiedConnection
from sqlmodel import Field, SQLModel

from polytraders.reports.v1 import reports_pb2

from .ledger import ComplianceLedger, LedgerRecord
from .storage import WalCheckpointer, advisory_key, archive_channel, table_of


class ArchivedReportRow(SQLModel, table=True):
    __tablename__ = "report_archive"

    # Assigned by the writer, so fan-out knows each stored report's position before commit.
    seq: int = Field(sa_type=BigInteger().with_variant(Integer, "sqlite"), primary_key=True, sa_column_kwargs={"autoincrement": False})
    report_id: str = Field(sa_type=String(36), unique=True)
    kind: int = Field(sa_type=SmallInteger)
    bot_slug: str = Field(sa_type=String(128))
    epoch: int = Field(sa_type=Integer)
    mode: int = Field(sa_type=SmallInteger)
    retention: int = Field(sa_type=SmallInteger)
    produced_at_us: int = Field(sa_type=BigInteger)
    received_at_us: int = Field(sa_type=BigInteger)
    expires_at_us: int = Field(sa_type=BigInteger)
    payload: bytes = Field(sa_type=LargeBinary)


report_archive = table_of(ArchivedReportRow)

_TOPIC_BY_KIND: dict[int, str] = {
    reports_pb2.REPORT_KIND_OBSERVATION: "observation",
    reports_pb2.REPORT_KIND_DECISION: "decision",
    reports_pb2.REPORT_KIND_RISK_VOTE: "risk_vote",
    reports_pb2.REPORT_KIND_EXECUTION: "execution",
    reports_pb2.REPORT_KIND_SETTLEMENT: "settlement",
    reports_pb2.REPORT_KIND_OPERATIONS: "operations",
}


SEQUENCER = "polytraders.archive"
"""The purpose of the archive's sequencer lock (its key also names the archive's NOTIFY channel)."""


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


def partition_key(bot_slug: str, epoch: int) -> str:
    """The seed's partition of a topic: one bot's reports of one day."""
    return f"{bot_slug}+{epoch}"


@dataclass(frozen=True, slots=True)
class IncomingBatch:
    """A validated batch on its way in, a column per field (one entry per report, in order).

    Columns, not a tuple per report: the publish path hands them to the driver through
    `zip`, and building and taking apart a row object per report cost as much as storing it.
    """

    report_ids: Sequence[str]
    kinds: Sequence[int]
    bot_slugs: Sequence[str]
    epochs: Sequence[int]
    modes: Sequence[int]
    retentions: Sequence[int]
    produced_at_us: Sequence[int]
    payloads: Sequence[bytes]
    corrects: Sequence[str]
    """For SEVEN_YEARS settlement records: the report_id of the record this one corrects."""
    framed: bytes | None = None
    """The payloads framed as one PublishReportsRequest (`frame_reports(payloads)`), when the batch
    arrived exactly so: the broker relay sends slices of it instead of framing each report again."""

    def __len__(self) -> int:
        return len(self.report_ids)

    def select(self, indices: Sequence[int]) -> IncomingBatch:
        """Only the reports at `indices`, in that order."""
        columns = (f.name for f in fields(self) if f.name != "framed")
        selected: list[Any] = [[getattr(self, name)[i] for i in indices] for name in columns]
        return IncomingBatch(*selected)


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

    def where(self, table: Table) -> list[ColumnElement[bool]]:
        clauses: list[ColumnElement[bool]] = []
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


_Row = tuple[object, ...]
"""An archive row, its values in column order."""

_ID_CHUNK = 1000  # ids per duplicate-check query, well under every driver's parameter limit
_ROWS_PER_INSERT = 2000  # rows per multi-row INSERT (an SDK batch whole), unless the driver allows fewer parameters


_COLUMNS = ", ".join(c.name for c in report_archive.columns)
_COPY = f"COPY {report_archive.name} ({_COLUMNS}) FROM STDIN (FORMAT BINARY)"
_REPORT_ID_UNIQUE = "report_archive_report_id_key"
"""PostgreSQL's name for the baseline migration's unnamed UNIQUE (report_id)."""


@lru_cache(maxsize=16)
def _insert_sql(marker: str, rows: int, skip_stored: bool = True) -> str:
    """One INSERT of `rows` rows; with `skip_stored` a report_id already stored is skipped
    (counted by the caller), without it the whole statement fails."""
    row = f"({', '.join([marker] * len(report_archive.columns))})"
    skip = " ON CONFLICT (report_id) DO NOTHING" if skip_stored else ""
    return f"INSERT INTO {report_archive.name} ({_COLUMNS}) VALUES {', '.join([row] * rows)}{skip}"


class StoredBatch(NamedTuple):
    """What one published batch added: its new reports, numbered from `first_seq` on."""

    first_seq: int
    reports: IncomingBatch
    duplicates: int

    @property
    def last_seq(self) -> int | None:
        return self.first_seq + len(self.reports) - 1 if len(self.reports) else None

    def archived(self) -> Iterator[ArchivedReport]:
        r = self.reports
        rows = zip(count(self.first_seq), r.report_ids, r.kinds, r.bot_slugs, r.epochs, r.modes, r.payloads)
        return map(ArchivedReport._make, rows)


class _AlreadyStored(Exception):
    """Some report of the group was stored before: the optimistic write is rolled back."""


_SEVEN_YEARS = reports_pb2.RETENTION_SEVEN_YEARS


def _new_reports(batch: IncomingBatch, seen: set[str]) -> IncomingBatch:
    """The reports of `batch` whose ids are not in `seen` (first of each id only); adds them to it."""
    ids = batch.report_ids
    distinct = set(ids)
    if len(distinct) == len(ids) and seen.isdisjoint(distinct):
        seen.update(distinct)
        return batch
    kept = []
    for index, report_id in enumerate(ids):
        if report_id not in seen:
            seen.add(report_id)
            kept.append(index)
    return batch.select(kept)


def _rows(
    batch: IncomingBatch, first_seq: int, received_at_us: int, expires_at_us: dict[int, int]
) -> Iterator[_Row]:
    """The archive rows of `batch`, numbered from `first_seq`, in column order."""
    return zip(
        range(first_seq, first_seq + len(batch)),
        batch.report_ids,
        batch.kinds,
        batch.bot_slugs,
        batch.epochs,
        batch.modes,
        batch.retentions,
        batch.produced_at_us,
        repeat(received_at_us),
        map(expires_at_us.__getitem__, batch.retentions),
        batch.payloads,
        strict=False,  # repeat() never ends; every other column is as long as the batch
    )


def _compliance_records(batch: IncomingBatch) -> list[LedgerRecord]:
    columns = zip(
        batch.retentions, batch.bot_slugs, batch.report_ids, batch.corrects, batch.payloads, strict=True
    )
    return [
        LedgerRecord(stream, entry_id, corrects, payload)
        for retention, stream, entry_id, corrects, payload in columns
        if retention == _SEVEN_YEARS
    ]


def _rows_per_statement(connection: sqlite3.Connection) -> int:
    """The most archive rows one SQLite statement may carry: SQLite before 3.32 allows 999
    parameters a statement, later ones 32,766."""
    limit = connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    return max(1, min(_ROWS_PER_INSERT, limit // len(report_archive.columns)))


def _sqlite_connection(connection: PoolProxiedConnection) -> sqlite3.Connection:
    """The driver's own connection under the pool's proxy, on the archive's SQLite engine."""
    dbapi = connection.dbapi_connection
    assert isinstance(dbapi, sqlite3.Connection)
    return dbapi


class _SingleStatementInsert:
    """A SQLite connection of the archive's own in autocommit mode, checked out of the pool
    on first use and kept: each INSERT on it is its own transaction."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._connection: sqlite3.Connection | None = None

    @property
    def connection(self) -> sqlite3.Connection:
        if self._connection is None:
            self._kept = self._engine.raw_connection()  # checked out for as long as the archive lives
            self._connection = _sqlite_connection(self._kept)
            self._connection.isolation_level = None
        return self._connection

    @property
    def rows(self) -> int:
        return _rows_per_statement(self.connection)

    def close(self) -> None:
        if self._connection is not None:
            self._connection = None
            self._kept.close()

    def insert(self, values: Iterator[object], rows: int) -> None:
        self.connection.execute(_insert_sql("?", rows, skip_stored=False), tuple(values))


class _WriterConnection:
    """PostgreSQL: the writer's connection, kept from one write to the next. A checkout from the
    pool pings the server first (pool_pre_ping): a round trip more on every write, on the path
    each publisher waits on. A connection the server dropped fails one write attempt
    (`_ConnectionLost`), and the next attempt connects afresh."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._connection: Connection | None = None

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        if self._connection is None:
            self._connection = self._engine.connect()
        connection = self._connection
        try:
            with connection.begin():
                yield connection
        except Exception as error:
            if not self._lost(error, connection):
                raise
            self._connection = None
            connection.invalidate()  # closes the driver's connection without the rollback it cannot send
            connection.close()
            raise _ConnectionLost(str(error)) from error

    def _lost(self, error: Exception, connection: Connection) -> bool:
        """Judged by the connection's state, as SQLAlchemy judges a disconnect: a cancelled
        statement or a deadlock is an OperationalError too, and leaves the connection sound. The
        driver's errors reach here unwrapped from the sequencer's and COPY's own cursors."""
        if isinstance(error, DBAPIError) and error.connection_invalidated or connection.invalidated:
            return True
        cause = error.orig if isinstance(error, DBAPIError) else error
        if not isinstance(cause, self._engine.dialect.loaded_dbapi.Error):
            return False
        return bool(self._engine.dialect.is_disconnect(cause, connection.connection.dbapi_connection, None))

    def close(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            connection.close()


class _ConnectionLost(Exception):
    """The server dropped the writer's connection mid-write: the write is tried again on a new one."""


class ReportArchive:
    """Stores batches all-or-nothing and idempotently; reads them back in `seq` order.

    The write is optimistic: a group is inserted as if every report were new (SQLite: a
    multi-row INSERT ... ON CONFLICT DO NOTHING; PostgreSQL: one COPY, which a clash fails
    whole), and only if a resend clashed is it rolled back and written again without the
    reports already stored. So the common case costs one statement per thousand reports and no
    lookup, and `seq` stays gapless; a resend costs a second write (and, on PostgreSQL, a
    unique-violation line in the database's log).

    One writer per process (a lock). On PostgreSQL, where several processes write one archive,
    each write transaction first takes the archive's sequencer lock (a transaction-level
    advisory lock, released by the commit) and reads the last `seq` under it: transactions
    number their reports one after another, so `seq` order is commit order by construction. No
    two writers can take the same `seq`, and no reader can see `seq` 12 while 11 may still
    commit: every cursor the bus hands out is safe to resume from.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._ledger = ComplianceLedger()
        self._write_lock = threading.Lock()
        self._last_seq: int | None = None
        # Rows go to the driver as flat parameters of one statement: SQLAlchemy's per-row
        # processing, and a driver round (and GIL hand-over) per row, would cost more than
        # the insert itself on the publish path.
        self._marker = "?" if engine.dialect.paramstyle == "qmark" else "%s"
        self._insert_new = self._copy_new if engine.dialect.name == "postgresql" else self._insert_values
        # COPY runs on the driver's own cursor, whose errors SQLAlchemy never sees to wrap.
        self._clashes = (IntegrityError, engine.dialect.loaded_dbapi.IntegrityError)
        self._checkpointer = WalCheckpointer.for_engine(engine)
        self._single_statement = _SingleStatementInsert(engine) if engine.dialect.name == "sqlite" else None
        self._shared = engine.dialect.name == "postgresql"
        self._copy_types = (
            [c.type.compile(dialect=engine.dialect).split("(")[0].lower() for c in report_archive.columns]
            if self._shared else []
        )  # fmt: skip
        """PostgreSQL's COPY: the columns' types as binary COPY must be told them (`bigint`, ...)."""
        self._writer_connection = _WriterConnection(engine) if self._shared else None
        self._sequencer_key: int | None = None
        self._closing = False
        self.writer = uuid.uuid4().hex
        """Who this archive is among the processes writing the database: its commits' NOTIFY says it."""
        self.announce_commits = True
        """Whether commits NOTIFY (wake the broker relay); off while this process leads the relay,
        which hears of its own commits in memory."""

    @property
    def shared(self) -> bool:
        """Whether other processes may write this archive too (PostgreSQL)."""
        return self._shared

    def last_seq(self) -> int:
        with self._engine.connect() as conn:
            return int(conn.execute(select(func.coalesce(func.max(report_archive.c.seq), 0))).scalar_one())

    def store(
        self,
        batches: Sequence[IncomingBatch],
        received_at_us: int,
        expires_at_us: dict[int, int],
    ) -> list[StoredBatch]:
        """Store what is new in each batch, all batches in one transaction (group commit)."""
        try:
            with self._write_lock:
                return self._store(batches, received_at_us, expires_at_us)
        finally:
            if self._closing:  # read after the lock is free: `close` sets it before it tries the lock
                self._give_back_if_idle()

    def _store(
        self,
        batches: Sequence[IncomingBatch],
        received_at_us: int,
        expires_at_us: dict[int, int],
    ) -> list[StoredBatch]:
        if self._single_statement is not None:
            stored = self._store_in_one_statement(
                self._single_statement, batches, received_at_us, expires_at_us
            )
            if stored is not None:
                return stored
        known: set[str] = set()  # ids stored before; empty while we assume a fresh group
        for attempt in range(4):
            try:
                return self._write(batches, received_at_us, expires_at_us, known)
            except _AlreadyStored:
                self._ledger.forget_heads()
                known = self._known_ids(batches)
            except self._clashes:
                self._last_seq = None  # another writer took our seq: reload and retry
                self._ledger.forget_heads()
                if attempt == 3:
                    raise
            except _ConnectionLost:
                self._last_seq = None
                self._ledger.forget_heads()
                if attempt == 3:
                    raise
                known = self._known_ids(batches)  # a commit whose answer was lost may have stored them
            except BaseException:
                self._ledger.forget_heads()  # the chain heads it advanced were rolled back
                raise
        raise RuntimeError("reports kept being stored by another writer while this one wrote them")

    def _store_in_one_statement(
        self,
        single_statement: _SingleStatementInsert,
        batches: Sequence[IncomingBatch],
        received_at_us: int,
        expires_at_us: dict[int, int],
    ) -> list[StoredBatch] | None:
        """SQLite's quick path, for a group of distinct ordinary reports that fits one statement:
        a plain multi-row INSERT on an autocommit connection is a transaction of its own, all
        or nothing, and one trip into the driver; the transactional path takes a dozen, and on
        the publish path each trip waits for the GIL behind the event loop.

        None, with nothing written, when the group does not qualify (SEVEN_YEARS records join
        the ledger in the same transaction) or any row clashed (a resend, another writer's
        seq): the transactional path then decides.
        """
        total = sum(map(len, batches))
        if (
            self._last_seq is None
            or total > single_statement.rows
            or any(_SEVEN_YEARS in b.retentions for b in batches)
            or len(set(chain.from_iterable(b.report_ids for b in batches))) != total
        ):
            return None
        seq, rows, results = self._last_seq, [], []
        for batch in batches:
            rows.append(_rows(batch, seq + 1, received_at_us, expires_at_us))
            results.append(StoredBatch(seq + 1, batch, 0))
            seq += len(batch)
        try:
            single_statement.insert(chain.from_iterable(chain.from_iterable(rows)), total)
        except sqlite3.IntegrityError:
            return None
        self._last_seq = seq
        self._after_commit(results)
        return results

    def _after_commit(self, results: list[StoredBatch]) -> None:
        if self._checkpointer is not None:
            self._checkpointer.wrote(sum(sum(map(len, r.reports.payloads)) for r in results))

    def _known_ids(self, batches: Sequence[IncomingBatch]) -> set[str]:
        ids = list(dict.fromkeys(chain.from_iterable(b.report_ids for b in batches)))
        known: set[str] = set()
        with self._engine.connect() as conn:
            for start in range(0, len(ids), _ID_CHUNK):
                chunk = ids[start : start + _ID_CHUNK]
                markers = ", ".join([self._marker] * len(chunk))
                sql = f"SELECT report_id FROM {report_archive.name} WHERE report_id IN ({markers})"
                known.update(row[0] for row in conn.exec_driver_sql(sql, tuple(chunk)))
        return known

    def _write(
        self,
        batches: Sequence[IncomingBatch],
        received_at_us: int,
        expires_at_us: dict[int, int],
        known: set[str],
    ) -> list[StoredBatch]:
        with self._transaction() as conn:
            if self._shared:
                self._take_sequencer(conn)
            elif self._last_seq is None:
                self._last_seq = conn.execute(
                    select(func.coalesce(func.max(report_archive.c.seq), 0))
                ).scalar_one()
            assert self._last_seq is not None
            seq = self._last_seq
            seen = set(known)
            rows: list[Iterator[_Row]] = []
            compliance: list[LedgerRecord] = []
            results: list[StoredBatch] = []
            for batch in batches:
                new = _new_reports(batch, seen)
                rows.append(_rows(new, seq + 1, received_at_us, expires_at_us))
                if _SEVEN_YEARS in new.retentions:
                    compliance.extend(_compliance_records(new))
                results.append(StoredBatch(seq + 1, new, len(batch) - len(new)))
                seq += len(new)
            stored = seq - self._last_seq
            if stored and self._insert_new(conn, chain.from_iterable(rows), stored) != stored:
                raise _AlreadyStored
            self._ledger.append(conn, compliance, received_at_us)
        self._last_seq = seq
        self._after_commit(results)
        return results

    def _transaction(self) -> AbstractContextManager[Connection]:
        return self._engine.begin() if self._writer_connection is None else self._writer_connection.transaction()

    def close(self) -> None:
        """Give back the connections the writer keeps, at once or, when a write is under way, as it
        ends (the caller is often the event loop, which must not wait on the database). A write
        after this (a call the server drains) takes a connection and gives it back too."""
        self._closing = True
        self._give_back_if_idle()

    def _give_back_if_idle(self) -> None:
        if self._write_lock.acquire(blocking=False):  # else the write under way gives them back
            try:
                for kept in (self._writer_connection, self._single_statement):
                    if kept is not None:
                        kept.close()
            finally:
                self._write_lock.release()

    def _take_sequencer(self, conn: Connection) -> None:
        """Wait for the archive's sequencer lock (held until this transaction ends), then read the
        last `seq`; if another process stored reports meanwhile, its ledger entries moved the
        chain heads this process remembers.

        It is the writer's critical path, so one round trip does all a write transaction needs
        before its COPY: the lock (and the NOTIFY, delivered when the transaction commits: the
        broker relay, wherever it runs, looks then) and the last `seq`.
        Under READ COMMITTED each statement takes its own snapshot when it starts, so the second
        sees every commit made before the lock was granted."""
        if self._sequencer_key is None:
            self._sequencer_key = advisory_key(SEQUENCER, conn)
        notify = f", pg_notify('{archive_channel(self._sequencer_key)}', '{self.writer}')" if self.announce_commits else ""
        cursor = conn.connection.cursor()
        try:
            cursor.execute(
                f"SELECT pg_advisory_xact_lock({self._sequencer_key}){notify}; "
                f"SELECT coalesce(max(seq), 0) FROM {report_archive.name}"
            )
            cursor.nextset()
            row = cursor.fetchone()
        finally:
            cursor.close()
        assert row is not None  # an aggregate's one row
        last = row[0]
        if last != self._last_seq:
            self._ledger.forget_heads()
            self._last_seq = last

    def _insert_values(self, conn: Connection, rows: Iterator[_Row], count: int) -> int:
        """Multi-row INSERTs: one statement (one GIL release) per thousand rows, not one per row.

        SQLite before 3.32 allows 999 parameters a statement (later ones 32,766): the rows per
        statement follow the connection's own limit.
        """
        width = len(report_archive.columns)
        per_statement = _rows_per_statement(_sqlite_connection(conn.connection))
        values = chain.from_iterable(rows)
        inserted = 0
        for start in range(0, count, per_statement):
            chunk = min(per_statement, count - start)
            params = tuple(islice(values, chunk * width))
            inserted += conn.exec_driver_sql(_insert_sql(self._marker, chunk), params).rowcount
        return inserted

    def _copy_new(self, conn: Connection, rows: Iterator[_Row], count: int) -> int:
        """PostgreSQL: COPY, its bulk path, straight into the archive as if every report were new
        (the optimistic write). COPY knows no ON CONFLICT: a report stored before fails the
        whole COPY, and the write is tried again without the stored ones (`_AlreadyStored`).
        Binary, so neither side formats or parses text (payloads as hex, numbers as digits)
        while the write holds the sequencer lock."""
        cursor = conn.connection.cursor()
        try:
            with cursor.copy(_COPY) as copy:
                copy.set_types(self._copy_types)
                for row in rows:
                    copy.write_row(row)
        except conn.dialect.loaded_dbapi.errors.UniqueViolation as clash:
            if clash.diag.constraint_name == _REPORT_ID_UNIQUE:
                raise _AlreadyStored from None
            raise  # on `seq`: another writer (store() reloads the last seq and tries again)
        finally:
            cursor.close()
        return count

    def read_after(self, after_seq: int, report_filter: ReportFilter, limit: int) -> list[ArchivedReport]:
        t = report_archive
        query = (
            select(t.c.seq, t.c.report_id, t.c.kind, t.c.bot_slug, t.c.epoch, t.c.mode, t.c.payload)
            .where(t.c.seq > after_seq, *report_filter.where(t))
            .order_by(t.c.seq)
            .limit(limit)
        )
        with self._engine.connect() as conn:
            if not self._shared:
                return [ArchivedReport(*row) for row in conn.execute(query)]
            # PostgreSQL: the driver's binary rows as they come, not a Row object per report (read-backs
            # are the relay's and every catching-up reader's bulk; `make bench` sets them beside raw psycopg)
            compiled = query.compile(dialect=self._engine.dialect, compile_kwargs={"render_postcompile": True})
            cursor = conn.connection.cursor(binary=True)
            try:
                cursor.execute(compiled.string, compiled.params)
                return list(map(ArchivedReport._make, cursor.fetchall()))
            finally:
                cursor.close()

    def count(self) -> int:
        with self._engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(report_archive)).scalar_one()

    def purge_expired(self, now_us: int) -> int:
        """Remove reports whose retention ended; a SEVEN_YEARS row expires only after seven years."""
        with self._write_lock, self._engine.begin() as conn:
            return conn.execute(
                delete(report_archive).where(report_archive.c.expires_at_us <= now_us)
            ).rowcount
