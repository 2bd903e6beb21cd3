import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DispatchOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DISPATCH_OUTCOME_UNSPECIFIED: _ClassVar[DispatchOutcome]
    DISPATCH_OUTCOME_RUNNING: _ClassVar[DispatchOutcome]
    DISPATCH_OUTCOME_SUCCEEDED: _ClassVar[DispatchOutcome]
    DISPATCH_OUTCOME_FAILED: _ClassVar[DispatchOutcome]
    DISPATCH_OUTCOME_MISSED: _ClassVar[DispatchOutcome]
    DISPATCH_OUTCOME_INTERRUPTED: _ClassVar[DispatchOutcome]

class BotStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BOT_STATUS_UNSPECIFIED: _ClassVar[BotStatus]
    BOT_STATUS_UNKNOWN: _ClassVar[BotStatus]
    BOT_STATUS_SERVING: _ClassVar[BotStatus]
    BOT_STATUS_NOT_SERVING: _ClassVar[BotStatus]
    BOT_STATUS_UNREACHABLE: _ClassVar[BotStatus]

class SloKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SLO_KIND_UNSPECIFIED: _ClassVar[SloKind]
    SLO_KIND_AVAILABILITY: _ClassVar[SloKind]
    SLO_KIND_LATENCY: _ClassVar[SloKind]

class IncidentSeverity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INCIDENT_SEVERITY_UNSPECIFIED: _ClassVar[IncidentSeverity]
    INCIDENT_SEVERITY_SEV1: _ClassVar[IncidentSeverity]
    INCIDENT_SEVERITY_SEV2: _ClassVar[IncidentSeverity]
    INCIDENT_SEVERITY_SEV3: _ClassVar[IncidentSeverity]

class IncidentState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INCIDENT_STATE_UNSPECIFIED: _ClassVar[IncidentState]
    INCIDENT_STATE_OPEN: _ClassVar[IncidentState]
    INCIDENT_STATE_RESOLVED: _ClassVar[IncidentState]
    INCIDENT_STATE_POSTMORTEM: _ClassVar[IncidentState]
    INCIDENT_STATE_CLOSED: _ClassVar[IncidentState]
DISPATCH_OUTCOME_UNSPECIFIED: DispatchOutcome
DISPATCH_OUTCOME_RUNNING: DispatchOutcome
DISPATCH_OUTCOME_SUCCEEDED: DispatchOutcome
DISPATCH_OUTCOME_FAILED: DispatchOutcome
DISPATCH_OUTCOME_MISSED: DispatchOutcome
DISPATCH_OUTCOME_INTERRUPTED: DispatchOutcome
BOT_STATUS_UNSPECIFIED: BotStatus
BOT_STATUS_UNKNOWN: BotStatus
BOT_STATUS_SERVING: BotStatus
BOT_STATUS_NOT_SERVING: BotStatus
BOT_STATUS_UNREACHABLE: BotStatus
SLO_KIND_UNSPECIFIED: SloKind
SLO_KIND_AVAILABILITY: SloKind
SLO_KIND_LATENCY: SloKind
INCIDENT_SEVERITY_UNSPECIFIED: IncidentSeverity
INCIDENT_SEVERITY_SEV1: IncidentSeverity
INCIDENT_SEVERITY_SEV2: IncidentSeverity
INCIDENT_SEVERITY_SEV3: IncidentSeverity
INCIDENT_STATE_UNSPECIFIED: IncidentState
INCIDENT_STATE_OPEN: IncidentState
INCIDENT_STATE_RESOLVED: IncidentState
INCIDENT_STATE_POSTMORTEM: IncidentState
INCIDENT_STATE_CLOSED: IncidentState

class CronTask(_message.Message):
    __slots__ = ("name", "cron_expression", "target", "arguments", "enabled", "deadline_seconds", "last_scheduled_at", "next_at")
    class ArgumentsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    CRON_EXPRESSION_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    ARGUMENTS_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    LAST_SCHEDULED_AT_FIELD_NUMBER: _ClassVar[int]
    NEXT_AT_FIELD_NUMBER: _ClassVar[int]
    name: str
    cron_expression: str
    target: str
    arguments: _containers.ScalarMap[str, str]
    enabled: bool
    deadline_seconds: int
    last_scheduled_at: _timestamp_pb2.Timestamp
    next_at: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., cron_expression: _Optional[str] = ..., target: _Optional[str] = ..., arguments: _Optional[_Mapping[str, str]] = ..., enabled: _Optional[bool] = ..., deadline_seconds: _Optional[int] = ..., last_scheduled_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., next_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Dispatch(_message.Message):
    __slots__ = ("dispatch_id", "task", "scheduled_at", "started_at", "finished_at", "lateness_micros", "outcome", "detail", "triggered_by")
    DISPATCH_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    SCHEDULED_AT_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    LATENESS_MICROS_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    TRIGGERED_BY_FIELD_NUMBER: _ClassVar[int]
    dispatch_id: str
    task: str
    scheduled_at: _timestamp_pb2.Timestamp
    started_at: _timestamp_pb2.Timestamp
    finished_at: _timestamp_pb2.Timestamp
    lateness_micros: int
    outcome: DispatchOutcome
    detail: str
    triggered_by: str
    def __init__(self, dispatch_id: _Optional[str] = ..., task: _Optional[str] = ..., scheduled_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., lateness_micros: _Optional[int] = ..., outcome: _Optional[_Union[DispatchOutcome, str]] = ..., detail: _Optional[str] = ..., triggered_by: _Optional[str] = ...) -> None: ...

class ListScheduleRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListScheduleResponse(_message.Message):
    __slots__ = ("tasks",)
    TASKS_FIELD_NUMBER: _ClassVar[int]
    tasks: _containers.RepeatedCompositeFieldContainer[CronTask]
    def __init__(self, tasks: _Optional[_Iterable[_Union[CronTask, _Mapping]]] = ...) -> None: ...

class ListDispatchesRequest(_message.Message):
    __slots__ = ("task", "limit")
    TASK_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    task: str
    limit: int
    def __init__(self, task: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class ListDispatchesResponse(_message.Message):
    __slots__ = ("dispatches",)
    DISPATCHES_FIELD_NUMBER: _ClassVar[int]
    dispatches: _containers.RepeatedCompositeFieldContainer[Dispatch]
    def __init__(self, dispatches: _Optional[_Iterable[_Union[Dispatch, _Mapping]]] = ...) -> None: ...

class TriggerNowRequest(_message.Message):
    __slots__ = ("task",)
    TASK_FIELD_NUMBER: _ClassVar[int]
    task: str
    def __init__(self, task: _Optional[str] = ...) -> None: ...

class TriggerNowResponse(_message.Message):
    __slots__ = ("dispatch",)
    DISPATCH_FIELD_NUMBER: _ClassVar[int]
    dispatch: Dispatch
    def __init__(self, dispatch: _Optional[_Union[Dispatch, _Mapping]] = ...) -> None: ...

class BotHealth(_message.Message):
    __slots__ = ("bot_slug", "bot_class", "layer", "target", "status", "consecutive_misses", "last_serving_at", "alerting", "detail", "restarts")
    BOT_SLUG_FIELD_NUMBER: _ClassVar[int]
    BOT_CLASS_FIELD_NUMBER: _ClassVar[int]
    LAYER_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CONSECUTIVE_MISSES_FIELD_NUMBER: _ClassVar[int]
    LAST_SERVING_AT_FIELD_NUMBER: _ClassVar[int]
    ALERTING_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    RESTARTS_FIELD_NUMBER: _ClassVar[int]
    bot_slug: str
    bot_class: str
    layer: str
    target: str
    status: BotStatus
    consecutive_misses: int
    last_serving_at: _timestamp_pb2.Timestamp
    alerting: bool
    detail: str
    restarts: int
    def __init__(self, bot_slug: _Optional[str] = ..., bot_class: _Optional[str] = ..., layer: _Optional[str] = ..., target: _Optional[str] = ..., status: _Optional[_Union[BotStatus, str]] = ..., consecutive_misses: _Optional[int] = ..., last_serving_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., alerting: _Optional[bool] = ..., detail: _Optional[str] = ..., restarts: _Optional[int] = ...) -> None: ...

class LayerHealth(_message.Message):
    __slots__ = ("layer", "bots", "serving", "alerting")
    LAYER_FIELD_NUMBER: _ClassVar[int]
    BOTS_FIELD_NUMBER: _ClassVar[int]
    SERVING_FIELD_NUMBER: _ClassVar[int]
    ALERTING_FIELD_NUMBER: _ClassVar[int]
    layer: str
    bots: int
    serving: int
    alerting: int
    def __init__(self, layer: _Optional[str] = ..., bots: _Optional[int] = ..., serving: _Optional[int] = ..., alerting: _Optional[int] = ...) -> None: ...

class FleetHealth(_message.Message):
    __slots__ = ("sweep", "swept_at", "bots", "layers", "duration_micros")
    SWEEP_FIELD_NUMBER: _ClassVar[int]
    SWEPT_AT_FIELD_NUMBER: _ClassVar[int]
    BOTS_FIELD_NUMBER: _ClassVar[int]
    LAYERS_FIELD_NUMBER: _ClassVar[int]
    DURATION_MICROS_FIELD_NUMBER: _ClassVar[int]
    sweep: int
    swept_at: _timestamp_pb2.Timestamp
    bots: _containers.RepeatedCompositeFieldContainer[BotHealth]
    layers: _containers.RepeatedCompositeFieldContainer[LayerHealth]
    duration_micros: int
    def __init__(self, sweep: _Optional[int] = ..., swept_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., bots: _Optional[_Iterable[_Union[BotHealth, _Mapping]]] = ..., layers: _Optional[_Iterable[_Union[LayerHealth, _Mapping]]] = ..., duration_micros: _Optional[int] = ...) -> None: ...

class GetFleetHealthRequest(_message.Message):
    __slots__ = ("layer",)
    LAYER_FIELD_NUMBER: _ClassVar[int]
    layer: str
    def __init__(self, layer: _Optional[str] = ...) -> None: ...

class GetFleetHealthResponse(_message.Message):
    __slots__ = ("fleet",)
    FLEET_FIELD_NUMBER: _ClassVar[int]
    fleet: FleetHealth
    def __init__(self, fleet: _Optional[_Union[FleetHealth, _Mapping]] = ...) -> None: ...

class WatchFleetHealthRequest(_message.Message):
    __slots__ = ("layer",)
    LAYER_FIELD_NUMBER: _ClassVar[int]
    layer: str
    def __init__(self, layer: _Optional[str] = ...) -> None: ...

class WatchFleetHealthResponse(_message.Message):
    __slots__ = ("fleet",)
    FLEET_FIELD_NUMBER: _ClassVar[int]
    fleet: FleetHealth
    def __init__(self, fleet: _Optional[_Union[FleetHealth, _Mapping]] = ...) -> None: ...

class BurnRateAlert(_message.Message):
    __slots__ = ("severity", "long_window_seconds", "short_window_seconds", "threshold", "long_burn_rate", "short_burn_rate", "firing")
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    LONG_WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SHORT_WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    LONG_BURN_RATE_FIELD_NUMBER: _ClassVar[int]
    SHORT_BURN_RATE_FIELD_NUMBER: _ClassVar[int]
    FIRING_FIELD_NUMBER: _ClassVar[int]
    severity: str
    long_window_seconds: int
    short_window_seconds: int
    threshold: str
    long_burn_rate: str
    short_burn_rate: str
    firing: bool
    def __init__(self, severity: _Optional[str] = ..., long_window_seconds: _Optional[int] = ..., short_window_seconds: _Optional[int] = ..., threshold: _Optional[str] = ..., long_burn_rate: _Optional[str] = ..., short_burn_rate: _Optional[str] = ..., firing: _Optional[bool] = ...) -> None: ...

class SloStatus(_message.Message):
    __slots__ = ("name", "service", "kind", "objective", "latency_threshold_ms", "window_days", "good", "total", "error_budget_remaining", "alerts", "evaluated_at")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    OBJECTIVE_FIELD_NUMBER: _ClassVar[int]
    LATENCY_THRESHOLD_MS_FIELD_NUMBER: _ClassVar[int]
    WINDOW_DAYS_FIELD_NUMBER: _ClassVar[int]
    GOOD_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    ERROR_BUDGET_REMAINING_FIELD_NUMBER: _ClassVar[int]
    ALERTS_FIELD_NUMBER: _ClassVar[int]
    EVALUATED_AT_FIELD_NUMBER: _ClassVar[int]
    name: str
    service: str
    kind: SloKind
    objective: str
    latency_threshold_ms: int
    window_days: int
    good: int
    total: int
    error_budget_remaining: str
    alerts: _containers.RepeatedCompositeFieldContainer[BurnRateAlert]
    evaluated_at: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., service: _Optional[str] = ..., kind: _Optional[_Union[SloKind, str]] = ..., objective: _Optional[str] = ..., latency_threshold_ms: _Optional[int] = ..., window_days: _Optional[int] = ..., good: _Optional[int] = ..., total: _Optional[int] = ..., error_budget_remaining: _Optional[str] = ..., alerts: _Optional[_Iterable[_Union[BurnRateAlert, _Mapping]]] = ..., evaluated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListSlosRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListSlosResponse(_message.Message):
    __slots__ = ("slos",)
    SLOS_FIELD_NUMBER: _ClassVar[int]
    slos: _containers.RepeatedCompositeFieldContainer[SloStatus]
    def __init__(self, slos: _Optional[_Iterable[_Union[SloStatus, _Mapping]]] = ...) -> None: ...

class TimelineEntry(_message.Message):
    __slots__ = ("at", "actor", "action", "detail", "report_id")
    AT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    REPORT_ID_FIELD_NUMBER: _ClassVar[int]
    at: _timestamp_pb2.Timestamp
    actor: str
    action: str
    detail: str
    report_id: str
    def __init__(self, at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., actor: _Optional[str] = ..., action: _Optional[str] = ..., detail: _Optional[str] = ..., report_id: _Optional[str] = ...) -> None: ...

class IncidentRole(_message.Message):
    __slots__ = ("role", "holder")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    role: str
    holder: str
    def __init__(self, role: _Optional[str] = ..., holder: _Optional[str] = ...) -> None: ...

class Incident(_message.Message):
    __slots__ = ("incident_id", "title", "severity", "state", "declared_by", "declared_at", "resolved_at", "roles", "timeline", "rca_owner", "rca_due_at", "rca_summary", "description")
    INCIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    DECLARED_BY_FIELD_NUMBER: _ClassVar[int]
    DECLARED_AT_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_AT_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    TIMELINE_FIELD_NUMBER: _ClassVar[int]
    RCA_OWNER_FIELD_NUMBER: _ClassVar[int]
    RCA_DUE_AT_FIELD_NUMBER: _ClassVar[int]
    RCA_SUMMARY_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    incident_id: str
    title: str
    severity: IncidentSeverity
    state: IncidentState
    declared_by: str
    declared_at: _timestamp_pb2.Timestamp
    resolved_at: _timestamp_pb2.Timestamp
    roles: _containers.RepeatedCompositeFieldContainer[IncidentRole]
    timeline: _containers.RepeatedCompositeFieldContainer[TimelineEntry]
    rca_owner: str
    rca_due_at: _timestamp_pb2.Timestamp
    rca_summary: str
    description: str
    def __init__(self, incident_id: _Optional[str] = ..., title: _Optional[str] = ..., severity: _Optional[_Union[IncidentSeverity, str]] = ..., state: _Optional[_Union[IncidentState, str]] = ..., declared_by: _Optional[str] = ..., declared_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., resolved_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., roles: _Optional[_Iterable[_Union[IncidentRole, _Mapping]]] = ..., timeline: _Optional[_Iterable[_Union[TimelineEntry, _Mapping]]] = ..., rca_owner: _Optional[str] = ..., rca_due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., rca_summary: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class DeclareIncidentRequest(_message.Message):
    __slots__ = ("title", "severity", "description")
    TITLE_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    title: str
    severity: IncidentSeverity
    description: str
    def __init__(self, title: _Optional[str] = ..., severity: _Optional[_Union[IncidentSeverity, str]] = ..., description: _Optional[str] = ...) -> None: ...

class DeclareIncidentResponse(_message.Message):
    __slots__ = ("incident",)
    INCIDENT_FIELD_NUMBER: _ClassVar[int]
    incident: Incident
    def __init__(self, incident: _Optional[_Union[Incident, _Mapping]] = ...) -> None: ...

class GetIncidentRequest(_message.Message):
    __slots__ = ("incident_id",)
    INCIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    incident_id: str
    def __init__(self, incident_id: _Optional[str] = ...) -> None: ...

class GetIncidentResponse(_message.Message):
    __slots__ = ("incident",)
    INCIDENT_FIELD_NUMBER: _ClassVar[int]
    incident: Incident
    def __init__(self, incident: _Optional[_Union[Incident, _Mapping]] = ...) -> None: ...

class ListIncidentsRequest(_message.Message):
    __slots__ = ("states", "limit")
    STATES_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    states: _containers.RepeatedScalarFieldContainer[IncidentState]
    limit: int
    def __init__(self, states: _Optional[_Iterable[_Union[IncidentState, str]]] = ..., limit: _Optional[int] = ...) -> None: ...

class ListIncidentsResponse(_message.Message):
    __slots__ = ("incidents",)
    INCIDENTS_FIELD_NUMBER: _ClassVar[int]
    incidents: _containers.RepeatedCompositeFieldContainer[Incident]
    def __init__(self, incidents: _Optional[_Iterable[_Union[Incident, _Mapping]]] = ...) -> None: ...

class AssignRoleRequest(_message.Message):
    __slots__ = ("incident_id", "role", "holder")
    INCIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    incident_id: str
    role: str
    holder: str
    def __init__(self, incident_id: _Optional[str] = ..., role: _Optional[str] = ..., holder: _Optional[str] = ...) -> None: ...

class AssignRoleResponse(_message.Message):
    __slots__ = ("incident",)
    INCIDENT_FIELD_NUMBER: _ClassVar[int]
    incident: Incident
    def __init__(self, incident: _Optional[_Union[Incident, _Mapping]] = ...) -> None: ...

class AddNoteRequest(_message.Message):
    __slots__ = ("incident_id", "note")
    INCIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    incident_id: str
    note: str
    def __init__(self, incident_id: _Optional[str] = ..., note: _Optional[str] = ...) -> None: ...

class AddNoteResponse(_message.Message):
    __slots__ = ("incident",)
    INCIDENT_FIELD_NUMBER: _ClassVar[int]
    incident: Incident
    def __init__(self, incident: _Optional[_Union[Incident, _Mapping]] = ...) -> None: ...

class ResolveIncidentRequest(_message.Message):
    __slots__ = ("incident_id", "resolution")
    INCIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_FIELD_NUMBER: _ClassVar[int]
    incident_id: str
    resolution: str
    def __init__(self, incident_id: _Optional[str] = ..., resolution: _Optional[str] = ...) -> None: ...

class ResolveIncidentResponse(_message.Message):
    __slots__ = ("incident",)
    INCIDENT_FIELD_NUMBER: _ClassVar[int]
    incident: Incident
    def __init__(self, incident: _Optional[_Union[Incident, _Mapping]] = ...) -> None: ...

class OpenPostmortemRequest(_message.Message):
    __slots__ = ("incident_id", "rca_owner", "rca_due_at")
    INCIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    RCA_OWNER_FIELD_NUMBER: _ClassVar[int]
    RCA_DUE_AT_FIELD_NUMBER: _ClassVar[int]
    incident_id: str
    rca_owner: str
    rca_due_at: _timestamp_pb2.Timestamp
    def __init__(self, incident_id: _Optional[str] = ..., rca_owner: _Optional[str] = ..., rca_due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class OpenPostmortemResponse(_message.Message):
    __slots__ = ("incident",)
    INCIDENT_FIELD_NUMBER: _ClassVar[int]
    incident: Incident
    def __init__(self, incident: _Optional[_Union[Incident, _Mapping]] = ...) -> None: ...

class CloseRcaRequest(_message.Message):
    __slots__ = ("incident_id", "summary")
    INCIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    incident_id: str
    summary: str
    def __init__(self, incident_id: _Optional[str] = ..., summary: _Optional[str] = ...) -> None: ...

class CloseRcaResponse(_message.Message):
    __slots__ = ("incident",)
    INCIDENT_FIELD_NUMBER: _ClassVar[int]
    incident: Incident
    def __init__(self, incident: _Optional[_Union[Incident, _Mapping]] = ...) -> None: ...

class ListOverdueRcasRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListOverdueRcasResponse(_message.Message):
    __slots__ = ("incidents",)
    INCIDENTS_FIELD_NUMBER: _ClassVar[int]
    incidents: _containers.RepeatedCompositeFieldContainer[Incident]
    def __init__(self, incidents: _Optional[_Iterable[_Union[Incident, _Mapping]]] = ...) -> None: ...
