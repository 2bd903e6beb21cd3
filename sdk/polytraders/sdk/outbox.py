"""The bot's durable outbox: a local SQLite file holding every report until governance acknowledged it.

Acknowledged rows are marked, not deleted at once: `purge_acknowledged` deletes them in bulk.
"""

from __future__ import annotations

import sqlite3
from functools import lru_cache, partial
from pathlib import Path
from typing import NamedTuple

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused, so order survives restarts
    payload BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS dead_letter (
    seq INTEGER PRIMARY KEY,
    payload BLOB NOT NULL,
    reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS acknowledged (  -- one row: governance has every report through this seq
    id INTEGER PRIMARY KEY CHECK (id = 1),
    through_seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS shed (
    kind INTEGER PRIMARY KEY,
    count INTEGER NOT NULL
);
"""


_ROWS_PER_INSERT = 1000
_ACKNOWLEDGED = "(SELECT coalesce(max(through_seq), 0) FROM acknowledged)"


@lru_cache(maxsize=8)
def _insert_sql(rows: int) -> str:
    return f"INSERT INTO outbox (payload) VALUES {', '.join(['(?)'] * rows)}"


class OutboxRow(NamedTuple):
    seq: int
    payload: bytes


_as_rows = partial(map, partial(tuple.__new__, OutboxRow))
"""(seq, payload) pairs as OutboxRows, built in C: a NamedTuple's own constructor is a Python
function, and the outbox builds one per report."""


class Outbox:
    """One connection per thread that uses it; WAL lets the writer and the sender work at once.

    Durability: a committed row survives the bot process dying (it is in the OS, synchronous=NORMAL);
    it does not promise to survive a power cut.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.connect() as conn:
            conn.executescript(_SCHEMA)

    def connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    @staticmethod
    def append(conn: sqlite3.Connection, payloads: list[bytes]) -> list[OutboxRow]:
        """In order, in one transaction; a statement per thousand rows (a GIL hand-off each, not per row).

        Returns the rows as stored. AUTOINCREMENT numbers one statement's rows consecutively,
        one past the largest seq the table ever held, so each statement's seqs end at its
        `lastrowid`.
        """
        # SQLite before 3.32 allows 999 parameters a statement.
        per_statement = min(_ROWS_PER_INSERT, conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))
        stored: list[OutboxRow] = []

        def insert(chunk: list[bytes]) -> None:
            last = conn.execute(_insert_sql(len(chunk)), chunk).lastrowid
            stored.extend(_as_rows(zip(range(last - len(chunk) + 1, last + 1), chunk, strict=True)))

        if not payloads:
            return stored
        if len(payloads) <= per_statement:  # a statement is a transaction of its own: one trip, not three
            insert(payloads)
            return stored
        with conn:
            conn.execute("BEGIN")
            for start in range(0, len(payloads), per_statement):
                insert(payloads[start : start + per_statement])
        return stored

    @staticmethod
    def oldest(conn: sqlite3.Connection, limit: int, after_seq: int = 0) -> list[OutboxRow]:
        """The first `limit` unacknowledged rows after `after_seq` (0: from the oldest), in order."""
        rows = conn.execute(
            f"SELECT seq, payload FROM outbox WHERE seq > max(?, {_ACKNOWLEDGED}) ORDER BY seq LIMIT ?",
            (after_seq, limit),
        )
        return list(_as_rows(rows))

    @staticmethod
    def acknowledge(conn: sqlite3.Connection, through_seq: int) -> None:
        """Mark every row through `through_seq` delivered: one small write (autocommit), however
        many rows; `purge_acknowledged` deletes them later, in bulk."""
        conn.execute(
            "INSERT INTO acknowledged (id, through_seq) VALUES (1, ?) "
            "ON CONFLICT (id) DO UPDATE SET through_seq = max(through_seq, excluded.through_seq)",
            (through_seq,),
        )

    @staticmethod
    def purge_acknowledged(conn: sqlite3.Connection) -> int:
        """Delete the rows governance acknowledged; how many went."""
        return conn.execute(f"DELETE FROM outbox WHERE seq <= {_ACKNOWLEDGED}").rowcount

    @staticmethod
    def dead_letter(conn: sqlite3.Connection, rows: list[OutboxRow], reasons: list[str]) -> None:
        """Set aside reports governance refused as invalid, so they stop blocking the rest."""
        with conn:
            conn.execute("BEGIN")
            conn.executemany(
                "INSERT OR REPLACE INTO dead_letter (seq, payload, reason) VALUES (?, ?, ?)",
                [(r.seq, r.payload, reason) for r, reason in zip(rows, reasons, strict=True)],
            )
            conn.executemany("DELETE FROM outbox WHERE seq = ?", [(r.seq,) for r in rows])

    @staticmethod
    def count(conn: sqlite3.Connection) -> int:
        """Rows not yet acknowledged."""
        return conn.execute(f"SELECT count(*) FROM outbox WHERE seq > {_ACKNOWLEDGED}").fetchone()[0]

    @staticmethod
    def dead_letters(conn: sqlite3.Connection) -> list[tuple[int, bytes, str]]:
        return conn.execute("SELECT seq, payload, reason FROM dead_letter ORDER BY seq").fetchall()

    @staticmethod
    def add_shed(conn: sqlite3.Connection, counts: dict[int, int]) -> None:
        with conn:
            conn.execute("BEGIN")
            conn.executemany(
                "INSERT INTO shed (kind, count) VALUES (?, ?) "
                "ON CONFLICT(kind) DO UPDATE SET count = count + excluded.count",
                list(counts.items()),
            )

    @staticmethod
    def has_shed(conn: sqlite3.Connection) -> bool:
        return conn.execute("SELECT 1 FROM shed LIMIT 1").fetchone() is not None

    @staticmethod
    def take_shed(conn: sqlite3.Connection) -> dict[int, int]:
        with conn:
            conn.execute("BEGIN")
            counts = dict(conn.execute("SELECT kind, count FROM shed").fetchall())
            conn.execute("DELETE FROM shed")
        return counts
