"""CronRunner with an injected clock on both backends: UTC across a DST change, restarts, ordering,
missed runs inside and outside their deadline; and its RPCs over gRPC."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import grpc
import pytest

from polytraders.governance.v1 import operations_pb2 as pb
from polytraders.governance.v1 import operations_pb2_grpc as pb_grpc
from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk import ManualClock
from polytraders.servers.mesh import MeshThread
from polytraders.servers.operations.cron import COUNT_CAP, CronRunner, firings, parse_manifest
from polytraders.servers.operations.metrics import dispatch_counter
from polytraders.servers.runtime.metrics import MeshMetrics
from tests.contract.rpc import violations
from tests.servers.operations.support import Desk, desk_on

Outcome = pb.DispatchOutcome


class Calls:
    """Governance commands that record when and with what they ran."""

    def __init__(self, *names: str) -> None:
        self.log: list[tuple[str, datetime]] = []
        self.commands = {name: self._command(name) for name in names}
        self.block = asyncio.Event()
        self.blocking: set[str] = set()

    def _command(self, name: str):
        async def run(arguments: Mapping[str, str], scheduled: datetime) -> str:
            self.log.append((name, scheduled))
            if name in self.blocking:
                await self.block.wait()
            if arguments.get("fail"):
                raise ValueError(arguments["fail"])
            return f"{name} ran for {scheduled.isoformat()}"

        return run


def manifest(*tasks: tuple[str, str, str, int]) -> str:
    return "\n".join(
        f'[[task]]\nname = "{name}"\ncron_expression = "{expression}"\ntarget = "{target}"\ndeadline_seconds = {deadline}\n'
        for name, expression, target, deadline in tasks
    )


def runner(desk: Desk, text: str, calls: Calls, metrics: MeshMetrics | None = None) -> CronRunner:
    return CronRunner(parse_manifest(text), desk.engine, desk.clock, calls.commands, desk.reporter("cron-runner"),
                      desk.alerts, dispatch_counter(metrics) if metrics else None)  # fmt: skip


def test_every_minute_across_a_dst_change_fires_each_utc_minute_once(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Europe/London moves from GMT to BST at 01:00 UTC on 2026-03-29: local 01:00 never happens.
    # The process runs in that zone, so any use of local time on the way would show.
    monkeypatch.setenv("TZ", "Europe/London")
    time.tzset()
    start = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)

    async def scenario(desk: Desk) -> list[pb.Dispatch]:
        calls = Calls("tick")
        cron = runner(desk, manifest(("every-minute", "* * * * *", "governance:tick", 50)), calls)
        await cron.start()
        fired = []
        for _ in range(60):
            desk.clock.advance(timedelta(minutes=1))
            fired.extend(await cron.tick())
        return fired

    fired = desk_on(database_url, start, scenario)
    moments = [d.scheduled_at.ToDatetime(tzinfo=UTC) for d in fired]
    assert moments == [start + timedelta(minutes=m) for m in range(1, 61)]
    assert {d.outcome for d in fired} == {Outcome.DISPATCH_OUTCOME_SUCCEEDED} and {
        d.lateness_micros for d in fired
    } == {0}
    london = [m.astimezone(ZoneInfo("Europe/London")).strftime("%H:%M") for m in moments]
    assert london[28:30] == ["00:59", "02:00"]  # the local clock jumped; the UTC schedule did not


def test_a_restart_in_the_middle_of_a_firing_neither_repeats_nor_loses_it(database_url: str) -> None:
    start = datetime(2026, 11, 24, 11, 59, 30, tzinfo=UTC)
    text = manifest(("hourly-job", "0 * * * *", "governance:job", 600))

    async def scenario(desk: Desk):
        first = Calls("job")
        first.blocking.add("job")
        cron = runner(desk, text, first)
        await cron.start()
        desk.clock.advance(timedelta(seconds=45))  # 12:00:15
        firing = asyncio.create_task(cron.tick())
        while not first.log:
            await asyncio.sleep(0.01)
        firing.cancel()  # the process dies mid-dispatch
        second = Calls("job")
        restarted = runner(desk, text, second)
        await restarted.start()
        again = await restarted.tick()  # same moment: nothing to fire again
        desk.clock.advance(timedelta(hours=1))
        later = await restarted.tick()
        return again, later + restarted.dispatches("", 10), first, second, desk.alerts.sent

    again, (later, *history), first, second, alerts = desk_on(database_url, start, scenario)
    assert again == [] and [when.hour for _, when in first.log] == [12]
    assert [when.hour for _, when in second.log] == [
        13
    ] and later.outcome == Outcome.DISPATCH_OUTCOME_SUCCEEDED
    outcomes = [(d.scheduled_at.ToDatetime().hour, d.outcome) for d in history]
    assert outcomes == [(13, Outcome.DISPATCH_OUTCOME_SUCCEEDED), (12, Outcome.DISPATCH_OUTCOME_INTERRUPTED)]
    (alert,) = alerts
    assert alert.severity == rpb.SEVERITY_ERROR and "not run again" in alert.explanation


def test_three_tasks_due_the_same_second_run_in_manifest_order(database_url: str) -> None:
    start = datetime(2026, 11, 24, 11, 58, 30, tzinfo=UTC)
    text = manifest(
        ("charlie", "0 12 * * *", "governance:charlie", 600),
        ("alpha", "0 12 * * *", "governance:alpha", 600),
        ("bravo", "0 12 * * *", "governance:bravo", 600),
        ("early-bird", "59 11 * * *", "governance:early", 600),  # due a minute earlier: goes first
    )

    async def scenario(desk: Desk) -> list[pb.Dispatch]:
        calls = Calls("alpha", "bravo", "charlie", "early")
        cron = runner(desk, text, calls)
        await cron.start()
        desk.clock.advance(timedelta(minutes=2))  # 12:00:30: all four are due at this tick
        return await cron.tick()

    fired = desk_on(database_url, start, scenario)
    assert [d.task for d in fired] == ["early-bird", "charlie", "alpha", "bravo"]
    assert [d.lateness_micros for d in fired][1:] == [30_000_000] * 3


@pytest.mark.parametrize(("down_for", "runs"), [(timedelta(hours=3, minutes=5), True), (timedelta(hours=3, minutes=15), False)],
                         ids=["inside-deadline", "outside-deadline"])  # fmt: skip
def test_missed_runs_follow_the_policy(database_url: str, down_for: timedelta, runs: bool) -> None:
    start = datetime(2026, 11, 24, 8, 30, tzinfo=UTC)
    metrics = MeshMetrics()

    async def scenario(desk: Desk) -> tuple[list[pb.Dispatch], Calls]:
        calls = Calls("job")
        cron = runner(desk, manifest(("hourly-job", "0 * * * *", "governance:job", 600)), calls, metrics)
        await cron.start()
        desk.clock.advance(timedelta(minutes=35) + down_for - timedelta(hours=3))  # governance was down
        desk.clock.advance(timedelta(hours=3))
        return await cron.tick(), calls

    fired, calls = desk_on(database_url, start, scenario)
    assert [d.scheduled_at.ToDatetime().hour for d in fired] == [9, 10, 11, 12]
    assert [d.outcome for d in fired[:3]] == [Outcome.DISPATCH_OUTCOME_MISSED] * 3
    assert all("superseded by the firing at 2026-11-24T12:00:00+00:00" in d.detail for d in fired[:3])
    missed = metrics.registry.get_sample_value("polytraders_cron_missed_total", {"task": "hourly-job"})
    late = {"task": "hourly-job"}
    if runs:
        assert fired[3].outcome == Outcome.DISPATCH_OUTCOME_SUCCEEDED and [w.hour for _, w in calls.log] == [
            12
        ]
        assert missed == 3
        assert metrics.registry.get_sample_value("polytraders_cron_lateness_seconds_count", late) == 1
        assert metrics.registry.get_sample_value("polytraders_cron_lateness_seconds_sum", late) == 600  # 12:10 for 12:00
        assert fired[3].lateness_micros == 600_000_000
    else:
        assert fired[3].outcome == Outcome.DISPATCH_OUTCOME_MISSED and "past its deadline" in fired[3].detail
        assert calls.log == []
        assert missed == 4


def test_a_failing_target_and_a_bus_target_are_dispatched_and_reported(database_url: str) -> None:
    text = manifest(
        ("broken", "0 * * * *", "governance:job", 600),
        ("to-the-fleet", "0 * * * *", "bus:rebalance.request", 600),
    )
    text = text.replace(
        'target = "governance:job"', 'target = "governance:job"\narguments = {fail = "exchange closed"}'
    )

    async def scenario(desk: Desk) -> list[pb.Dispatch]:
        cron = runner(desk, text, Calls("job"))
        await cron.start()
        desk.clock.advance(timedelta(minutes=31))
        return await cron.tick()

    broken, bus = desk_on(database_url, datetime(2026, 11, 24, 11, 30, tzinfo=UTC), scenario)
    assert (broken.outcome, broken.detail) == (Outcome.DISPATCH_OUTCOME_FAILED, "ValueError: exchange closed")
    assert bus.outcome == Outcome.DISPATCH_OUTCOME_SUCCEEDED and bus.detail.startswith(
        "published rebalance.request"
    )


BAD_MANIFESTS = [
    ("cron expression", manifest(("x", "61 * * * *", "bus:x", 1)), "invalid cron_expression"),
    ("target", manifest(("x", "* * * * *", "http://x", 1)), "target must be"),
    ("twice", manifest(("x", "* * * * *", "bus:x", 1), ("x", "* * * * *", "bus:y", 1)), "listed twice"),
    ("deadline", manifest(("x", "* * * * *", "bus:x", -1)), "must not be negative"),
    ("name", '[[task]]\ncron_expression = "* * * * *"\ntarget = "bus:x"\n', "has no 'name'"),
]


@pytest.mark.parametrize(("case", "text", "message"), BAD_MANIFESTS, ids=[c[0] for c in BAD_MANIFESTS])
def test_a_bad_manifest_is_refused_naming_the_task(case: str, text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_manifest(text)


def _cron(mesh: MeshThread) -> pb_grpc.CronRunnerServiceStub:
    return pb_grpc.CronRunnerServiceStub(grpc.insecure_channel(mesh.address))


def _as(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]


def test_the_default_schedule_over_grpc_and_trigger_now(mesh: MeshThread, clock: ManualClock) -> None:
    cron = _cron(mesh)
    tasks = cron.ListSchedule(pb.ListScheduleRequest(), metadata=_as("dev-auditor-token")).tasks
    assert [t.name for t in tasks] == ["attribution-reconcile", "attribution-revenue", "retention-purge", "ledger-verify",
                                       "pnl-window", "slo-evaluate", "incident-rca-watch"]  # fmt: skip
    assert tasks[5].next_at.ToDatetime(tzinfo=UTC) == clock.now() + timedelta(minutes=1)  # slo-evaluate
    fired = cron.TriggerNow(
        pb.TriggerNowRequest(task="retention-purge"), metadata=_as("dev-operator-token")
    ).dispatch
    assert (fired.outcome, fired.triggered_by) == (Outcome.DISPATCH_OUTCOME_SUCCEEDED, "dev-operator")
    assert fired.detail == "purged 0 reports whose retention ended"
    failed = cron.TriggerNow(
        pb.TriggerNowRequest(task="attribution-reconcile"), metadata=_as("dev-operator-token")
    )
    assert (
        failed.dispatch.outcome == Outcome.DISPATCH_OUTCOME_FAILED
        and "builder code" in failed.dispatch.detail
    )
    listed = cron.ListDispatches(
        pb.ListDispatchesRequest(task="retention-purge"), metadata=_as("dev-auditor-token")
    )
    assert [d.dispatch_id for d in listed.dispatches] == [fired.dispatch_id]


REFUSALS = [
    ("bot lists", "dev-bot-token", lambda c, m: c.ListSchedule(pb.ListScheduleRequest(), metadata=m),
     grpc.StatusCode.PERMISSION_DENIED, None),
    ("auditor triggers", "dev-auditor-token", lambda c, m: c.TriggerNow(pb.TriggerNowRequest(task="slo-evaluate"), metadata=m),
     grpc.StatusCode.PERMISSION_DENIED, None),
    ("no task", "dev-operator-token", lambda c, m: c.TriggerNow(pb.TriggerNowRequest(), metadata=m),
     grpc.StatusCode.INVALID_ARGUMENT, "task"),
    ("unknown task", "dev-operator-token", lambda c, m: c.TriggerNow(pb.TriggerNowRequest(task="nope"), metadata=m),
     grpc.StatusCode.NOT_FOUND, None),
    ("limit", "dev-auditor-token", lambda c, m: c.ListDispatches(pb.ListDispatchesRequest(limit=5000), metadata=m),
     grpc.StatusCode.INVALID_ARGUMENT, "limit"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "token", "call", "code", "field"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_cron_refusals_change_nothing(mesh: MeshThread, case, token, call, code, field) -> None:
    cron = _cron(mesh)
    with pytest.raises(grpc.RpcError) as refused:
        call(cron, _as(token))
    assert refused.value.code() == code
    if field:
        assert field in violations(refused.value)
    assert cron.ListDispatches(pb.ListDispatchesRequest(), metadata=_as("dev-auditor-token")).dispatches == []


@pytest.mark.parametrize("expression", ["*/7 * * * *", "0 3 * * 1-5", "15,45 * * * * *"])
def test_firings_walks_back_from_now_and_agrees_with_stepping_through_every_one(expression: str) -> None:
    from croniter import croniter

    after = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    until = after + timedelta(days=3, seconds=17)
    every, schedule = [], croniter(expression, after)
    while (moment := schedule.get_next(datetime)) <= until:
        every.append(moment)
    latest, earlier, first = firings(expression, after, until, 3)
    assert (latest, earlier, first) == (every[-4:], max(0, len(every) - 4), every[0])


def test_eight_years_of_missed_minutes_cost_a_bounded_walk_and_are_counted_up_to_the_cap() -> None:
    after = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    until = after + timedelta(days=365 * 8, seconds=30)
    latest, earlier, first = firings("* * * * *", after, until, 3)
    assert latest[-1] == until.replace(second=0) and len(latest) == 4
    assert (earlier, first) == (COUNT_CAP, after + timedelta(minutes=1))


def test_a_firing_prepared_for_a_moment_the_process_stops_before_is_recorded_missed_not_run(
    database_url: str,
) -> None:
    """The run loop records a moment's firings just before it; stopped in between, they never run
    and say why (a new leader does not run them either: the schedule moved past them)."""
    start = datetime(2026, 11, 24, 11, 59, 50, tzinfo=UTC)  # the moment is 10 s away: cancelled long before

    async def scenario(desk: Desk):
        calls = Calls("job")
        cron = runner(desk, manifest(("every-minute", "* * * * *", "governance:job", 60)), calls)
        await cron.start()
        prepared = asyncio.create_task(cron.tick(datetime(2026, 11, 24, 12, 0, tzinfo=UTC)))
        while not cron.dispatches("", 10):  # recorded, waiting for its moment
            await asyncio.sleep(0.01)
        prepared.cancel()
        with pytest.raises(asyncio.CancelledError):
            await prepared
        return calls.log, cron.dispatches("", 10), await cron.tick()

    ran, (dispatch,), after = desk_on(database_url, start, scenario)
    assert ran == [] and after == []  # not run, then or later
    assert dispatch.outcome == Outcome.DISPATCH_OUTCOME_MISSED
    assert dispatch.detail == "missed: governance stopped before its moment; not run (at most once)"
