"""A bus follower that meets a record it cannot store sets it aside, alerts, and stores the rest."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TypeVar

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk import Governance
from polytraders.sdk.clock import ManualClock
from polytraders.servers.runtime.archive import ReportFilter
from polytraders.servers.runtime.mesh import BACKGROUND_WORK, MeshThread
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

    aside = _eventually(lambda: parts.set_aside.list(), bool)
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
        _eventually(lambda: mesh.mesh.parts.set_aside.list(), bool)
    finally:
        mesh.stop()
    mesh = start_mesh(database_url, clock)
    try:
        reporter = GovernanceReporter(mesh.mesh.parts.bus, "user-activity-ledger", clock)
        mesh.call(reporter.record(RECORD_TYPE, "carol", "carol poke", _user_action("carol", "t")))
        with Governance(mesh.address, token="dev-auditor-token", bot_slug="auditor") as auditor:
            listed = _eventually(lambda: auditor.activity.list(), bool)
        assert [a.user for a in listed] == ["carol"]
        aside: list[SetAsideReport] = mesh.mesh.parts.set_aside.list()
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
