"""Groups as their own processes on one PostgreSQL database and one JetStream: an operator action
on any process reaches the user-activity ledger once, the SLOs count every process's calls, and a
registry change made through one replica is what every other replica reads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from polytraders.governance.v1 import lifecycle_pb2 as lpb
from polytraders.governance.v1 import operations_pb2 as opb
from polytraders.governance.v1 import operations_pb2_grpc as opb_grpc
from polytraders.sdk import Governance
from polytraders.sdk.errors import NotFoundError
from tests.support.governance_process import GovernanceProcess
from tests.support.mesh_processes import AUDITOR, until
from tests.support.nats_server import NatsServer

pytestmark = pytest.mark.postgres

OPERATOR = "dev-operator-token"
EVALUATE_EVERY_SECOND = """
[[task]]
name = "slos"
cron_expression = "* * * * * *"   # croniter's sixth field: every second
target = "governance:slo.evaluate"
"""


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path / "jetstream").start()
    yield server
    server.stop()


def _config(tmp_path: Path) -> str:
    manifest = tmp_path / "cron.toml"
    manifest.write_text(EVALUATE_EVERY_SECOND)
    config = tmp_path / "polytraders.toml"
    config.write_text(f'[server]\ncron_manifest = "{manifest}"\ncron_poll_seconds = 0.2\nslo_flush_seconds = 0.2\n')
    return str(config)


def _serve(postgres_url: str, broker: NatsServer, config: str, *groups: str) -> GovernanceProcess:
    extra = ["--bus", broker.url, "--config", config] + (["--groups", ",".join(groups)] if groups else [])
    return GovernanceProcess(postgres_url, None, *extra)


def _slos(address: str) -> dict[str, opb.SloStatus]:
    with grpc.insecure_channel(address) as channel:
        listed = opb_grpc.SlaMonitorServiceStub(channel).ListSlos(opb.ListSlosRequest(), metadata=AUDITOR, timeout=5)
    return {slo.name: slo for slo in listed.slos}


def test_a_three_process_split_keeps_the_compliance_record_and_the_slos_whole(
    postgres_url: str, broker: NatsServer, tmp_path: Path
) -> None:
    config = _config(tmp_path)
    reports, lifecycle, operations = GovernanceProcess.start_together([
        _serve(postgres_url, broker, config, "reports", "audit"),
        _serve(postgres_url, broker, config, "lifecycle"),
        _serve(postgres_url, broker, config, "ledger", "operations", "attribution"),
    ])  # fmt: skip
    try:
        with Governance(lifecycle.address, token=OPERATOR, bot_slug="console") as operator:
            operator.registry.register("split", owner="alpha", version="1")
            operator.registry.promote("split", lpb.STAGE_BACKTEST, "backtest it")
        with Governance(reports.address, token=OPERATOR, bot_slug="console") as auditor:
            until(lambda: len(auditor.activity.list(user="dev-operator")) >= 2, "the actions reach the ledger")
            for _ in range(20):  # calls served by a process without the operations group
                auditor.reports.publish_now([auditor.builder.operations(component="probe", explanation="counted")])
            until(lambda: _slos(operations.address)["report-bus-availability"].total >= 20, "the SLOs count them")
            actions = auditor.activity.list(user="dev-operator")  # anything recorded twice has arrived by now
    finally:
        for process in (reports, lifecycle, operations):
            process.stop()

    assert sorted((a.action, a.target) for a in actions) == [("PromoteStrategy", "split"), ("RegisterStrategy", "split")]


def test_a_registry_change_on_one_replica_is_read_on_the_other(
    postgres_url: str, broker: NatsServer, tmp_path: Path
) -> None:
    config = _config(tmp_path)
    first, second = GovernanceProcess.start_together([_serve(postgres_url, broker, config) for _ in range(2)])
    try:
        with (
            Governance(first.address, token=OPERATOR, bot_slug="console") as one,
            Governance(second.address, token=OPERATOR, bot_slug="console") as other,
        ):
            one.registry.register("replicated", owner="alpha", version="1")
            until(lambda: _stage(other, "replicated") == lpb.STAGE_SPEC, "the other replica knows the strategy", 5)
            one.registry.promote("replicated", lpb.STAGE_BACKTEST, "backtest it")
            until(lambda: other.registry.stage("replicated") == lpb.STAGE_BACKTEST, "the promotion reaches it", 5)
            # a change through the second replica, judged against what the first stored
            paused = other.registry.pause("replicated", "position mismatch")
            until(lambda: one.registry.stage("replicated") == lpb.STAGE_PAUSED, "the pause reaches the first", 5)
    finally:
        for process in (first, second):
            process.stop()
    assert paused.revision == 3


def _stage(gov: Governance, slug: str) -> int:
    try:
        return gov.registry.stage(slug)
    except NotFoundError:  # until the registration reaches this replica
        return -1
