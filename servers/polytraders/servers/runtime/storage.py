"""The storage engine every group shares: a SQLite file in WAL mode by default, PostgreSQL via psycopg 3."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, MetaData, Table, create_engine, event
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url

# Every group's tables hang off this one MetaData, so one create_all builds the schema.
metadata = MetaData()


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


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_schema(engine: Engine) -> None:
    metadata.create_all(engine)


def insert_for(conn: Connection, table: Table):  # type: ignore[no-untyped-def]
    """An INSERT that knows ON CONFLICT on this connection's dialect (SQLite or PostgreSQL)."""
    return (postgresql_insert if conn.dialect.name == "postgresql" else sqlite_insert)(table)


def upsert(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    key: Sequence[str],
    *,
    replace: bool = True,
) -> None:
    """Insert rows; a row whose `key` is already stored replaces it (or, with replace=False, is skipped)."""
    if not rows:
        return
    statement = insert_for(conn, table)
    if replace:
        replaced = {c.name: statement.excluded[c.name] for c in table.columns if c.name not in key}
        statement = statement.on_conflict_do_update(index_elements=list(key), set_=replaced)
    else:
        statement = statement.on_conflict_do_nothing(index_elements=list(key))
    conn.execute(statement, list(rows))
