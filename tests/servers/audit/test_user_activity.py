"""UserActivityLedger: operator actions land by themselves, per user and session, seven years."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from polytraders.governance.v1 import audit_pb2 as pb
from polytraders.governance.v1 import lifecycle_pb2 as lpb
from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk import FailedPreconditionError, Governance, InvalidArgumentError, PermissionDeniedError
from polytraders.servers.mesh import MeshThread


@pytest.fixture
def operator(mesh: MeshThread) -> Iterator[Governance]:
    with Governance(mesh.address, token="dev-operator-token", bot_slug="ops-console") as gov:
        yield gov


def _actions(gov: Governance, count: int, **filters: str) -> list[pb.UserAction]:
    """The ledger follows the bus; wait (bounded) until `count` actions match."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = gov.activity.list(**filters)
        if len(found) >= count:
            return found
        time.sleep(0.05)
    raise AssertionError(f"expected {count} actions for {filters}, found {len(gov.activity.list(**filters))}")


def test_a_session_of_operator_actions_is_recorded_without_the_servicers_knowing(
    operator: Governance, mesh: MeshThread
) -> None:
    session = operator.activity.start_session("ops console")
    with Governance(
        mesh.address, token="dev-operator-token", bot_slug="ops-console", session_id=session
    ) as console:
        console.registry.register("momentum", owner="alpha", version="1")
        console.registry.promote("momentum", lpb.STAGE_BACKTEST, "ready")
        with pytest.raises(FailedPreconditionError):
            console.registry.promote("momentum", lpb.STAGE_GENERAL_LIVE, "refused: not recorded as done")
        console.registry.pause("momentum", "halt for review")
        console.activity.record(
            "strategy.stop", target="momentum", session_id=session, details={"why": "review"}
        )
        console.registry.get("momentum")  # a read is not a user action
    operator.activity.end_session(session)

    actions = list(reversed(_actions(operator, 6, session_id=session)))
    assert [(a.action, a.target) for a in actions] == [
        ("session.start", ""), ("RegisterStrategy", "momentum"), ("PromoteStrategy", "momentum"),
        ("PauseStrategy", "momentum"), ("strategy.stop", "momentum"), ("session.end", ""),
    ]  # fmt: skip
    assert {a.user for a in actions} == {"dev-operator"}
    assert '"to_stage":"STAGE_BACKTEST"' in actions[2].details_json
    with mesh.mesh.parts.engine.connect() as conn:
        entries = conn.execute(
            text("SELECT count(*) FROM ledger_entries WHERE stream = 'user-activity-ledger'")
        ).scalar_one()
    assert entries == 6  # every action is a SEVEN_YEARS record in the compliance ledger


def test_actions_are_queryable_by_user_and_action(operator: Governance, mesh: MeshThread) -> None:
    operator.registry.register("a", owner="o", version="1")
    with Governance(mesh.address, token="dev-risk-officer-token", bot_slug="x") as officer:
        officer.registry.register("b", owner="o", version="1")
    assert [a.target for a in _actions(operator, 1, user="risk-officer")] == ["b"]
    assert {a.target for a in _actions(operator, 2, action="RegisterStrategy")} == {"a", "b"}
    assert len(operator.activity.list(limit=1)) == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("token", "call", "error", "field"),
    [
        ("dev-bot-token", lambda g: g.activity.list(), PermissionDeniedError, None),
        ("dev-bot-token", lambda g: g.activity.start_session(), PermissionDeniedError, None),
        ("dev-operator-token", lambda g: g.activity.record(""), InvalidArgumentError, "action"),
        ("dev-operator-token", lambda g: g.activity.end_session(""), InvalidArgumentError, "session_id"),
        (
            "dev-operator-token",
            lambda g: g.activity.record("halt", details=[1, 2]),
            InvalidArgumentError,
            "details_json",
        ),
        ("dev-operator-token", lambda g: g.activity.list(limit=5000), InvalidArgumentError, "limit"),
    ],
    ids=[
        "bot lists",
        "bot starts a session",
        "no action",
        "no session",
        "details not an object",
        "limit too large",
    ],
)
def test_bad_activity_calls_are_refused_and_record_nothing(
    mesh: MeshThread, token, call, error, field
) -> None:
    with Governance(mesh.address, token=token, bot_slug="demo-bot") as gov:
        with pytest.raises(error) as raised:
            call(gov)
    if field:
        assert [v.field for v in raised.value.violations] == [field]
    with mesh.mesh.parts.engine.connect() as conn:  # a refusal's only record is of the refusal itself
        payloads = conn.execute(text("SELECT payload FROM ledger_entries")).scalars().all()
    actions = [json.loads(rpb.Report.FromString(p).settlement.details_json)["action"] for p in payloads]
    assert set(actions) <= {"denied"}
