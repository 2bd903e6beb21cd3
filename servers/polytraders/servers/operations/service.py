"""The operations group's servicers, and how the group is built from the mesh's parts.

CronRunner and HealthHeartbeat are internal: operators and auditors only, nothing in the
bot-facing SDK; the fleet hears from them through reports on the bus.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from functools import partial
from pathlib import Path

from polytraders.governance.v1 import operations_pb2 as pb
from polytraders.governance.v1 import operations_pb2_grpc as pb_grpc
from polytraders.servers.runtime import auth
from polytraders.servers.runtime.errors import PermissionDenied
from polytraders.servers.runtime.parts import MeshParts
from polytraders.servers.runtime.reporter import GovernanceReporter
from polytraders.servers.runtime.requests import ServicerContext, instant, page_size
from polytraders.servers.runtime.server import ServiceBinding

from .cron import DUTY as CRON_DUTY
from .cron import CronRunner, load_manifest
from .heartbeat import HealthHeartbeat, check_layer, load_fleet
from .incidents import IncidentCommander, check_actions
from .metrics import dispatch_counter, operations_state
from .pager import LogAlertSink, WebhookAlertSink
from .slo import SlaMonitor

HERE = Path(__file__).parent
CRON_ACCESS = {
    "ListSchedule": auth.INTERNAL_READ,
    "ListDispatches": auth.INTERNAL_READ,
    "TriggerNow": auth.OPERATE,
}
HEARTBEAT_ACCESS = {"GetFleetHealth": auth.INTERNAL_READ, "WatchFleetHealth": auth.INTERNAL_READ}
SLO_ACCESS = {"ListSlos": auth.READ}
INCIDENT_ACCESS = {
    "DeclareIncident": auth.BOT_WRITE,  # operators, and the guard and monitor bots of incident_declarers
    "GetIncident": auth.READ,
    "ListIncidents": auth.READ,
    "AssignRole": auth.OPERATE,
    "AddNote": auth.OPERATE,
    "ResolveIncident": auth.OPERATE,
    "OpenPostmortem": auth.OPERATE,
    "CloseRca": auth.OPERATE,
    "ListOverdueRcas": auth.READ,
}


def _caller() -> str:
    return auth.current_principal().name


class CronRunnerServicer(pb_grpc.CronRunnerServiceServicer):
    def __init__(self, cron: CronRunner) -> None:
        self._cron = cron

    async def ListSchedule(
        self, request: pb.ListScheduleRequest, context: ServicerContext
    ) -> pb.ListScheduleResponse:
        return pb.ListScheduleResponse(tasks=self._cron.schedule())

    async def ListDispatches(
        self, request: pb.ListDispatchesRequest, context: ServicerContext
    ) -> pb.ListDispatchesResponse:
        found = await asyncio.to_thread(self._cron.dispatches, request.task, page_size(request.limit))
        return pb.ListDispatchesResponse(dispatches=found)

    async def TriggerNow(
        self, request: pb.TriggerNowRequest, context: ServicerContext
    ) -> pb.TriggerNowResponse:
        return pb.TriggerNowResponse(dispatch=await self._cron.trigger_now(request.task, _caller()))


class HealthHeartbeatServicer(pb_grpc.HealthHeartbeatServiceServicer):
    def __init__(self, heartbeat: HealthHeartbeat) -> None:
        self._heartbeat = heartbeat

    async def GetFleetHealth(
        self, request: pb.GetFleetHealthRequest, context: ServicerContext
    ) -> pb.GetFleetHealthResponse:
        return pb.GetFleetHealthResponse(
            fleet=await self._heartbeat.fleet(check_layer(self._heartbeat, request.layer))
        )

    async def WatchFleetHealth(
        self, request: pb.WatchFleetHealthRequest, context: ServicerContext
    ) -> AsyncIterator[pb.WatchFleetHealthResponse]:
        async for fleet in self._heartbeat.watch(check_layer(self._heartbeat, request.layer)):
            yield pb.WatchFleetHealthResponse(fleet=fleet)


class SlaMonitorServicer(pb_grpc.SlaMonitorServiceServicer):
    def __init__(self, monitor: SlaMonitor) -> None:
        self._monitor = monitor

    async def ListSlos(self, request: pb.ListSlosRequest, context: ServicerContext) -> pb.ListSlosResponse:
        return pb.ListSlosResponse(slos=await self._monitor.last())


class IncidentCommanderServicer(pb_grpc.IncidentCommanderServiceServicer):
    def __init__(self, commander: IncidentCommander, declarers: frozenset[str]) -> None:
        self._commander = commander
        self._declarers = declarers

    async def DeclareIncident(
        self, request: pb.DeclareIncidentRequest, context: ServicerContext
    ) -> pb.DeclareIncidentResponse:
        caller = auth.current_principal()
        if caller.role is auth.Role.BOT and caller.bot_slug not in self._declarers:
            raise PermissionDenied(f"bot {caller.bot_slug!r} is not a guard or monitor allowed to declare incidents "
                                   "(incident_declarers)")  # fmt: skip
        incident = await self._commander.declare(
            request.title, request.severity, request.description, caller.name
        )
        return pb.DeclareIncidentResponse(incident=incident)

    async def GetIncident(
        self, request: pb.GetIncidentRequest, context: ServicerContext
    ) -> pb.GetIncidentResponse:
        return pb.GetIncidentResponse(incident=await self._commander.get(request.incident_id))

    async def ListIncidents(
        self, request: pb.ListIncidentsRequest, context: ServicerContext
    ) -> pb.ListIncidentsResponse:
        return pb.ListIncidentsResponse(incidents=await self._commander.list(request.states, request.limit))

    async def AssignRole(
        self, request: pb.AssignRoleRequest, context: ServicerContext
    ) -> pb.AssignRoleResponse:
        incident = await self._commander.assign_role(
            request.incident_id, request.role, request.holder, _caller()
        )
        return pb.AssignRoleResponse(incident=incident)

    async def AddNote(self, request: pb.AddNoteRequest, context: ServicerContext) -> pb.AddNoteResponse:
        return pb.AddNoteResponse(
            incident=await self._commander.add_note(request.incident_id, request.note, _caller())
        )

    async def ResolveIncident(
        self, request: pb.ResolveIncidentRequest, context: ServicerContext
    ) -> pb.ResolveIncidentResponse:
        incident = await self._commander.resolve(request.incident_id, request.resolution, _caller())
        return pb.ResolveIncidentResponse(incident=incident)

    async def OpenPostmortem(
        self, request: pb.OpenPostmortemRequest, context: ServicerContext
    ) -> pb.OpenPostmortemResponse:
        incident = await self._commander.open_postmortem(request.incident_id, request.rca_owner,
                                                         instant(request.rca_due_at, "rca_due_at"), _caller())  # fmt: skip
        return pb.OpenPostmortemResponse(incident=incident)

    async def CloseRca(self, request: pb.CloseRcaRequest, context: ServicerContext) -> pb.CloseRcaResponse:
        return pb.CloseRcaResponse(
            incident=await self._commander.close_rca(request.incident_id, request.summary, _caller())
        )

    async def ListOverdueRcas(
        self, request: pb.ListOverdueRcasRequest, context: ServicerContext
    ) -> pb.ListOverdueRcasResponse:
        return pb.ListOverdueRcasResponse(incidents=await self._commander.overdue())


def operations_bindings(parts: MeshParts) -> list[ServiceBinding]:
    config = parts.config
    parts.alerts.add(LogAlertSink())
    if config.pager_webhook_url:
        pager = WebhookAlertSink(config.pager_webhook_url, config.pager_routing_key)
        parts.alerts.add(pager)
        parts.on_stop.append(pager.close)

    heartbeat = HealthHeartbeat(
        load_fleet(config.fleet_manifest) if config.fleet_manifest else [], parts.engine, parts.clock, parts.alerts,
        GovernanceReporter(parts.bus, "health-heartbeat", parts.clock),
        misses_to_alert=config.missed_heartbeats_to_alert, probe_deadline_seconds=config.probe_deadline_seconds,
    )  # fmt: skip
    monitor = SlaMonitor(parts.slo_counter, GovernanceReporter(parts.bus, "sla-monitor", parts.clock), parts.alerts)
    commander = IncidentCommander(
        parts.engine, parts.bus, parts.clock, GovernanceReporter(parts.bus, "incident-commander", parts.clock),
        parts.alerts, check_actions({"sev1": config.incident_sev1_actions, "sev2": config.incident_sev2_actions,
                                     "sev3": config.incident_sev3_actions}),
        parts.commands.get("registry.pause_live"),
    )  # fmt: skip

    async def evaluate_slos(arguments: Mapping[str, str], scheduled: datetime) -> str:
        statuses = await monitor.evaluate()
        firing = [f"{s.name} ({a.severity})" for s in statuses for a in s.alerts if a.firing]
        return f"{len(statuses)} SLOs evaluated; burning: {', '.join(firing) or 'none'}"

    parts.commands["slo.evaluate"] = evaluate_slos
    parts.commands["incidents.check_rcas"] = commander.check_overdue_rcas
    cron = CronRunner(load_manifest(config.cron_manifest or HERE / "default_cron.toml"), parts.engine, parts.clock,
                      parts.commands, GovernanceReporter(parts.bus, "cron-runner", parts.clock), parts.alerts,
                      dispatch_counter(parts.metrics))  # fmt: skip
    parts.metrics.state(partial(operations_state, heartbeat, commander, parts.engine))

    async def sweep() -> None:
        monitor.record_sweep(await heartbeat.sweep())

    parts.lead(CRON_DUTY, lambda: cron.run(parts.stopping, config.cron_poll_seconds))
    if heartbeat.layers:
        parts.every(config.heartbeat_interval_seconds, sweep, duty="operations.health-sweep")
        parts.spawn(heartbeat.follow_sweeps(parts.bus))
    parts.on_stop.append(heartbeat.close)
    parts.lead("operations.flatten-acks", lambda: commander.follow_acknowledgements(parts.set_aside))
    return [
        ServiceBinding.of(pb, "CronRunnerService", CronRunnerServicer(cron), CRON_ACCESS),
        ServiceBinding.of(pb, "HealthHeartbeatService", HealthHeartbeatServicer(heartbeat), HEARTBEAT_ACCESS),
        ServiceBinding.of(pb, "SlaMonitorService", SlaMonitorServicer(monitor), SLO_ACCESS),
        ServiceBinding.of(
            pb,
            "IncidentCommanderService",
            IncidentCommanderServicer(commander, frozenset(config.incident_declarers)),
            INCIDENT_ACCESS,
        ),
    ]
