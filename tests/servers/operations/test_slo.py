"""SLAMonitor: the SRE workbook's multiwindow, multi-burn-rate table, budgets, and the live feed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import grpc
import pytest

from polytraders.governance.v1 import operations_pb2 as pb
from polytraders.governance.v1 import operations_pb2_grpc as pb_grpc
from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk import Governance, ManualClock
from polytraders.servers.mesh import MeshThread
from polytraders.servers.operations.slo import SlaMonitor, evaluate
from polytraders.servers.runtime.slo_counts import Slo, SloCounter, parse_slos
from tests.sdk.test_publisher import archived
from tests.servers.operations.support import Desk, desk_on

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
SLO = Slo(
    "bus-availability",
    "polytraders.governance.v1.ReportBusService",
    pb.SLO_KIND_AVAILABILITY,
    Decimal("0.999"),
)
EVENTS_PER_MINUTE = 10_000


def history(*spans: tuple[timedelta, Decimal]) -> dict[int, tuple[int, int]]:
    """Thirty days of steady traffic ending now: clean, then each span (how long, error rate), oldest last."""
    clean = timedelta(days=30) - sum((d for d, _ in spans), timedelta())
    spans = ((clean, Decimal(0)), *spans)
    minutes: dict[int, tuple[int, int]] = {}
    minute = int(NOW.timestamp()) // 60 - 30 * 24 * 60
    for duration, error_rate in spans:
        bad = int(EVENTS_PER_MINUTE * error_rate)
        for _ in range(int(duration.total_seconds() // 60)):
            minute += 1
            minutes[minute] = (EVENTS_PER_MINUTE - bad, EVENTS_PER_MINUTE)
    return minutes


def firing(minutes: dict[int, tuple[int, int]]) -> list[str]:
    status = evaluate(SLO, minutes, NOW)
    return [f"{a.severity}/{a.long_window_seconds // 3600}h" for a in status.alerts if a.firing]


# The workbook's table for a 99.9 % objective: 2 % of the budget in 1 h (burn 14.4, 5 min short
# window) pages; 5 % in 6 h (burn 6, 30 min) pages; 10 % in 3 days (burn 1, 6 h) is a ticket.
WORKBOOK = [
    ("burn 20 for the last hour: fast page", [(timedelta(hours=1), Decimal("0.02"))], ["page/1h"]),
    ("burn 14 for an hour: just under the fast threshold", [(timedelta(hours=1), Decimal("0.014"))], []),
    ("burn 7 for six hours: slow page", [(timedelta(hours=6), Decimal("0.007"))], ["page/6h"]),
    ("burn 2 for three days: ticket", [(timedelta(days=3), Decimal("0.002"))], ["ticket/72h"]),
    ("a five-minute total outage spends 11.6 % of the budget: both pages and the ticket",
     [(timedelta(minutes=5), Decimal("1"))], ["page/1h", "page/6h", "ticket/72h"]),
    ("burn 20 for an hour, then ten clean minutes: the short window clears it",
     [(timedelta(hours=1), Decimal("0.02")), (timedelta(minutes=10), Decimal("0"))], []),
    ("no errors", [(timedelta(days=30), Decimal("0"))], []),
]  # fmt: skip


@pytest.mark.parametrize(("case", "spans", "expected"), WORKBOOK, ids=[c[0] for c in WORKBOOK])
def test_the_workbook_burn_rate_table(case: str, spans: list, expected: list[str]) -> None:
    assert firing(history(*spans)) == expected


def test_burn_rates_and_budget_are_exact() -> None:
    status = evaluate(SLO, history((timedelta(days=30), Decimal("0.0005"))), NOW)
    assert status.error_budget_remaining == "0.5000"  # half the allowed 0.1 % spent
    assert [a.long_burn_rate for a in status.alerts] == ["0.5000"] * 3
    overspent = evaluate(SLO, history((timedelta(days=30), Decimal("0.002"))), NOW)
    assert overspent.error_budget_remaining == "-1.0000"
    assert evaluate(SLO, {}, NOW).error_budget_remaining == "1.0000"


def test_alerts_fire_and_resolve_once_each_and_are_kept_seven_years(database_url: str) -> None:
    async def scenario(desk: Desk):
        counter = SloCounter([SLO], desk.engine, desk.clock)
        monitor = SlaMonitor(counter, desk.reporter("sla-monitor"), desk.alerts)
        for _ in range(70):  # 70 minutes of 3 % server faults (burn 30)
            for n in range(100):
                code = (
                    grpc.StatusCode.INTERNAL if n < 3 else grpc.StatusCode.INVALID_ARGUMENT
                )  # a caller's mistake is good
                counter.record_call("/polytraders.governance.v1.ReportBusService/PublishReports", code, 0.001)
            counter.record_call(
                "/polytraders.governance.v1.OtherService/Read", grpc.StatusCode.INTERNAL, 0.001
            )
            desk.clock.advance(timedelta(minutes=1))
            await monitor.evaluate()
        burning = list(desk.alerts.sent)
        # another evaluator takes over (a restart, a new cron leader): it goes on from what the
        # last evaluation stored as firing, so nothing fires twice and the resolve still comes
        monitor = SlaMonitor(counter, desk.reporter("sla-monitor"), desk.alerts)
        for _ in range(10):  # then clean
            for _ in range(100):
                counter.record_call(
                    "/polytraders.governance.v1.ReportBusService/PublishReports", grpc.StatusCode.OK, 0.001
                )
            desk.clock.advance(timedelta(minutes=1))
            await monitor.evaluate()
        return burning, desk.alerts.sent, await monitor.last()

    burning, alerts, (status,) = desk_on(database_url, NOW, scenario)
    # 70 minutes at burn 30 is past every rule's threshold on both of its windows
    assert [(a.alert_key, a.severity, a.resolved) for a in burning] == [
        ("slo:bus-availability:page:3600s", rpb.SEVERITY_PAGE, False),
        ("slo:bus-availability:page:21600s", rpb.SEVERITY_PAGE, False),
        ("slo:bus-availability:ticket:259200s", rpb.SEVERITY_WARNING, False),
    ]
    # five clean minutes clear the fast page's 5 min window; the 30 min and 6 h windows still burn
    assert [(a.alert_key, a.resolved) for a in alerts[3:]] == [("slo:bus-availability:page:3600s", True)]
    assert (status.good, status.total) == (7_790, 8_000)
    records = [r for r in archived(database_url, "sla-monitor") if r.HasField("settlement")]
    assert {r.header.retention for r in records} == {rpb.RETENTION_SEVEN_YEARS}
    assert {r.settlement.record_type for r in records} == {"slo.status"}
    assert len(records) == 4  # the fires (in the 12:00 hour), the 13:00 hour, the taking over, the resolve


BAD_SLOS = [
    (
        "objective",
        '[[slo]]\nname = "x"\nservice = "s"\nkind = "availability"\nobjective = "1.5"\n',
        "strictly between",
    ),
    ("kind", '[[slo]]\nname = "x"\nservice = "s"\nkind = "speed"\nobjective = "0.9"\n', "no valid 'speed'"),
    (
        "threshold",
        '[[slo]]\nname = "x"\nservice = "s"\nkind = "latency"\nobjective = "0.9"\n',
        "latency_threshold_ms",
    ),
]


@pytest.mark.parametrize(("case", "text", "message"), BAD_SLOS, ids=[c[0] for c in BAD_SLOS])
def test_a_bad_slo_is_refused(case: str, text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_slos(text)


@pytest.fixture
def operator(mesh: MeshThread) -> Iterator[Governance]:
    with Governance(mesh.address, token="dev-operator-token", bot_slug="ops-console") as gov:
        yield gov


def test_the_mesh_feeds_its_own_calls_into_the_slos(
    mesh: MeshThread, operator: Governance, clock: ManualClock
) -> None:
    operator.reports.publish_now([operator.builder.operations(component="probe", explanation="ping")])
    operator.reports.publish_now([operator.builder.operations(component="probe", explanation="pong")])
    clock.advance(timedelta(minutes=1))
    stub = pb_grpc.SlaMonitorServiceStub(grpc.insecure_channel(mesh.address))
    cron = pb_grpc.CronRunnerServiceStub(grpc.insecure_channel(mesh.address))
    ops = [("authorization", "Bearer dev-operator-token")]
    cron.TriggerNow(pb.TriggerNowRequest(task="slo-evaluate"), metadata=ops)
    slos = {
        s.name: s
        for s in stub.ListSlos(
            pb.ListSlosRequest(), metadata=[("authorization", "Bearer dev-bot-token")]
        ).slos
    }
    assert (slos["report-bus-availability"].good, slos["report-bus-availability"].total) == (2, 2)
    assert slos["report-bus-latency"].total == 2 and slos["report-bus-latency"].latency_threshold_ms == 250
    assert slos["fleet-heartbeats"].total == 0 and slos["fleet-heartbeats"].error_budget_remaining == "1.0000"
