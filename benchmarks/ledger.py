"""The compliance ledger at a million entries: append and verification speed, and flat memory."""

from __future__ import annotations

import hashlib
import json
import resource
import subprocess
import sys
import tempfile
import time

from sqlalchemy import text

from polytraders.servers import schema
from polytraders.servers.runtime import ledger
from polytraders.servers.runtime.ledger_chain import GENESIS
from polytraders.servers.runtime.storage import make_engine

from .figures import Figure, best_of_interleaved

ENTRIES = 1_000_000
SMALL = 100_000
BATCH = 1_000
PAYLOAD = b"\x0a\x30" + b"s" * 300  # about a settlement record's size
WORKERS = ledger.cores()
"""The spread verification's worker processes: one per core this benchmark may use."""


def _fill(database_url: str, count: int) -> float:
    """Append `count` entries in transactions of BATCH; returns entries/s."""
    engine = make_engine(database_url)
    schema.prepare(engine, upgrade=True)
    chain = ledger.ComplianceLedger()
    started = time.perf_counter()
    for start in range(0, count, BATCH):
        records = [
            ledger.LedgerRecord("bench-bot", f"{n:036d}", "", PAYLOAD) for n in range(start, start + BATCH)
        ]
        with engine.begin() as conn:
            chain.append(conn, records, 1_795_000_000_000_000)
    rate = count / (time.perf_counter() - started)
    engine.dispose()
    return rate


def _hash_only(count: int) -> float:
    """The ceiling of verification: the same hashing with no database."""
    started, prev = time.perf_counter(), GENESIS
    for n in range(count):
        prev = hashlib.sha256(prev + PAYLOAD + f"{n:036d}".encode()).digest()
    return count / (time.perf_counter() - started)


def _verify_in_fresh_process(database_url: str, workers: int = WORKERS) -> dict[str, float]:
    """Peak RSS is per process: verify in a new one so each size is measured on its own (spread
    over `workers` worker processes once it is long enough)."""
    out = subprocess.run([sys.executable, "-m", "benchmarks.ledger", database_url, str(workers)], capture_output=True,
                         text=True, check=True, timeout=1800).stdout  # fmt: skip
    figures: dict[str, float] = json.loads(out)
    return figures


def run() -> list[Figure]:
    with tempfile.TemporaryDirectory() as scratch:
        small_url, big_url = f"sqlite:///{scratch}/small.db", f"sqlite:///{scratch}/big.db"
        _fill(small_url, SMALL)
        append_rate = _fill(big_url, ENTRIES)
        engine = make_engine(big_url)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM ledger_entries")).scalar_one() == ENTRIES
        engine.dispose()
        small, bigs = _verify_in_fresh_process(small_url), []

        def verify_big() -> float:
            bigs.append(_verify_in_fresh_process(big_url))
            return bigs[-1]["rate"]

        verify_rate, one_process, hash_only = best_of_interleaved(
            verify_big, lambda: _verify_in_fresh_process(big_url, workers=1)["rate"], lambda: _hash_only(ENTRIES)
        )
    raw_append, peak = _raw_append_rate(), max(b["max_rss_mb"] for b in bigs)
    return [
        Figure.ratio_at_least("ledger append, 1M entries (SQLite) vs raw sqlite3 insert", append_rate, "entries/s",
                              raw_append, 0.7),
        Figure.ratio_at_least(f"ledger verify, 1M entries (over {WORKERS} worker processes, one per core) "
                              "vs sha256 loop alone (one core)", verify_rate, "entries/s", hash_only, 0.5),
        Figure.reference("ledger verify, 1M entries, in one process vs sha256 loop alone", one_process, "entries/s",
                         hash_only),
        Figure.against("ledger verify peak RSS at 1M vs at 100k entries (the largest process, verifier or worker)",
                       peak, "MB", small["max_rss_mb"], "ratio <= 1.2 (flat)", peak / small["max_rss_mb"] <= 1.2),
    ]


def _raw_append_rate() -> float:
    import sqlite3

    with tempfile.TemporaryDirectory() as scratch:
        path = f"{scratch}/raw.db"
        schema.prepare(make_engine(f"sqlite:///{path}"), upgrade=True)
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("DROP TRIGGER ledger_entries_no_update")
        started, prev = time.perf_counter(), GENESIS
        for start in range(0, ENTRIES, BATCH):
            rows = []
            for n in range(start, start + BATCH):
                digest = hashlib.sha256(prev + PAYLOAD).digest()
                rows.append(("bench-bot", n + 1, f"{n:036d}", 0, "", PAYLOAD, prev, digest))
                prev = digest
            conn.executemany("INSERT INTO ledger_entries VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
            conn.commit()
        rate = ENTRIES / (time.perf_counter() - started)
        conn.close()
    return rate


if __name__ == "__main__":
    engine = make_engine(sys.argv[1])
    began = time.perf_counter()
    result = ledger.verify(engine, workers=int(sys.argv[2]))
    assert result.ok, result.broken
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec from the forking parent. The
    # workers' peak is their ru_maxrss, so at least this process's size when they were started.
    own_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
    peak_kb = max(own_kb, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    print(
        json.dumps(
            {"rate": result.entries_checked / (time.perf_counter() - began), "max_rss_mb": peak_kb / 1024}
        )
    )
