"""The publisher never blocks and never loses a report: outages, SIGKILLs, restarts, overflow."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from functools import partial
from itertools import pairwise
from pathlib import Path

import pytest
from google.protobuf.wrappers_pb2 import BytesValue
from sqlalchemy import select

from polytraders.governance.v1 import report_bus_pb2
from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk import Governance, PublisherClosed, PublisherConfig
from polytraders.sdk.outbox import (
    Outbox,
    Segment,
    frame_offsets,
    frame_reports,
    framed_size,
    segments_of,
    unframe_reports,
)
from polytraders.sdk.report_builders import ReportBuilder
from polytraders.servers.mesh import MeshThread
from polytraders.servers.runtime.archive import report_archive
from polytraders.servers.runtime.storage import make_engine
from tests.conftest import REPO, start_mesh
from tests.support.governance_process import GovernanceProcess

BOT = str(Path(__file__).with_name("bot_process.py"))


def archived(database_url: str, bot_slug: str = "demo-bot") -> list[rpb.Report]:
    """The bot's reports in the archive, in bus order."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(report_archive.c.payload)
                .where(report_archive.c.bot_slug == bot_slug)
                .order_by(report_archive.c.seq)
            )
            return [rpb.Report.FromString(payload) for (payload,) in rows]
    finally:
        engine.dispose()


def _bot(gov_target: str, outbox: Path, first: int, count: int, ending: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, BOT, gov_target, str(outbox), str(first), str(count), ending],
        stdout=subprocess.PIPE, text=True, cwd=REPO,
    )  # fmt: skip


def test_twenty_thousand_reports_survive_two_sigkills_of_governance(
    database_url: str, tmp_path: Path
) -> None:
    server = GovernanceProcess(database_url).start()
    gov = Governance(
        server.address, token="dev-bot-token", bot_slug="demo-bot",
        publisher=PublisherConfig(outbox_path=str(tmp_path / "outbox.sqlite"), max_backoff=0.2),
    )  # fmt: skip
    reports = [gov.builder.operations(component="outage", explanation=f"n{i}") for i in range(20_000)]
    phases = [reports[i : i + 4_000] for i in range(0, 20_000, 4_000)]
    try:
        assert all(gov.reports.publish(r) for r in phases[0])
        for outage, after in ((phases[1], phases[2]), (phases[3], phases[4])):
            server.kill()
            # Governance is dead for this whole phase: publish() returning proves it never waited on it.
            assert all(gov.reports.publish(r) for r in outage)
            assert not server.running
            server.start()
            assert all(gov.reports.publish(r) for r in after)

        assert gov.reports.flush(timeout=120)
        stored = [r.header.report_id for r in archived(database_url)]
        assert stored == [r.header.report_id for r in reports]  # each exactly once, in publish order
        assert gov.reports.stats().delivered == 20_000
        assert gov.close(timeout=5)
        with sqlite3.connect(tmp_path / "outbox.sqlite") as outbox:  # delivered reports leave the file
            assert outbox.execute("SELECT count(*) FROM segment").fetchone() == (0,)
    finally:
        gov.close(timeout=1)
        server.stop()


def test_a_bot_killed_mid_stream_is_completed_by_its_next_run(database_url: str, tmp_path: Path) -> None:
    outbox = tmp_path / "outbox.sqlite"
    server = GovernanceProcess(database_url)  # not started: governance is down while the first run publishes
    first_run = _bot(server.address, outbox, 0, 3_000, "persist-then-hang")
    assert first_run.stdout is not None and first_run.stdout.readline().strip() == "persisted"
    first_run.kill()
    first_run.wait()

    server.start()
    try:
        second_run = _bot(server.address, outbox, 5_000, 1_000, "flush")
        out, _ = second_run.communicate(timeout=120)
        assert out.strip() == "flushed"
        numbers = [int(r.operations.explanation[1:]) for r in archived(server.database_url)]
    finally:
        server.stop()

    assert len(numbers) == len(set(numbers))
    persisted_before_kill, mid_stream, second = numbers[:3_000], numbers[3_000:-1_000], numbers[-1_000:]
    assert persisted_before_kill == list(range(3_000))
    assert mid_stream == sorted(mid_stream) and set(mid_stream) <= set(range(3_000, 3_500))
    assert second == list(range(5_000, 6_000))


def _left_in_outbox(publisher: PublisherConfig, count: int, padding: int = 1) -> list[rpb.Report]:
    """A run of demo-bot with governance unreachable: its `count` reports stay in the outbox."""
    down = Governance("127.0.0.1:9", token="dev-bot-token", bot_slug="demo-bot", publisher=publisher)
    reports = [down.builder.operations(component="x", explanation=f"n{i}" * padding) for i in range(count)]
    try:
        for report in reports:
            down.reports.publish(report)
        assert down.reports.publisher.persisted(timeout=30)
    finally:
        down.close(timeout=0)
    return reports


def test_a_restarted_bot_delivers_what_its_last_run_left_before_it_publishes_again(
    mesh: MeshThread, tmp_path: Path, database_url: str
) -> None:
    publisher = PublisherConfig(outbox_path=str(tmp_path / "o.sqlite"))
    reports = _left_in_outbox(publisher, 300)
    with Governance(mesh.address, token="dev-bot-token", bot_slug="demo-bot", publisher=publisher) as gov:
        assert gov.reports.flush(timeout=30)
        assert gov.reports.publisher.stats().delivered == 300
    assert [r.header.report_id for r in archived(database_url)] == [r.header.report_id for r in reports]


def test_a_bot_that_exits_without_flushing_still_delivers_through_atexit(
    tmp_path: Path, database_url: str
) -> None:
    server = GovernanceProcess(database_url).start()
    try:
        bot = _bot(server.address, tmp_path / "outbox.sqlite", 0, 1_000, "exit")
        assert bot.wait(timeout=120) == 0
        assert [r.operations.explanation for r in archived(database_url)] == [f"n{i}" for i in range(1_000)]
    finally:
        server.stop()


def test_overflow_sheds_one_year_reports_keeps_seven_year_ones_and_reports_the_loss(
    mesh: MeshThread, tmp_path: Path, database_url: str
) -> None:
    down = GovernanceProcess(database_url)  # a port nobody listens on yet
    gov = Governance(
        down.address, token="dev-bot-token", bot_slug="demo-bot",
        publisher=PublisherConfig(outbox_path=str(tmp_path / "o.sqlite"), max_outbox_reports=100, max_backoff=0.2),
    )  # fmt: skip
    try:
        accepted = [
            gov.reports.publish(gov.builder.operations(component="x", explanation=f"n{i}"))
            for i in range(150)
        ]
        compliance = [gov.reports.publish(gov.builder.settlement(record_type="pnl.fill")) for _ in range(10)]
        assert accepted == [True] * 100 + [False] * 50
        assert compliance == [True] * 10  # SEVEN_YEARS is never shed
        assert gov.reports.stats().shed == 50
        down.start()
        assert gov.reports.flush(timeout=60)
        kinds = [r.WhichOneof("body") for r in archived(database_url)]
        assert kinds.count("settlement") == 10
        overflow = [r for r in archived(database_url) if r.operations.event == "publisher.overflow"]
        assert len(overflow) == 1
        assert overflow[0].operations.metrics["shed.operations"] == "50"
        assert kinds.count("operations") == 101
    finally:
        gov.close(timeout=1)
        down.stop()


def test_a_report_governance_refuses_is_dead_lettered_and_reported_not_retried_forever(
    mesh: MeshThread, tmp_path: Path, database_url: str
) -> None:
    gov = Governance(
        mesh.address, token="dev-bot-token", bot_slug="demo-bot",
        publisher=PublisherConfig(outbox_path=str(tmp_path / "o.sqlite")),
    )  # fmt: skip
    good = [gov.builder.operations(component="x", explanation=f"n{i}") for i in range(3)]
    bad = gov.builder.operations(component="x", explanation="bad")
    bad.header.epoch = 20261399
    try:
        for report in (good[0], bad, good[1], good[2]):
            gov.reports.publish(report)
        assert gov.reports.flush(timeout=30)
        stored = archived(database_url)
        assert [r.operations.explanation for r in stored[:3]] == ["n0", "n1", "n2"]
        assert stored[3].operations.event == "publisher.dead_letter"
        assert gov.reports.stats().dead_lettered == 1
        with gov.reports.publisher.outbox.connect() as conn:
            (seq, payload, reason), *_ = gov.reports.publisher.outbox.dead_letters(conn)
        assert rpb.Report.FromString(payload) == bad
        assert "header.epoch" in reason
    finally:
        gov.close(timeout=1)


def test_publish_refuses_another_bots_report_and_any_after_close(tmp_path: Path) -> None:
    gov = Governance(
        "127.0.0.1:9", token="dev-bot-token", bot_slug="demo-bot",
        publisher=PublisherConfig(outbox_path=str(tmp_path / "o.sqlite")),
    )  # fmt: skip
    other = Governance("127.0.0.1:9", token="t", bot_slug="other-bot")
    with pytest.raises(ValueError, match="other-bot"):
        gov.reports.publish(other.builder.operations(component="x"))
    with pytest.raises(ValueError, match="the limit is"):
        gov.reports.publish(gov.builder.operations(component="x", explanation="y" * 2_000_000))
    gov.close(timeout=0)
    with pytest.raises(PublisherClosed):
        gov.reports.publish(gov.builder.operations(component="x"))
    with gov.reports.publisher.outbox.connect() as conn:
        assert gov.reports.publisher.outbox.count(conn) == 0


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"max_batch_bytes": 1024 * 1024}, "max_batch_bytes"),  # the default largest report would not fit
        ({"max_report_bytes": 5_000, "max_batch_bytes": 5_000}, "max_report_bytes"),
    ],
)
def test_a_publisher_config_that_could_not_send_its_own_reports_is_refused(
    settings: dict[str, int], named: str
) -> None:
    with pytest.raises(ValueError, match=named):
        PublisherConfig(**settings)


def test_a_deferred_report_that_cannot_be_built_is_dropped_and_nothing_waits_on_it(tmp_path: Path) -> None:
    gov = Governance(
        "127.0.0.1:9", token="dev-bot-token", bot_slug="demo-bot",
        publisher=PublisherConfig(outbox_path=str(tmp_path / "o.sqlite")),
    )  # fmt: skip
    publisher = gov.reports.publisher

    def broken() -> rpb.Report:
        raise RuntimeError("a bug in the bot's report")

    assert publisher.publish_deferred(rpb.REPORT_KIND_EXECUTION, rpb.RETENTION_ONE_YEAR, broken)
    assert publisher.persisted(timeout=5)  # the writer got past the lone broken build
    assert publisher.stats().pending == 0
    assert gov.close(timeout=1)
    with publisher.outbox.connect() as conn:
        assert publisher.outbox.count(conn) == 0


def test_a_tight_publish_loop_lends_the_gil_to_the_outbox_threads_while_a_batch_is_pending(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every 256th publish() past a batch pending: often enough for the writer and sender to keep up
    with a burst, rare enough to stay off the p99; a trickle never pays it."""
    caller, sleep, lent = threading.get_ident(), time.sleep, []
    monkeypatch.setattr(
        time, "sleep", lambda s: (threading.get_ident() == caller and lent.append(s)) or sleep(s)
    )
    gov = Governance(
        "127.0.0.1:9", token="dev-bot-token", bot_slug="demo-bot",
        publisher=PublisherConfig(outbox_path=str(tmp_path / "o.sqlite"), batch_size=300),
    )  # fmt: skip
    try:
        for i in range(300):  # governance is unreachable: nothing leaves, so the pending count is i + 1
            gov.reports.publish(gov.builder.operations(component="x", explanation=f"n{i}"))
        assert lent == []
        for i in range(300, 1_100):
            gov.reports.publish(gov.builder.operations(component="x", explanation=f"n{i}"))
        assert lent == [0, 0, 0]  # at 512, 768 and 1024 pending
        build = partial(gov.builder.operations, component="x")
        for _ in range(300):  # an order's path (tag_order) never lends
            gov.reports.publisher.publish_deferred(rpb.REPORT_KIND_OPERATIONS, rpb.RETENTION_ONE_YEAR, build)
        assert lent == [0, 0, 0]
    finally:
        gov.close(timeout=0)


@pytest.mark.parametrize("explanation_bytes", [0, 60, 100, 16_300, 20_000, 3_000_000])
def test_the_request_body_framed_from_stored_reports_parses_back_to_them(explanation_bytes: int) -> None:
    builder = ReportBuilder("alpha-bot")
    reports = [
        builder.operations(component="test", explanation="x" * (explanation_bytes + i)) for i in range(3)
    ]
    payloads = [r.SerializeToString() for r in reports]
    segment = Segment(7, 3, frame_reports(payloads))
    assert list(report_bus_pb2.PublishReportsRequest.FromString(segment.body).reports) == reports
    assert segment.payloads() == payloads


@pytest.mark.parametrize(
    ("sizes", "max_reports", "max_bytes", "cut"),
    [
        ([10] * 5, 5, 1_000, [5]),  # fits: one segment, framed once
        ([10] * 5, 2, 1_000, [2, 2, 1]),  # by count
        ([10] * 5, 5, 40, [2, 2, 1]),  # by bytes (16 framed bytes at most each)
        ([10, 100, 10], 5, 50, [1, 1, 1]),  # a report over the byte bound is a segment of its own
        ([], 5, 1_000, []),
    ],
)
def test_reports_are_cut_into_segments_within_both_bounds_numbered_on(
    sizes: list[int], max_reports: int, max_bytes: int, cut: list[int]
) -> None:
    payloads = [bytes([i]) * size for i, size in enumerate(sizes)]
    segments = segments_of(41, payloads, max_reports, max_bytes)
    assert [s.reports for s in segments] == cut
    assert [s.first_seq for s in segments] == [41 + sum(cut[:i]) for i in range(len(cut))]
    assert [p for s in segments for p in s.payloads()] == payloads


@pytest.mark.parametrize("size", [1, 127, 128, 16_383, 16_384, 2**21 - 1, 2**21])
def test_framing_matches_protobufs_own_on_both_sides_of_each_varint_length_boundary(size: int) -> None:
    payloads = [b"\x01" * size, b"", b"\x02" * (size - 1)]
    # BytesValue's field 1 is framed as a request's `reports` entry is (an empty one it leaves out)
    expected = b"".join(BytesValue(value=p).SerializeToString() or b"\x0a\x00" for p in payloads)
    assert frame_reports(payloads) == expected
    assert unframe_reports(expected) == payloads


FRAMED_SIZES = {
    "every prefix three bytes": [128, 300, 16_383],
    "one of two bytes": [300, 127, 300],
    "one of four bytes": [300, 16_384],
    "one report": [1],
    "no reports": [],
}


@pytest.mark.parametrize("sizes", FRAMED_SIZES.values(), ids=FRAMED_SIZES.keys())
def test_offsets_and_size_of_framed_reports_are_where_framing_puts_them(sizes: list[int]) -> None:
    payloads = [bytes([i + 1]) * size for i, size in enumerate(sizes)]
    body = frame_reports(payloads)
    offsets = frame_offsets(payloads)
    assert framed_size(payloads) == offsets[-1] == len(body)
    assert [unframe_reports(body[start:end]) for start, end in pairwise(offsets)] == [[p] for p in payloads]


def _segments(first_seq: int, *counts: int) -> list[Segment]:
    segments = []
    for count in counts:
        segments.append(
            Segment(first_seq, count, frame_reports(f"report {first_seq + i}".encode() for i in range(count)))
        )
        first_seq += count
    return segments


def test_the_outbox_appends_in_order_under_an_old_sqlite_parameter_limit(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite")
    conn = outbox.connect()
    try:
        conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)  # SQLite before 3.32
        stored = _segments(1, *[1, 2, 3] * 150)  # 450 segments: more than one statement takes
        Outbox.append(conn, stored[:1])
        Outbox.append(conn, stored[1:])
        assert Outbox.oldest(conn, 10_000) == stored
        assert Outbox.count(conn) == 900
        assert Outbox.next_seq(conn) == 901
    finally:
        conn.close()


def test_acknowledged_segments_are_gone_from_the_outbox_before_they_are_deleted(tmp_path: Path) -> None:
    """Acknowledging marks reports delivered: no longer counted or resent, also by the next process,
    though they leave the file only when the sender purges them."""
    outbox = Outbox(tmp_path / "o.sqlite")
    conn = outbox.connect()
    try:
        stored = _segments(1, 2, 3, 1, 4)  # seqs 1-2, 3-5, 6, 7-10
        Outbox.append(conn, stored)
        Outbox.acknowledge(conn, 6)
        Outbox.acknowledge(conn, 2)  # a late, older acknowledgement moves nothing back
        assert Outbox.count(conn) == 4
        assert Outbox.oldest(conn, 100) == Outbox.oldest(conn, 100, 2) == stored[3:]
        assert Outbox.oldest(conn, 3, 0) == stored[3:]  # whole segments, at least the reports asked for
        with closing(Outbox(outbox.path).connect()) as restarted:  # the next process
            assert Outbox.count(restarted) == 4
            assert Outbox.oldest(restarted, 100) == stored[3:]
        assert Outbox.purge_acknowledged(conn) == 3
        assert conn.execute("SELECT min(first_seq), count(*) FROM segment").fetchone() == (7, 1)
        Outbox.acknowledge(conn, 10)
        assert Outbox.purge_acknowledged(conn) == 1
        assert Outbox.next_seq(conn) == 11  # never reused, though the file holds no segment
    finally:
        conn.close()


def test_a_second_process_on_the_same_outbox_file_appends_after_the_first_rather_than_clash(
    tmp_path: Path,
) -> None:
    outbox = Outbox(tmp_path / "o.sqlite")
    with closing(outbox.connect()) as first, closing(outbox.connect()) as second:
        mine, theirs = _segments(1, 2, 1), _segments(1, 3)  # both numbered from next_seq, 1
        Outbox.append(first, mine)
        Outbox.append(second, theirs)
        stored = Outbox.oldest(first, 100)
        assert [(s.first_seq, s.reports) for s in stored] == [(1, 2), (3, 1), (4, 3)]
        assert [s.body for s in stored] == [s.body for s in mine + theirs]


def test_a_segment_another_process_cut_first_is_not_cut_again_over_it(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite")
    with closing(outbox.connect()) as first, closing(outbox.connect()) as second:
        [whole] = _segments(1, 6)
        Outbox.append(first, [whole])
        halves = segments_of(1, whole.payloads(), 3, 10_000)
        Outbox.replace(first, whole, halves)
        with pytest.raises(sqlite3.IntegrityError, match="segment 1 changed"):
            Outbox.replace(second, whole, segments_of(1, whole.payloads(), 2, 10_000))
        assert Outbox.oldest(second, 100) == halves  # the loser's transaction left nothing behind


def test_reports_refused_inside_a_segment_are_set_aside_and_the_rest_keep_their_order(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite")
    conn = outbox.connect()
    try:
        stored = _segments(1, 5, 2)  # seqs 1-5, 6-7
        Outbox.append(conn, stored)
        Outbox.dead_letter(conn, stored, {2: "header.epoch: not a day", 4: "header.kind: unknown"})
        remaining = Outbox.oldest(conn, 100)
        assert [(s.first_seq, s.reports) for s in remaining] == [(1, 1), (3, 1), (5, 1), (6, 2)]
        assert [p for s in remaining for p in s.payloads()] == [
            f"report {n}".encode() for n in (1, 3, 5, 6, 7)
        ]
        assert Outbox.dead_letters(conn) == [
            (2, b"report 2", "header.epoch: not a day"),
            (4, b"report 4", "header.kind: unknown"),
        ]
        assert Outbox.count(conn) == 5
        Outbox.acknowledge(conn, 7)
        Outbox.purge_acknowledged(conn)
        assert Outbox.next_seq(conn) == 8
    finally:
        conn.close()


def test_an_outbox_file_from_before_segments_keeps_every_report_it_holds(tmp_path: Path) -> None:
    """The earlier layout held a row per report (`outbox`: seq, payload); a new publisher delivers them."""
    path = tmp_path / "o.sqlite"
    with closing(sqlite3.connect(path)) as old:
        old.executescript(
            "CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, payload BLOB NOT NULL);"
            "CREATE TABLE acknowledged (id INTEGER PRIMARY KEY CHECK (id = 1), through_seq INTEGER NOT NULL);"
            "INSERT INTO acknowledged VALUES (1, 2);"
        )
        old.executemany(
            "INSERT INTO outbox (payload) VALUES (?)", [(f"report {n}".encode(),) for n in range(1, 6)]
        )
        old.commit()
    outbox = Outbox(path)
    with closing(outbox.connect()) as conn:
        assert [(s.first_seq, s.payloads()) for s in Outbox.oldest(conn, 100)] == [
            (n, [f"report {n}".encode()]) for n in (3, 4, 5)
        ]
        assert Outbox.count(conn) == 3
        assert Outbox.next_seq(conn) == 6
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'outbox'").fetchone() == (0,)

    emptied = tmp_path / "emptied.sqlite"  # everything delivered or set aside: numbering goes on past both
    with closing(sqlite3.connect(emptied)) as old:
        old.executescript(
            "CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, payload BLOB NOT NULL);"
            "CREATE TABLE acknowledged (id INTEGER PRIMARY KEY CHECK (id = 1), through_seq INTEGER NOT NULL);"
            "CREATE TABLE dead_letter (seq INTEGER PRIMARY KEY, payload BLOB NOT NULL, reason TEXT NOT NULL);"
            "INSERT INTO acknowledged VALUES (1, 5); INSERT INTO dead_letter VALUES (7, x'00', 'refused');"
        )
    with closing(Outbox(emptied).connect()) as conn:
        assert (Outbox.count(conn), Outbox.next_seq(conn)) == (0, 8)
        assert Outbox.dead_letters(conn) == [(7, b"\x00", "refused")]


@contextmanager
def _bot_on_mesh(
    database_url: str,
    clock,
    publisher: PublisherConfig,
    **mesh_options: object,
) -> Iterator[Governance]:
    mesh = start_mesh(database_url, clock, **mesh_options)
    gov = Governance(mesh.address, token="dev-bot-token", bot_slug="demo-bot", publisher=publisher)
    try:
        yield gov
    finally:
        gov.close(timeout=10)
        mesh.stop()


def _publish_and_flush(gov: Governance, count: int) -> list[rpb.Report]:
    reports = [gov.builder.operations(component="x", explanation=f"n{i}") for i in range(count)]
    for report in reports:
        gov.reports.publish(report)
    assert gov.reports.flush(timeout=60)
    return reports


def test_a_burst_is_committed_in_segments_that_never_cross_a_batch_boundary(tmp_path: Path) -> None:
    """So the sender's batches are whole segments, exactly a batch each while a backlog drains."""
    outbox = tmp_path / "o.sqlite"
    publisher = PublisherConfig(outbox_path=str(outbox), batch_size=100)
    _left_in_outbox(publisher, 30)  # the next run starts mid-batch, at seq 31
    _left_in_outbox(publisher, 1_020)
    with closing(Outbox(outbox).connect()) as conn:
        stored = Outbox.oldest(conn, 10_000)
    assert sum(s.reports for s in stored) == 1_050
    assert all((s.first_seq - 1) // 100 == (s.end_seq - 2) // 100 for s in stored)


def test_segments_written_under_bigger_limits_are_cut_to_the_next_runs_limits(
    database_url: str,
    tmp_path: Path,
    clock,
) -> None:
    """A restart with a smaller max_batch_bytes: the old segments are cut in the file, and no call is
    bigger than the server takes (it refuses any message over 12 kB here)."""
    outbox = tmp_path / "o.sqlite"
    reports = _left_in_outbox(PublisherConfig(outbox_path=str(outbox), batch_size=500), 400, padding=10)
    with closing(Outbox(outbox).connect()) as conn:
        assert max(len(s.body) for s in Outbox.oldest(conn, 1_000)) > 12_000

    smaller = PublisherConfig(
        outbox_path=str(outbox), batch_size=500, max_batch_bytes=8_000, max_report_bytes=4_000
    )
    with _bot_on_mesh(database_url, clock, smaller, max_message_bytes=12_000) as gov:
        assert gov.reports.flush(timeout=60)
        assert [r.header.report_id for r in archived(database_url)] == [r.header.report_id for r in reports]


def test_a_refused_report_is_found_by_its_place_across_segments_and_a_gap_in_seq(
    mesh: MeshThread, tmp_path: Path, database_url: str
) -> None:
    """The server names reports[i] of the call; the call is the join of segments 1-3 and 5-6 (4 was
    set aside before), so reports[4] is seq 6."""
    builder = ReportBuilder("demo-bot")
    good = [builder.operations(component="x", explanation=f"n{i}") for i in range(4)]
    bad = builder.operations(component="x", explanation="bad")
    bad.header.epoch = 20261399
    payloads = [r.SerializeToString(deterministic=True) for r in (*good, bad)]
    outbox = Outbox(tmp_path / "o.sqlite")
    with closing(outbox.connect()) as conn:
        Outbox.append(
            conn, [Segment(1, 3, frame_reports(payloads[:3])), Segment(5, 2, frame_reports(payloads[3:]))]
        )
    gov = Governance(
        mesh.address, token="dev-bot-token", bot_slug="demo-bot",
        publisher=PublisherConfig(outbox_path=str(outbox.path)),
    )  # fmt: skip
    try:
        assert gov.reports.flush(timeout=30)
        stored = archived(database_url)
        assert [r.operations.explanation for r in stored[:4]] == ["n0", "n1", "n2", "n3"]
        assert stored[4].operations.event == "publisher.dead_letter"
        with closing(outbox.connect()) as conn:
            [(seq, payload, reason)] = Outbox.dead_letters(conn)
        assert (seq, payload) == (6, payloads[4]) and "reports[4].header.epoch" in reason
    finally:
        gov.close(timeout=1)


def test_batches_bigger_than_governance_takes_are_sent_smaller_and_nothing_is_set_aside(
    database_url: str,
    tmp_path: Path,
    clock,
) -> None:
    publisher = PublisherConfig(outbox_path=str(tmp_path / "o.sqlite"), batch_size=500)
    with _bot_on_mesh(database_url, clock, publisher, max_batch_reports=100) as gov:
        _publish_and_flush(gov, 300)
        stats = gov.reports.publisher.stats()
        assert (stats.delivered, stats.dead_lettered) == (300, 0)
        assert [r.operations.explanation for r in archived(database_url)] == [f"n{i}" for i in range(300)]
