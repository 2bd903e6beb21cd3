"""Several `serve` processes on one PostgreSQL archive and one NATS JetStream: writers interleave,
cursors never clash, and every subscriber on every process sees every report once, in order."""

from __future__ import annotations

import asyncio
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import nats
import pytest
from grpc_health.v1 import health_pb2
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from polytraders.governance.v1 import report_bus_pb2 as pb
from polytraders.governance.v1 import report_bus_pb2_grpc as pb_grpc
from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk.health import health_check
from polytraders.sdk.report_builders import ReportBuilder
from polytraders.servers.mesh import BUS
from polytraders.servers.runtime.archive import report_archive
from polytraders.servers.runtime.jetstream import RELAY, STREAM, SUBJECTS, relay_cursors
from polytraders.servers.runtime.storage import make_engine
from tests.support.governance_process import GovernanceProcess, free_port
from tests.support.mesh_processes import BOT, Tail, leads, rows, stored_demo_cursors, until
from tests.support.nats_server import NatsServer
from tests.support.report_stream import stream_last_cursor

WRITERS_PER_PROCESS = 2
BATCHES_PER_WRITER = 40
BATCH = 50


@pytest.fixture
def two_processes(postgres_url: str) -> Iterator[list[GovernanceProcess]]:
    processes = GovernanceProcess.start_together([GovernanceProcess(postgres_url) for _ in range(2)])
    yield processes
    for process in processes:
        process.stop()


def _write(
    address: str, writer: str, answers: list[tuple[str, pb.PublishReportsResponse | grpc.RpcError]]
) -> None:
    builder = ReportBuilder("demo-bot")
    with grpc.insecure_channel(address) as channel:
        publish = pb_grpc.ReportBusServiceStub(channel).PublishReports
        for number in range(BATCHES_PER_WRITER):
            reports = [
                builder.operations(component=writer, explanation=f"{number}.{i}") for i in range(BATCH)
            ]
            try:
                answers.append(
                    (writer, publish(pb.PublishReportsRequest(reports=reports), metadata=BOT, timeout=30))
                )
            except grpc.RpcError as error:
                answers.append((writer, error))


@pytest.mark.postgres
def test_interleaved_writers_on_two_processes_store_every_batch_whole_once_with_commit_ordered_cursors(
    two_processes: list[GovernanceProcess], postgres_url: str
) -> None:
    answers: list[tuple[str, pb.PublishReportsResponse | grpc.RpcError]] = []
    writers = [
        threading.Thread(target=_write, args=(process.address, f"w{p}.{w}", answers))
        for p, process in enumerate(two_processes) for w in range(WRITERS_PER_PROCESS)
    ]  # fmt: skip
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()

    failures = [(w, a.code(), a.details()) for w, a in answers if isinstance(a, grpc.RpcError)]
    assert failures == []
    total = len(writers) * BATCHES_PER_WRITER * BATCH
    assert sum(a.accepted_count for _, a in answers) == total
    engine = make_engine(postgres_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(report_archive.c.seq, report_archive.c.payload).order_by(report_archive.c.seq)
            ).all()
    finally:
        engine.dispose()
    assert [seq for seq, _ in rows] == list(range(1, len(rows) + 1))  # no clash, no gap
    component = {seq: rpb.Report.FromString(payload).operations.component for seq, payload in rows}
    assert sum(1 for c in component.values() if c.startswith("w")) == total  # the mesh's own reports beside
    for writer, answer in answers:  # each batch numbered in one piece, ending at its caller's cursor
        last = int(answer.last_cursor)
        assert [component[seq] for seq in range(last - BATCH + 1, last + 1)] == [writer] * BATCH


@pytest.fixture
def bused(postgres_url: str, broker: NatsServer) -> Iterator[list[GovernanceProcess]]:
    processes = GovernanceProcess.start_together(
        [GovernanceProcess(postgres_url, None, "--bus", broker.url) for _ in range(2)]
    )
    yield processes
    for process in processes:
        process.stop()


def _publish_everywhere(
    processes: list[GovernanceProcess],
) -> list[tuple[str, pb.PublishReportsResponse | grpc.RpcError]]:
    answers: list[tuple[str, pb.PublishReportsResponse | grpc.RpcError]] = []
    writers = [
        threading.Thread(target=_write, args=(p.address, f"w{i}", answers)) for i, p in enumerate(processes)
    ]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    assert [a for _, a in answers if isinstance(a, grpc.RpcError)] == []
    return answers


def _bus_health(address: str) -> int:
    with grpc.insecure_channel(address) as channel:
        return health_check(channel)(health_pb2.HealthCheckRequest(service=BUS), timeout=5).status


@pytest.mark.postgres
def test_a_process_takes_the_broker_feed_only_while_it_has_subscribers_and_a_late_one_misses_nothing(
    postgres_url: str, broker: NatsServer
) -> None:
    """Ingest replicas (the reports group alone, nobody subscribed) take nothing from the broker: a
    process added for ingest costs the others nothing. A subscriber arriving later starts the feed,
    and what was stored before it came is filled from the archive."""
    publisher, reader = GovernanceProcess.start_together(
        [GovernanceProcess(postgres_url, None, "--bus", broker.url, "--groups", "reports") for _ in range(2)]
    )
    try:
        serving = health_pb2.HealthCheckResponse.SERVING
        for process in (publisher, reader):
            until(lambda p=process: _bus_health(p.address) == serving, "the broker link comes up")
        answers: list[tuple[str, pb.PublishReportsResponse | grpc.RpcError]] = []
        _write(publisher.address, "before", answers)
        assert broker.subscribers(SUBJECTS) == 0

        tail = Tail(reader.address)
        try:
            until(lambda: broker.subscribers(SUBJECTS) == 1, "the reader takes the feed")
            _write(publisher.address, "after", answers)
            stored = stored_demo_cursors(postgres_url)
            assert len(stored) == 2 * BATCHES_PER_WRITER * BATCH
            assert tail.wait_for(len(stored)) == stored  # each once, in cursor order, none missing
        finally:
            tail.close()
        until(lambda: broker.subscribers(SUBJECTS) == 0, "the last subscriber gone, the feed stops")
    finally:
        publisher.stop()
        reader.stop()


@pytest.mark.postgres
def test_subscribers_on_every_process_see_every_report_stored_anywhere_once_in_order(
    bused: list[GovernanceProcess], postgres_url: str
) -> None:
    tails = [Tail(process.address) for process in bused]
    try:
        _publish_everywhere(bused)
        stored = stored_demo_cursors(postgres_url)
        assert len(stored) == len(bused) * BATCHES_PER_WRITER * BATCH
        for tail in tails:
            assert tail.wait_for(len(stored)) == stored  # each once, in cursor order, none missing
    finally:
        for tail in tails:
            tail.close()


@pytest.mark.postgres
def test_with_the_broker_down_publishing_still_stores_and_subscribers_catch_up_when_it_returns(
    bused: list[GovernanceProcess], broker: NatsServer, postgres_url: str
) -> None:
    tail = Tail(bused[1].address)
    try:
        broker.stop()
        deadline = time.monotonic() + 30
        while _bus_health(bused[0].address) != health_pb2.HealthCheckResponse.NOT_SERVING:
            assert time.monotonic() < deadline, "health never showed the broker gone"
            time.sleep(0.05)
        _write(bused[0].address, "while-down", answers := [])
        assert [a for _, a in answers if isinstance(a, grpc.RpcError)] == []  # governance never blocks
        broker.start()
        _write(bused[0].address, "after", answers)
        stored = stored_demo_cursors(postgres_url)
        assert tail.wait_for(len(stored)) == stored
        deadline = time.monotonic() + 30
        while _bus_health(bused[0].address) != health_pb2.HealthCheckResponse.SERVING:
            assert time.monotonic() < deadline, "health never showed the broker back"
            time.sleep(0.05)
    finally:
        tail.close()


def _relayed_cursors(url: str, expected: int, timeout: float = 30) -> list[int]:
    """The cursors of every report on the broker's subjects (each message's first cursor and
    count, as a consumer outside the mesh reads them), once `expected` came and a moment more
    brought no duplicate, or at `timeout`."""

    async def tap() -> list[int]:
        client = await nats.connect(url)
        cursors: list[int] = []

        async def got(message: nats.aio.msg.Msg) -> None:
            first, count = (
                int(message.headers["Polytraders-Cursor"]),
                int(message.headers["Polytraders-Count"]),
            )
            cursors.extend(range(first, first + count))

        await client.subscribe("polytraders.reports.operations.demo-bot.>", cb=got)
        deadline = time.monotonic() + timeout
        while len(cursors) < expected and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        await client.close()
        return cursors

    return asyncio.run(tap())


def _relay_sent(metrics: str) -> dict[str, float]:
    """What a process's relay sent to the broker, by where it had the reports, as /metrics says."""
    with urllib.request.urlopen(f"http://{metrics}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    families = text_string_to_metric_families(text)
    sent = next(f for f in families if f.name == "polytraders_relay_reports")
    return {sample.labels["source"]: sample.value for sample in sent.samples}


def _relay_leader(postgres_url: str, broker: NatsServer) -> tuple[GovernanceProcess, str]:
    """A process that leads the relay (started first, alone), and its /metrics address."""
    port = free_port()
    leader = GovernanceProcess(postgres_url, None, "--bus", broker.url, "--metrics-port", str(port)).start()
    try:
        until(lambda: leads(leader.address, "bus.relay"), "the first process leads the relay")
    except BaseException:
        leader.stop()
        raise
    return leader, f"127.0.0.1:{port}"


def _written_and_relayed(broker: NatsServer, address: str) -> tuple[list[int], list[pb.PublishReportsResponse]]:
    """The cursors the broker carried while one writer published through `address`, and its answers
    (none an error)."""
    answers: list[tuple[str, pb.PublishReportsResponse | grpc.RpcError]] = []
    with ThreadPoolExecutor(1) as pool:
        relayed = pool.submit(_relayed_cursors, broker.url, BATCHES_PER_WRITER * BATCH)
        time.sleep(0.5)  # the tap subscribes
        _write(address, "elsewhere", answers)
        seen = relayed.result()
    assert [a for _, a in answers if isinstance(a, grpc.RpcError)] == []
    return seen, [a for _, a in answers if isinstance(a, pb.PublishReportsResponse)]


@pytest.mark.postgres
def test_the_relay_sends_on_what_another_process_hands_it_and_its_own_subscribers_get_it(
    postgres_url: str, broker: NatsServer
) -> None:
    """A process connected to the broker hands its commits to the process leading the relay: they
    reach the stream, and that process's own subscribers, without being read back."""
    leader, metrics = _relay_leader(postgres_url, broker)
    other = GovernanceProcess(postgres_url, None, "--bus", broker.url).start()
    try:
        serving = health_pb2.HealthCheckResponse.SERVING
        until(lambda: _bus_health(other.address) == serving, "the other process links up")
        tail = Tail(leader.address)
        with grpc.insecure_channel(other.address) as channel:  # once the relay sends it, it takes hand-offs
            pb_grpc.ReportBusServiceStub(channel).PublishReports(
                pb.PublishReportsRequest(reports=[ReportBuilder("demo-bot").operations(component="first")]),
                metadata=BOT,
            )
        first = stored_demo_cursors(postgres_url)[-1]
        until(lambda: stream_last_cursor(broker.url) >= first, "the first is relayed")
        before = _relay_sent(metrics)
        seen, answers = _written_and_relayed(broker, other.address)
        stored = stored_demo_cursors(postgres_url)
        assert tail.wait_for(len(stored)) == stored
        tail.close()
        after = _relay_sent(metrics)
    finally:
        other.stop()
        leader.stop()
    assert seen == stored[1:]  # every report, once, in cursor order
    written = sum(answer.accepted_count for answer in answers)
    assert written == BATCHES_PER_WRITER * BATCH
    # from memory, bar hand-offs a loaded machine delays past the grace (read back, as before)
    assert after["memory"] - before["memory"] >= 0.5 * written, (before, after)


@pytest.mark.postgres
def test_the_relay_reads_back_what_a_process_without_the_broker_stored(
    postgres_url: str, broker: NatsServer
) -> None:
    """A process with no broker link (no `--bus`) cannot hand its commits over: their NOTIFY wakes
    the relay, which reads them back from the archive."""
    leader, metrics = _relay_leader(postgres_url, broker)
    other = GovernanceProcess(postgres_url, None).start()
    try:
        before = _relay_sent(metrics)
        seen, _ = _written_and_relayed(broker, other.address)
        stored = stored_demo_cursors(postgres_url)
        after = _relay_sent(metrics)
    finally:
        other.stop()
        leader.stop()
    assert seen == stored  # every report, once, in cursor order
    assert after["archive"] - before["archive"] >= len(stored), (before, after)


async def _delete_stream(url: str) -> None:
    client = await nats.connect(url)
    await client.jetstream().delete_stream(STREAM)
    await client.close()


@pytest.mark.postgres
def test_the_relay_goes_on_when_the_broker_refuses_pages_over_a_connection_that_stays(
    postgres_url: str, broker: NatsServer
) -> None:
    """A page refused while the connection stays up (here the stream deleted under the relay; an
    acknowledgement timing out or a full store alike) is tried again each poll, the stream made
    again: the relay goes on and health shows the bus SERVING again (it stalled for good before)."""
    leader, _ = _relay_leader(postgres_url, broker)
    try:
        _write(leader.address, "before", answers := [])
        first = stored_demo_cursors(postgres_url)[-1]
        until(lambda: stream_last_cursor(broker.url) >= first, "relayed before the stream goes")
        asyncio.run(_delete_stream(broker.url))
        _write(leader.address, "after", answers)
        last = stored_demo_cursors(postgres_url)[-1]
        until(lambda: stream_last_cursor(broker.url) >= last, "the relay sent on into the stream made again")
        until(lambda: _bus_health(leader.address) == health_pb2.HealthCheckResponse.SERVING, "health shows it")
    finally:
        leader.stop()
    assert [a for _, a in answers if isinstance(a, grpc.RpcError)] == []  # governance never blocks


def _relay_floor(postgres_url: str) -> int:
    found = rows(postgres_url, select(relay_cursors.c.cursor).where(relay_cursors.c.relay == RELAY))
    return found[0][0] if found else 0


@pytest.mark.postgres
def test_the_relay_stores_how_far_it_sent_once_reports_stop(postgres_url: str, broker: NatsServer) -> None:
    """The floor a relay taking over would start from (were the stream aged empty) is stored at
    most once a poll while reports flow. A batch sent within a poll of the last store must still
    reach it once the archive goes quiet, not wait for a next report that may never come."""
    process = GovernanceProcess(postgres_url, None, "--groups", "reports", "--bus", broker.url).start()
    builder = ReportBuilder("demo-bot")
    try:
        until(lambda: leads(process.address, "bus.relay"), "the process leads the relay")
        with grpc.insecure_channel(process.address) as channel:
            publish = pb_grpc.ReportBusServiceStub(channel).PublishReports
            for batch in range(2):
                publish(pb.PublishReportsRequest(reports=[builder.operations(component="floor")]), metadata=BOT)
                if not batch:  # the first send after taking the duty stores the floor at once
                    until(lambda: _relay_floor(postgres_url) == stored_demo_cursors(postgres_url)[-1], "stored", 5)
        last = stored_demo_cursors(postgres_url)[-1]
        until(lambda: _relay_floor(postgres_url) == last, "the floor reaches the last report sent", 5)
    finally:
        process.stop()


@pytest.mark.postgres
def test_reports_beyond_the_brokers_message_limit_reach_the_other_process_whole(
    postgres_url: str, tmp_path: Path
) -> None:
    """A PublishReports call may carry 16 MiB and a report 1 MiB, where the broker takes a message
    up to its max_payload (1 MiB by default; 16 KiB here). The relay cuts its messages to fit, and a
    report no message can hold goes as its headers alone (an empty body: read it from the archive):
    every cursor reaches the stream once, in order, and the relay never stalls on a refusal."""
    broker = NatsServer(tmp_path / "jetstream", max_payload=16 * 1024).start()
    processes = GovernanceProcess.start_together(
        [GovernanceProcess(postgres_url, None, "--bus", broker.url) for _ in range(2)]
    )
    builder = ReportBuilder("demo-bot")
    huge = "y" * 16_384
    batches = [
        [builder.operations(component="big", explanation=f"{i}:" + "x" * 2_000) for i in range(300)],
        [builder.operations(component="huge", explanation=huge)],
        [builder.operations(component="after")],
        [builder.operations(component="huge, last", explanation=huge)],  # the stream ends in headers alone
    ]
    tail = Tail(processes[1].address)
    try:
        with ThreadPoolExecutor(1) as pool:
            relayed = pool.submit(_relayed_cursors, broker.url, sum(map(len, batches)))
            time.sleep(0.5)  # the tap subscribes
            with grpc.insecure_channel(processes[0].address) as channel:
                publish = pb_grpc.ReportBusServiceStub(channel).PublishReports
                for reports in batches:
                    publish(pb.PublishReportsRequest(reports=reports), metadata=BOT, timeout=30)
            seen = relayed.result()
        stored = stored_demo_cursors(postgres_url)
        assert len(stored) == sum(map(len, batches))
        assert seen == stored  # the huge ones too, as headers: every cursor once, in order
        # where a relay taking over goes on (the processes' own reports may follow the last one)
        until(lambda: stream_last_cursor(broker.url) >= stored[-1], "the stream's last cursor counts the headers-only report", 5)
        assert tail.wait_for(len(stored)) == stored
        assert _bus_health(processes[0].address) == health_pb2.HealthCheckResponse.SERVING
    finally:
        tail.close()
        for process in processes:
            process.stop()
        broker.stop()
