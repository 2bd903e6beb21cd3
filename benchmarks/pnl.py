"""Fills per second through PnLReporter (validate, book, journal, trade and position in SQLite,
publish the SEVEN_YEARS `pnl.fill` SettlementReport into the archive): from the bus beside raw
sqlite3 inserts of the same journal rows, and over concurrent RecordFill calls; GetPnl's latency."""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
import time
from decimal import Decimal
from typing import TypeVar

import grpc
from sqlalchemy import Engine, select

from polytraders.governance.v1 import ledger_pb2 as pb
from polytraders.governance.v1.mesh_pb2 import DescribeProcessRequest
from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk.clock import SystemClock
from polytraders.sdk.report_builders import ReportBuilder
from polytraders.servers import schema
from polytraders.servers.ledger.book import (
    SUM_KEY,
    SUMS,
    Entry,
    PnLLedger,
    RebateShares,
    ledger_cursor,
    pnl_entries,
    pnl_sums,
    summed,
)
from polytraders.servers.runtime.alerts import AlertRouter
from polytraders.servers.runtime.archive import ReportArchive
from polytraders.servers.runtime.bus import ReportBus
from polytraders.servers.runtime.reporter import GovernanceReporter
from polytraders.servers.runtime.set_aside import SetAside
from polytraders.servers.runtime.storage import insert_rows, make_engine, upsert

from .figures import Figure, best_of_interleaved, percentile
from .processes import governance, serving

FILLS = 20_000
BOTS, TOKENS = 10, 20
BATCH = 2_000
MILLION = 1_000_000
IN_FLIGHT = 64
OPERATOR = (("authorization", "Bearer dev-operator-token"),)
RECORD_FILL = "/polytraders.governance.v1.PnLReporterService/RecordFill"
DESCRIBE = "/polytraders.governance.v1.MeshService/DescribeProcess"
GET_PNL = "/polytraders.governance.v1.PnLReporterService/GetPnl"
Response = TypeVar("Response")


def _fills() -> list[rpb.Report]:
    builders = [ReportBuilder(f"bot-{b}", bot_class="execution") for b in range(BOTS)]
    fills = []
    for n in range(FILLS):
        sell, group = n % 4 == 3, n // 4  # each (bot, token) scales in three times, then out once
        fills.append(builders[group % BOTS].execution(
            event=rpb.EXECUTION_EVENT_FILL, trade_id=f"t{n}", condition_id=f"0xm{group % TOKENS}", token_id=str(group % TOKENS),
            side=rpb.SIDE_SELL if sell else rpb.SIDE_BUY, price=f"0.{40 + n % 20}", filled_size_micros=1_000_000,
            fee_micros=1_000, liquidity=rpb.LIQUIDITY_TAKER,
        ))  # fmt: skip
    return fills


def _plain_loop(fills: list[rpb.Report]) -> float:
    """The least an average-cost ledger does: a dict of (size, cost) and integer arithmetic."""
    began = time.perf_counter()
    held: dict[tuple[str, str], list[int]] = {}
    realised = 0
    for fill in fills:
        e = fill.execution
        price, size = Decimal(e.price), e.filled_size_micros
        position = held.setdefault((fill.header.bot_slug, e.token_id), [0, 0])
        amount = int(price * size)
        if e.side == rpb.SIDE_BUY:
            position[0] += size
            position[1] += amount
        else:
            removed = position[1] * size // position[0]
            realised += amount - removed
            position[0] -= size
            position[1] -= removed
    return len(fills) / (time.perf_counter() - began)


def _ledger(engine: Engine) -> tuple[PnLLedger, ReportBus]:
    clock = SystemClock()
    bus = ReportBus(ReportArchive(engine), clock)
    return PnLLedger(engine, bus, clock, GovernanceReporter(bus, "pnl-reporter", clock),
                     RebateShares(Decimal("0.2"), {})), bus  # fmt: skip


def _through_the_bus(fills: list[rpb.Report]) -> tuple[float, list[tuple[object, ...]]]:
    """Fills already in the archive, booked by the ledger's bus follower (pages of 2,000, one
    transaction and one SettlementReport each); and the journal rows it wrote."""
    with tempfile.TemporaryDirectory() as scratch:
        engine = make_engine(f"sqlite:///{scratch}/pnl.db")
        schema.prepare(engine, upgrade=True)

        async def book() -> float:
            ledger, bus = _ledger(engine)
            for i in range(0, len(fills), 500):
                await bus.publish(fills[i : i + 500])
            last = await asyncio.to_thread(bus.archive.last_seq)
            began = time.perf_counter()
            set_aside = SetAside(engine, AlertRouter(), SystemClock())
            following = asyncio.ensure_future(ledger.follow(set_aside))
            while await asyncio.to_thread(_cursor, engine) < last:
                await asyncio.sleep(0.01)
            rate = len(fills) / (time.perf_counter() - began)
            following.cancel()
            assert not set_aside.list().reports, "every fill is booked, none set aside"  # or the rate counts them
            bus.close()
            return rate

        rate = asyncio.run(book())
        with engine.connect() as conn:
            rows = [tuple(r) for r in conn.execute(select(pnl_entries))]
        engine.dispose()
        return rate, rows


def _cursor(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(ledger_cursor.c.seq)).scalar() or 0


def _raw_insert(rows: list[tuple[object, ...]]) -> float:
    """The ceiling: the same journal rows through sqlite3's executemany, 2,000 to a transaction."""
    with tempfile.TemporaryDirectory() as scratch:
        path = f"{scratch}/raw.db"
        engine = make_engine(f"sqlite:///{path}")
        schema.prepare(engine, upgrade=True)
        engine.dispose()
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        marks = ", ".join("?" * len(rows[0]))
        began = time.perf_counter()
        for i in range(0, len(rows), BATCH):
            conn.executemany(f"INSERT INTO pnl_entries VALUES ({marks})", rows[i : i + BATCH])
            conn.commit()
        rate = len(rows) / (time.perf_counter() - began)
        conn.close()
    return rate


def _insert_rate(rows: list[tuple[object, ...]], through_driver: bool) -> float:
    """The journal rows stored 2,000 to a transaction, by insert_rows (straight to the driver) or by
    SQLAlchemy's own executemany of the same statement: what write_rows saves the ledger per row."""
    entries = [dict(zip(pnl_entries.c.keys(), row, strict=True)) for row in rows]
    with tempfile.TemporaryDirectory() as scratch:
        engine = make_engine(f"sqlite:///{scratch}/rows.db")
        schema.prepare(engine, upgrade=True)
        statement = pnl_entries.insert()
        began = time.perf_counter()
        for i in range(0, len(entries), BATCH):
            with engine.begin() as conn:
                if through_driver:
                    insert_rows(conn, pnl_entries, entries[i : i + BATCH])
                else:
                    conn.execute(statement, entries[i : i + BATCH])
        rate = len(entries) / (time.perf_counter() - began)
        engine.dispose()
    return rate


def _million_entries(path: str) -> None:
    """A journal of 1M fills (10 bots, 20 markets, 30 days) and its daily and hourly sums, written as the
    ledger writes them, without booking each (that would take the benchmark's whole budget)."""
    engine = make_engine(f"sqlite:///{path}")
    schema.prepare(engine, upgrade=True)
    start = 1_795_000_000_000_000
    for chunk in range(0, MILLION, 50_000):
        entries: list[Entry] = [{"entry_id": f"{n:036d}", "kind": "fill", "bot_slug": f"bot-{n % BOTS}", "condition_id": f"0xm{n % TOKENS}",
                                 "token_id": str(n % TOKENS), "builder_code": "0x" + "cd" * 32, "side": "BUY", "price": "0.5",
                                 "size_micros": 1_000_000, "notional_micros": 500_000, "fee_micros": 1_000, "rebate_micros": 0,
                                 "realised_micros": 0, "at_us": start + n * 2_592_000}  # 30 days over 1M fills
                                for n in range(chunk, chunk + 50_000)]  # fmt: skip
        with engine.begin() as conn:
            conn.execute(pnl_entries.insert(), entries)
            upsert(conn, pnl_sums, summed(entries), SUM_KEY, add=SUMS)
    engine.dispose()


def _get_pnl_p99(address: str, request: pb.GetPnlRequest) -> float:
    with grpc.insecure_channel(address) as channel:
        get_pnl: grpc.UnaryUnaryMultiCallable[bytes, pb.GetPnlResponse] = channel.unary_unary(
            GET_PNL, response_deserializer=pb.GetPnlResponse.FromString
        )
        query = request.SerializeToString()
        get_pnl(query, metadata=OPERATOR)
        samples = []
        for _ in range(200):
            started = time.perf_counter()
            get_pnl(query, metadata=OPERATOR)
            samples.append((time.perf_counter() - started) * 1000)
    return percentile(samples, 0.99)


def _get_pnl_at_a_million() -> float:
    """GetPnl by bot and market over a window cut mid-hour at both ends (whole days and hours from
    their sums, the edges from the journal)."""
    window = pb.GetPnlRequest(group_by=[pb.PNL_DIMENSION_BOT, pb.PNL_DIMENSION_MARKET])
    window.since.FromMicroseconds(1_795_000_000_000_000 + 86_400_000_000 + 1_234_567_890)
    window.until.FromMicroseconds(1_795_000_000_000_000 + 20 * 86_400_000_000 + 987_654_321)
    with tempfile.TemporaryDirectory() as scratch:
        _million_entries(f"{scratch}/g.db")
        with serving(governance(f"sqlite:///{scratch}/g.db", "reports,ledger")) as address:
            return _get_pnl_p99(address, window)


def _in_flight(call: grpc.UnaryUnaryMultiCallable[bytes, Response], requests: list[bytes]) -> float:
    """Calls a second with IN_FLIGHT outstanding (the first, which connects, untimed)."""
    call(requests[0], metadata=OPERATOR)
    began = time.perf_counter()
    pending: list[grpc.Future[Response]] = []
    for request in requests[1:]:
        if len(pending) == IN_FLIGHT:
            pending.pop(0).result()
        pending.append(call.future(request, metadata=OPERATOR))
    for future in pending:
        future.result()
    return (len(requests) - 1) / (time.perf_counter() - began)


def _concurrent_record_fill(fills: list[rpb.Report]) -> tuple[float, float]:
    """RecordFill over gRPC with IN_FLIGHT calls outstanding (calls that arrive together are booked
    together); and, as its ceiling, as many DescribeProcess calls (no storage at all) to the same
    process at the same concurrency, first, while it has nothing else to do: what gRPC and the
    interceptor alone allow on this machine."""
    with tempfile.TemporaryDirectory() as scratch, serving(governance(f"sqlite:///{scratch}/g.db", "reports,ledger")) as address:
        with grpc.insecure_channel(address) as channel:
            describe: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(DESCRIBE)
            empty = _in_flight(describe, [DescribeProcessRequest().SerializeToString()] * len(fills))
            record: grpc.UnaryUnaryMultiCallable[bytes, pb.RecordFillResponse] = channel.unary_unary(
                RECORD_FILL, response_deserializer=pb.RecordFillResponse.FromString
            )
            recorded = _in_flight(record, [pb.RecordFillRequest(report=f).SerializeToString() for f in fills])
    return recorded, empty


def run() -> list[Figure]:
    fills = _fills()
    plain = max(_plain_loop(fills) for _ in range(3))
    by_bus, rows = _through_the_bus(fills)
    raw = max(_raw_insert(rows) for _ in range(3))
    driver, sqlalchemy = best_of_interleaved(lambda: _insert_rate(rows, True), lambda: _insert_rate(rows, False))
    buys = _fills()
    for fill in buys:  # calls in flight together are served in any order: none may depend on another
        fill.execution.side = rpb.SIDE_BUY
    by_rpc, unary_ceiling = _concurrent_record_fill(buys)
    get_pnl_p99 = _get_pnl_at_a_million()
    return [
        Figure.against("P&L fills booked through the bus (pages of 2,000, a SettlementReport each) vs raw sqlite3 "
                       "executemany of the same journal rows", by_bus, "fills/s", raw, "value >= 20000 and ratio >= 0.3",
                       by_bus >= 20_000 and by_bus / raw >= 0.3),
        Figure.reference("P&L fills booked through the bus vs a plain average-cost loop (reference)", by_bus, "fills/s",
                         plain),
        Figure.reference("journal rows through storage.insert_rows (to the driver as they are) vs SQLAlchemy's "
                         "executemany of the same statement (SQLite, 2,000 a transaction)", driver, "rows/s", sqlalchemy),
        Figure.against(f"concurrent RecordFill over gRPC ({IN_FLIGHT} in flight) vs the 5,000/s target", by_rpc,
                       "fills/s", 5_000, "value >= 5000", by_rpc >= 5_000),
        Figure.reference(f"concurrent RecordFill over gRPC vs DescribeProcess ({IN_FLIGHT} in flight, no storage: "
                         "this machine's unary ceiling)", by_rpc, "calls/s", unary_ceiling),
        Figure.against("GetPnl by bot and market p99 at 1M fills, a 19-day window cut mid-hour, vs the 5 ms target",
                       get_pnl_p99, "ms", 5.0, "value < 5", get_pnl_p99 < 5.0),
    ]  # fmt: skip
