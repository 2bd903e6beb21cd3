"""The bus across processes under kills: a follower group's leader SIGKILLed, and bots publishing
through three processes while one process and the broker are killed and started again."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import grpc
import pytest
from sqlalchemy import func, select

from polytraders.governance.v1 import report_bus_pb2 as pb
from polytraders.governance.v1 import report_bus_pb2_grpc as pb_grpc
from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk import Governance
from polytraders.sdk.report_builders import ReportBuilder
from polytraders.servers.audit.config_history import config_changes
from polytraders.servers.runtime.storage import make_engine
from tests.support.governance_process import GovernanceProcess
from tests.support.mesh_processes import BOT, Tail, leads, stored_demo_cursors, until
from tests.support.nats_server import NatsServer

pytestmark = pytest.mark.postgres


def test_a_follower_group_runs_on_one_process_and_another_takes_over_when_its_leader_is_killed(
    postgres_url: str, tmp_path: Path
) -> None:
    broker = NatsServer(tmp_path / "jetstream").start()
    processes = GovernanceProcess.start_together([GovernanceProcess(postgres_url, None, "--bus", broker.url) for _ in range(2)])
    try:
        duty = "audit.user-activity"
        until(lambda: sum(leads(p.address, duty) for p in processes) == 1, "exactly one process leads")
        leader, standby = sorted(processes, key=lambda p: not leads(p.address, duty))
        with Governance(leader.address, token="dev-operator-token", bot_slug="ops") as operator:
            before = [operator.activity.record("poke", target=f"before-{i}") for i in range(10)]
        leader.kill()
        until(lambda: leads(standby.address, duty), "the standby took the duty over")
        with Governance(standby.address, token="dev-operator-token", bot_slug="ops") as operator:
            after = [operator.activity.record("poke", target=f"after-{i}") for i in range(10)]
            deadline = time.monotonic() + 30
            while len(listed := operator.activity.list(action="poke", limit=100)) < 20 and time.monotonic() < deadline:
                time.sleep(0.05)
        assert sorted(a.action_id for a in listed) == sorted(before + after)  # each once, none lost
    finally:
        for process in processes:
            process.stop()
        broker.stop()


REPORTS = 20_000
BATCH = 200
CONFIG_EVERY = 10  # every tenth report is a config.change record, which a follower group files


def _batches(writer: int) -> list[list[rpb.Report]]:
    builder = ReportBuilder("demo-bot")
    reports = []
    for number in range(writer, REPORTS, 3):
        if number % CONFIG_EVERY == 0:
            details = {"actor": "bot", "source": "code", "reason": str(number), "keys": ["n"], "before": {},
                       "after": {"n": number}, "snapshot": {"n": number}}  # fmt: skip
            reports.append(builder.settlement(record_type="config.change", subject="demo-bot",
                                              details_json=json.dumps(details), explanation=str(number)))  # fmt: skip
        else:
            reports.append(builder.operations(component="crash", explanation=str(number)))
    return [reports[i : i + BATCH] for i in range(0, len(reports), BATCH)]


def _publish_through(processes: list[GovernanceProcess], first: int, batches: list[list[rpb.Report]],
                     progress: list[int]) -> None:  # fmt: skip
    """A bot's sender: each batch to its process, or the next one while that is down (a resend is stored once)."""
    for batch in batches:
        for attempt in range(200):
            process = processes[(first + attempt) % len(processes)]
            try:
                with grpc.insecure_channel(process.address) as channel:
                    stub = pb_grpc.ReportBusServiceStub(channel)
                    stub.PublishReports(pb.PublishReportsRequest(reports=batch), metadata=BOT, timeout=10)
                break
            except grpc.RpcError as error:
                assert error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED), error
                time.sleep(0.05)
        else:
            raise AssertionError("a batch was never stored")
        progress.append(len(batch))


def test_twenty_thousand_reports_through_three_processes_survive_a_killed_process_and_broker(
    postgres_url: str, tmp_path: Path
) -> None:
    broker = NatsServer(tmp_path / "jetstream").start()
    processes = GovernanceProcess.start_together(
        [GovernanceProcess(postgres_url, None, "--bus", broker.url) for _ in range(3)]
    )
    survivors = processes[:2]
    tails = [Tail(p.address) for p in survivors]
    progress: list[int] = []
    writers = [threading.Thread(target=_publish_through, args=(processes, i, _batches(i), progress)) for i in range(3)]
    try:
        for writer in writers:
            writer.start()
        until(lambda: sum(progress) >= REPORTS // 3, "a third was published")
        processes[2].kill()
        broker.stop()
        until(lambda: sum(progress) >= 2 * REPORTS // 3, "two thirds were published", seconds=120)
        broker.start()
        processes[2].start()
        for writer in writers:
            writer.join(180)
        assert sum(progress) == REPORTS

        stored = stored_demo_cursors(postgres_url)
        assert len(stored) == REPORTS  # each stored once, however often it was sent
        for tail in tails:  # every live subscriber: all of them, in order, none twice
            assert tail.wait_for(REPORTS) == stored
        engine = make_engine(postgres_url)
        try:
            def filed() -> int:
                with engine.connect() as conn:
                    return conn.execute(select(func.count()).select_from(config_changes)).scalar_one()

            until(lambda: filed() == REPORTS // CONFIG_EVERY, "every config.change filed once", seconds=60)
        finally:
            engine.dispose()
    finally:
        for tail in tails:
            tail.close()
        for process in processes:
            process.stop()
        broker.stop()
