"""A bus follower that meets a record it cannot store sets it aside (listed for operators), alerts,
and stores the rest; health shows a follower that has stopped or fallen behind."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from polytraders.governance.v1 import report_bus_pb2 as bus_pb
from polytraders.governance.v1 import report_bus_pb2_grpc as bus_grpc
from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk import Governance
from polytraders.sdk.clock import ManualClock
from polytraders.servers.mesh import BACKGROUND_WORK, FOLLOWER_PREFIX, MeshThread
from polytraders.servers.runtime.archive import ReportFilter
from polytraders.servers.runtime.reporter import GovernanceReporter
from polytraders.servers.runtime.set_aside import SetAsideReport
from polytraders.servers.runtime.user_actions import RECORD_TYPE
from tests.conftest import start_mesh

T = TypeVar("T")


def _eventually(read: Callable[[], T], done: Callable[[T], bool]) -> T:
    """The followers run behind the bus: poll (bounded) until `done`."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        value = read()
        if done(value):
            return value
        time.sleep(0.05)
    raise AssertionError(f"never reached; last seen {value!r}")


def _user_action(user: str, target: str) -> str:
    return json.dumps({"user": user, "session_id": "", "action": "poke", "target": target, "details": {}})


POISONS = {
    "details_not_json": "{not json",
    "details_missing_the_user": json.dumps({"session_id": "", "action": "poke", "target": "t", "details": {}}),
    "details_a_list": "[1, 2, 3]",
    "a_target_longer_than_its_column": _user_action("mallory", "t" * 300),
    "a_nul_in_the_session_id": _user_action("mallory", "t").replace('"session_id": ""', '"session_id": "a\\u0000b"'),
}


@pytest.mark.parametrize("poison", POISONS.values(), ids=POISONS.keys())
def test_a_poisoned_user_action_is_set_aside_and_the_valid_ones_after_it_are_stored(
    mesh: MeshThread, clock: ManualClock, poison: str
) -> None:
    parts = mesh.mesh.parts
    reporter = GovernanceReporter(parts.bus, "user-activity-ledger", clock)
    poisoned = mesh.call(reporter.record(RECORD_TYPE, "mallory", "poisoned", poison))
    for user in ("alice", "bob"):
        mesh.call(reporter.record(RECORD_TYPE, user, f"{user} poke", _user_action(user, "t")))

    with Governance(mesh.address, token="dev-auditor-token", bot_slug="auditor") as auditor:
        listed = _eventually(lambda: auditor.activity.list(), lambda actions: len(actions) >= 2)
    assert sorted(a.user for a in listed) == ["alice", "bob"]

    aside = _eventually(lambda: parts.set_aside.list().reports, bool)
    assert [(r.follower, r.report_id) for r in aside] == [(RECORD_TYPE, poisoned)]
    alerts = _eventually(lambda: _alerts(mesh), bool)
    assert any(poisoned in a.operations.explanation and a.header.bot_slug == "governance-alerts" for a in alerts)


def _alerts(mesh: MeshThread) -> list[rpb.Report]:
    archive = mesh.mesh.parts.bus.archive
    page = archive.read_after(0, ReportFilter(kinds=frozenset({rpb.REPORT_KIND_OPERATIONS})), 1000)
    reports = [rpb.Report.FromString(a.payload) for a in page]
    return [r for r in reports if r.operations.event == "alert.trigger"]


def test_a_restarted_follower_goes_on_after_what_it_set_aside_and_lists_it_once(
    database_url: str, clock: ManualClock
) -> None:
    mesh = start_mesh(database_url, clock)
    try:
        reporter = GovernanceReporter(mesh.mesh.parts.bus, "user-activity-ledger", clock)
        poisoned = mesh.call(reporter.record(RECORD_TYPE, "mallory", "poisoned", "{not json"))
        _eventually(lambda: mesh.mesh.parts.set_aside.list().reports, bool)
    finally:
        mesh.stop()
    mesh = start_mesh(database_url, clock)
    try:
        reporter = GovernanceReporter(mesh.mesh.parts.bus, "user-activity-ledger", clock)
        mesh.call(reporter.record(RECORD_TYPE, "carol", "carol poke", _user_action("carol", "t")))
        with Governance(mesh.address, token="dev-auditor-token", bot_slug="auditor") as auditor:
            listed = _eventually(lambda: auditor.activity.list(), bool)
        assert [a.user for a in listed] == ["carol"]
        aside: list[SetAsideReport] = mesh.mesh.parts.set_aside.list().reports
        assert [r.report_id for r in aside] == [poisoned]
    finally:
        mesh.stop()


def test_a_follower_that_stops_is_alerted_and_shown_in_health(mesh: MeshThread) -> None:
    async def stops() -> None:
        raise ConnectionError("database went away")

    async def spawn() -> None:
        mesh.mesh.parts.spawn(stops())

    with grpc.insecure_channel(mesh.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        probe = health_pb2.HealthCheckRequest(service=BACKGROUND_WORK)
        assert health.Check(probe).status == health_pb2.HealthCheckResponse.SERVING
        mesh.call(spawn())
        _eventually(lambda: health.Check(probe).status, lambda s: s == health_pb2.HealthCheckResponse.NOT_SERVING)
    alerts = _eventually(lambda: _alerts(mesh), bool)
    assert any("stopped before the mesh did: ConnectionError: database went away" in a.operations.explanation
               for a in alerts)  # fmt: skip


def test_an_operator_lists_what_followers_set_aside_page_by_page(mesh: MeshThread, clock: ManualClock) -> None:
    reporter = GovernanceReporter(mesh.mesh.parts.bus, "user-activity-ledger", clock)
    poisoned = [mesh.call(reporter.record(RECORD_TYPE, "mallory", "poisoned", "{not json")) for _ in range(2)]
    _eventually(lambda: mesh.mesh.parts.set_aside.list().reports, lambda listed: len(listed) == 2)

    with grpc.insecure_channel(mesh.address) as channel:
        listing = bus_grpc.ReportBusServiceStub(channel).ListSetAsideReports
        auditor = [("authorization", "Bearer dev-auditor-token")]
        first = listing(bus_pb.ListSetAsideReportsRequest(limit=1), metadata=auditor)
        second = listing(bus_pb.ListSetAsideReportsRequest(limit=1, cursor=first.next_cursor), metadata=auditor)
        everything = listing(bus_pb.ListSetAsideReportsRequest(follower=RECORD_TYPE), metadata=auditor)
        nobody = listing(bus_pb.ListSetAsideReportsRequest(follower="pnl-reporter"), metadata=auditor)
        with pytest.raises(grpc.RpcError) as refused:
            listing(bus_pb.ListSetAsideReportsRequest(cursor="-1"), metadata=auditor)
        with pytest.raises(grpc.RpcError) as anonymous:
            listing(bus_pb.ListSetAsideReportsRequest())

    assert [r.report_id for r in first.reports] == poisoned[:1] and first.next_cursor == first.reports[0].cursor
    assert [r.report_id for r in second.reports] == poisoned[1:] and second.next_cursor == ""
    assert list(everything.reports) == [*first.reports, *second.reports] and not nobody.reports
    listed = everything.reports[0]
    assert (listed.follower, listed.bot_slug) == (RECORD_TYPE, "user-activity-ledger")
    assert listed.reason.startswith("JSONDecodeError") and listed.set_aside_at.ToDatetime() == clock.now().replace(tzinfo=None)
    assert int(everything.reports[0].cursor) < int(everything.reports[1].cursor)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "cursor" in refused.value.details()
    assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_health_shows_a_follower_that_falls_behind_until_it_catches_up_and_one_that_stops(
    database_url: str, clock: ManualClock
) -> None:
    mesh = start_mesh(database_url, clock, follower_check_seconds=0.02, follower_lag_limit=3)
    parts = mesh.mesh.parts
    go_on = threading.Event()

    async def slow() -> None:
        async for _ in parts.bus.subscribe(ReportFilter(kinds=frozenset({rpb.REPORT_KIND_SETTLEMENT}))):
            await asyncio.to_thread(go_on.wait)

    async def breaks() -> None:
        async for _ in parts.bus.subscribe(ReportFilter(), live_only=True):
            raise ConnectionError("database went away")

    async def follow() -> None:
        parts.lead("test.slow", slow)
        parts.lead("test.breaks", breaks)

    def status(name: str) -> int:
        """The follower's health here (UNKNOWN until the process leads it and shows it)."""
        try:
            return health.Check(health_pb2.HealthCheckRequest(service=FOLLOWER_PREFIX + name)).status
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.NOT_FOUND
            return health_pb2.HealthCheckResponse.SERVICE_UNKNOWN

    reporter = GovernanceReporter(parts.bus, "governance-probe", clock)
    try:
        with grpc.insecure_channel(mesh.address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            mesh.call(follow())
            serving, not_serving = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING
            _eventually(lambda: status("test.slow"), lambda s: s == serving)
            _eventually(lambda: status("test.breaks"), lambda s: s == serving)  # each duty is taken on its own
            for i in range(6):
                mesh.call(reporter.record("probe", "p", f"probe {i}", "{}"))
            _eventually(lambda: status("test.slow"), lambda s: s == not_serving)
            _eventually(lambda: status("test.breaks"), lambda s: s == not_serving)
            go_on.set()
            _eventually(lambda: status("test.slow"), lambda s: s == serving)
            assert status("audit.user-activity") == serving
            assert status("test.breaks") == not_serving
    finally:
        go_on.set()
        mesh.stop()
