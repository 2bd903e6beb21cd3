"""The compliance ledger's chain: how an entry is hashed, and the walk that checks a run of entries.

Entry n of a stream stores
    hash_n = sha256(hash_{n-1} || canonical(entry_n)),  hash_0 = 32 zero bytes,
where canonical(entry) is the concatenation, each field length-prefixed (4-byte big-endian
length, then the bytes), of: stream, entry_id, recorded_at in microseconds (decimal), the
entry_id it corrects ("" if none), and the record's deterministic protobuf serialisation.
Order is carried by the chain itself (each hash covers its predecessor's), so an entry moved
elsewhere still matches its own hash but no longer follows its new predecessor. Every
`CHECKPOINT_EVERY` entries a checkpoint records the Merkle root of that range's entry hashes
(pairwise sha256, an odd last node paired with itself) and the chain hash at its end.

A walk checks one run of a stream, from a point the caller vouches for (the start, or a
checkpoint's chain hash) up to a checkpoint or the stream's end; runs that meet at checkpoints
can be walked apart and their results added up. This module imports only the standard library
(and psycopg on PostgreSQL): it is also the worker process a long verification is spread over
(`python -m polytraders.servers.runtime.ledger_chain`, a job as JSON on stdin), so a worker
starts without importing SQLAlchemy or the mesh.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import struct
import sys
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from itertools import count, islice, repeat
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    import psycopg

GENESIS = bytes(32)
CHECKPOINT_EVERY = 1024

length_prefix = struct.Struct(">I").pack
"""A field's 4-byte big-endian length prefix."""
_digest = type(hashlib.sha256()).digest
"""HASH.digest unbound, so map() can call it."""


def field(value: bytes) -> bytes:
    return length_prefix(len(value)) + value


def entry_hash(
    prev_hash: bytes, stream: str, entry_id: str, recorded_at_us: int, corrects: str, payload: bytes
) -> bytes:
    canonical = b"".join(
        field(part)
        for part in (
            stream.encode(),
            entry_id.encode(),
            str(recorded_at_us).encode(),
            corrects.encode(),
            payload,
        )
    )
    return hashlib.sha256(prev_hash + canonical).digest()


def entry_hashes(
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
    times = {at: field(str(at).encode()) for at in set(recorded_at_us)}
    corrected = {c: field(c.encode()) for c in set(corrects)}
    canonical = zip(
        prev_hashes,
        repeat(field(stream.encode())),
        map(length_prefix, map(len, ids)),
        ids,
        map(times.__getitem__, recorded_at_us),
        map(corrected.__getitem__, corrects),
        map(length_prefix, map(len, payloads)),
        payloads,
    )
    return tuple(map(_digest, map(hashlib.sha256, map(b"".join, canonical))))


def merkle_root(hashes: Sequence[bytes]) -> bytes:
    level = list(hashes) or [GENESIS]
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        pairs = iter(level)
        level = list(map(_digest, map(hashlib.sha256, map(bytes.__add__, pairs, pairs))))
    return level[0]


@dataclass(frozen=True)
class Break:
    stream: str
    seq: int
    entry_id: str
    problem: str
    """"edited", "removed", "reordered" or "checkpoint"."""
    explanation: str


class Run(NamedTuple):
    """Entries after_seq+1 .. until_seq of a stream (None: to its end), the first following `prev`."""

    stream: str
    after_seq: int
    prev: bytes
    until_seq: int | None


@dataclass
class Walked:
    """What a walk of one run found: entries and checkpoints checked up to its first break, if any."""

    checked: int = 0
    checkpoints_checked: int = 0
    broken: Break | None = None


class _Mark(NamedTuple):
    first_seq: int
    merkle_root: bytes
    chain_hash: bytes


_ENTRIES_AFTER = (
    "SELECT seq, entry_id, recorded_at_us, corrects, payload, prev_hash, hash FROM ledger_entries "
    "WHERE stream = {0} AND seq > {0} ORDER BY seq"
)
_MARKS_AFTER = (
    "SELECT last_seq, first_seq, merkle_root, chain_hash FROM ledger_checkpoints "
    "WHERE stream = {0} AND last_seq > {0}"
)
_Entry = tuple[int, str, int, str, bytes, bytes, bytes]
"""An entry as the walk reads it: seq, entry_id, recorded_at_us, corrects, payload, prev_hash, hash."""
_PAGE = 512
"""Entries fetched and checked at a time: few enough that a page's rows are still in the CPU
cache when they are hashed."""


def walk(dbapi: Any, postgresql: bool, run: Run) -> Walked:
    """Check `run` on a DB-API connection. Fetched as the driver's own tuples: SQLAlchemy's Row
    objects and result processing cost more than hashing the entries. On PostgreSQL a
    server-side cursor keeps memory flat."""
    marker = "%s" if postgresql else "?"
    cursor = dbapi.cursor()
    try:
        cursor.execute(_MARKS_AFTER.format(marker), (run.stream, run.after_seq))
        marks = {last: _Mark(first, root, chain) for last, first, root, chain in cursor.fetchall()}
    finally:
        cursor.close()
    chain = _Walk(run, marks)
    cursor = dbapi.cursor("ledger_verify", binary=True) if postgresql else dbapi.cursor()
    try:
        cursor.execute(_ENTRIES_AFTER.format(marker), (run.stream, run.after_seq))
        chain.follow(cursor)
    finally:
        cursor.close()
    return chain.walked


class _Walk:
    """One run's verification: where it has got to, and the hashes since the last checkpoint."""

    def __init__(self, run: Run, marks: dict[int, _Mark]) -> None:
        self.stream, self.until = run.stream, run.until_seq
        self.marks = marks
        self.prev, self.expected = run.prev, run.after_seq + 1
        self.pending: list[bytes] = []
        self.walked = Walked()

    def follow(self, cursor: Any) -> None:
        """Pages up to the run's end (the page that passes it is read whole; an entry past the end
        only names a gap just before it)."""
        until = self.until
        while page := cursor.fetchmany(_PAGE):
            inside = len(page) if until is None else bisect_right(page, until, key=itemgetter(0))
            self.walked.broken = self._page(page[:inside]) if inside else None
            if self.walked.broken is not None:
                return
            del self.pending[:-CHECKPOINT_EVERY]  # older hashes fall in no checkpoint's range
            if inside < len(page):
                if until is not None and self.expected <= until:
                    self.walked.broken = self._gap(page[inside][0])
                return
        if self.marks and max(self.marks) >= self.expected:  # a checkpoint vouches for entries that are gone
            self.walked.broken = Break(self.stream, self.expected, "", "removed",
                                       f"entries from {self.expected} are missing: checkpoint {max(self.marks)} covers them")  # fmt: skip

    def _page(self, page: list[_Entry]) -> Break | None:
        """A page whose entries are all whole and in order is checked a column at a time: each entry
        hashed over its own stored prev_hash, and each prev_hash equal to the hash before it, is
        the chain. Any other page goes `_one_by_one`, which finds its first break."""
        seqs, entry_ids, recorded, corrects, payloads, prev_hashes, hashes = zip(*page, strict=True)
        if not (
            seqs == tuple(islice(count(self.expected), len(page)))
            and prev_hashes[0] == self.prev
            and prev_hashes[1:] == hashes[:-1]
            and entry_hashes(prev_hashes, self.stream, entry_ids, recorded, corrects, payloads) == hashes
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
            self.walked.checked += len(hashes)
            self.prev, self.expected = hashes[-1], self.expected + len(hashes)

    def _gap(self, seq: int) -> Break:
        missing = (
            f"entries {self.expected}..{seq - 1} are"
            if seq > self.expected + 1
            else f"entry {self.expected} is"
        )
        return Break(
            self.stream, self.expected, "", "removed", f"{missing} missing: the chain jumps to {seq}"
        )

    def _one_by_one(self, page: list[_Entry]) -> Break | None:
        stream = self.stream
        for seq, entry_id, recorded_at_us, corrects, payload, prev_hash, stored in page:
            if seq != self.expected:
                return self._gap(seq)
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
                         f"checkpoint {mark.first_seq}..{seq} does not match its entries")  # fmt: skip
        self.walked.checkpoints_checked += 1
        self.pending = []
        return None


def _work(job: dict[str, Any]) -> list[dict[str, Any]]:
    """A worker's share: its runs in order, stopping at the first break (what follows it is not reported)."""
    postgresql = job["dialect"] == "postgresql"
    dbapi: psycopg.Connection[Any] | sqlite3.Connection
    if postgresql:
        import psycopg

        dbapi = psycopg.connect(job["database"])
    else:  # read-only: a worker never writes, nor makes a database where none is
        dbapi = sqlite3.connect(f"{Path(job['database']).resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    results = []
    try:
        for stream, after_seq, prev, until_seq in job["runs"]:
            walked = walk(dbapi, postgresql, Run(stream, after_seq, bytes.fromhex(prev), until_seq))
            results.append(asdict(walked))
            if walked.broken is not None:
                break
    finally:
        dbapi.close()
    return results


def walked_from_json(found: dict[str, Any]) -> Walked:
    broken = found["broken"]
    return Walked(found["checked"], found["checkpoints_checked"], Break(**broken) if broken else None)


if __name__ == "__main__":
    json.dump(_work(json.load(sys.stdin)), sys.stdout)
