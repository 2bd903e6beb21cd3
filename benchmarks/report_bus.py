"""PublishReports throughput and publish → subscriber latency, beside raw gRPC and raw driver inserts."""

from __future__ import annotations

import sqlite3
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from itertools import chain
from pathlib import Path
from typing import TypeVar

import grpc
import psycopg
from sqlalchemy.engine import make_url

from polytraders.governance.v1 import report_bus_pb2 as pb
from polytraders.governance.v1 import report_bus_pb2_grpc as pb_grpc
from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk.report_builders import ReportBuilder
from polytraders.servers import schema
from polytraders.servers.runtime.archive import ReportArchive, ReportFilter, report_archive
from polytraders.servers.runtime.report_validation import to_incoming
from polytraders.servers.runtime.storage import make_engine

from .figures import REPEATS, Figure, best_of, best_of_interleaved, percentile
from .processes import governance, raw_grpc, serving

PUBLISH = "/polytraders.governance.v1.ReportBusService/PublishReports"
OPERATOR = (("authorization", "Bearer dev-operator-token"),)
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BATCH = 500
TOTAL = 100_000
IN_FLIGHT = 4
COLUMNS = [c.name for c in report_archive.columns]
Response = TypeVar("Response")


TOKEN_ID = "71321045679252212594626385532706912750332728571942532289631379312455583992563"


def make_batches(total: int = TOTAL, bot_count: int = 110) -> list[pb.PublishReportsRequest]:
    builders = [ReportBuilder(f"bench-bot-{i:03d}") for i in range(bot_count)]
    reports = [
        builders[i % bot_count].execution(
            event=rpb.EXECUTION_EVENT_FILL,
            order_id=f"0x{i:064x}",
            condition_id="0x" + "ab" * 32,
            token_id=TOKEN_ID,
            side=rpb.SIDE_BUY,
            price="0.43",
            size_micros=25_000_000,
            filled_size_micros=25_000_000,
            builder_code="0x" + "cd" * 32,
            fee_micros=1_250,
            trace_id=str(i),
        )
        for i in range(total)
    ]
    return [pb.PublishReportsRequest(reports=reports[i : i + BATCH]) for i in range(0, total, BATCH)]


def _pump(send: Callable[[bytes], grpc.Future[Response]], payloads: Sequence[bytes]) -> float:
    """Send every payload with IN_FLIGHT calls outstanding; seconds taken."""
    started = time.perf_counter()
    pending: list[grpc.Future[Response]] = []
    for payload in payloads:
        if len(pending) == IN_FLIGHT:
            pending.pop(0).result()
        pending.append(send(payload))
    for future in pending:
        future.result()
    return time.perf_counter() - started


@contextmanager
def postgres_schema() -> Iterator[str]:
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    url = make_url(POSTGRES)
    with psycopg.connect(
        host=url.host, port=url.port, user=url.username, dbname=url.database, autocommit=True
    ) as c:
        c.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False
        )
    finally:
        with psycopg.connect(
            host=url.host, port=url.port, user=url.username, dbname=url.database, autocommit=True
        ) as c:
            c.execute(f'DROP SCHEMA "{schema}" CASCADE')


def publish_rate(database_url: str, payloads: list[bytes]) -> float:
    """The same pre-serialised batches the raw ceiling sends, through the whole governance server."""
    with serving(governance(database_url)) as address, grpc.insecure_channel(address) as channel:
        publish: grpc.UnaryUnaryMultiCallable[bytes, pb.PublishReportsResponse] = channel.unary_unary(
            PUBLISH, response_deserializer=pb.PublishReportsResponse.FromString
        )
        publish(payloads[0], metadata=OPERATOR)  # warm up (and store batch 0)
        seconds = _pump(lambda b: publish.future(b, metadata=OPERATOR), payloads[1:])
    stored = ReportArchive(make_engine(database_url)).count()
    assert stored == len(payloads) * BATCH, stored
    return (len(payloads) - 1) * BATCH / seconds


def raw_grpc_rate(address: str, payloads: list[bytes]) -> float:
    with grpc.insecure_channel(address) as channel:
        put: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary("/bench.Raw/Put")
        put(payloads[0], metadata=OPERATOR)
        seconds = _pump(lambda b: put.future(b, metadata=OPERATOR), payloads[1:])
    return (len(payloads) - 1) * BATCH / seconds


def archive_rows(batches: list[pb.PublishReportsRequest]) -> list[list[tuple[object, ...]]]:
    """The rows the archive stores for these batches (payloads serialised here; the archive keeps
    the published bytes, which are the same size)."""
    rows, seq = [], 0
    for batch in batches:
        chunk: list[tuple[object, ...]] = []
        for report in batch.reports:
            seq += 1
            h = report.header
            produced = h.produced_at.seconds * 1_000_000 + h.produced_at.nanos // 1000
            chunk.append(
                (
                    seq,
                    h.report_id,
                    h.kind,
                    h.bot_slug,
                    h.epoch,
                    h.mode,
                    h.retention,
                    produced,
                    produced,
                    produced + 31_536_000_000_000,
                    report.SerializeToString(deterministic=True),
                )
            )
        rows.append(chunk)
    return rows


def raw_sqlite_rate(rows: list[list[tuple[object, ...]]], multirow: bool = False) -> float:
    """sqlite3 executemany per batch (the issue's ceiling), or one multi-row INSERT per batch."""
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "raw.db"
        schema.prepare(make_engine(f"sqlite:///{path}"), upgrade=True)
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        sql = f"INSERT INTO report_archive ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
        started = time.perf_counter()
        for chunk in rows:
            if multirow:
                conn.execute(_multirow_sql(len(chunk)), tuple(chain.from_iterable(chunk)))
            else:
                conn.executemany(sql, chunk)
            conn.commit()
        seconds = time.perf_counter() - started
        conn.close()
    return sum(map(len, rows)) / seconds


def _multirow_sql(rows: int) -> str:
    row = f"({', '.join('?' * len(COLUMNS))})"
    return f"INSERT INTO report_archive ({', '.join(COLUMNS)}) VALUES {', '.join([row] * rows)}"


def raw_postgres_rate(rows: list[list[tuple[object, ...]]], copy: bool = False) -> float:
    """psycopg executemany per batch (the issue's ceiling), or COPY per batch."""
    with postgres_schema() as url:
        schema.prepare(make_engine(url), upgrade=True)
        parsed = make_url(url)
        with psycopg.connect(
            host=parsed.host,
            port=parsed.port,
            user=parsed.username,
            dbname=parsed.database,
            options=str(parsed.query["options"]),
        ) as conn:
            sql = f"INSERT INTO report_archive ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))})"
            started = time.perf_counter()
            for chunk in rows:
                with conn.cursor() as cursor:
                    if copy:
                        with cursor.copy(f"COPY report_archive ({', '.join(COLUMNS)}) FROM STDIN") as stream:
                            for row in chunk:
                                stream.write_row(row)
                    else:
                        cursor.executemany(sql, chunk)
                conn.commit()
            seconds = time.perf_counter() - started
    return sum(map(len, rows)) / seconds


def latency(
    batches: list[pb.PublishReportsRequest], raw_address: str, count: int = 1000
) -> tuple[list[float], list[float]]:
    """Seconds from PublishReports call to the report arriving on a live subscription; raw unary RTT."""
    singles = [pb.PublishReportsRequest(reports=[r]) for r in list(batches[-1].reports)[:count]]
    with tempfile.TemporaryDirectory() as scratch:
        with serving(governance(f"sqlite:///{scratch}/l.db")) as address:
            sent: dict[str, float] = {}
            delays: list[float] = []
            with grpc.insecure_channel(address) as channel:
                stub = pb_grpc.ReportBusServiceStub(channel)
                stream = stub.SubscribeReports(pb.SubscribeReportsRequest(live_only=True), metadata=OPERATOR)
                done = threading.Event()

                def follow() -> None:
                    for item in stream:
                        delays.append(time.perf_counter() - sent[item.report.header.report_id])
                        if len(delays) == len(singles):
                            done.set()
                            return

                threading.Thread(target=follow, daemon=True).start()
                time.sleep(0.2)
                for single in singles:
                    sent[single.reports[0].header.report_id] = time.perf_counter()
                    stub.PublishReports(single, metadata=OPERATOR)
                done.wait(60)
                stream.cancel()
    rtts: list[float] = []
    with grpc.insecure_channel(raw_address) as channel:
        put: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary("/bench.Raw/Put")
        for single in singles:
            payload = single.SerializeToString()
            started = time.perf_counter()
            put(payload, metadata=OPERATOR)
            rtts.append(time.perf_counter() - started)
    return delays, rtts


def _postgres_publish_rate(payloads: list[bytes]) -> Callable[[], float]:
    def measure() -> float:
        with postgres_schema() as url:
            return publish_rate(url, payloads)

    return measure


READ_PAGE = 2000


def _stored_archive(url: str, batches: list[pb.PublishReportsRequest]) -> ReportArchive:
    engine = make_engine(url)
    schema.prepare(engine, upgrade=True)
    archive = ReportArchive(engine)
    far = 4_000_000_000_000_000
    for batch in batches:
        incoming = to_incoming(list(batch.reports))
        assert incoming is not None
        archive.store([incoming], far // 2, dict.fromkeys(rpb.Retention.values(), far))
    return archive


def readback_rates(url: str, archive: ReportArchive) -> tuple[float, float]:
    """Reports/s read back in pages of 2,000 (what the relay and a catching-up reader do): through
    `ReportArchive.read_after`, and raw psycopg's binary rows for the same query (the ceiling)."""
    total = archive.count()
    started = time.perf_counter()
    for after in range(0, total, READ_PAGE):
        archive.read_after(after, ReportFilter(), READ_PAGE)
    ours = total / (time.perf_counter() - started)
    conninfo = make_url(url)
    sql = (f"SELECT seq, report_id, kind, bot_slug, epoch, mode, payload FROM {report_archive.name} "
           "WHERE seq > %s ORDER BY seq LIMIT %s")  # fmt: skip
    with psycopg.connect(host=conninfo.host, port=conninfo.port, user=conninfo.username, dbname=conninfo.database,
                         options=str(conninfo.query["options"])) as conn, conn.cursor(binary=True) as cursor:  # fmt: skip
        started = time.perf_counter()
        for after in range(0, total, READ_PAGE):
            cursor.execute(sql, (after, READ_PAGE))
            cursor.fetchall()
        raw = total / (time.perf_counter() - started)
    return ours, raw


def readback_figure(batches: list[pb.PublishReportsRequest]) -> Figure:
    with postgres_schema() as url:
        archive = _stored_archive(url, batches)
        runs = [readback_rates(url, archive) for _ in range(REPEATS)]  # each run reads both ways in turn
    ours, raw = max(r[0] for r in runs), max(r[1] for r in runs)
    return Figure.reference(
        "archive read-back from PostgreSQL (pages of 2,000) vs raw psycopg binary fetch of the same query",
        ours, "reports/s", raw,
    )  # fmt: skip


def run() -> list[Figure]:
    batches = make_batches()
    payloads = [b.SerializeToString() for b in batches]
    rows = archive_rows(batches)
    with serving(raw_grpc()) as raw_address:
        figures = []
        with tempfile.TemporaryDirectory() as scratch:
            grpc_ceiling, sqlite_rate, raw_sqlite = best_of_interleaved(
                lambda: raw_grpc_rate(raw_address, payloads),
                lambda: publish_rate(f"sqlite:///{scratch}/{uuid.uuid4().hex}.db", payloads),
                lambda: raw_sqlite_rate(rows),
            )
        sqlite_ceiling = min(grpc_ceiling, raw_sqlite)
        figures.append(
            Figure.against(
                "PublishReports → SQLite (batches of 500) vs min(raw gRPC, raw sqlite3)",
                sqlite_rate,
                "reports/s",
                sqlite_ceiling,
                "ratio >= 0.6 and >= 25,000/s",
                sqlite_rate / sqlite_ceiling >= 0.6 and sqlite_rate >= 25_000,
            )
        )
        figures.append(
            Figure.reference(
                "PublishReports → SQLite vs raw sqlite3 multi-row INSERT (the archive's own way; reference)",
                sqlite_rate,
                "reports/s",
                best_of(lambda: raw_sqlite_rate(rows, multirow=True)),
            )
        )
        pg_rate, raw_postgres = best_of_interleaved(
            _postgres_publish_rate(payloads), lambda: raw_postgres_rate(rows)
        )
        pg_ceiling = min(grpc_ceiling, raw_postgres)
        figures.append(
            Figure.ratio_at_least(
                "PublishReports → PostgreSQL (batches of 500) vs min(raw gRPC, raw psycopg)",
                pg_rate,
                "reports/s",
                pg_ceiling,
                0.6,
            )
        )
        figures.append(
            Figure.reference(
                "PublishReports → PostgreSQL vs raw psycopg COPY (the archive stages through COPY; reference)",
                pg_rate,
                "reports/s",
                best_of(lambda: raw_postgres_rate(rows, copy=True)),
            )
        )
        figures.append(
            Figure.reference(
                "raw gRPC transfer of the same batches (ceiling)",
                grpc_ceiling,
                "reports/s",
                grpc_ceiling,
            )
        )
        delays, rtts = latency(batches, raw_address)
        for q, label in ((0.5, "p50"), (0.99, "p99")):
            ours, ceiling = percentile(delays, q) * 1000, percentile(rtts, q) * 1000
            figures.append(
                Figure.against(
                    f"publish → live subscriber latency {label} vs raw unary RTT",
                    ours,
                    "ms",
                    ceiling,
                    "p99 < 20 ms" if label == "p99" else "reference",
                    label != "p99" or ours < 20,
                )
            )
    figures.append(readback_figure(batches))
    return figures
