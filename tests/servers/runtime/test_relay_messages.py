"""The relay's broker messages: runs of one subject, the same bytes whichever way they are framed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import nats
import pytest
from google.protobuf.message import DecodeError

from polytraders.governance.v1 import report_bus_pb2 as pb
from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk import ManualClock
from polytraders.sdk.outbox import frame_reports, unframe_reports
from polytraders.sdk.report_builders import ReportBuilder
from polytraders.servers.runtime import jetstream
from polytraders.servers.runtime.archive import ArchivedReport, ReportArchive, StoredBatch
from polytraders.servers.runtime.bus import ReportBus
from polytraders.servers.runtime.header_columns import stored_headers
from polytraders.servers.runtime.jetstream import _batch_messages, _Held
from polytraders.servers.runtime.report_validation import to_incoming
from polytraders.servers.runtime.requests import WireRequest
from polytraders.servers.runtime.storage import make_engine
from tests.support.nats_server import NatsServer

from .test_header_columns import PLAIN, TRICKY


def _batch() -> list[rpb.Report]:
    alpha, beta = ReportBuilder("alpha-bot", bot_class="strategy"), ReportBuilder("beta-bot", bot_class="strategy")
    return [
        alpha.observation(condition_id="0xab", token_id="1"),
        alpha.observation(condition_id="0xab", token_id="2"),
        alpha.decision(explanation="x" * 300),
        beta.decision(explanation="y"),
        beta.decision(explanation="z"),
        alpha.decision(explanation="w"),
    ]


def test_a_batch_that_lends_its_bytes_is_sent_as_one_framed_afresh_would_be() -> None:
    reports = _batch()
    payloads = [r.SerializeToString(deterministic=True) for r in reports]
    wire = frame_reports(payloads)
    lent = to_incoming(reports, WireRequest(pb.PublishReportsRequest.FromString(wire), wire))
    afresh = to_incoming(reports)
    assert lent is not None and lent.framed is not None and afresh is not None and afresh.framed is None
    sent = [list(_batch_messages(_Held.stored(StoredBatch(41, batch, 0)))) for batch in (lent, afresh)]
    assert sent[0] == sent[1]
    assert [(m.first, m.reports) for m in sent[0]] == [(41, 2), (43, 1), (44, 2), (46, 1)]
    assert [m.subject.split(".")[3] for m in sent[0]] == ["alpha-bot", "alpha-bot", "beta-bot", "alpha-bot"]
    assert [p for m in sent[0] for p in unframe_reports(m.body)] == payloads


def test_a_batch_of_one_subject_goes_as_the_bytes_it_came_in() -> None:
    alpha = ReportBuilder("alpha-bot", bot_class="strategy")
    reports = [alpha.observation(condition_id="0xab", token_id=str(i)) for i in range(3)]
    wire = frame_reports([r.SerializeToString(deterministic=True) for r in reports])
    lent = to_incoming(reports, WireRequest(pb.PublishReportsRequest.FromString(wire), wire))
    assert lent is not None
    (message,) = _batch_messages(_Held.stored(StoredBatch(7, lent, 0)))
    assert (message.first, message.reports, message.body) == (7, 3, wire)


def test_a_page_sent_from_memory_is_the_page_the_archive_would_send(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs of one subject span batches, and a page ends inside one: so a page the relay sends
    again after reading it back goes as the same messages (the stream drops them by id)."""
    monkeypatch.setattr(jetstream, "_PAGE", 8)
    reports = _batch()
    alpha = ReportBuilder("alpha-bot", bot_class="strategy")
    cuts = [reports[:2], [*reports[2:], alpha.decision(explanation="v")], [alpha.decision(explanation="u"), alpha.decision(explanation="t")]]
    batches, first = [], 10
    for cut in cuts:
        wire = frame_reports([r.SerializeToString(deterministic=True) for r in cut])
        incoming = to_incoming(cut, WireRequest(pb.PublishReportsRequest.FromString(wire), wire))
        assert incoming is not None and incoming.framed is not None
        batches.append(_Held.stored(StoredBatch(first, incoming, 0)))
        first += len(cut)
    page = [report for batch in batches for report in batch.archived()][:8]  # as the archive reads them
    from_archive = list(_batch_messages(_Held.read_back(page)))
    assert jetstream._memory_page(batches) == from_archive
    assert [(m.first, m.reports) for m in from_archive] == [(10, 2), (12, 1), (13, 2), (15, 3)]  # 15-17 spans two


RUNS = {  # taken, columns: where each run starts, then `taken`
    "one subject": (4, ([1, 1, 1, 1], ["a", "a", "a", "a"], [9, 9, 9, 9]), [0, 4]),
    "a run per column that changes": (6, ([1, 1, 2, 2, 2, 2], ["a", "a", "a", "b", "b", "b"], [9] * 5 + [10]), [0, 2, 3, 5, 6]),
    "a change back is a run of its own": (4, ([1, 1, 1, 1], ["a", "b", "a", "a"], [9] * 4), [0, 1, 2, 4]),
    "only the first taken": (2, ([1, 1, 2, 2], ["a"] * 4, [9] * 4), [0, 2]),
    "one report": (1, ([1, 2], ["a", "b"], [9, 9]), [0, 1]),
    "none taken": (0, ([1, 2], ["a", "b"], [9, 9]), [0]),
    "no reports": (0, ([], [], []), [0]),
}


@pytest.mark.parametrize(("taken", "columns", "starts"), RUNS.values(), ids=RUNS.keys())
def test_runs_break_wherever_a_subjects_column_changes(taken: int, columns: tuple[list[object], ...], starts: list[int]) -> None:
    assert jetstream._run_starts(taken, *columns) == starts


FITS = {  # limit: each message's (first cursor, reports, carries a body)
    "every report fits one message": (10_000, [(1, 8, True)]),
    "cut into several": (900, [(1, 6, True), (7, 2, True)]),
    "a report alone over the limit goes as headers": (350, [(1, 3, True), (4, 1, False), (5, 3, True), (8, 1, True)]),
    "none fits": (10, [(cursor, 1, False) for cursor in range(1, 9)]),
}


@pytest.mark.parametrize(("limit", "cuts"), FITS.values(), ids=FITS.keys())
def test_a_run_larger_than_the_brokers_limit_is_cut_the_same_however_it_was_put_together(
    limit: int, cuts: list[tuple[int, int, bool]]
) -> None:
    """The broker refuses a message over its max_payload: the relay cuts each run greedily from
    its first report, and a report over the limit alone is sent as its headers (an empty body),
    so every cursor goes once, in order, and a page resent from the archive cuts the same."""
    alpha = ReportBuilder("alpha-bot", bot_class="strategy")
    reports = [alpha.decision(explanation=("x" * 300 if n == 3 else str(n))) for n in range(8)]
    payloads = [r.SerializeToString(deterministic=True) for r in reports]
    from_archive = list(_batch_messages(_Held.read_back([_parsed(seq, p) for seq, p in enumerate(payloads, 1)])))
    batches = []
    for first, cut in ((1, reports[:5]), (6, reports[5:])):  # lending the bytes they came in
        wire = frame_reports([r.SerializeToString(deterministic=True) for r in cut])
        incoming = to_incoming(cut, WireRequest(pb.PublishReportsRequest.FromString(wire), wire))
        assert incoming is not None and incoming.framed is not None
        batches.append(_Held.stored(StoredBatch(first, incoming, 0)))
    sent = list(jetstream._fitted(jetstream._memory_page(batches), limit))
    assert sent == list(jetstream._fitted(from_archive, limit))
    assert [(m.first, m.reports, bool(m.body)) for m in sent] == cuts
    assert all(len(m.body) <= limit for m in sent)
    assert len({jetstream.stream_headers(m.first, m.report_ids)["Nats-Msg-Id"] for m in sent}) == len(sent)
    assert [p for m in sent for p in unframe_reports(m.body)] == [
        p for m in sent if m.body for p in payloads[m.first - 1 : m.first - 1 + m.reports]
    ]


def test_a_relayed_message_is_parsed_only_when_a_subscriber_reads_it() -> None:
    reports = jetstream._unframed(5, b"\x0a")  # a key and no length: unframing it fails
    with pytest.raises(DecodeError):
        next(reports)  # only now, not when the bus was handed it


STORED_TRICKY = {case: wire for case, wire in TRICKY.items() if to_incoming([rpb.Report.FromString(wire)])}
"""The odd wires the archive would store (valid reports, kept as published): a relayed message
may carry them."""


def _parsed(cursor: int, payload: bytes) -> ArchivedReport:
    header = rpb.Report.FromString(payload).header
    return ArchivedReport(cursor, header.report_id, header.kind, header.bot_slug, header.epoch, header.mode, payload)


@pytest.mark.parametrize("case", list(STORED_TRICKY))
def test_a_relayed_or_handed_over_report_reads_as_the_parser_reads_it_whatever_its_wire(case: str) -> None:
    payloads = [PLAIN, STORED_TRICKY[case], PLAIN]
    parsed = [_parsed(5 + offset, payload) for offset, payload in enumerate(payloads)]
    assert list(jetstream._unframed(5, frame_reports(payloads))) == parsed
    assert list(_Held.handed_over(5, frame_reports(payloads)).archived()) == parsed


def test_relayed_reports_read_as_columns_unless_a_field_repeats() -> None:
    """The cases above must also take both paths: read a column at a time when each field
    occurs once per report, one by one when a report repeats one."""
    assert stored_headers([PLAIN, PLAIN]) is not None
    assert stored_headers([PLAIN, STORED_TRICKY["a field repeated in the header (the last wins)"]]) is None


def test_the_relay_reads_back_only_what_this_process_does_not_hold(tmp_path: Path, clock: ManualClock) -> None:
    """Commits the relay does not hold (a hand-off lost, a process without the broker) sit between
    held ones: the archive is read up to the next report held (`seq` has no gaps), and what is
    held goes from memory."""
    engine = make_engine(f"sqlite:///{tmp_path / 'governance.db'}")
    link = jetstream.JetStreamLink("nats://127.0.0.1:1", ReportBus(ReportArchive(engine), clock), engine, _said)
    alpha = ReportBuilder("alpha-bot", bot_class="strategy")
    held = [to_incoming([alpha.decision(explanation=str(n)) for n in range(size)]) for size in (3, 2)]
    assert held[0] is not None and held[1] is not None
    link._hold([_Held.stored(StoredBatch(20, held[0], 0)), _Held.stored(StoredBatch(30, held[1], 0))])  # 20-22, 30-31
    assert [link._unheld(cursor) for cursor in (9, 22, 25, 31)] == [10, 7, 4, jetstream._PAGE]
    engine.dispose()


def test_a_page_of_large_reports_stops_at_about_page_bytes(
    tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reports may be 1 MiB each: a page of 2,000 would hold gigabytes in the relay's memory and
    outlast its acknowledgement deadline, so pages stop at about `_PAGE_BYTES`, never below one
    batch (from memory) or one report (read back)."""
    monkeypatch.setattr(jetstream, "_PAGE_BYTES", 2_000)
    engine = make_engine(f"sqlite:///{tmp_path / 'governance.db'}")
    link = jetstream.JetStreamLink("nats://127.0.0.1:1", ReportBus(ReportArchive(engine), clock), engine, _said)
    alpha = ReportBuilder("alpha-bot", bot_class="strategy")
    held = [to_incoming([alpha.decision(explanation="x" * 1_200) for _ in range(size)]) for size in (1, 1, 1, 3)]
    first = 1
    for batch in held:
        assert batch is not None
        link._hold([_Held.stored(StoredBatch(first, batch, 0))])
        first += len(batch)
    assert [b.first_seq for b in link._from_memory(0)] == [1, 2]  # the second passes 2,000 bytes
    assert [b.first_seq for b in link._from_memory(3)] == [4]  # one batch, however large
    engine.dispose()


def test_the_relay_holds_its_latest_commits_up_to_held_bytes(
    tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relay held up by its broker keeps being handed commits: past `_HELD_BYTES` the oldest are
    dropped (read back when their turn comes), and what was sent is dropped as it goes."""
    monkeypatch.setattr(jetstream, "_HELD_BYTES", 3_000)
    engine = make_engine(f"sqlite:///{tmp_path / 'governance.db'}")
    link = jetstream.JetStreamLink("nats://127.0.0.1:1", ReportBus(ReportArchive(engine), clock), engine, _said)
    alpha = ReportBuilder("alpha-bot", bot_class="strategy")
    for first in range(1, 5):
        batch = to_incoming([alpha.decision(explanation="x" * 1_200)])
        assert batch is not None
        link._hold([_Held.stored(StoredBatch(first, batch, 0))])
    assert list(link._held) == [3, 4]  # two of about 1,300 bytes fit in 3,000
    assert link._unheld(0) == 2
    assert [b.first_seq for b in link._from_memory(3)] == [4]  # 3 was sent: dropped
    assert link._held_bytes == sum(b.volume for b in link._held.values()) > 0
    engine.dispose()


def _read_back(sizes: list[int]) -> list[ArchivedReport]:
    return [ArchivedReport(seq, "id", 1, "alpha-bot", 20000, 1, b"x" * size) for seq, size in enumerate(sizes, 1)]


READS = {  # bytes per report read back: how many to read next
    "small reports: a whole page": ([400] * 10, jetstream._PAGE),
    "1 MiB reports: about 8 MiB": ([1 << 20] * 3, 8),
    "larger than the page's bytes: one at a time": ([9 << 20], 1),
    "mixed: by their average": ([1 << 20, 0, 0, 0], 32),
}


@pytest.mark.parametrize(("sizes", "next_page"), READS.values(), ids=READS.keys())
def test_the_relay_reads_back_as_many_reports_as_make_about_page_bytes(sizes: list[int], next_page: int) -> None:
    assert jetstream._reports_within(jetstream._PAGE_BYTES, _read_back(sizes)) == next_page


async def _said(up: bool, why: str) -> None:
    """Where the link would tell the mesh the broker came or went (never, here)."""


@pytest.mark.parametrize(
    ("headers", "run"),
    [
        (None, (0, 0)),
        ({}, (0, 0)),
        ({"Polytraders-Cursor": "12"}, (0, 0)),
        ({"Polytraders-Cursor": "12", "Polytraders-Count": "0"}, (0, 0)),
        ({"Polytraders-Cursor": "0", "Polytraders-Count": "3"}, (0, 0)),
        ({"Polytraders-Cursor": "-4", "Polytraders-Count": "3"}, (0, 0)),
        ({"Polytraders-Cursor": "twelve", "Polytraders-Count": "3"}, (0, 0)),
        ({"Polytraders-Cursor": "12", "Polytraders-Count": "3.0"}, (0, 0)),
        ({"Polytraders-Cursor": "", "Polytraders-Count": ""}, (0, 0)),
        (jetstream.stream_headers(12, ["a", "b", "c"]), (12, 3)),
    ],
)
def test_only_a_message_headed_as_the_relay_heads_them_is_read_as_a_run(
    headers: dict[str, str] | None, run: tuple[int, int]
) -> None:
    """A message on the subjects without the relay's headers (a stray publish) is no run of reports:
    the feed and the relay pass it by, and the stream's last cursor does not count it."""
    assert jetstream._run_of(headers) == run


def test_a_stray_last_message_with_the_relays_header_names_leaves_the_stream_readable(broker: NatsServer) -> None:
    """Anyone may publish on the subjects. A relay taking over reads the stream's last message to go
    on after it: a stray one, even headed with the relay's names but no numbers, reads as holding
    no reports (the relay then goes on from the floor the database keeps) rather than failing the
    read, which the relay would retry for ever without starting."""

    async def last_cursor() -> int:
        client = await nats.connect(broker.url)
        try:
            stream = client.jetstream()
            await stream.add_stream(jetstream.stream_config())
            headers = jetstream.stream_headers(1, ["first", "second"])
            await stream.publish("polytraders.reports.decision.alpha-bot.1", b"", headers=headers)
            assert await jetstream.streamed_through(stream) == 2
            stray = {jetstream.CURSOR_HEADER: "twelve", jetstream.COUNT_HEADER: "3"}
            await stream.publish("polytraders.reports.decision.alpha-bot.1", b"not reports", headers=stray)
            return await jetstream.streamed_through(stream)
        finally:
            await client.close()

    assert asyncio.run(last_cursor()) == 0
