"""The compliance ledger: every SEVEN_YEARS record, append-only and hash-chained per stream.

A stream is the producing bot's slug; how each entry is chained, and checkpointed every
`CHECKPOINT_EVERY` entries, is `ledger_chain`'s docstring. Nothing updates or deletes an entry: a
correction is a new entry naming the one it corrects.

Verification streams the entries in order, a page at a time, and holds only that page, the
previous hash and the current checkpoint range's hashes in memory. It names the first broken
entry: an edited entry (its hash does not match its content), a removed one (a gap in seq) or
entries out of order (the entry's hash matches its content but does not follow its predecessor).
A verification of `SPREAD_FROM` entries or more is cut at checkpoints into as many shares as
this process has cores, each walked by a worker process: a checkpoint's chain hash is where the
next share starts, and the share before it proves that hash, so the shares together find what
one walk would.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Connection,
    Engine,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    func,
    insert,
    select,
)
from sqlmodel import Field, SQLModel

from .ledger_chain import (
    CHECKPOINT_EVERY,
    GENESIS,
    Break,
    Run,
    Walked,
    field,
    length_prefix,
    merkle_root,
    walk,
    walked_from_json,
)
from .storage import libpq_url, table_of


class LedgerEntryRow(SQLModel, table=True):
    __tablename__ = "ledger_entries"
    __table_args__ = (UniqueConstraint("entry_id", name="ledger_entries_entry_id"),)

    stream: str = Field(sa_type=String(128), primary_key=True)
    seq: int = Field(
        sa_type=BigInteger().with_variant(Integer, "sqlite"),
        primary_key=True,
        sa_column_kwargs={"autoincrement": False},
    )
    entry_id: str = Field(sa_type=String(36))
    recorded_at_us: int = Field(sa_type=BigInteger)
    corrects: str = Field(default="", sa_type=String(36), sa_column_kwargs={"default": ""})
    payload: bytes = Field(sa_type=LargeBinary)
    prev_hash: bytes = Field(sa_type=LargeBinary)
    hash: bytes = Field(sa_type=LargeBinary)


ledger_entries = table_of(LedgerEntryRow)


class LedgerCheckpointRow(SQLModel, table=True):
    __tablename__ = "ledger_checkpoints"

    stream: str = Field(sa_type=String(128), primary_key=True)
    last_seq: int = Field(sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False})
    first_seq: int = Field(sa_type=BigInteger)
    merkle_root: bytes = Field(sa_type=LargeBinary)
    chain_hash: bytes = Field(sa_type=LargeBinary)
    recorded_at_us: int = Field(sa_type=BigInteger)


ledger_checkpoints = table_of(LedgerCheckpointRow)


@dataclass(frozen=True)
class LedgerRecord:
    """A SEVEN_YEARS record on its way into the ledger."""

    stream: str
    entry_id: str
    corrects: str
    payload: bytes


@dataclass(frozen=True)
class Verification:
    entries_checked: int
    checkpoints_checked: int
    broken: Break | None

    @property
    def ok(self) -> bool:
        return self.broken is None


@dataclass(slots=True)
class _Head:
    """Where a stream's chain ends: its last seq and hash, and the hashes since its last checkpoint."""

    seq: int
    hash: bytes
    pending: list[bytes]
    stream_field: bytes
    """The stream's own canonical field, the same in every entry."""


_COLUMNS = "stream, seq, entry_id, recorded_at_us, corrects, payload, prev_hash, hash"
_Entry = tuple[str, int, str, int, str, bytes, bytes, bytes]
"""A ledger entry's row, its values in `_COLUMNS` order."""
_INSERT = f"INSERT INTO {ledger_entries.name} ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
_COPY = f"COPY {ledger_entries.name} ({_COLUMNS}) FROM STDIN"


class ComplianceLedger:
    def __init__(self) -> None:
        self._heads: dict[str, _Head] = {}  # one writer per process

    def forget_heads(self) -> None:
        """After a failed transaction: reload each stream's head from the database."""
        self._heads.clear()

    def append(self, conn: Connection, records: Iterable[LedgerRecord], recorded_at_us: int) -> None:
        """Chain `records` onto their streams inside the caller's transaction.

        The rows go to the driver's own executemany (COPY on PostgreSQL): SQLAlchemy's per-row
        parameter processing cost more than the insert itself.
        """
        every, sha256, join = CHECKPOINT_EVERY, hashlib.sha256, b"".join
        recorded = field(str(recorded_at_us).encode())
        rows, checkpoints = [], []
        for record in records:
            stream, entry_id, corrects, payload = record.stream, record.entry_id, record.corrects, record.payload  # fmt: skip
            head = self._heads.get(stream) or self._head(conn, stream)
            prev, seq = head.hash, head.seq + 1
            eid, correction = entry_id.encode(), corrects.encode()
            canonical = (prev, head.stream_field, length_prefix(len(eid)), eid, recorded,
                         length_prefix(len(correction)), correction, length_prefix(len(payload)), payload)  # fmt: skip
            digest = sha256(join(canonical)).digest()
            rows.append((stream, seq, entry_id, recorded_at_us, corrects, payload, prev, digest))
            head.seq, head.hash = seq, digest
            head.pending.append(digest)
            if len(head.pending) == every:
                checkpoints.append({"stream": stream, "first_seq": seq - every + 1, "last_seq": seq,
                                    "merkle_root": merkle_root(head.pending), "chain_hash": digest,
                                    "recorded_at_us": recorded_at_us})  # fmt: skip
                head.pending = []
        if rows:
            _insert_entries(conn, rows)
        if checkpoints:
            conn.execute(insert(ledger_checkpoints), checkpoints)

    def _head(self, conn: Connection, stream: str) -> _Head:
        t = ledger_entries
        last = conn.execute(
            select(t.c.seq, t.c.hash).where(t.c.stream == stream).order_by(t.c.seq.desc()).limit(1)
        ).first()
        head = _Head(0, GENESIS, [], field(stream.encode()))
        if last is not None:
            checkpointed = conn.execute(
                select(func.coalesce(func.max(ledger_checkpoints.c.last_seq), 0)).where(
                    ledger_checkpoints.c.stream == stream
                )
            ).scalar_one()
            pending = conn.execute(
                select(t.c.hash).where(t.c.stream == stream, t.c.seq > checkpointed).order_by(t.c.seq)
            ).scalars()
            head.seq, head.hash, head.pending = last.seq, last.hash, list(pending)
        self._heads[stream] = head
        return head


def _insert_entries(conn: Connection, rows: list[_Entry]) -> None:
    cursor = conn.connection.cursor()
    try:
        if conn.dialect.name == "postgresql":
            with cursor.copy(_COPY) as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            cursor.executemany(_INSERT, rows)
    finally:
        cursor.close()


def streams(engine: Engine) -> list[str]:
    """Every stream with entries or checkpoints (a stream emptied by deletion still has checkpoints)."""
    with engine.connect() as conn:
        found = set(conn.execute(select(ledger_entries.c.stream).distinct()).scalars())
        found |= set(conn.execute(select(ledger_checkpoints.c.stream).distinct()).scalars())
    return sorted(found)


SPREAD_FROM = 200_000
"""Entries a verification walks before it is spread over worker processes: on a shorter walk,
starting a Python interpreter per core is too large a share of the whole."""


def verify(
    engine: Engine, only_stream: str = "", from_checkpoint: bool = False, *,
    workers: int | None = None, spread_from: int = SPREAD_FROM,
) -> Verification:  # fmt: skip
    """Walk each stream (or one) and name the first broken entry; memory stays flat as the ledger grows.

    `workers` (default: the cores this process may use) share a walk of at least `spread_from` entries."""
    with engine.connect() as conn:
        stretches = [_stretch(conn, stream, from_checkpoint)
                     for stream in ([only_stream] if only_stream else streams(engine))]  # fmt: skip
    workers = workers or cores()
    shares = (
        _shares(stretches, workers)
        if sum(s.length for s in stretches) >= spread_from and _workers_can_open(engine)
        else []
    )
    if len(shares) > 1:
        walked = _walk_apart(engine, shares)
    else:
        walked = _walk_here(engine, [s.run for s in stretches])
    checked = checkpoints_checked = 0
    for w in walked:
        checked += w.checked
        checkpoints_checked += w.checkpoints_checked
        if w.broken is not None:
            return Verification(checked, checkpoints_checked, w.broken)
    return Verification(checked, checkpoints_checked, None)


@dataclass(frozen=True)
class _Stretch:
    """A stream from where its walk starts to its end, and the checkpoints it could be cut at."""

    run: Run
    length: int
    marks: list[tuple[int, bytes]]
    """(last_seq, chain_hash) of each checkpoint past the start, in order."""


def _stretch(conn: Connection, stream: str, from_checkpoint: bool) -> _Stretch:
    cp, t = ledger_checkpoints.c, ledger_entries.c
    marks = [(m.last_seq, m.chain_hash) for m in conn.execute(
        select(cp.last_seq, cp.chain_hash).where(cp.stream == stream).order_by(cp.last_seq))]  # fmt: skip
    after, prev = marks[-1] if from_checkpoint and marks else (0, GENESIS)
    end = conn.execute(select(func.coalesce(func.max(t.seq), 0)).where(t.stream == stream)).scalar_one()
    return _Stretch(Run(stream, after, prev, None), max(end - after, 0), [m for m in marks if m[0] > after])


def _shares(stretches: list[_Stretch], workers: int) -> list[list[Run]]:
    """The walk in up to `workers` consecutive shares of about equal length, cut only at checkpoints."""
    size = -(-sum(s.length for s in stretches) // workers)
    shares: list[list[Run]] = [[]]
    room = size
    for stretch in stretches:
        stream, after, prev, _ = stretch.run
        end = stretch.run.after_seq + stretch.length
        for last_seq, chain_hash in stretch.marks:
            if last_seq - after >= room and last_seq < end and len(shares) < workers:
                shares[-1].append(Run(stream, after, prev, last_seq))
                shares.append([])
                room, after, prev = size, last_seq, chain_hash
        shares[-1].append(Run(stream, after, prev, None))
        room -= end - after
        if room <= 0 and len(shares) < workers:
            shares.append([])
            room = size
    return [share for share in shares if share]


def cores() -> int:
    """The cores this process may run on (all of the machine's where affinity is not known)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _workers_can_open(engine: Engine) -> bool:
    """Whether a worker process can open the database too (an in-memory SQLite one it cannot)."""
    return engine.dialect.name == "postgresql" or engine.url.database not in (None, "", ":memory:")


def _walk_here(engine: Engine, runs: list[Run]) -> list[Walked]:
    walked = []
    with engine.connect() as conn:
        dbapi, postgresql = conn.connection.dbapi_connection, conn.dialect.name == "postgresql"
        for run in runs:
            walked.append(walk(dbapi, postgresql, run))
            if walked[-1].broken is not None:
                break
    return walked


def _walk_apart(engine: Engine, shares: list[list[Run]]) -> list[Walked]:
    """Each share in a worker process of its own, all at once; the job (the database's address
    and password among it) goes on the worker's stdin, never its command line. Results are taken
    in order up to the first break: the workers after it, or all of them once one fails, are
    stopped on the way out."""
    database = libpq_url(engine) if engine.dialect.name == "postgresql" else engine.url.database
    command = [sys.executable, "-m", "polytraders.servers.runtime.ledger_chain"]
    with contextlib.ExitStack() as stack:
        workers = []
        for share in shares:
            said = stack.enter_context(tempfile.TemporaryFile("w+"))  # not a pipe: a full one stalls the worker
            worker = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=said,
                                      text=True)  # fmt: skip
            stack.callback(_stop, worker)
            workers.append((worker, said))
            job = {"dialect": engine.dialect.name, "database": database,
                   "runs": [(r.stream, r.after_seq, r.prev.hex(), r.until_seq) for r in share]}  # fmt: skip
            assert worker.stdin is not None
            with contextlib.suppress(BrokenPipeError), worker.stdin:
                json.dump(job, worker.stdin)
        walked: list[Walked] = []
        for worker, said in workers:
            assert worker.stdout is not None
            out = worker.stdout.read()
            if worker.wait() != 0:
                said.seek(0)
                last = said.read().strip().splitlines() or [f"exit status {worker.returncode}"]
                raise RuntimeError(f"a ledger verification worker failed: {last[-1]}")
            walked.extend(map(walked_from_json, json.loads(out)))
            if walked[-1].broken is not None:
                break
        return walked


def _stop(worker: subprocess.Popen[str]) -> None:
    if worker.poll() is None:
        worker.kill()
        worker.wait()
    assert worker.stdout is not None
    worker.stdout.close()
