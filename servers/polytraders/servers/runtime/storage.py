"""The storage engine every group shares: a SQLite file in WAL mode by default, PostgreSQL via psycopg 3."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import lru_cache
from operator import itemgetter
from typing import Any, TypeAlias

from sqlalchemy import (
    Boolean,
    Connection,
    Dialect,
    Engine,
    Integer,
    LargeBinary,
    Row,
    String,
    Table,
    create_engine,
    event,
)
from sqlalchemy.dialects.postgresql import Insert as PostgresqlInsert
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import ConnectionPoolEntry
from sqlmodel import SQLModel

log = logging.getLogger(__name__)

DialectInsert: TypeAlias = PostgresqlInsert | SqliteInsert
"""An INSERT that knows ON CONFLICT, on either backend."""

AnyRow: TypeAlias = Row[*tuple[Any, ...]]
"""A row of any number of columns (a whole table's, a join's). SQLAlchemy 2.1's Row is variadic:
Row[Any] is a row of one column."""


def table_of(model: type[SQLModel]) -> Table:
    """The SQLAlchemy Table of a SQLModel table model: what queries are written against."""
    table = model.__table__  # type: ignore[attr-defined]  # SQLModel's metaclass sets it; its stubs do not declare it
    assert isinstance(table, Table)
    return table


def normalise_url(url: str) -> str:
    """postgresql:// and postgres:// mean psycopg 3 here."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)
    return engine


def libpq_url(engine: Engine) -> str:
    """A PostgreSQL engine's address, password included, as libpq takes it: for connections made
    with psycopg itself, outside SQLAlchemy (a LISTEN, a worker process)."""
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA wal_autocheckpoint={_BACKSTOP_CHECKPOINT_PAGES}")
    cursor.close()


_BACKSTOP_CHECKPOINT_PAGES = 16_384
"""A committing connection checkpoints the WAL itself only past 64 MiB of 4 KiB pages: the
`WalCheckpointer` normally keeps it far below, off the writer's path; this bounds the WAL
(and the cost of the read path) should it fall behind."""


class WalCheckpointer:
    """Copies a SQLite WAL back into the database file on a thread of its own.

    SQLite's own auto-checkpoint runs inside the commit that crosses 1,000 pages: copying
    4 MiB and an fsync, on the writer's time, which was most of a commit's cost on the
    publish path. The archive's writer calls `wrote()` after each commit instead; past
    `every_bytes` written since the last checkpoint a PASSIVE checkpoint (which never blocks
    a writer or a reader) runs on a single background thread, the database work without the
    GIL. Under a writer that never pauses the WAL cannot restart behind it, so it grows
    until the backstop auto-checkpoint (above), which finds the pages already copied.
    PostgreSQL engines get no checkpointer.
    """

    def __init__(self, engine: Engine, *, every_bytes: int = 4 << 20) -> None:
        self._engine = engine
        self._every_bytes = every_bytes
        self._since_last = 0
        self._lock = threading.Lock()
        self._running: Future[None] | None = None

    @classmethod
    def for_engine(cls, engine: Engine) -> WalCheckpointer | None:
        return cls(engine) if engine.dialect.name == "sqlite" else None

    def wrote(self, byte_count: int) -> None:
        """After a commit of about `byte_count` bytes: checkpoint if enough has piled up."""
        with self._lock:
            self._since_last += byte_count
            if self._since_last < self._every_bytes or (self._running and not self._running.done()):
                return
            self._since_last = 0
            self._running = _checkpoints().submit(self._checkpoint)

    def _checkpoint(self) -> None:
        try:
            with self._engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except Exception:  # noqa: BLE001 - a missed checkpoint only leaves the WAL longer
            log.warning("WAL checkpoint failed; the next commit tries again", exc_info=True)


@lru_cache(maxsize=1)
def _checkpoints() -> ThreadPoolExecutor:
    """One thread for every checkpointer in the process: checkpoints are rare and short."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="wal-checkpoint")


def insert_for(conn: Connection, table: Table) -> DialectInsert:
    """An INSERT that knows ON CONFLICT on this connection's dialect (SQLite or PostgreSQL)."""
    return (postgresql_insert if conn.dialect.name == "postgresql" else sqlite_insert)(table)


def upsert(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    key: Sequence[str],
    *,
    replace: bool = True,
    add: Sequence[str] = (),
) -> None:
    """Insert rows; a row whose `key` is already stored replaces it (or, with replace=False, is
    skipped); the columns named in `add` are added to what is stored instead (running sums)."""
    if rows:
        write_rows(conn, _upsert_statement(conn.dialect.name, table, tuple(key), replace, tuple(add)), rows)


def insert_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert rows, each with the same columns, in one executemany."""
    if rows:
        write_rows(conn, _insert_statement(table), rows)


@lru_cache(maxsize=256)
def _insert_statement(table: Table) -> Any:
    return table.insert()


def write_rows(conn: Connection, statement: Any, rows: Sequence[Mapping[str, Any]]) -> None:
    """Run an INSERT (or upsert) once per row, in one executemany, the columns the first row's.

    Where the driver takes every column's values as Python gives them (integers, strings,
    booleans, bytes), the rows go to it as they are: SQLAlchemy's per-row parameter processing
    costs more than the insert itself (`make bench` prints the two side by side). Errors are
    SQLAlchemy's all the same.
    """
    sql, values = _driver_statement(conn.dialect, statement, tuple(rows[0]))
    if sql is None:
        conn.execute(statement, list(rows))
    elif values is None:  # named parameters (psycopg): the rows themselves
        conn.exec_driver_sql(sql, list(rows))
    else:  # positional (sqlite3)
        conn.exec_driver_sql(sql, list(map(values, rows)))


_AS_GIVEN = (Integer, String, Boolean, LargeBinary)
"""Column types whose values both drivers take without SQLAlchemy's conversion."""


@lru_cache(maxsize=256)
def _driver_statement(
    dialect: Dialect, statement: Any, columns: tuple[str, ...]
) -> tuple[str | None, Callable[[Mapping[str, Any]], tuple[Any, ...]] | None]:
    """The SQL of `statement` for rows of `columns` and, where its parameters are positional, what
    takes a row's values in their order; no SQL when a column needs SQLAlchemy's conversion or is
    not the table's."""
    table = statement.table
    if not all(name in table.c and isinstance(table.c[name].type, _AS_GIVEN) for name in columns):
        return None, None
    compiled = statement.compile(dialect=dialect, column_keys=list(columns))
    if set(compiled.binds) != set(columns):  # a parameter not named after its column: leave it to SQLAlchemy
        return None, None
    order = compiled.positiontup
    if order is None:
        return str(compiled), None
    return str(compiled), itemgetter(*order) if len(order) > 1 else lambda row: (row[order[0]],)


@lru_cache(maxsize=256)
def _upsert_statement(
    dialect: str, table: Table, key: tuple[str, ...], replace: bool, add: tuple[str, ...]
) -> DialectInsert:
    """Built once per table: building it costs more than a small batch's whole commit."""
    statement = (postgresql_insert if dialect == "postgresql" else sqlite_insert)(table)
    if add:
        return statement.on_conflict_do_update(
            index_elements=list(key), set_={name: table.c[name] + statement.excluded[name] for name in add}
        )
    if replace:
        replaced = {c.name: statement.excluded[c.name] for c in table.columns if c.name not in key}
        return statement.on_conflict_do_update(index_elements=list(key), set_=replaced)
    return statement.on_conflict_do_nothing(index_elements=list(key))


def insert_checked(conn: Connection, table: Table, row: Mapping[str, Any]) -> None:
    """Insert one row whose strings the column must hold on either backend: PostgreSQL refuses a
    NUL character or a string longer than its column, SQLite stores both; here both refuse alike."""
    for column in table.columns:
        value = row.get(column.name)
        if not isinstance(value, str):
            continue
        if "\x00" in value:
            raise ValueError(f"{column.name} holds a NUL character")
        length = getattr(column.type, "length", None)
        if length is not None and len(value) > length:
            raise ValueError(f"{column.name} is {len(value)} characters, longer than its column's {length}")
    conn.execute(insert_for(conn, table), row)


def advisory_key(purpose: str, conn: Connection) -> int:
    """A PostgreSQL advisory lock key for `purpose` in the schema `conn` works in: databases that
    share a server (or tests' per-test schemas) never wait for each other's locks."""
    return lock_key(purpose, conn.exec_driver_sql("SELECT current_schema()").scalar_one())


def lock_key(purpose: str, schema: str) -> int:
    digest = hashlib.sha256(f"{purpose}:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def archive_channel(sequencer_key: int) -> str:
    """The NOTIFY channel an archive's commits are announced on (its sequencer's key names it)."""
    return f"polytraders_archive_{abs(sequencer_key)}"

