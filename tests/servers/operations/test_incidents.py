"""IncidentCommander over gRPC: a SEV1 from declaration to closed RCA, with its timeline checked."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest

from polytraders.governance.v1 import lifecycle_pb2 as lpb
from polytraders.governance.v1 import operations_pb2 as pb
from polytraders.governance.v1 import operations_pb2_grpc as pb_grpc
from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk import Governance, ManualClock, PermissionDeniedError
from polytraders.sdk.clock import to_timestamp
from polytraders.servers.mesh import MeshThread
from tests.conftest import start_mesh
from tests.contract.rpc import violations
from tests.sdk.test_publisher import archived

OPS = [("authorization", "Bearer dev-operator-token")]
AUDITOR = [("authorization", "Bearer dev-auditor-token")]
BOT = [("authorization", "Bearer dev-bot-token")]
FAR_FUTURE = datetime(2099, 1, 1, tzinfo=UTC)
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


def _commander(mesh: MeshThread) -> pb_grpc.IncidentCommanderServiceStub:
    return pb_grpc.IncidentCommanderServiceStub(grpc.insecure_channel(mesh.address))


def _live_strategy(gov: Governance, slug: str) -> None:
    gov.registry.register(slug, owner="alpha", version="1")
    for stage in (lpb.STAGE_BACKTEST, lpb.STAGE_PAPER, lpb.STAGE_SHADOW):
        gov.registry.promote(slug, stage, "evidence")
    gov.registry.link_artefact(slug, lpb.Artefact(kind=lpb.ARTEFACT_KIND_PAPER_GATE, ref="paper-1",
                                                  paper_gate=lpb.PaperGate(continuous_paper_days=20,
                                                                           risk_adjusted_return="0.5")))  # fmt: skip
    gov.registry.promote(slug, lpb.STAGE_LIMITED_LIVE, "gate passed")


def _until(read: Callable[[], pb.Incident], done: Callable[[pb.Incident], bool]) -> pb.Incident:
    deadline = time.monotonic() + 20
    while not done(incident := read()):
        assert time.monotonic() < deadline, incident
        time.sleep(0.05)
    return incident


def test_a_sev1_from_declaration_to_closed_rca(
    mesh: MeshThread, clock: ManualClock, database_url: str
) -> None:
    commander = _commander(mesh)
    with Governance(mesh.address, token="dev-operator-token", bot_slug="ops-console") as ops:
        _live_strategy(ops, "mm-crypto-1")
        ops.registry.register("still-on-paper", owner="alpha", version="1")

        declared = commander.DeclareIncident(pb.DeclareIncidentRequest(
            title="pUSD balance mismatch on three bots", severity=pb.INCIDENT_SEVERITY_SEV1,
            description="PortfolioSync saw 4,000 pUSD missing"), metadata=OPS).incident  # fmt: skip
        incident_id = declared.incident_id
        assert (declared.state, declared.declared_by) == (pb.INCIDENT_STATE_OPEN, "dev-operator")
        assert [e.action for e in declared.timeline] == [
            "declared",
            "auto.pause_live",
            "auto.flatten_request",
            "auto.page",
        ]
        assert declared.timeline[1].detail == "paused 1 live strategies: mm-crypto-1"
        paused = ops.registry.get("mm-crypto-1")
        assert (paused.stage, paused.history[-1].pause_source) == (
            lpb.STAGE_PAUSED,
            lpb.PAUSE_SOURCE_INCIDENT_COMMANDER,
        )
        assert ops.registry.get("still-on-paper").stage == lpb.STAGE_SPEC

    flatten_id = declared.timeline[2].report_id
    (flatten,) = [r for r in archived(database_url, "incident-commander") if r.HasField("decision")]
    assert (flatten.header.report_id, flatten.decision.action) == (flatten_id, rpb.DECISION_ACTION_FLATTEN)
    assert flatten.header.trace_id == incident_id
    with Governance(mesh.address, token="dev-bot-token", bot_slug="demo-bot") as execution_bot:
        ack = execution_bot.builder.operations(causation_id=flatten_id, component="flattener",
                                               event="flatten.done", explanation="closed 12 positions, 0 left")  # fmt: skip
        execution_bot.reports.publish_now([ack])

    def get() -> pb.Incident:
        return commander.GetIncident(
            pb.GetIncidentRequest(incident_id=incident_id), metadata=AUDITOR
        ).incident

    acked = _until(get, lambda i: any(e.action == "flatten.ack" for e in i.timeline))
    (entry,) = [e for e in acked.timeline if e.action == "flatten.ack"]
    assert (entry.actor, entry.detail, entry.report_id) == (
        "demo-bot",
        "closed 12 positions, 0 left",
        ack.header.report_id,
    )

    commander.AssignRole(
        pb.AssignRoleRequest(incident_id=incident_id, role="commander", holder="alice"), metadata=OPS
    )
    commander.AddNote(
        pb.AddNoteRequest(incident_id=incident_id, note="root cause suspected: stale RPC node"), metadata=OPS
    )
    resolved = commander.ResolveIncident(pb.ResolveIncidentRequest(incident_id=incident_id,
                                                                   resolution="RPC node replaced; balances match"),
                                         metadata=OPS).incident  # fmt: skip
    assert resolved.state == pb.INCIDENT_STATE_RESOLVED and [(r.role, r.holder) for r in resolved.roles] == [
        ("commander", "alice")
    ]
    due = clock.now() + timedelta(days=2)
    commander.OpenPostmortem(pb.OpenPostmortemRequest(incident_id=incident_id, rca_owner="bob",
                                                      rca_due_at=to_timestamp(due)), metadata=OPS)  # fmt: skip
    assert commander.ListOverdueRcas(pb.ListOverdueRcasRequest(), metadata=AUDITOR).incidents == []

    clock.advance(timedelta(days=3))
    cron = pb_grpc.CronRunnerServiceStub(grpc.insecure_channel(mesh.address))
    for _ in range(2):  # the second watch finds it already alerted
        cron.TriggerNow(pb.TriggerNowRequest(task="incident-rca-watch"), metadata=OPS)
    (overdue,) = commander.ListOverdueRcas(pb.ListOverdueRcasRequest(), metadata=AUDITOR).incidents
    assert (overdue.incident_id, overdue.rca_owner) == (incident_id, "bob")

    closed = commander.CloseRca(pb.CloseRcaRequest(incident_id=incident_id, summary="RCA: single RPC provider; "
                                                   "follow-up: two providers, quorum reads"), metadata=OPS).incident  # fmt: skip
    assert closed.state == pb.INCIDENT_STATE_CLOSED
    assert [e.action for e in closed.timeline] == [
        "declared", "auto.pause_live", "auto.flatten_request", "auto.page", "flatten.ack", "role", "note", "resolved",
        "postmortem.opened", "rca.overdue", "rca.closed",
    ]  # fmt: skip
    assert [e.actor for e in closed.timeline][-3:] == ["dev-operator", "incident-commander", "dev-operator"]
    assert commander.ListOverdueRcas(pb.ListOverdueRcasRequest(), metadata=AUDITOR).incidents == []

    alerts = [(r.operations.alert_key, r.operations.event, r.operations.severity)
              for r in archived(database_url, "governance-alerts")]  # fmt: skip
    assert alerts == [
        (f"incident:{incident_id}", "alert.trigger", rpb.SEVERITY_PAGE),
        (f"incident:{incident_id}", "alert.resolve", rpb.SEVERITY_INFO),
        (f"incident-rca:{incident_id}", "alert.trigger", rpb.SEVERITY_WARNING),
    ]
    records = [
        r.settlement.record_type
        for r in archived(database_url, "incident-commander")
        if r.HasField("settlement")
    ]
    assert records == ["incident.declared", "incident.resolved", "incident.closed"]


def _declared(mesh: MeshThread) -> str:
    request = pb.DeclareIncidentRequest(title="minor", severity=pb.INCIDENT_SEVERITY_SEV3)
    return _commander(mesh).DeclareIncident(request, metadata=OPS).incident.incident_id


REFUSALS: list[tuple[str, Any, list, grpc.StatusCode, str | None]] = [
    ("no title", lambda c, i: c.DeclareIncident(pb.DeclareIncidentRequest(severity=pb.INCIDENT_SEVERITY_SEV2)), OPS,
     grpc.StatusCode.INVALID_ARGUMENT, "title"),
    ("no severity", lambda c, i: c.DeclareIncident(pb.DeclareIncidentRequest(title="x")), OPS,
     grpc.StatusCode.INVALID_ARGUMENT, "severity"),
    ("auditor declares", lambda c, i: c.DeclareIncident(pb.DeclareIncidentRequest(title="x", severity=1)), AUDITOR,
     grpc.StatusCode.PERMISSION_DENIED, None),
    ("bot resolves", lambda c, i: c.ResolveIncident(pb.ResolveIncidentRequest(incident_id=i, resolution="x")), BOT,
     grpc.StatusCode.PERMISSION_DENIED, None),
    ("unknown incident", lambda c, i: c.AddNote(pb.AddNoteRequest(incident_id="nope", note="x")), OPS,
     grpc.StatusCode.NOT_FOUND, None),
    ("rca before resolve", lambda c, i: c.CloseRca(pb.CloseRcaRequest(incident_id=i, summary="x")), OPS,
     grpc.StatusCode.FAILED_PRECONDITION, None),
    ("postmortem of an open incident", lambda c, i: c.OpenPostmortem(pb.OpenPostmortemRequest(
        incident_id=i, rca_owner="bob", rca_due_at=to_timestamp(FAR_FUTURE))), OPS,
     grpc.StatusCode.FAILED_PRECONDITION, None),
    ("due in the past", lambda c, i: c.OpenPostmortem(pb.OpenPostmortemRequest(
        incident_id=i, rca_owner="bob", rca_due_at=to_timestamp(LONG_AGO))), OPS,
     grpc.StatusCode.INVALID_ARGUMENT, "rca_due_at"),
    ("empty note", lambda c, i: c.AddNote(pb.AddNoteRequest(incident_id=i, note=" ")), OPS,
     grpc.StatusCode.INVALID_ARGUMENT, "note"),
    ("limit", lambda c, i: c.ListIncidents(pb.ListIncidentsRequest(limit=1001)), AUDITOR,
     grpc.StatusCode.INVALID_ARGUMENT, "limit"),
    ("no incident id", lambda c, i: c.AddNote(pb.AddNoteRequest(note="x")), OPS, grpc.StatusCode.INVALID_ARGUMENT,
     "incident_id"),
    ("unknown state", lambda c, i: c.ListIncidents(pb.ListIncidentsRequest(states=[42])), AUDITOR,
     grpc.StatusCode.INVALID_ARGUMENT, "states"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "call", "metadata", "code", "field"), REFUSALS, ids=[r[0] for r in REFUSALS]
)
def test_incident_refusals_change_nothing(mesh: MeshThread, case, call, metadata, code, field) -> None:
    incident_id = _declared(mesh)
    commander = _commander(mesh)
    before = commander.GetIncident(pb.GetIncidentRequest(incident_id=incident_id), metadata=AUDITOR).incident
    with pytest.raises(grpc.RpcError) as refused:
        call(_Bound(commander, metadata), incident_id)
    assert refused.value.code() == code
    if field:
        assert field in violations(refused.value)
    assert (
        commander.GetIncident(pb.GetIncidentRequest(incident_id=incident_id), metadata=AUDITOR).incident
        == before
    )
    assert len(commander.ListIncidents(pb.ListIncidentsRequest(), metadata=AUDITOR).incidents) == 1


class _Bound:
    """The stub with one caller's metadata on every call."""

    def __init__(self, stub: pb_grpc.IncidentCommanderServiceStub, metadata: list) -> None:
        self._stub, self._metadata = stub, metadata

    def __getattr__(self, name: str) -> Callable[[Any], Any]:
        method = getattr(self._stub, name)
        return lambda request: method(request, metadata=self._metadata, timeout=10)


def test_a_guard_bot_declares_through_the_sdk_and_may_do_nothing_more(
    database_url: str, clock: ManualClock
) -> None:
    mesh = start_mesh(database_url, clock, incident_declarers=("demo-bot",))
    try:
        _guard_declares(mesh)
    finally:
        mesh.stop()


def test_a_bot_that_is_no_guard_may_not_declare(mesh: MeshThread) -> None:
    with (
        Governance(mesh.address, token="dev-bot-token", bot_slug="demo-bot") as bot,
        pytest.raises(PermissionDeniedError, match="incident_declarers"),
    ):
        bot.incidents.declare("everything is fine", "SEV1")
    assert _commander(mesh).ListIncidents(pb.ListIncidentsRequest(), metadata=AUDITOR).incidents == []


def _guard_declares(mesh: MeshThread) -> None:
    with Governance(mesh.address, token="dev-bot-token", bot_slug="demo-bot") as guard:
        declared = guard.incidents.declare(
            "drawdown guard tripped on mm-crypto-1", "SEV2", "drawdown 9 % > 8 % limit"
        )
        assert (declared.declared_by, declared.severity) == ("demo-bot", pb.INCIDENT_SEVERITY_SEV2)
        assert [i.incident_id for i in guard.incidents.list(open_only=True)] == [declared.incident_id]
        with pytest.raises(ValueError, match="severity must be one of"):
            guard.incidents.declare("x", "SEV9")
    commander = _commander(mesh)
    with pytest.raises(grpc.RpcError) as refused:
        commander.ResolveIncident(
            pb.ResolveIncidentRequest(incident_id=declared.incident_id, resolution="x"), metadata=BOT
        )
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
