"""IncidentCommander: declare, act by severity, coordinate, resolve, learn, with a full timeline.

OPEN → RESOLVED → POSTMORTEM (an RCA owner and a due date) → CLOSED (the RCA's findings).
Auto-actions by severity come from configuration: `pause_live` pauses every live strategy in the
registry (through the lifecycle group's command), `flatten` publishes a FLATTEN DecisionReport
for execution bots, and `page` pages on-call. Governance does not trade: a flatten is a request,
and the execution bots' acknowledgements (any report whose causation_id is the request) land
on the timeline as they arrive. Every timeline entry is also an OperationsReport; declaring,
resolving and closing are SEVEN_YEARS records.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime

from google.protobuf import json_format
from sqlalchemy import (
    BigInteger,
    Engine,
    Index,
    Integer,
    LargeBinary,
    String,
    insert,
    select,
    update,
)
from sqlmodel import Field, SQLModel

from polytraders.governance.v1 import operations_pb2 as pb
from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk.clock import Clock, from_timestamp, to_micros, to_timestamp
from polytraders.sdk.config import canonical_json
from polytraders.sdk.report_builders import new_report_id
from polytraders.servers.runtime.alerts import Alert, AlertSink
from polytraders.servers.runtime.archive import ReportFilter
from polytraders.servers.runtime.bus import ReportBus
from polytraders.servers.runtime.commands import Command
from polytraders.servers.runtime.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
)
from polytraders.servers.runtime.reporter import GovernanceReporter
from polytraders.servers.runtime.requests import page_size
from polytraders.servers.runtime.set_aside import SetAside
from polytraders.servers.runtime.storage import table_of

log = logging.getLogger(__name__)
ACTOR = "incident-commander"
ACTIONS = frozenset({"pause_live", "flatten", "page"})
SEVERITIES = {
    "sev1": pb.INCIDENT_SEVERITY_SEV1,
    "sev2": pb.INCIDENT_SEVERITY_SEV2,
    "sev3": pb.INCIDENT_SEVERITY_SEV3,
}


class IncidentRow(SQLModel, table=True):
    __tablename__ = "incidents"
    __table_args__ = (Index("incidents_by_declared", "declared_us"),)

    incident_id: str = Field(sa_type=String(36), primary_key=True)
    state: int = Field(sa_type=Integer)
    declared_us: int = Field(sa_type=BigInteger)
    rca_due_us: int | None = Field(default=None, sa_type=BigInteger)
    body: bytes = Field(sa_type=LargeBinary)


incidents = table_of(IncidentRow)

def severity_name(severity: pb.IncidentSeverity.ValueType) -> str:
    return pb.IncidentSeverity.Name(severity).removeprefix("INCIDENT_SEVERITY_")


def state_name(state: pb.IncidentState.ValueType) -> str:
    return pb.IncidentState.Name(state).removeprefix("INCIDENT_STATE_")


def check_actions(
    by_severity: Mapping[str, Sequence[str]],
) -> dict[pb.IncidentSeverity.ValueType, tuple[str, ...]]:
    """Configuration: severity name → auto-actions, each one of ACTIONS."""
    checked: dict[pb.IncidentSeverity.ValueType, tuple[str, ...]] = {}
    for name, actions in by_severity.items():
        unknown = set(actions) - ACTIONS
        if name not in SEVERITIES or unknown:
            raise ValueError(f"incident auto-actions: {name} → {sorted(unknown)} (severities {sorted(SEVERITIES)}, "
                             f"actions {sorted(ACTIONS)})")  # fmt: skip
        checked[SEVERITIES[name]] = tuple(actions)
    return checked


class IncidentCommander:
    def __init__(
        self,
        engine: Engine,
        bus: ReportBus,
        clock: Clock,
        reporter: GovernanceReporter,
        alerts: AlertSink,
        auto_actions: Mapping[pb.IncidentSeverity.ValueType, Sequence[str]],
        pause_live: Command | None,
    ) -> None:
        self._engine = engine
        self._bus = bus
        self._clock = clock
        self._reporter = reporter
        self._alerts = alerts
        self._auto_actions = auto_actions
        self._pause_live = pause_live
        self._lock = asyncio.Lock()
        self._flatten_requests: dict[str, str] = {}
        """report_id of a flatten request → its incident, for acknowledgements."""

    # -- storage -------------------------------------------------------------------------------

    def _load(self, incident_id: str) -> pb.Incident:
        with self._engine.connect() as conn:
            body = conn.execute(
                select(incidents.c.body).where(incidents.c.incident_id == incident_id)
            ).scalar_one_or_none()
        if body is None:
            raise NotFound(f"incident {incident_id!r} does not exist")
        return pb.Incident.FromString(body)

    def open_incidents(self) -> list[pb.Incident]:
        """Every incident whose impact is not over (few: read whole)."""
        with self._engine.connect() as conn:
            bodies = conn.execute(select(incidents.c.body).where(incidents.c.state == pb.INCIDENT_STATE_OPEN)).scalars()
            return [pb.Incident.FromString(body) for body in bodies]

    def _save(self, incident: pb.Incident, *, new: bool = False) -> None:
        row = {"state": incident.state, "body": incident.SerializeToString(deterministic=True),
               "rca_due_us": incident.rca_due_at.ToMicroseconds() if incident.HasField("rca_due_at") else None}  # fmt: skip
        with self._engine.begin() as conn:
            if new:
                conn.execute(insert(incidents), {**row, "incident_id": incident.incident_id,
                                                 "declared_us": incident.declared_at.ToMicroseconds()})  # fmt: skip
            else:
                conn.execute(
                    update(incidents).where(incidents.c.incident_id == incident.incident_id).values(**row)
                )

    async def _note(
        self, incident: pb.Incident, actor: str, action: str, detail: str, report_id: str = ""
    ) -> None:
        """One timeline entry, also told on the bus."""
        incident.timeline.append(pb.TimelineEntry(at=to_timestamp(self._clock.now()), actor=actor, action=action,
                                                  detail=detail, report_id=report_id))  # fmt: skip
        await self._reporter.operations(
            f"incident:{incident.incident_id}", f"incident.{action}", rpb.COMPONENT_STATUS_HEALTHY, rpb.SEVERITY_INFO,
            f"incident {incident.incident_id} ({severity_name(incident.severity)}): {detail}",
            {"incident_id": incident.incident_id, "actor": actor, "state": state_name(incident.state)},
        )  # fmt: skip

    async def _change(
        self, incident_id: str, change: Callable[[pb.Incident], Awaitable[None]]
    ) -> pb.Incident:
        if not incident_id:
            raise InvalidArgument.field("incident_id", "is required")
        async with self._lock:
            incident = await asyncio.to_thread(self._load, incident_id)
            await change(incident)
            await asyncio.to_thread(self._save, incident)
            return incident

    # -- the life of an incident ---------------------------------------------------------------

    async def declare(
        self, title: str, severity: pb.IncidentSeverity.ValueType, description: str, by: str
    ) -> pb.Incident:
        violations = []
        if not title.strip():
            violations.append(FieldViolation("title", "is required"))
        if severity not in (pb.INCIDENT_SEVERITY_SEV1, pb.INCIDENT_SEVERITY_SEV2, pb.INCIDENT_SEVERITY_SEV3):
            violations.append(FieldViolation("severity", "must be SEV1, SEV2 or SEV3"))
        if violations:
            raise InvalidArgument(violations)
        now = self._clock.now()
        incident = pb.Incident(incident_id=new_report_id(), title=title.strip(), severity=severity,
                               state=pb.INCIDENT_STATE_OPEN, declared_by=by, declared_at=to_timestamp(now),
                               description=description)  # fmt: skip
        async with self._lock:
            await self._note(
                incident, by, "declared", f"{severity_name(severity)} declared by {by}: {incident.title}"
            )
            await asyncio.to_thread(self._save, incident, new=True)
            await self._record(incident, "declared")
            for action in self._auto_actions.get(severity, ()):
                try:
                    await self._auto_action(incident, action)
                except Exception as error:  # noqa: BLE001 - one failed action must not cancel the others
                    log.exception("incident %s: auto-action %s failed", incident.incident_id, action)
                    await self._note(
                        incident, ACTOR, f"auto.{action}", f"FAILED: {type(error).__name__}: {error}"
                    )
            await asyncio.to_thread(self._save, incident)
        return incident

    async def _auto_action(self, incident: pb.Incident, action: str) -> None:
        reason = f"incident {incident.incident_id} ({severity_name(incident.severity)}): {incident.title}"
        if action == "pause_live":
            if self._pause_live is None:
                await self._note(
                    incident, ACTOR, "auto.pause_live", "no strategy registry in this mesh: nothing paused"
                )
                return
            done = await self._pause_live({"reason": reason}, self._clock.now())
            await self._note(incident, ACTOR, "auto.pause_live", done)
        elif action == "flatten":
            request = self._reporter.builder.decision(
                trace_id=incident.incident_id, action=rpb.DECISION_ACTION_FLATTEN,
                explanation=f"flatten every position: {reason}", metrics={"incident_id": incident.incident_id},
            )  # fmt: skip
            await self._bus.publish([request])
            self._flatten_requests[request.header.report_id] = incident.incident_id
            await self._note(incident, ACTOR, "auto.flatten_request",
                             "published a FLATTEN request for execution bots (governance does not trade)",
                             request.header.report_id)  # fmt: skip
        elif action == "page":
            await self._alerts.send(Alert(ACTOR, f"incident:{incident.incident_id}", rpb.SEVERITY_PAGE, reason,
                                          {"incident_id": incident.incident_id}))  # fmt: skip
            await self._note(incident, ACTOR, "auto.page", "paged on-call")

    async def assign_role(self, incident_id: str, role: str, holder: str, by: str) -> pb.Incident:
        violations = [
            FieldViolation(f, "is required") for f, v in (("role", role), ("holder", holder)) if not v.strip()
        ]
        if violations:
            raise InvalidArgument(violations)

        async def change(incident: pb.Incident) -> None:
            self._require_not(incident, pb.INCIDENT_STATE_CLOSED, "assign a role")
            for entry in incident.roles:
                if entry.role == role:
                    entry.holder = holder
                    break
            else:
                incident.roles.append(pb.IncidentRole(role=role, holder=holder))
            await self._note(incident, by, "role", f"{holder} is {role}")

        return await self._change(incident_id, change)

    async def add_note(self, incident_id: str, note: str, by: str) -> pb.Incident:
        if not note.strip():
            raise InvalidArgument.field("note", "is required")

        async def change(incident: pb.Incident) -> None:
            await self._note(incident, by, "note", note.strip())

        return await self._change(incident_id, change)

    async def resolve(self, incident_id: str, resolution: str, by: str) -> pb.Incident:
        if not resolution.strip():
            raise InvalidArgument.field("resolution", "is required: say how the impact ended")

        async def change(incident: pb.Incident) -> None:
            self._require(incident, pb.INCIDENT_STATE_OPEN, "resolve")
            incident.state = pb.INCIDENT_STATE_RESOLVED
            incident.resolved_at.CopyFrom(to_timestamp(self._clock.now()))
            await self._note(incident, by, "resolved", resolution.strip())
            if "page" in self._auto_actions.get(incident.severity, ()):
                await self._alerts.send(Alert(ACTOR, f"incident:{incident.incident_id}", rpb.SEVERITY_INFO,
                                              f"resolved: {resolution.strip()}", resolved=True))  # fmt: skip
            await self._record(incident, "resolved")

        return await self._change(incident_id, change)

    async def open_postmortem(
        self, incident_id: str, owner: str, due: datetime | None, by: str
    ) -> pb.Incident:
        violations = []
        if not owner.strip():
            violations.append(FieldViolation("rca_owner", "is required"))
        if due is None:
            violations.append(FieldViolation("rca_due_at", "is required"))
        elif due <= self._clock.now():
            violations.append(FieldViolation("rca_due_at", "must be in the future"))
        if violations:
            raise InvalidArgument(violations)
        assert due is not None

        async def change(incident: pb.Incident) -> None:
            self._require(incident, pb.INCIDENT_STATE_RESOLVED, "open a post-mortem")
            incident.state = pb.INCIDENT_STATE_POSTMORTEM
            incident.rca_owner = owner.strip()
            incident.rca_due_at.CopyFrom(to_timestamp(due))
            await self._note(
                incident, by, "postmortem.opened", f"RCA owned by {incident.rca_owner}, due {due.isoformat()}"
            )

        return await self._change(incident_id, change)

    async def close_rca(self, incident_id: str, summary: str, by: str) -> pb.Incident:
        if not summary.strip():
            raise InvalidArgument.field("summary", "is required: the root cause and the follow-ups")

        async def change(incident: pb.Incident) -> None:
            self._require(incident, pb.INCIDENT_STATE_POSTMORTEM, "close the RCA")
            incident.state = pb.INCIDENT_STATE_CLOSED
            incident.rca_summary = summary.strip()
            await self._note(incident, by, "rca.closed", incident.rca_summary)
            await self._record(incident, "closed")

        return await self._change(incident_id, change)

    @staticmethod
    def _require(incident: pb.Incident, state: pb.IncidentState.ValueType, doing: str) -> None:
        if incident.state != state:
            raise FailedPrecondition(f"cannot {doing}: incident {incident.incident_id} is {state_name(incident.state)}, "
                                     f"not {state_name(state)}")  # fmt: skip

    @staticmethod
    def _require_not(incident: pb.Incident, state: pb.IncidentState.ValueType, doing: str) -> None:
        if incident.state == state:
            raise FailedPrecondition(
                f"cannot {doing}: incident {incident.incident_id} is {state_name(state)}"
            )

    async def _record(self, incident: pb.Incident, what: str) -> None:
        details = json_format.MessageToDict(incident, preserving_proto_field_name=True)
        await self._reporter.record(f"incident.{what}", incident.incident_id,
                                    f"incident {incident.incident_id} ({severity_name(incident.severity)}) {what}: "
                                    f"{incident.title}", canonical_json(details))  # fmt: skip

    # -- reads and the RCA watch ---------------------------------------------------------------

    async def get(self, incident_id: str) -> pb.Incident:
        if not incident_id:
            raise InvalidArgument.field("incident_id", "is required")
        return await asyncio.to_thread(self._load, incident_id)

    async def list(self, states: Sequence[int], limit: int) -> list[pb.Incident]:
        query = select(incidents.c.body).order_by(incidents.c.declared_us.desc()).limit(page_size(limit))
        unknown = [
            s for s in states if s not in pb.IncidentState.values() or s == pb.INCIDENT_STATE_UNSPECIFIED
        ]
        if unknown:
            raise InvalidArgument.field("states", f"unknown incident states {unknown}")
        if states:
            query = query.where(incidents.c.state.in_(list(states)))

        def fetch() -> list[pb.Incident]:
            with self._engine.connect() as conn:
                return [pb.Incident.FromString(body) for body in conn.execute(query).scalars()]

        return await asyncio.to_thread(fetch)

    async def overdue(self) -> builtins.list[pb.Incident]:
        query = (select(incidents.c.body)
                 .where(incidents.c.state == pb.INCIDENT_STATE_POSTMORTEM, incidents.c.rca_due_us < to_micros(self._clock.now()))
                 .order_by(incidents.c.rca_due_us))  # fmt: skip

        def fetch() -> list[pb.Incident]:
            with self._engine.connect() as conn:
                return [pb.Incident.FromString(body) for body in conn.execute(query).scalars()]

        return await asyncio.to_thread(fetch)

    async def check_overdue_rcas(self, arguments: Mapping[str, str], scheduled: datetime) -> str:
        """The scheduler's command: alert (once per incident) on every RCA past its due date."""
        alerted = []
        for incident in await self.overdue():
            if any(entry.action == "rca.overdue" for entry in incident.timeline):
                continue
            due = from_timestamp(incident.rca_due_at)

            async def change(current: pb.Incident, due: datetime | None = due) -> None:
                await self._note(
                    current, ACTOR, "rca.overdue", f"RCA owned by {current.rca_owner} was due {due}"
                )

            await self._change(incident.incident_id, change)
            await self._alerts.send(Alert(ACTOR, f"incident-rca:{incident.incident_id}", rpb.SEVERITY_WARNING,
                                          f"RCA of incident {incident.incident_id} ({incident.title}) is overdue: "
                                          f"owner {incident.rca_owner}, due {due}"))  # fmt: skip
            alerted.append(incident.incident_id)
        return f"{len(alerted)} overdue RCAs alerted" + (f": {', '.join(alerted)}" if alerted else "")

    async def follow_acknowledgements(self, set_aside: SetAside) -> None:
        """Put execution bots' answers to flatten requests on their incident's timeline; an answer
        that cannot be put there is set aside."""
        for incident in await self.list([pb.INCIDENT_STATE_OPEN], 1000):
            for entry in incident.timeline:
                if entry.action == "auto.flatten_request":
                    self._flatten_requests[entry.report_id] = incident.incident_id
        kinds = frozenset({rpb.REPORT_KIND_EXECUTION, rpb.REPORT_KIND_OPERATIONS})
        async for archived in self._bus.subscribe(ReportFilter(kinds=kinds), live_only=True):
            report = rpb.Report.FromString(archived.payload)
            incident_id = self._flatten_requests.get(report.header.causation_id)
            if incident_id is None:
                continue
            body = report.execution if report.HasField("execution") else report.operations
            detail = body.explanation or f"{report.WhichOneof('body')} report"

            async def change(incident: pb.Incident, slug: str = report.header.bot_slug, text: str = detail,
                             ref: str = report.header.report_id) -> None:  # fmt: skip
                await self._note(incident, slug, "flatten.ack", text, ref)

            try:
                await self._change(incident_id, change)
            except Exception as error:  # noqa: BLE001 - keep following: the acknowledgement stays in the archive
                await set_aside.put(ACTOR, archived.seq, report, error)
