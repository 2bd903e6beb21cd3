"""Every refused call is on the record (within a budget a flood cannot break), and an address
that keeps offering bad credentials is held back."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import grpc
import pytest

from polytraders.governance.v1 import audit_pb2, audit_pb2_grpc
from polytraders.governance.v1 import lifecycle_pb2 as lpb
from polytraders.governance.v1 import lifecycle_pb2_grpc as lpb_grpc
from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk.clock import ManualClock
from polytraders.servers import schema
from polytraders.servers.runtime.access_guard import AccessGuard, peer_address
from polytraders.servers.runtime.archive import ReportArchive, ReportFilter
from polytraders.servers.runtime.bus import ReportBus
from polytraders.servers.runtime.errors import ResourceExhausted
from polytraders.servers.runtime.reporter import GovernanceReporter
from polytraders.servers.runtime.storage import make_engine
from polytraders.servers.runtime.user_actions import UserActionRecorder
from tests.conftest import start_mesh
from tests.support.mesh_processes import until

AUDITOR = [("authorization", "Bearer dev-auditor-token")]
OPERATIONS = ReportFilter(kinds=frozenset({rpb.REPORT_KIND_OPERATIONS}), bot_slugs=frozenset({"access-guard"}))


def _list_strategies(address: str, token: str | None) -> grpc.StatusCode:
    with grpc.insecure_channel(address) as channel:
        try:
            lpb_grpc.StrategyRegistryServiceStub(channel).ListStrategies(
                lpb.ListStrategiesRequest(), metadata=[("authorization", f"Bearer {token}")] if token else [], timeout=5
            )
        except grpc.RpcError as error:
            return error.code()
    return grpc.StatusCode.OK


def _pause(address: str, token: str) -> grpc.StatusCode:
    with grpc.insecure_channel(address) as channel:
        try:
            lpb_grpc.StrategyRegistryServiceStub(channel).PauseStrategy(
                lpb.PauseStrategyRequest(slug="demo-bot", reason="not mine to pause"),
                metadata=[("authorization", f"Bearer {token}")], timeout=5,
            )  # fmt: skip
        except grpc.RpcError as error:
            return error.code()
    return grpc.StatusCode.OK


def _denials(address: str) -> list[audit_pb2.UserAction]:
    with grpc.insecure_channel(address) as channel:
        return list(audit_pb2_grpc.UserActivityLedgerServiceStub(channel).ListUserActions(
            audit_pb2.ListUserActionsRequest(action="denied"), metadata=AUDITOR, timeout=5).actions)  # fmt: skip


def test_refused_calls_are_operations_reports_and_user_activity(tmp_path: Path, clock: ManualClock) -> None:
    running = start_mesh(f"sqlite:///{tmp_path / 'g.db'}", clock)
    try:
        assert _list_strategies(running.address, "no-such-token") == grpc.StatusCode.UNAUTHENTICATED
        assert _list_strategies(running.address, None) == grpc.StatusCode.UNAUTHENTICATED
        assert _pause(running.address, "dev-bot-token") == grpc.StatusCode.PERMISSION_DENIED
        until(lambda: len(_denials(running.address)) >= 3, "three denials in the activity ledger")
        actions = _denials(running.address)
        by_user = sorted((a.user, json.loads(a.details_json)["code"]) for a in actions)
        assert by_user == [("(unauthenticated)", "UNAUTHENTICATED"), ("(unauthenticated)", "UNAUTHENTICATED"),
                           ("demo-bot", "PERMISSION_DENIED")]  # fmt: skip
        assert all(a.target.endswith(("/ListStrategies", "/PauseStrategy")) for a in actions)
        assert all(json.loads(a.details_json)["peer"] == "127.0.0.1" for a in actions)
        reports = running.mesh.parts.bus.archive.read_after(0, OPERATIONS, 100)
        explained = [rpb.Report.FromString(r.payload).operations for r in reports]
        assert sorted(o.metrics["code"] for o in explained) == ["PERMISSION_DENIED", "UNAUTHENTICATED", "UNAUTHENTICATED"]
        assert all(o.event == "call.denied" and o.severity == rpb.SEVERITY_WARNING for o in explained)
    finally:
        running.stop()


def test_a_flood_of_bad_tokens_is_held_back_and_recorded_within_its_budget(
    tmp_path: Path, clock: ManualClock
) -> None:
    running = start_mesh(f"sqlite:///{tmp_path / 'g.db'}", clock, denied_records_per_minute=3,
                         auth_failures_per_minute=5)  # fmt: skip
    try:
        answers = [_list_strategies(running.address, f"guess-{i}") for i in range(12)]
        assert answers == [grpc.StatusCode.UNAUTHENTICATED] * 5 + [grpc.StatusCode.RESOURCE_EXHAUSTED] * 7
        # held back before its token is looked at: a good token from that address waits too
        assert _list_strategies(running.address, "dev-operator-token") == grpc.StatusCode.RESOURCE_EXHAUSTED
    finally:
        running.stop()  # the stop writes the minute's summary
    # three recorded one by one; the other two refusals (the held-back calls are not refusals of
    # credentials, and are not recorded) are one summary
    again = start_mesh(f"sqlite:///{tmp_path / 'g.db'}", clock)
    try:
        reports = again.mesh.parts.bus.archive.read_after(0, OPERATIONS, 100)
        events = [rpb.Report.FromString(r.payload).operations for r in reports]
        assert [e.event for e in events] == ["call.denied"] * 3 + ["call.denied.suppressed"]
        assert events[-1].metrics["count"] == "2"
    finally:
        again.stop()


def test_an_address_is_let_back_in_a_minute_after_its_failures(tmp_path: Path, clock: ManualClock) -> None:
    """The guard alone on a real bus (SQLite archive), its clock moved by hand."""
    engine = make_engine(f"sqlite:///{tmp_path / 'g.db'}")
    schema.prepare(engine, upgrade=True)
    now = [0.0]

    async def scenario() -> None:
        bus = ReportBus(ReportArchive(engine), clock)
        guard = AccessGuard(
            GovernanceReporter(bus, "access-guard", clock),
            UserActionRecorder(GovernanceReporter(bus, "user-activity-ledger", clock)),
            records_per_minute=10, failures_per_minute=2, monotonic=lambda: now[0],
        )  # fmt: skip
        peer = "ipv4:10.0.0.7:51234"
        for _ in range(2):
            guard.admit(peer)
            guard.denied("/x.Y/Z", None, peer, grpc.StatusCode.UNAUTHENTICATED, "unknown", "")
        with pytest.raises(ResourceExhausted, match="10.0.0.7"):
            guard.admit("ipv4:10.0.0.7:60000")  # another connection from the same address
        guard.admit("ipv4:10.0.0.8:1")  # another address is not held back
        now[0] = 61.0
        guard.admit(peer)
        await guard.drain()
        bus.close()

    try:
        asyncio.run(scenario())
        stored = [rpb.Report.FromString(r.payload) for r in ReportArchive(engine).read_after(0, ReportFilter(), 100)]
    finally:
        engine.dispose()
    assert sorted(r.operations.event for r in stored if r.header.bot_slug == "access-guard") == ["call.denied"] * 2
    assert [r.operations.metrics["peer"] for r in stored if r.header.bot_slug == "access-guard"] == ["10.0.0.7"] * 2
    assert sum(r.header.bot_slug == "user-activity-ledger" for r in stored) == 2
    assert peer_address("ipv6:[::1]:5000") == "::1" and peer_address("unix:/tmp/s") == "unix:/tmp/s"
