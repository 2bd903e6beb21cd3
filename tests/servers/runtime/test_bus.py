"""The report bus without gRPC: ordering, catch-up after overflow, retention, idempotency."""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from sqlalchemy import event
from sqlalchemy.engine import make_url

from polytraders.governance.v1 import report_bus_pb2 as pb
from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk.clock import ManualClock
from polytraders.sdk.outbox import frame_reports as request_body
from polytraders.sdk.report_builders import ReportBuilder
from polytraders.servers import schema
from polytraders.servers.runtime import ledger
from polytraders.servers.runtime.archive import ReportArchive, ReportFilter
from polytraders.servers.runtime.bus import ReportBus, following, retention_ends
from polytraders.servers.runtime.errors import InvalidArgument
from polytraders.servers.runtime.requests import WireRequest
from polytraders.servers.runtime.storage import WalCheckpointer, make_engine


@pytest.fixture
def bus(database_url: str, clock: ManualClock):
    engine = make_engine(database_url)
    schema.prepare(engine, upgrade=True)
    bus = ReportBus(ReportArchive(engine), clock, max_batch=100, subscriber_queue=4)
    yield bus
    bus.archive.close()
    engine.dispose()


def _reports(count: int, bot: str = "alpha-bot") -> list[rpb.Report]:
    builder = ReportBuilder(bot)
    return [builder.operations(component="test", explanation=str(i)) for i in range(count)]


async def _collect(bus: ReportBus, want: int, **kwargs) -> list[str]:
    seen: list[str] = []
    async for archived in bus.subscribe(ReportFilter(), **kwargs):
        seen.append(archived.report_id)
        if len(seen) == want:
            break
    return seen


def test_a_slow_subscriber_that_overflows_catches_up_from_the_archive(bus: ReportBus) -> None:
    """Queue capacity is 4; 60 reports arrive while it reads: none lost, none twice."""
    reports = _reports(60)

    async def scenario() -> list[str]:
        reader = asyncio.create_task(_collect(bus, 60))
        await asyncio.sleep(0)  # let it register
        for start in range(0, 60, 6):
            await bus.publish(reports[start : start + 6])
        return await asyncio.wait_for(reader, 30)

    assert asyncio.run(scenario()) == [r.header.report_id for r in reports]


def test_a_follower_shows_how_far_behind_it_is_until_it_has_caught_up(bus: ReportBus) -> None:
    """A follower reading 2 reports then stalling, while 10 arrive: its queue (4) overflows, so
    its lag counts from its position; once it has read them all it is live with nothing waiting."""
    taken: list[int] = []
    took_two, go_on = asyncio.Event(), asyncio.Event()

    async def follower() -> None:
        following.set("test.follower")
        async for archived in bus.subscribe(ReportFilter()):
            taken.append(archived.seq)
            if len(taken) == 2:
                took_two.set()
                await go_on.wait()
            if len(taken) == 12:
                return

    async def scenario() -> list[dict[str, int]]:
        await bus.publish(_reports(2))
        reader = asyncio.create_task(follower())
        await asyncio.wait_for(took_two.wait(), 30)
        stalled = bus.follower_lags(bus.archive.last_seq())
        for _ in range(5):
            await bus.publish(_reports(2))
        behind = bus.follower_lags(bus.archive.last_seq())
        go_on.set()
        await asyncio.wait_for(reader, 30)
        return [stalled, behind, bus.follower_lags(bus.archive.last_seq())]

    assert asyncio.run(scenario()) == [{"test.follower": 0}, {"test.follower": 10}, {}]
    assert taken == list(range(1, 13))
    assert bus.followers == {"test.follower"}


def test_batches_hold_what_was_waiting_up_to_their_most_and_lose_nothing(bus: ReportBus) -> None:
    """Queue capacity 4: 3 reports stored in one commit (read from the archive or the queue, either
    way in batches of 2 then 1), then 60 arrive in bursts and overflow the queue."""
    first, more = _reports(3), _reports(60)

    async def scenario() -> list[list[str]]:
        batches: list[list[str]] = []
        stream = bus.subscribe_batches(ReportFilter(), max_reports=2)
        reader = asyncio.create_task(anext(stream))
        await asyncio.sleep(0)  # registered (before its first await): from here nothing is missed
        await bus.publish(first)
        batches.append([r.report_id for r in await asyncio.wait_for(reader, 30)])
        while sum(map(len, batches)) < 3:
            batches.append([r.report_id for r in await anext(stream)])
        for start in range(0, 60, 6):
            await bus.publish(more[start : start + 6])
        while sum(map(len, batches)) < 63:
            batches.append([r.report_id for r in await asyncio.wait_for(anext(stream), 30)])
        await stream.aclose()
        return batches

    batches = asyncio.run(scenario())
    assert [i for b in batches for i in b] == [r.header.report_id for r in first + more]
    assert all(1 <= len(b) <= 2 for b in batches) and [len(b) for b in batches[:2]] == [2, 1]


def test_live_only_starts_after_what_is_archived(bus: ReportBus) -> None:
    old, new = _reports(3), _reports(2)

    async def scenario() -> list[str]:
        await bus.publish(old)
        reader = asyncio.create_task(_collect(bus, 2, live_only=True))
        await asyncio.sleep(0.05)
        await bus.publish(new)
        return await asyncio.wait_for(reader, 30)

    assert asyncio.run(scenario()) == [r.header.report_id for r in new]


def test_closing_the_bus_ends_every_subscription(bus: ReportBus) -> None:
    async def scenario() -> list[str]:
        reader = asyncio.create_task(_collect(bus, 10))
        await asyncio.sleep(0.05)
        bus.close()
        return await asyncio.wait_for(reader, 5)

    assert asyncio.run(scenario()) == []


def test_purge_removes_expired_one_year_reports_and_keeps_seven_year_ones(
    bus: ReportBus, clock: ManualClock
) -> None:
    builder = ReportBuilder("alpha-bot")
    short = builder.operations(component="ops")
    long = builder.settlement(record_type="pnl.fill")
    assert long.header.retention == rpb.RETENTION_SEVEN_YEARS

    async def scenario() -> list[int]:
        await bus.publish([short, long])
        purged = []
        for moment in (
            datetime(2027, 11, 24, 11, 59, tzinfo=UTC),  # a minute before the first year ends
            datetime(2027, 11, 24, 12, 0, tzinfo=UTC),
            datetime(2033, 11, 24, 11, 59, tzinfo=UTC),  # a minute before seven years end
            datetime(2033, 11, 24, 12, 0, tzinfo=UTC),
        ):
            clock.set(moment)
            purged.append(await bus.purge_expired())
        return purged

    assert asyncio.run(scenario()) == [0, 1, 0, 1]
    assert bus.archive.count() == 0


def test_retention_counts_calendar_years_and_rolls_29_february_forward() -> None:
    leap = datetime(2028, 2, 29, 8, 30, tzinfo=UTC)
    assert retention_ends(leap, rpb.RETENTION_ONE_YEAR) == datetime(2029, 3, 1, 8, 30, tzinfo=UTC)
    assert retention_ends(leap, rpb.RETENTION_SEVEN_YEARS) == datetime(2035, 3, 1, 8, 30, tzinfo=UTC)
    assert retention_ends(leap - timedelta(days=1), rpb.RETENTION_ONE_YEAR).date().isoformat() == "2029-02-28"


def test_a_batch_with_one_bad_report_names_every_bad_field_and_stores_nothing(
    bus: ReportBus,
) -> None:
    batch = _reports(3)
    batch[1].header.report_id = "NOT-A-UUID"
    batch[2].header.epoch = 0

    with pytest.raises(InvalidArgument) as refused:
        asyncio.run(bus.publish(batch))

    assert [v.field for v in refused.value.violations] == [
        "reports[1].header.report_id",
        "reports[2].header.epoch",
    ]
    assert bus.archive.count() == 0


def test_a_second_archive_on_the_same_database_continues_the_sequence(
    bus: ReportBus, database_url: str
) -> None:
    """Two writers on one database: the second picks up after the first, duplicates stay single."""
    first = _reports(3)
    asyncio.run(bus.publish(first))
    other_engine = make_engine(database_url)
    try:
        other = ReportBus(ReportArchive(other_engine), ManualClock(datetime(2026, 11, 24, tzinfo=UTC)))
        result = asyncio.run(other.publish([first[0], *_reports(2)]))
        assert (result.accepted, result.duplicates, result.last_seq) == (2, 1, 5)
    finally:
        other.archive.close()
        other_engine.dispose()
    # The first writer's idea of the next seq is stale now: it clashes, reloads, retries.
    again = asyncio.run(bus.publish(_reports(1)))
    assert (again.accepted, again.last_seq) == (1, 6)
    assert bus.archive.count() == 6


def test_a_run_delivered_without_some_of_its_reports_is_filled_from_the_archive_at_once(
    database_url: str, clock: ManualClock
) -> None:
    """The relay sends a report too large for any broker message as its headers alone: the run
    arrives short, and the sequencer reads what it lacks from the archive then, not at its next
    watermark look (an hour here)."""
    engine = make_engine(database_url)
    schema.prepare(engine, upgrade=True)
    reader = ReportBus(ReportArchive(engine), clock, watermark_seconds=3600)
    writer_engine = make_engine(database_url)
    writer = ReportBus(ReportArchive(writer_engine), clock)
    reports = _reports(3)

    async def scenario() -> list[str]:
        await reader.start_sequencer()
        seen = asyncio.create_task(_collect(reader, 3))
        while not reader.subscribers or any(s.catching_up for s in reader._subscriptions):
            await asyncio.sleep(0.01)  # it reads the (empty) archive and goes live
        await writer.publish(reports)
        stored = reader.archive.read_after(0, ReportFilter(), 3)
        reader.deliver(1, 3, stored[:2])  # the third came as headers only
        async with asyncio.timeout(10):
            return await seen

    try:
        assert asyncio.run(scenario()) == [r.header.report_id for r in reports]
    finally:
        reader.close()
        for bus in (reader, writer):
            bus.archive.close()
        for each in (engine, writer_engine):
            each.dispose()


@pytest.mark.postgres
def test_a_writer_connection_the_server_dropped_is_replaced_and_the_write_stored_once(
    postgres_url: str, clock: ManualClock
) -> None:
    """The writer keeps its PostgreSQL connection between writes; the server ending it (a restart,
    a failover, an operator) costs the next write one attempt, not an error."""
    application = f"t_{uuid.uuid4().hex[:12]}"
    url = make_url(postgres_url)
    engine = make_engine(url.update_query_dict({"application_name": application}).render_as_string(hide_password=False))
    schema.prepare(engine, upgrade=True)
    bus = ReportBus(ReportArchive(engine), clock)
    try:
        asyncio.run(bus.publish(_reports(3)))
        with psycopg.connect(host=url.host, port=url.port, user=url.username, dbname=url.database, autocommit=True) as admin:
            ended = admin.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = %s",
                                  (application,)).fetchone()  # fmt: skip
        assert ended is not None and ended[0] >= 1
        result = asyncio.run(bus.publish(_reports(3)))
        assert (result.accepted, result.duplicates, result.last_seq) == (3, 0, 6)
        assert bus.archive.count() == 6
    finally:
        bus.archive.close()
        engine.dispose()


@pytest.mark.postgres
def test_a_cancelled_write_fails_and_keeps_the_writer_connection_and_closing_the_bus_gives_it_back(
    postgres_url: str, clock: ManualClock
) -> None:
    """A statement the server cancelled (an operator, a timeout, a deadlock) is an OperationalError
    like a dropped connection, but the connection is sound: the write fails, once, and the next one
    runs on the same backend. Closing the bus gives the writer's connection back to the pool, so
    disposing of the engine leaves no backend behind."""
    application = f"t_{uuid.uuid4().hex[:12]}"
    url = make_url(postgres_url)
    engine = make_engine(url.update_query_dict({"application_name": application}).render_as_string(hide_password=False))
    schema.prepare(engine, upgrade=True)
    bus = ReportBus(ReportArchive(engine), clock)
    admin = psycopg.connect(host=url.host, port=url.port, user=url.username, dbname=url.database, autocommit=True)

    def writers() -> list[tuple[int, str]]:
        return admin.execute("SELECT pid, coalesce(wait_event_type, '') FROM pg_stat_activity "
                             "WHERE application_name = %s", (application,)).fetchall()  # fmt: skip

    try:
        asyncio.run(bus.publish(_reports(1)))
        ((writer, _),) = writers()
        key = bus.archive._sequencer_key
        admin.execute("SELECT pg_advisory_lock(%s)", (key,))  # the sequencer taken: the next write waits

        async def cancelled_write() -> None:
            publishing = asyncio.ensure_future(bus.publish(_reports(1)))
            while writers() != [(writer, "Lock")]:
                await asyncio.sleep(0.01)
            admin.execute("SELECT pg_cancel_backend(%s)", (writer,))
            with pytest.raises(psycopg.errors.QueryCanceled):  # not retried (a retry would wait on the lock)
                await asyncio.wait_for(publishing, 30)

        asyncio.run(cancelled_write())
        admin.execute("SELECT pg_advisory_unlock(%s)", (key,))
        assert asyncio.run(bus.publish(_reports(1))).last_seq == 2  # the cancelled one stored nothing
        assert [pid for pid, _ in writers()] == [writer]
        bus.close()
        engine.dispose()  # closes what is in the pool: the writer's connection is there again
        for _ in range(200):  # a backend leaves pg_stat_activity just after its client hangs up
            if not writers():
                break
            time.sleep(0.01)
        assert writers() == []
    finally:
        admin.close()
        bus.close()
        engine.dispose()


def test_a_resend_among_new_reports_is_counted_once_and_leaves_no_gap_in_seq(bus: ReportBus) -> None:
    """The single-statement write refuses the whole batch on the resend; the transactional one stores the rest."""
    first = _reports(3)
    asyncio.run(bus.publish(first))
    second = _reports(2)
    result = asyncio.run(bus.publish([second[0], first[1], second[1]]))
    assert (result.accepted, result.duplicates, result.last_seq) == (2, 1, 5)
    archived = bus.archive.read_after(0, ReportFilter(), 100)
    assert [(a.seq, a.report_id) for a in archived] == [
        (seq, r.header.report_id) for seq, r in enumerate([*first, second[0], second[1]], 1)
    ]
    assert asyncio.run(bus.publish(_reports(1))).last_seq == 6


def test_a_group_mixing_resent_and_new_reports_stores_each_once_with_no_gap_in_seq(
    bus: ReportBus, database_url: str
) -> None:
    """The optimistic write meets a resend: it is rolled back and rewritten without the old ones."""
    builder = ReportBuilder("alpha-bot")
    old = [builder.settlement(explanation=f"old {i}", retention=rpb.RETENTION_SEVEN_YEARS) for i in range(2)]
    asyncio.run(bus.publish(old))
    new = [builder.settlement(explanation=f"new {i}", retention=rpb.RETENTION_SEVEN_YEARS) for i in range(3)]
    first = bus.validate([old[0], new[0], new[0]])  # a resend, a new one, and it again
    second = bus.validate([new[1], old[1], new[0], new[2]])
    results = bus.archive.store([first, second], 1_000, {1: 2_000, 2: 3_000})
    assert [(b.first_seq, list(b.reports.report_ids), b.duplicates) for b in results] == [
        (3, [new[0].header.report_id], 2),
        (4, [new[1].header.report_id, new[2].header.report_id], 2),
    ]
    archived = bus.archive.read_after(0, ReportFilter(), 100)
    assert [a.seq for a in archived] == [1, 2, 3, 4, 5]
    assert [a.report_id for a in archived] == [r.header.report_id for r in [*old, new[0], new[1], new[2]]]
    engine = make_engine(database_url)
    chain = ledger.verify(engine)
    engine.dispose()
    assert (chain.ok, chain.entries_checked) == (True, 5)


def test_an_old_sqlite_parameter_limit_only_makes_the_inserts_smaller(tmp_path, clock: ManualClock) -> None:
    """SQLite before 3.32 allows 999 parameters a statement; a batch of 500 needs 5,500."""
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    event.listen(engine, "connect", lambda conn, _: conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999))
    schema.prepare(engine, upgrade=True)
    try:
        bus = ReportBus(ReportArchive(engine), clock)
        reports = _reports(500)
        assert asyncio.run(bus.publish(reports)).accepted == 500
        archived = bus.archive.read_after(0, ReportFilter(), 1000)
        assert [a.report_id for a in archived] == [r.header.report_id for r in reports]
    finally:
        engine.dispose()


def test_a_seven_year_record_is_archived_canonically_and_an_ordinary_report_as_published(
    bus: ReportBus,
) -> None:
    builder = ReportBuilder("alpha-bot")
    ordinary = builder.operations(component="x")
    record = builder.settlement(explanation="kept", retention=rpb.RETENTION_SEVEN_YEARS)
    # A header the parser overrides with the one after it: kept verbatim only outside the ledger.
    overridden = rpb.Report(header=rpb.ReportHeader(bot_slug="evil-bot")).SerializeToString()
    wire = [overridden + ordinary.SerializeToString(), overridden + record.SerializeToString()]
    request = WireRequest(pb.PublishReportsRequest.FromString(request_body(wire)), request_body(wire))
    incoming = bus.validate(request.message.reports, request)
    assert list(incoming.bot_slugs) == ["alpha-bot", "alpha-bot"]
    assert list(incoming.payloads) == [wire[0], record.SerializeToString(deterministic=True)]


def test_the_wal_is_copied_back_by_the_background_checkpoint(tmp_path) -> None:
    """Without the checkpoint the new pages would stay in the WAL and the database file would not grow."""
    database = tmp_path / "wal.db"
    engine = make_engine(f"sqlite:///{database}")
    schema.prepare(engine, upgrade=True)
    try:
        archive = ReportArchive(engine)
        archive._checkpointer = checkpointer = WalCheckpointer(engine, every_bytes=1)
        bus = ReportBus(archive, ManualClock(datetime(2026, 11, 24, tzinfo=UTC)))
        asyncio.run(bus.publish(_reports(1)))  # the first write: its pages and the schema's reach the file
        checkpointer._running.result(timeout=10)
        before = database.stat().st_size
        asyncio.run(
            bus.publish([ReportBuilder("alpha-bot").operations(explanation="x" * 2000) for _ in range(50)])
        )
        checkpointer._running.result(timeout=10)
        assert database.stat().st_size >= before + 50 * 2000
    finally:
        engine.dispose()
