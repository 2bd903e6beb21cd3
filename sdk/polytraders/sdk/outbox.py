"""The bot's durable outbox: a local SQLite file holding every report until governance acknowledged it.

Reports are numbered in publish order (`seq`, never reused) and stored in *segments*: runs of
consecutive reports already framed as the `reports` entries of a PublishReportsRequest. A burst
is then a row (more only past the byte bound) and one statement, and a batch goes out as the join
of a few rows' bytes, where a row per report cost the bot's threads a Python step (and a GIL
hand-off) per report on each side. Segments are only ever sent whole, so acknowledgements fall on
segment ends; acknowledged segments are marked, not deleted at once: `purge_acknowledged` deletes
them in bulk.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from itertools import accumulate, chain, repeat
from operator import add
from pathlib import Path
from typing import NamedTuple

_SCHEMA = """
CREATE TABLE IF NOT EXISTS segment (
    first_seq INTEGER PRIMARY KEY,             -- its reports are first_seq .. first_seq + reports - 1
    reports INTEGER NOT NULL CHECK (reports > 0),
    body BLOB NOT NULL                         -- the reports, framed (see frame_reports)
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

_SEGMENTS_PER_INSERT = 300  # three parameters each: under the 999 of SQLite before 3.32
_ACKNOWLEDGED = "(SELECT coalesce(max(through_seq), 0) FROM acknowledged)"
_NEXT_SEQ = (
    "(SELECT 1 + max(coalesce((SELECT first_seq + reports - 1 FROM segment ORDER BY first_seq DESC LIMIT 1), 0), "
    f"{_ACKNOWLEDGED}, coalesce((SELECT max(seq) FROM dead_letter), 0)))"
)
"""The seq after every one the file ever held: stored, acknowledged or set aside."""
FRAME_BOUND = 6
"""Most bytes framing adds to a report: a key byte and a length of up to five."""


def delimited_prefix(number: int, size: int) -> bytes:
    """The key and length that make `size` bytes length-delimited field `number` (1 to 15) of a
    message: with the bytes after it, the field as protobuf writes it (a message, string or bytes)."""
    prefix = bytearray((number << 3 | 2,))
    while size > 0x7F:
        prefix.append(size & 0x7F | 0x80)
        size >>= 7
    prefix.append(size)
    return bytes(prefix)


@lru_cache(maxsize=4096)
def _frame(size: int) -> bytes:
    """The prefix that makes `size` bytes one `reports` entry of a PublishReportsRequest (cached:
    reports come in few sizes, and framing is per report)."""
    return delimited_prefix(1, size)


def frame_reports(payloads: Iterable[bytes]) -> bytes:
    """Serialised reports as a serialised PublishReportsRequest, without parsing them."""
    payloads = list(payloads)
    return b"".join(chain.from_iterable(zip(map(_frame, map(len, payloads)), payloads, strict=True)))


_THREE_BYTE_PREFIX = range(0x80, 0x4000)
"""Report sizes whose prefix is three bytes (the key and a two-byte length): most reports', so
where every size is one of them, no prefix is made to be measured."""


def _prefix_sizes(sizes: Sequence[int]) -> Iterable[int]:
    """How long each report's prefix is in `frame_reports`."""
    if sizes and min(sizes) in _THREE_BYTE_PREFIX and max(sizes) in _THREE_BYTE_PREFIX:
        return repeat(3, len(sizes))
    return map(len, map(_frame, sizes))


def frame_offsets(payloads: Sequence[bytes]) -> list[int]:
    """Where each report's entry starts in `frame_reports(payloads)`, then where the last ends: a
    slice between two of them is those reports framed."""
    sizes = list(map(len, payloads))
    return list(accumulate(map(add, _prefix_sizes(sizes), sizes), initial=0))


def framed_size(payloads: Sequence[bytes]) -> int:
    """How long `frame_reports(payloads)` is, without framing them."""
    sizes = list(map(len, payloads))
    return sum(sizes) + sum(_prefix_sizes(sizes))


def unframe_reports(body: bytes) -> list[bytes]:
    """The serialised reports of a framed body (the inverse of frame_reports)."""
    payloads, at = [], 0
    while at < len(body):
        at += 1  # the key: field 1, length-delimited
        size = shift = 0
        while body[at] & 0x80:
            size |= (body[at] & 0x7F) << shift
            shift += 7
            at += 1
        size |= body[at] << shift
        payloads.append(body[at + 1 : at + 1 + size])
        at += 1 + size
    return payloads


class Segment(NamedTuple):
    """Reports `first_seq` .. `end_seq - 1`, framed: joined segments are a request body."""

    first_seq: int
    reports: int
    body: bytes

    @property
    def end_seq(self) -> int:
        return self.first_seq + self.reports

    def payloads(self) -> list[bytes]:
        return unframe_reports(self.body)


def segments_of(first_seq: int, payloads: list[bytes], max_reports: int, max_bytes: int) -> list[Segment]:
    """Reports numbered from `first_seq`, cut into segments of at most `max_reports` reports and
    `max_bytes` bytes (a lone larger report is a segment of its own)."""
    if len(payloads) <= max_reports and sum(map(len, payloads)) + FRAME_BOUND * len(payloads) <= max_bytes:
        return [Segment(first_seq, len(payloads), frame_reports(payloads))] if payloads else []
    segments: list[Segment] = []
    start = size = 0
    for at, payload in enumerate(payloads):
        framed = len(payload) + FRAME_BOUND
        if at > start and (at - start == max_reports or size + framed > max_bytes):
            segments.append(Segment(first_seq + start, at - start, frame_reports(payloads[start:at])))
            start, size = at, 0
        size += framed
    segments.append(Segment(first_seq + start, len(payloads) - start, frame_reports(payloads[start:])))
    return segments


@lru_cache(maxsize=8)
def _insert_sql(segments: int) -> str:
    """Segments stored as the file's next seqs (the first parameter of each is its offset)."""
    values = ", ".join(["(?, ?, ?)"] * segments)
    return (
        "INSERT INTO segment (first_seq, reports, body) "
        f"SELECT {_NEXT_SEQ} + column1, column2, column3 FROM (VALUES {values})"
    )


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
            _migrate_report_rows(conn)

    def connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    @staticmethod
    def next_seq(conn: sqlite3.Connection) -> int:
        return int(conn.execute(f"SELECT {_NEXT_SEQ}").fetchone()[0])

    @staticmethod
    def append(conn: sqlite3.Connection, segments: list[Segment]) -> None:
        """Store consecutive segments as the file's next reports, in one transaction; one statement
        (autocommit, one trip) in the usual case.

        They keep their seqs when numbered from `next_seq`, as the publisher numbers them; should a
        second process share the file, its segments go after the first's rather than clash.
        """
        if len(segments) <= _SEGMENTS_PER_INSERT:
            if segments:
                conn.execute(_insert_sql(len(segments)), _offset_rows(segments))
            return
        with conn:
            conn.execute("BEGIN")
            for start in range(0, len(segments), _SEGMENTS_PER_INSERT):
                chunk = segments[start : start + _SEGMENTS_PER_INSERT]
                conn.execute(_insert_sql(len(chunk)), _offset_rows(chunk))

    @staticmethod
    def oldest(
        conn: sqlite3.Connection, reports: int, after_seq: int = 0, max_bytes: int | None = None
    ) -> list[Segment]:
        """Unacknowledged segments after `after_seq` (a segment end; 0: from the oldest), in order,
        until they hold at least `reports` reports or `max_bytes` bytes, or none are left."""
        rows = conn.execute(
            "SELECT first_seq, reports, body FROM segment "
            f"WHERE first_seq > max(?, {_ACKNOWLEDGED}) ORDER BY first_seq",
            (after_seq,),
        )
        segments: list[Segment] = []
        held = size = 0
        for row in rows:
            segments.append(Segment(*row))
            held += row[1]
            size += len(row[2])
            if held >= reports or (max_bytes is not None and size >= max_bytes):
                break
        return segments

    @staticmethod
    def acknowledge(conn: sqlite3.Connection, through_seq: int) -> None:
        """Mark every report through `through_seq` delivered: one small write (autocommit), however
        many; `purge_acknowledged` deletes them later, in bulk."""
        conn.execute(
            "INSERT INTO acknowledged (id, through_seq) VALUES (1, ?) "
            "ON CONFLICT (id) DO UPDATE SET through_seq = max(through_seq, excluded.through_seq)",
            (through_seq,),
        )

    @staticmethod
    def purge_acknowledged(conn: sqlite3.Connection) -> int:
        """Delete the segments governance acknowledged; how many went."""
        return conn.execute(f"DELETE FROM segment WHERE first_seq <= {_ACKNOWLEDGED}").rowcount

    @staticmethod
    def replace(conn: sqlite3.Connection, segment: Segment, pieces: list[Segment]) -> None:
        """Put `pieces` (its reports under their own seqs, cut smaller) where `segment` was."""
        with conn:
            conn.execute("BEGIN")
            _replace(conn, segment, pieces)

    @staticmethod
    def dead_letter(conn: sqlite3.Connection, segments: list[Segment], reasons: Mapping[int, str]) -> None:
        """Set aside the reports governance refused as invalid (`reasons` by seq), so they stop
        blocking the rest; the others stay, in segments of the runs between."""
        with conn:
            conn.execute("BEGIN")
            for segment in segments:
                seqs = range(segment.first_seq, segment.end_seq)
                if reasons.keys().isdisjoint(seqs):
                    continue
                runs: list[list[tuple[int, bytes]]] = []
                refused = []
                for seq, payload in zip(seqs, segment.payloads(), strict=True):
                    if seq in reasons:
                        refused.append((seq, payload, reasons[seq]))
                    elif runs and runs[-1][-1][0] == seq - 1:
                        runs[-1].append((seq, payload))
                    else:
                        runs.append([(seq, payload)])
                conn.executemany(
                    "INSERT OR REPLACE INTO dead_letter (seq, payload, reason) VALUES (?, ?, ?)", refused
                )
                _replace(
                    conn,
                    segment,
                    [Segment(run[0][0], len(run), frame_reports(p for _, p in run)) for run in runs],
                )

    @staticmethod
    def count(conn: sqlite3.Connection) -> int:
        """Reports not yet acknowledged."""
        return int(
            conn.execute(f"SELECT coalesce(sum(reports), 0) FROM segment WHERE first_seq > {_ACKNOWLEDGED}").fetchone()[0]
        )

    @staticmethod
    def unsent(conn: sqlite3.Connection) -> tuple[int, bytes | None]:
        """Bytes of unacknowledged reports, and the oldest one's payload (None when there is none)."""
        size, first = conn.execute(
            f"SELECT coalesce(sum(length(body)), 0), min(first_seq) FROM segment WHERE first_seq > {_ACKNOWLEDGED}"
        ).fetchone()
        if first is None:
            return 0, None
        body = conn.execute("SELECT first_seq, reports, body FROM segment WHERE first_seq = ?", (first,)).fetchone()
        return size, Segment(*body).payloads()[0]

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
        """The shed counts, deleted: call it in the transaction that writes their report."""
        counts = dict(conn.execute("SELECT kind, count FROM shed").fetchall())
        conn.execute("DELETE FROM shed")
        return counts


def _offset_rows(segments: list[Segment]) -> list[int | bytes]:
    first = segments[0].first_seq
    return [value for s in segments for value in (s.first_seq - first, s.reports, s.body)]


def _replace(conn: sqlite3.Connection, segment: Segment, pieces: list[Segment]) -> None:
    deleted = conn.execute(
        "DELETE FROM segment WHERE first_seq = ? AND reports = ?", (segment.first_seq, segment.reports)
    ).rowcount
    if deleted != 1:  # another process on the file cut or set it aside first: read it again
        raise sqlite3.IntegrityError(f"outbox segment {segment.first_seq} changed under this publisher")
    conn.executemany("INSERT INTO segment (first_seq, reports, body) VALUES (?, ?, ?)", pieces)


def _migrate_report_rows(conn: sqlite3.Connection) -> None:
    """Outbox files from before segments keep a row per report in `outbox` (seq, payload): each
    becomes a segment of one under the same seq, so nothing they hold is left behind."""
    conn.create_function("frame_report", 1, lambda payload: frame_reports([payload]), deterministic=True)
    with conn:
        conn.execute("BEGIN IMMEDIATE")  # before looking: two processes may open the file at once
        if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'outbox'").fetchone():
            conn.execute(
                "INSERT INTO segment (first_seq, reports, body) "
                "SELECT seq, 1, frame_report(payload) FROM outbox ORDER BY seq"
            )
            conn.execute("DROP TABLE outbox")
