"""The compliance ledger: every SEVEN_YEARS record, append-only and hash-chained per stream.

A stream is the producing bot's slug. Entry n of a stream stores
    hash_n = sha256(hash_{n-1} || canonical(entry_n)),  hash_0 = 32 zero bytes,
where canonical(entry) is the concatenation, each field length-prefixed (4-byte big-endian
length, then the bytes), of: stream, entry_id, recorded_at in microseconds (decimal), the
entry_id it corrects ("" if none), and the record's deterministic protobuf serialisation.
Order is carried by the chain itself (each hash covers its predecessor's), so an entry moved
elsewhere still matches its own hash but no longer follows its new predecessor. Nothing updates or deletes an entry: a correction is a new entry naming the
one it corrects. Every `CHECKPOINT_EVERY` entries a checkpoint records the Merkle root of that
range's entry hashes (pairwise sha256, an odd last node paired with itself) and the chain hash
at its end, so a verifier can start from a checkpoint instead of walking seven years.

Verification streams the entries in order, a page at a time, and holds only that page, the
previous hash and the current checkpoint range's hashes in memory. It names the first broken
entry: an edited entry (its hash does not match its content), a removed one (a gap in seq) or
entries out of order (the entry's hash matches its content but does not follow its predecessor).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import count, islice, repeat
from operator import concat

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

GENESIS = bytes(32)
CHECKPOINT_EVERY = 1024


class LedgerEntryRow(SQLModel, table=True):
    __tablename__ = "ledger_entries"
    __table_args__ = (UniqueConstraint("entry_id", name="ledger_entries_entry_id"),)

    stream: str = Field(sa_type=String(128), primary_key=True)
    seq: int = Field(sa_type=BigInteger().with_variant(Integer, "sqlite"), primary_key=True, sa_column_kwargs={"autoincrement": False})
    entry_id: str = Field(sa_type=String(36))
    recorded_at_us: int = Field(sa_type=BigInteger)
    corrects: str = Field(default="", sa_type=String(36), sa_column_kwargs={"default": ""})
    payload: bytes = Field(sa_type=LargeBinary)
    prev_hash: bytes = Field(sa_type=LargeBinary)
    hash: bytes = Field(sa_type=LargeBinary)


ledger_entries = LedgerEntryRow.__table__


class LedgerCheckpointRow(SQLModel, table=True):
    __tablename__ = "ledger_checkpoints"

    stream: str = Field(sa_type=String(128), primary_key=True)
    last_seq: int = Field(sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False})
    first_seq: int = Field(sa_type=BigInteger)
    merkle_root: bytes = Field(sa_type=LargeBinary)
    chain_hash: bytes = Field(sa_type=LargeBinary)
    recorded_at_us: int = Field(sa_type=BigInteger)


ledger_checkpoints = LedgerCheckpointRow.__table__

_LENGTH = struct.Struct(">I").pack
"""A field's 4-byte big-endian length prefix."""
_digest = type(hashlib.sha256()).digest
"""HASH.digest unbound, so map() can call it."""


def _field(value: bytes) -> bytes:
    return _LENGTH(len(value)) + value


def entry_hash(
    prev_hash: bytes, stream: str, entry_id: str, recorded_at_us: int, corrects: str, payload: bytes
) -> bytes:
    canonical = b"".join(
        _field(part)
        for part in (
            stream.encode(),
            entry_id.encode(),
            str(recorded_at_us).encode(),
            corrects.encode(),
            payload,
        )
    )
    return hashlib.sha256(prev_hash + canonical).digest()


def _entry_hashes(
    prev_hashes: Sequence[bytes],
    stream: str,
    entry_ids: Sequence[str],
    recorded_at_us: Sequence[int],
    corrects: Sequence[str],
    payloads: Sequence[bytes],
) -> tuple[bytes, ...]:
    """`entry_hash` of many entries of one stream at once, each over its own prev_hash.

    Built from map and zip so that no Python frame runs per entry. The timestamps and
    corrections of entries appended together repeat, so each distinct one is encoded once.
    """
    ids = tuple(map(str.encode, entry_ids))
    times = {at: _field(str(at).encode()) for at in set(recorded_at_us)}
    corrected = {c: _field(c.encode()) for c in set(corrects)}
    canonical = zip(
        prev_hashes,
        repeat(_field(stream.encode())),
        map(_LENGTH, map(len, ids)),
        ids,
        map(times.__getitem__, recorded_at_us),
        map(corrected.__getitem__, corrects),
        map(_LENGTH, map(len, payloads)),
        payloads,
    )
    return tuple(map(_digest, map(hashlib.sha256, map(b"".join, canonical))))


def merkle_root(hashes: Sequence[bytes]) -> bytes:
    level = list(hashes) or [GENESIS]
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        pairs = iter(level)
        level = list(map(_digest, map(hashlib.sha256, map(concat, pairs, pairs))))
    return level[0]


@dataclass(frozen=True)
class LedgerRecord:
    """A SEVEN_YEARS record on its way into the ledger."""

    stream: str
    entry_id: str
    corrects: str
    payload: bytes


@dataclass(frozen=True)
class Break:
    stream: str
    seq: int
    entry_id: str
    problem: str
    """"edited", "removed", "reordered" or "checkpoint"."""
    explanation: str


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
        recorded = _field(str(recorded_at_us).encode())
        rows, checkpoints = [], []
        for record in records:
            stream, entry_id, corrects, payload = record.stream, record.entry_id, record.corrects, record.payload  # fmt: skip
            head = self._heads.get(stream) or self._head(conn, stream)
            prev, seq = head.hash, head.seq + 1
            eid, correction = entry_id.encode(), corrects.encode()
            canonical = (prev, head.stream_field, _LENGTH(len(eid)), eid, recorded,
                         _LENGTH(len(correction)), correction, _LENGTH(len(payload)), payload)  # fmt: skip
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
        head = _Head(0, GENESIS, [], _field(stream.encode()))
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


def _insert_entries(conn: Connection, rows: list[tuple]) -> None:  # type: ignore[type-arg]
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
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


_ENTRIES_AFTER = (
    f"SELECT seq, entry_id, recorded_at_us, corrects, payload, prev_hash, hash FROM {ledger_entries.name} "
    "WHERE stream = {0} AND seq > {0} ORDER BY seq"
)
_PAGE = 512
"""Entries fetched and checked at a time: few enough that a page's rows are still in the CPU
cache when they are hashed."""


def verify(engine: Engine, only_stream: str = "", from_checkpoint: bool = False) -> Verification:
    """Walk each stream (or one) and name the first broken entry; memory stays flat as the ledger grows."""
    checked = checkpoints_checked = 0
    for stream in [only_stream] if only_stream else streams(engine):
        with engine.connect() as conn:
            walk = _Walk(conn, stream, from_checkpoint)
            broken = walk.run(conn)
        checked += walk.checked
        checkpoints_checked += walk.checkpoints_checked
        if broken is not None:
            return Verification(checked, checkpoints_checked, broken)
    return Verification(checked, checkpoints_checked, None)


class _Walk:
    """One stream's verification: where it has got to, and the hashes since the last checkpoint."""

    def __init__(self, conn: Connection, stream: str, from_checkpoint: bool) -> None:
        self.stream = stream
        self.marks = {row.last_seq: row for row in conn.execute(
            select(ledger_checkpoints).where(ledger_checkpoints.c.stream == stream))}  # fmt: skip
        self.start_seq, self.prev = 0, GENESIS
        if from_checkpoint and self.marks:
            latest = self.marks[max(self.marks)]
            self.start_seq, self.prev = latest.last_seq, latest.chain_hash
        self.expected = self.start_seq + 1
        self.pending: list[bytes] = []
        self.checked = self.checkpoints_checked = 0

    def run(self, conn: Connection) -> Break | None:
        """Fetched as the driver's own tuples: SQLAlchemy's Row objects and result processing cost
        more than hashing the entries. On PostgreSQL a server-side cursor keeps memory flat."""
        postgresql = conn.dialect.name == "postgresql"
        dbapi = conn.connection.dbapi_connection
        cursor = dbapi.cursor("ledger_verify", binary=True) if postgresql else dbapi.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(_ENTRIES_AFTER.format("%s" if postgresql else "?"), (self.stream, self.start_seq))
            while page := cursor.fetchmany(_PAGE):
                broken = self._page(page)
                if broken is not None:
                    return broken
                del self.pending[:-CHECKPOINT_EVERY]  # older hashes fall in no checkpoint's range
        finally:
            cursor.close()
        if self.marks and max(self.marks) >= self.expected:  # a checkpoint vouches for entries that are gone
            return Break(self.stream, self.expected, "", "removed",
                         f"entries from {self.expected} are missing: checkpoint {max(self.marks)} covers them")  # fmt: skip
        return None

    def _page(self, page: list[tuple]) -> Break | None:  # type: ignore[type-arg]
        """A page whose entries are all whole and in order is checked a column at a time: each entry
        hashed over its own stored prev_hash, and each prev_hash equal to the hash before it, is
        the chain. Any other page goes `_one_by_one`, which finds its first break."""
        seqs, entry_ids, recorded, corrects, payloads, prev_hashes, hashes = zip(*page, strict=True)
        if not (
            seqs == tuple(islice(count(self.expected), len(page)))
            and prev_hashes[0] == self.prev
            and prev_hashes[1:] == hashes[:-1]
            and _entry_hashes(prev_hashes, self.stream, entry_ids, recorded, corrects, payloads) == hashes
        ):
            return self._one_by_one(page)
        done = 0
        for seq in sorted(self.marks.keys() & seqs):
            end = seqs.index(seq) + 1
            self._advance(hashes[done:end])
            done = end
            broken = self._checkpoint(seq, entry_ids[end - 1])
            if broken is not None:
                return broken
        self._advance(hashes[done:])
        return None

    def _advance(self, hashes: Sequence[bytes]) -> None:
        if hashes:
            self.pending.extend(hashes)
            self.checked += len(hashes)
            self.prev, self.expected = hashes[-1], self.expected + len(hashes)

    def _one_by_one(self, page: list[tuple]) -> Break | None:  # type: ignore[type-arg]
        stream = self.stream
        for seq, entry_id, recorded_at_us, corrects, payload, prev_hash, stored in page:
            if seq != self.expected:
                missing = (
                    f"entries {self.expected}..{seq - 1} are"
                    if seq > self.expected + 1
                    else f"entry {self.expected} is"
                )
                why = f"{missing} missing: the chain jumps to {seq}"
                return Break(stream, self.expected, "", "removed", why)
            digest = entry_hash(self.prev, stream, entry_id, recorded_at_us, corrects, payload)
            if prev_hash != self.prev or digest != stored:
                own = entry_hash(prev_hash, stream, entry_id, recorded_at_us, corrects, payload)
                if own != stored:
                    problem, why = "edited", "its content no longer matches its hash"
                else:
                    problem, why = (
                        "reordered",
                        f"it does not follow entry {seq - 1}: entries moved or replaced",
                    )
                return Break(stream, seq, entry_id, problem, f"entry {seq} ({entry_id}): {why}")
            self._advance((digest,))
            if seq in self.marks:
                broken = self._checkpoint(seq, entry_id)
                if broken is not None:
                    return broken
        return None

    def _checkpoint(self, seq: int, entry_id: str) -> Break | None:
        """At a checkpoint's last entry. Its range is the hashes since the previous checkpoint, as
        many as CHECKPOINT_EVERY + 1 when one in between is gone."""
        mark = self.marks[seq]
        if (
            merkle_root(self.pending[-CHECKPOINT_EVERY - 1 :]) != mark.merkle_root
            or mark.chain_hash != self.prev
        ):
            return Break(self.stream, seq, entry_id, "checkpoint",
                         f"checkpoint {mark.first_seq}..{mark.last_seq} does not match its entries")  # fmt: skip
        self.checkpoints_checked += 1
        self.pending = []
        return None
