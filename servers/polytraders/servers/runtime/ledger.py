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

Verification streams the entries in order and holds only the previous hash and the current
checkpoint range's hashes in memory. It names the first broken entry: an edited entry (its
hash does not match its content), a removed one (a gap in seq) or entries out of order (the
entry's hash matches its content but does not follow its predecessor).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
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

def _field(value: bytes) -> bytes:
    return len(value).to_bytes(4, "big") + value


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


def merkle_root(hashes: list[bytes]) -> bytes:
    level = list(hashes) or [GENESIS]
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        level = [hashlib.sha256(level[i] + level[i + 1]).digest() for i in range(0, len(level), 2)]
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


class ComplianceLedger:
    def __init__(self) -> None:
        # stream → (last seq, last hash, hashes since the last checkpoint); one writer per process.
        self._heads: dict[str, tuple[int, bytes, list[bytes]]] = {}

    def forget_heads(self) -> None:
        """After a failed transaction: reload each stream's head from the database."""
        self._heads.clear()

    def append(self, conn: Connection, records: Iterable[LedgerRecord], recorded_at_us: int) -> None:
        """Chain `records` onto their streams inside the caller's transaction."""
        rows, checkpoints = [], []
        for record in records:
            seq, prev, pending = self._head(conn, record.stream)
            seq += 1
            digest = entry_hash(
                prev, record.stream, record.entry_id, recorded_at_us, record.corrects, record.payload
            )
            rows.append({"stream": record.stream, "seq": seq, "entry_id": record.entry_id,
                         "recorded_at_us": recorded_at_us, "corrects": record.corrects, "payload": record.payload,
                         "prev_hash": prev, "hash": digest})  # fmt: skip
            pending = [*pending, digest]
            if len(pending) == CHECKPOINT_EVERY:
                checkpoints.append({"stream": record.stream, "first_seq": seq - CHECKPOINT_EVERY + 1, "last_seq": seq,
                                    "merkle_root": merkle_root(pending), "chain_hash": digest,
                                    "recorded_at_us": recorded_at_us})  # fmt: skip
                pending = []
            self._heads[record.stream] = (seq, digest, pending)
        if rows:
            conn.execute(insert(ledger_entries), rows)
        if checkpoints:
            conn.execute(insert(ledger_checkpoints), checkpoints)

    def _head(self, conn: Connection, stream: str) -> tuple[int, bytes, list[bytes]]:
        if stream not in self._heads:
            t = ledger_entries
            last = conn.execute(
                select(t.c.seq, t.c.hash).where(t.c.stream == stream).order_by(t.c.seq.desc()).limit(1)
            ).first()
            if last is None:
                self._heads[stream] = (0, GENESIS, [])
            else:
                checkpointed = conn.execute(
                    select(func.coalesce(func.max(ledger_checkpoints.c.last_seq), 0)).where(
                        ledger_checkpoints.c.stream == stream
                    )
                ).scalar_one()
                pending = conn.execute(
                    select(t.c.hash).where(t.c.stream == stream, t.c.seq > checkpointed).order_by(t.c.seq)
                ).scalars()
                self._heads[stream] = (last.seq, last.hash, list(pending))
        return self._heads[stream]


def streams(engine: Engine) -> list[str]:
    """Every stream with entries or checkpoints (a stream emptied by deletion still has checkpoints)."""
    with engine.connect() as conn:
        found = set(conn.execute(select(ledger_entries.c.stream).distinct()).scalars())
        found |= set(conn.execute(select(ledger_checkpoints.c.stream).distinct()).scalars())
    return sorted(found)


def _entries(engine: Engine, stream: str, after_seq: int) -> Iterator:  # type: ignore[type-arg]
    t = ledger_entries
    query = (
        select(t.c.seq, t.c.entry_id, t.c.recorded_at_us, t.c.corrects, t.c.payload, t.c.prev_hash, t.c.hash)
        .where(t.c.stream == stream, t.c.seq > after_seq)
        .order_by(t.c.seq)
        .execution_options(yield_per=2000)
    )
    with engine.connect() as conn:
        yield from conn.execute(query)


def verify(engine: Engine, only_stream: str = "", from_checkpoint: bool = False) -> Verification:
    """Walk each stream (or one) and name the first broken entry; memory stays flat as the ledger grows."""
    checked = checkpoints_checked = 0
    for stream in [only_stream] if only_stream else streams(engine):
        with engine.connect() as conn:
            marks = {row.last_seq: row for row in conn.execute(
                select(ledger_checkpoints).where(ledger_checkpoints.c.stream == stream))}  # fmt: skip
        start_seq, prev = 0, GENESIS
        if from_checkpoint and marks:
            latest = marks[max(marks)]
            start_seq, prev = latest.last_seq, latest.chain_hash
        expected, pending = start_seq + 1, []
        for row in _entries(engine, stream, start_seq):
            if row.seq != expected:
                missing = (
                    f"entries {expected}..{row.seq - 1} are"
                    if row.seq > expected + 1
                    else f"entry {expected} is"
                )
                return Verification(checked, checkpoints_checked, Break(
                    stream, expected, "", "removed", f"{missing} missing: the chain jumps to {row.seq}"))  # fmt: skip
            digest = entry_hash(prev, stream, row.entry_id, row.recorded_at_us, row.corrects, row.payload)
            if row.prev_hash != prev or digest != row.hash:
                own = entry_hash(
                    row.prev_hash, stream, row.entry_id, row.recorded_at_us, row.corrects, row.payload
                )
                if own != row.hash:
                    problem, why = "edited", "its content no longer matches its hash"
                else:
                    problem, why = (
                        "reordered",
                        f"it does not follow entry {row.seq - 1}: entries moved or replaced",
                    )
                return Verification(checked, checkpoints_checked,
                                    Break(stream, row.seq, row.entry_id, problem, f"entry {row.seq} ({row.entry_id}): {why}"))  # fmt: skip
            checked += 1
            prev, expected = digest, row.seq + 1
            pending.append(digest)
            mark = marks.get(row.seq)
            if mark is not None:
                if merkle_root(pending) != mark.merkle_root or mark.chain_hash != digest:
                    return Verification(checked, checkpoints_checked, Break(
                        stream, row.seq, row.entry_id, "checkpoint",
                        f"checkpoint {mark.first_seq}..{mark.last_seq} does not match its entries"))  # fmt: skip
                checkpoints_checked += 1
                pending = []
            elif len(pending) > CHECKPOINT_EVERY:
                pending = pending[-CHECKPOINT_EVERY:]
        if marks and max(marks) >= expected:  # a checkpoint vouches for entries that are gone
            return Verification(checked, checkpoints_checked, Break(
                stream, expected, "", "removed",
                f"entries from {expected} are missing: checkpoint {max(marks)} covers them"))  # fmt: skip
    return Verification(checked, checkpoints_checked, None)
