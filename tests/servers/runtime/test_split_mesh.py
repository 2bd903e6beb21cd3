"""Groups as their own processes, and full replicas, on one PostgreSQL database and one JetStream:
an operator action on any process reaches the user-activity ledger once, the SLOs count every
process's calls, a standby answers reads of the leaders' duties as they would, cron
runs other groups' commands on the processes that serve them (through the service map), a
registry change made through one replica is what every other replica reads, and the SDK balances
over replicas, leaving out one that stops."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import grpc
import pytest
from sqlalchemy import select

from polytraders.governance.v1 import lifecycle_pb2 as lpb
from polytraders.governance.v1 import operations_pb2 as opb
from polytraders.governance.v1 import operations_pb2_grpc as opb_grpc
from polytraders.sdk import Governance, ServiceMap
from polytraders.sdk.errors import NotFoundError
from polytraders.sdk.transport import TlsOptions, dial
from polytraders.servers.operations.cron import DUTY as CRON
from polytraders.servers.operations.cron import cron_dispatches
from tests.support.certs import TestCA
from tests.support.governance_process import CLI, GovernanceProcess, free_port
from tests.support.mesh_processes import AUDITOR, leads, rows, until
from tests.support.nats_server import NatsServer

pytestmark = pytest.mark.postgres

OPERATOR = "dev-operator-token"
SWEEPS = "operations.health-sweep"
EVERY_SECOND = """
[[task]]
name = "slos"
cron_expression = "* * * * * *"   # croniter's sixth field: every second
target = "governance:slo.evaluate"

[[task]]
name = "purge"
cron_expression = "* * * * * *"
target = "governance:reports.purge"

[[task]]
name = "pause-live"
cron_expression = "* * * * * *"
target = "governance:registry.pause_live"
arguments = { reason = "drill" }
"""


def _config(tmp_path: Path, targets: dict[str, str] | None = None, server: str = "") -> str:
    manifest = tmp_path / "cron.toml"
    manifest.write_text(EVERY_SECOND)
    config = tmp_path / "polytraders.toml"
    text = f'[server]\ncron_manifest = "{manifest}"\ncron_poll_seconds = 0.2\nslo_flush_seconds = 0.2\n{server}'
    text += f'mesh_token = "{OPERATOR}"\n\n[targets]\n' + "".join(f'{g} = "{a}"\n' for g, a in (targets or {}).items())
    config.write_text(text)
    return str(config)


def _serve(postgres_url: str, broker: NatsServer, config: str, *groups: str, port: int | None = None) -> GovernanceProcess:
    extra = ["--bus", broker.url, "--config", config] + (["--groups", ",".join(groups)] if groups else [])
    return GovernanceProcess(postgres_url, port, *extra)


def _dispatched(url: str, task: str) -> list[tuple[int, str]]:
    d = cron_dispatches
    return [(r.outcome, r.detail) for r in rows(url, select(d.c.outcome, d.c.detail).where(d.c.task == task))]


def _bus_calls_counted(address: str) -> int:
    """The calls the report bus's availability SLO has counted (0 before the first evaluation)."""
    status = _slos(address).get("report-bus-availability")
    return status.total if status else 0


def _slos(address: str) -> dict[str, opb.SloStatus]:
    with grpc.insecure_channel(address) as channel:
        listed = opb_grpc.SlaMonitorServiceStub(channel).ListSlos(opb.ListSlosRequest(), metadata=AUDITOR, timeout=5)
    return {slo.name: slo for slo in listed.slos}


def test_a_three_process_split_keeps_the_compliance_record_and_the_slos_whole(
    postgres_url: str, broker: NatsServer, tmp_path: Path
) -> None:
    ports = [free_port() for _ in range(3)]
    config = _config(tmp_path, {"reports": f"127.0.0.1:{ports[0]}", "audit": f"127.0.0.1:{ports[0]}",
                                "lifecycle": f"127.0.0.1:{ports[1]}", "default": f"127.0.0.1:{ports[2]}"})  # fmt: skip
    reports, lifecycle, operations = GovernanceProcess.start_together([
        _serve(postgres_url, broker, config, "reports", "audit", port=ports[0]),
        _serve(postgres_url, broker, config, "lifecycle", port=ports[1]),
        _serve(postgres_url, broker, config, "ledger", "operations", "attribution", port=ports[2]),
    ])  # fmt: skip
    try:
        with Governance(lifecycle.address, token=OPERATOR, bot_slug="console") as operator:
            operator.registry.register("split", owner="alpha", version="1")
            operator.registry.promote("split", lpb.STAGE_BACKTEST, "backtest it")
        with Governance(reports.address, token=OPERATOR, bot_slug="console") as auditor:
            until(lambda: len(auditor.activity.list(user="dev-operator")) >= 2, "the actions reach the ledger")
            for _ in range(20):  # calls served by a process without the operations group
                auditor.reports.publish_now([auditor.builder.operations(component="probe", explanation="counted")])
            until(lambda: _bus_calls_counted(operations.address) >= 20, "the SLOs count them")
            actions = auditor.activity.list(user="dev-operator")  # anything recorded twice has arrived by now
        for task in ("purge", "pause-live"):  # commands of groups the operations process does not serve
            until(lambda task=task: any(o == opb.DISPATCH_OUTCOME_SUCCEEDED for o, _ in _dispatched(postgres_url, task)),
                  f"cron runs {task} on the process that serves it")  # fmt: skip
    finally:
        for process in (reports, lifecycle, operations):
            process.stop()

    by_hand = sorted((a.action, a.target) for a in actions if a.action != "RunCommand")
    assert by_hand == [("PromoteStrategy", "split"), ("RegisterStrategy", "split")]
    # the commands cron sent to other processes are operator actions too, under the mesh's token
    assert {a.target for a in actions if a.action == "RunCommand"} <= {"reports.purge", "registry.pause_live"}
    purged = [detail for outcome, detail in _dispatched(postgres_url, "purge") if outcome == opb.DISPATCH_OUTCOME_SUCCEEDED]
    assert purged[0].startswith("purged ") and purged[0].endswith("(run by the reports group's process)"), purged
    paused = [detail for outcome, detail in _dispatched(postgres_url, "pause-live")]
    assert all(detail.endswith("(run by the lifecycle group's process)") for detail in paused if detail), paused


@contextmanager
def _two_replicas(postgres_url: str, broker: NatsServer, tmp_path: Path) -> Iterator[Replicas]:
    """Two full `serve` processes on one database and broker, an operator's SDK on each."""
    config = _config(tmp_path)
    first, second = GovernanceProcess.start_together([_serve(postgres_url, broker, config) for _ in range(2)])
    try:
        with (
            Governance(first.address, token=OPERATOR, bot_slug="console") as one,
            Governance(second.address, token=OPERATOR, bot_slug="console") as other,
        ):
            yield Replicas(first, second, one, other)
    finally:
        for process in (first, second):
            process.stop()


class Replicas(NamedTuple):
    first: GovernanceProcess
    second: GovernanceProcess
    one: Governance
    """The SDK on the first."""
    other: Governance
    """The SDK on the second."""


def test_two_full_replicas_record_each_operator_action_once_and_count_every_call(
    postgres_url: str, broker: NatsServer, tmp_path: Path
) -> None:
    with _two_replicas(postgres_url, broker, tmp_path) as (first, _, one, other):
        one.registry.register("twice", owner="alpha", version="1")
        until(lambda: _stage(other, "twice") == lpb.STAGE_SPEC, "the other replica knows the strategy", 5)
        other.registry.promote("twice", lpb.STAGE_BACKTEST, "backtest it")
        until(lambda: len(one.activity.list(user="dev-operator")) >= 2, "both actions reach the ledger")
        for gov in (one, other):  # ten calls served by each replica
            for _ in range(10):
                gov.reports.publish_now([gov.builder.operations(component="probe", explanation="counted")])
        until(lambda: _bus_calls_counted(first.address) >= 20, "the SLOs count both")
        recorded = [sorted((a.action, a.target) for a in gov.activity.list(user="dev-operator")) for gov in (one, other)]
    assert recorded[0] == recorded[1] == [("PromoteStrategy", "twice"), ("RegisterStrategy", "twice")]


def test_a_registry_change_on_one_replica_is_read_on_the_other(
    postgres_url: str, broker: NatsServer, tmp_path: Path
) -> None:
    with _two_replicas(postgres_url, broker, tmp_path) as (_, _, one, other):
        one.registry.register("replicated", owner="alpha", version="1")
        until(lambda: _stage(other, "replicated") == lpb.STAGE_SPEC, "the other replica knows the strategy", 5)
        one.registry.promote("replicated", lpb.STAGE_BACKTEST, "backtest it")
        until(lambda: other.registry.stage("replicated") == lpb.STAGE_BACKTEST, "the promotion reaches it", 5)
        # a change through the second replica, judged against what the first stored
        paused = other.registry.pause("replicated", "position mismatch")
        until(lambda: one.registry.stage("replicated") == lpb.STAGE_PAUSED, "the pause reaches the first", 5)
    assert paused.revision == 3


def test_the_sdk_balances_over_replicas_and_leaves_out_one_that_stops(
    postgres_url: str, broker: NatsServer, tmp_path: Path
) -> None:
    with _two_replicas(postgres_url, broker, tmp_path) as (first, second, _, _):
        replicas = ServiceMap.of({"default": [first.address, second.address]})
        with Governance(replicas, token=OPERATOR, bot_slug="console") as gov:
            answered = {gov.mesh.describe().holder for _ in range(20)}
            second.stop()  # drains: NOT_SERVING, then gone
            after = {gov.mesh.describe().holder for _ in range(20)}
    assert len(answered) == 2, answered
    assert len(after) == 1 and after < answered, (answered, after)


def test_a_standby_answers_fleet_health_its_watch_stream_and_the_slos_as_the_leader_does(
    postgres_url: str, broker: NatsServer, tmp_path: Path
) -> None:
    fleet = tmp_path / "fleet.toml"
    fleet.write_text(f'[[bot]]\nslug = "dead-bot"\nclass = "strategy"\nlayer = "strategy"\n'
                     f'health_target = "127.0.0.1:{free_port()}"\n')  # fmt: skip
    config = _config(tmp_path, server=f'fleet_manifest = "{fleet}"\nheartbeat_interval_seconds = 0.2\n')
    leader = _serve(postgres_url, broker, config).start()
    standby = None
    try:
        until(lambda: leads(leader.address, SWEEPS) and leads(leader.address, CRON), "the first process leads")
        standby = _serve(postgres_url, broker, config).start()
        with grpc.insecure_channel(standby.address) as channel:
            heartbeat = opb_grpc.HealthHeartbeatServiceStub(channel)
            watch = heartbeat.WatchFleetHealth(opb.WatchFleetHealthRequest(), metadata=AUDITOR, timeout=30)
            watched = []
            for message in watch:
                watched.append(message.fleet)
                if sum(f.sweep > 0 for f in watched) >= 3:
                    break
            watch.cancel()
            read = heartbeat.GetFleetHealth(opb.GetFleetHealthRequest(), metadata=AUDITOR, timeout=5).fleet
        until(lambda: bool(_slos(standby.address)), "the leader's evaluation reaches the standby")
        slos_on_standby, slos_on_leader = _slos(standby.address), _slos(leader.address)
        standby_led = leads(standby.address, SWEEPS) or leads(standby.address, CRON)
    finally:
        for process in (leader, standby):
            if process is not None:
                process.stop()
    assert not standby_led  # what the standby answered, the leader found
    sweeps = [f.sweep for f in watched if f.sweep > 0]
    assert sweeps == sorted(set(sweeps)), sweeps  # one message per sweep, in order
    assert read.sweep >= sweeps[-1]
    (bot,) = read.bots
    assert (bot.bot_slug, bot.status) == ("dead-bot", opb.BOT_STATUS_UNREACHABLE) and bot.consecutive_misses >= 1
    assert slos_on_standby.keys() == slos_on_leader.keys() and slos_on_standby
    assert all(s.evaluated_at.seconds > 0 for s in slos_on_standby.values())


def _stage(gov: Governance, slug: str) -> int:
    try:
        return gov.registry.stage(slug)
    except NotFoundError:  # until the registration reaches this replica
        return -1


def test_the_contract_suite_passes_against_a_split_mesh_through_its_service_map_and_on_each_process(
    postgres_url: str, broker: NatsServer, tmp_path: Path
) -> None:
    ports = [free_port() for _ in range(3)]
    where = {"reports": ports[0], "audit": ports[0], "lifecycle": ports[1], "default": ports[2]}
    targets = {group: f"127.0.0.1:{port}" for group, port in where.items()}
    config = _config(tmp_path, targets)
    processes = GovernanceProcess.start_together([
        _serve(postgres_url, broker, config, "reports", "audit", port=ports[0]),
        _serve(postgres_url, broker, config, "lifecycle", port=ports[1]),
        _serve(postgres_url, broker, config, "ledger", "operations", "attribution", port=ports[2]),
    ])  # fmt: skip
    service_map = ";".join(f"{group}={address}" for group, address in targets.items())
    try:  # through the map, then each process alone (for the groups it runs)
        runs = {
            target: subprocess.run(
                [CLI, "contract-test", target, "--token", OPERATOR, "--auditor-token", "dev-auditor-token",
                 "--bot-token", "dev-bot-token", "--bot-slug", "demo-bot"],
                capture_output=True, text=True, timeout=600,
            )  # fmt: skip
            for target in [service_map, *(process.address for process in processes)]
        }
    finally:
        for process in processes:
            process.stop()
    for target, run in runs.items():
        assert run.returncode == 0, target + "\n" + run.stdout[-3000:] + run.stderr[-2000:]
        assert " passed" in run.stdout and " failed" not in run.stdout, target + "\n" + run.stdout[-1000:]
    # each process alone leaves out the cases of the groups it does not run, and only those
    skipped = {target: run.stdout.count("its group runs in another process") for target, run in runs.items()}
    assert skipped[service_map] == 0 and all(skipped[p.address] > 0 for p in processes), skipped


def test_the_contract_suite_passes_against_a_split_mesh_over_mutual_tls(
    postgres_url: str, broker: NatsServer, tmp_path: Path
) -> None:
    """Every process on mTLS, the service map written grpcs://: the processes reach each other
    (a command of a group served elsewhere) and the suite reaches every group through the map."""
    ca = TestCA(tmp_path)
    server, client = ca.issue("governance"), ca.issue("contract-suite", server=False)
    ports = [free_port() for _ in range(2)]
    targets = {"reports": f"grpcs://127.0.0.1:{ports[0]}", "audit": f"grpcs://127.0.0.1:{ports[0]}",
               "default": f"grpcs://127.0.0.1:{ports[1]}"}  # fmt: skip
    tls = f'tls_cert = "{server.cert}"\ntls_key = "{server.key}"\ntls_client_ca = "{ca.cert}"\ntls_ca = "{ca.cert}"\n'
    config = _config(tmp_path, targets, tls)
    ours = TlsOptions(str(ca.cert), str(client.cert), str(client.key))
    processes = GovernanceProcess.start_together([
        GovernanceProcess(postgres_url, ports[0], "--bus", broker.url, "--config", config, "--groups", "reports,audit",
                          tls=ours),
        GovernanceProcess(postgres_url, ports[1], "--bus", broker.url, "--config", config, "--groups",
                          "lifecycle,ledger,operations,attribution", tls=ours),
    ])  # fmt: skip
    try:
        run = subprocess.run(
            [CLI, "contract-test", ";".join(f"{g}={a}" for g, a in targets.items()), "--token", OPERATOR,
             "--auditor-token", "dev-auditor-token", "--bot-token", "dev-bot-token", "--bot-slug", "demo-bot",
             "--tls-ca", str(ca.cert), "--tls-cert", str(client.cert), "--tls-key", str(client.key)],
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        # cron (on the second process) runs the report bus's purge on the first, over mTLS
        with dial(processes[1].address, (), ours) as channel:
            ran = opb_grpc.CronRunnerServiceStub(channel).TriggerNow(
                opb.TriggerNowRequest(task="purge"), metadata=[("authorization", f"Bearer {OPERATOR}")], timeout=60
            ).dispatch
    finally:
        for process in processes:
            process.stop()
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and " failed" not in run.stdout, run.stdout[-1000:]
    assert "its group runs in another process" not in run.stdout and "token given" not in run.stdout
    assert opb.DispatchOutcome.Name(ran.outcome) == "DISPATCH_OUTCOME_SUCCEEDED", ran
