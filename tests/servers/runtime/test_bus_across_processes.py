"""Several `serve` processes on one PostgreSQL archive: writers interleave, cursors never clash."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import grpc
import pytest
from sqlalchemy import select

from polytraders.governance.v1 import report_bus_pb2 as pb
from polytraders.governance.v1 import report_bus_pb2_grpc as pb_grpc
from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk.report_builders import ReportBuilder
from polytraders.servers.runtime.archive import report_archive
from polytraders.servers.runtime.storage import make_engine
from tests.support.governance_process import GovernanceProcess

BOT = [("authorization", "Bearer dev-bot-token")]
WRITERS_PER_PROCESS = 2
BATCHES_PER_WRITER = 40
BATCH = 50


@pytest.fixture
def two_processes(postgres_url: str) -> Iterator[list[GovernanceProcess]]:
    processes = [GovernanceProcess(postgres_url).start() for _ in range(2)]
    yield processes
    for process in processes:
        process.stop()


def _write(address: str, writer: str, answers: list[tuple[str, pb.PublishReportsResponse | grpc.RpcError]]) -> None:
    builder = ReportBuilder("demo-bot")
    with grpc.insecure_channel(address) as channel:
        publish = pb_grpc.ReportBusServiceStub(channel).PublishReports
        for number in range(BATCHES_PER_WRITER):
            reports = [builder.operations(component=writer, explanation=f"{number}.{i}") for i in range(BATCH)]
            try:
                answers.append((writer, publish(pb.PublishReportsRequest(reports=reports), metadata=BOT, timeout=30)))
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
    assert sum(a.accepted_count for _, a in answers) == total  # type: ignore[union-attr]
    engine = make_engine(postgres_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(report_archive.c.seq, report_archive.c.payload).order_by(report_archive.c.seq)).all()
    finally:
        engine.dispose()
    assert [seq for seq, _ in rows] == list(range(1, len(rows) + 1))  # no clash, no gap
    component = {seq: rpb.Report.FromString(payload).operations.component for seq, payload in rows}
    assert sum(1 for c in component.values() if c.startswith("w")) == total  # the mesh's own reports beside
    for writer, answer in answers:  # each batch numbered in one piece, ending at its caller's cursor
        last = int(answer.last_cursor)  # type: ignore[union-attr]
        assert [component[seq] for seq in range(last - BATCH + 1, last + 1)] == [writer] * BATCH
