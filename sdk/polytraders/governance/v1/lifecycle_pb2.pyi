import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Stage(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STAGE_UNSPECIFIED: _ClassVar[Stage]
    STAGE_SPEC: _ClassVar[Stage]
    STAGE_BACKTEST: _ClassVar[Stage]
    STAGE_PAPER: _ClassVar[Stage]
    STAGE_SHADOW: _ClassVar[Stage]
    STAGE_LIMITED_LIVE: _ClassVar[Stage]
    STAGE_GENERAL_LIVE: _ClassVar[Stage]
    STAGE_PAUSED: _ClassVar[Stage]
    STAGE_RETIRED: _ClassVar[Stage]

class ArtefactKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ARTEFACT_KIND_UNSPECIFIED: _ClassVar[ArtefactKind]
    ARTEFACT_KIND_BACKTEST_RUN: _ClassVar[ArtefactKind]
    ARTEFACT_KIND_PAPER_REPORT: _ClassVar[ArtefactKind]
    ARTEFACT_KIND_PAPER_GATE: _ClassVar[ArtefactKind]
    ARTEFACT_KIND_EXPERIMENT: _ClassVar[ArtefactKind]
    ARTEFACT_KIND_INCIDENT: _ClassVar[ArtefactKind]

class PauseSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PAUSE_SOURCE_UNSPECIFIED: _ClassVar[PauseSource]
    PAUSE_SOURCE_OPERATOR: _ClassVar[PauseSource]
    PAUSE_SOURCE_PORTFOLIO_SYNC: _ClassVar[PauseSource]
    PAUSE_SOURCE_INCIDENT_COMMANDER: _ClassVar[PauseSource]
    PAUSE_SOURCE_EXPERIMENT_TRACKER: _ClassVar[PauseSource]
STAGE_UNSPECIFIED: Stage
STAGE_SPEC: Stage
STAGE_BACKTEST: Stage
STAGE_PAPER: Stage
STAGE_SHADOW: Stage
STAGE_LIMITED_LIVE: Stage
STAGE_GENERAL_LIVE: Stage
STAGE_PAUSED: Stage
STAGE_RETIRED: Stage
ARTEFACT_KIND_UNSPECIFIED: ArtefactKind
ARTEFACT_KIND_BACKTEST_RUN: ArtefactKind
ARTEFACT_KIND_PAPER_REPORT: ArtefactKind
ARTEFACT_KIND_PAPER_GATE: ArtefactKind
ARTEFACT_KIND_EXPERIMENT: ArtefactKind
ARTEFACT_KIND_INCIDENT: ArtefactKind
PAUSE_SOURCE_UNSPECIFIED: PauseSource
PAUSE_SOURCE_OPERATOR: PauseSource
PAUSE_SOURCE_PORTFOLIO_SYNC: PauseSource
PAUSE_SOURCE_INCIDENT_COMMANDER: PauseSource
PAUSE_SOURCE_EXPERIMENT_TRACKER: PauseSource

class LiveCap(_message.Message):
    __slots__ = ("stage", "max_notional_micros", "max_position_micros")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    MAX_NOTIONAL_MICROS_FIELD_NUMBER: _ClassVar[int]
    MAX_POSITION_MICROS_FIELD_NUMBER: _ClassVar[int]
    stage: Stage
    max_notional_micros: int
    max_position_micros: int
    def __init__(self, stage: _Optional[_Union[Stage, str]] = ..., max_notional_micros: _Optional[int] = ..., max_position_micros: _Optional[int] = ...) -> None: ...

class PaperGate(_message.Message):
    __slots__ = ("continuous_paper_days", "risk_adjusted_return")
    CONTINUOUS_PAPER_DAYS_FIELD_NUMBER: _ClassVar[int]
    RISK_ADJUSTED_RETURN_FIELD_NUMBER: _ClassVar[int]
    continuous_paper_days: int
    risk_adjusted_return: str
    def __init__(self, continuous_paper_days: _Optional[int] = ..., risk_adjusted_return: _Optional[str] = ...) -> None: ...

class Artefact(_message.Message):
    __slots__ = ("kind", "ref", "linked_at", "linked_by", "paper_gate")
    KIND_FIELD_NUMBER: _ClassVar[int]
    REF_FIELD_NUMBER: _ClassVar[int]
    LINKED_AT_FIELD_NUMBER: _ClassVar[int]
    LINKED_BY_FIELD_NUMBER: _ClassVar[int]
    PAPER_GATE_FIELD_NUMBER: _ClassVar[int]
    kind: ArtefactKind
    ref: str
    linked_at: _timestamp_pb2.Timestamp
    linked_by: str
    paper_gate: PaperGate
    def __init__(self, kind: _Optional[_Union[ArtefactKind, str]] = ..., ref: _Optional[str] = ..., linked_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., linked_by: _Optional[str] = ..., paper_gate: _Optional[_Union[PaperGate, _Mapping]] = ...) -> None: ...

class StageChange(_message.Message):
    __slots__ = ("from_stage", "to_stage", "actor", "reason", "at", "pause_source")
    FROM_STAGE_FIELD_NUMBER: _ClassVar[int]
    TO_STAGE_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    PAUSE_SOURCE_FIELD_NUMBER: _ClassVar[int]
    from_stage: Stage
    to_stage: Stage
    actor: str
    reason: str
    at: _timestamp_pb2.Timestamp
    pause_source: PauseSource
    def __init__(self, from_stage: _Optional[_Union[Stage, str]] = ..., to_stage: _Optional[_Union[Stage, str]] = ..., actor: _Optional[str] = ..., reason: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., pause_source: _Optional[_Union[PauseSource, str]] = ...) -> None: ...

class DriftSignal(_message.Message):
    __slots__ = ("experiment_id", "explanation", "raised_at", "open")
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    RAISED_AT_FIELD_NUMBER: _ClassVar[int]
    OPEN_FIELD_NUMBER: _ClassVar[int]
    experiment_id: str
    explanation: str
    raised_at: _timestamp_pb2.Timestamp
    open: bool
    def __init__(self, experiment_id: _Optional[str] = ..., explanation: _Optional[str] = ..., raised_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., open: _Optional[bool] = ...) -> None: ...

class Strategy(_message.Message):
    __slots__ = ("slug", "owner", "version", "stage", "paused_from", "stage_entered_at", "authority", "stage_metadata", "history", "artefacts", "live_caps", "drift_signals", "revision")
    class StageMetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SLUG_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    PAUSED_FROM_FIELD_NUMBER: _ClassVar[int]
    STAGE_ENTERED_AT_FIELD_NUMBER: _ClassVar[int]
    AUTHORITY_FIELD_NUMBER: _ClassVar[int]
    STAGE_METADATA_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    ARTEFACTS_FIELD_NUMBER: _ClassVar[int]
    LIVE_CAPS_FIELD_NUMBER: _ClassVar[int]
    DRIFT_SIGNALS_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    slug: str
    owner: str
    version: str
    stage: Stage
    paused_from: Stage
    stage_entered_at: _timestamp_pb2.Timestamp
    authority: _containers.RepeatedScalarFieldContainer[str]
    stage_metadata: _containers.ScalarMap[str, str]
    history: _containers.RepeatedCompositeFieldContainer[StageChange]
    artefacts: _containers.RepeatedCompositeFieldContainer[Artefact]
    live_caps: _containers.RepeatedCompositeFieldContainer[LiveCap]
    drift_signals: _containers.RepeatedCompositeFieldContainer[DriftSignal]
    revision: int
    def __init__(self, slug: _Optional[str] = ..., owner: _Optional[str] = ..., version: _Optional[str] = ..., stage: _Optional[_Union[Stage, str]] = ..., paused_from: _Optional[_Union[Stage, str]] = ..., stage_entered_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., authority: _Optional[_Iterable[str]] = ..., stage_metadata: _Optional[_Mapping[str, str]] = ..., history: _Optional[_Iterable[_Union[StageChange, _Mapping]]] = ..., artefacts: _Optional[_Iterable[_Union[Artefact, _Mapping]]] = ..., live_caps: _Optional[_Iterable[_Union[LiveCap, _Mapping]]] = ..., drift_signals: _Optional[_Iterable[_Union[DriftSignal, _Mapping]]] = ..., revision: _Optional[int] = ...) -> None: ...

class RegisterStrategyRequest(_message.Message):
    __slots__ = ("slug", "owner", "version", "authority", "reason")
    SLUG_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    AUTHORITY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    slug: str
    owner: str
    version: str
    authority: _containers.RepeatedScalarFieldContainer[str]
    reason: str
    def __init__(self, slug: _Optional[str] = ..., owner: _Optional[str] = ..., version: _Optional[str] = ..., authority: _Optional[_Iterable[str]] = ..., reason: _Optional[str] = ...) -> None: ...

class RegisterStrategyResponse(_message.Message):
    __slots__ = ("strategy",)
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    strategy: Strategy
    def __init__(self, strategy: _Optional[_Union[Strategy, _Mapping]] = ...) -> None: ...

class GetStrategyRequest(_message.Message):
    __slots__ = ("slug",)
    SLUG_FIELD_NUMBER: _ClassVar[int]
    slug: str
    def __init__(self, slug: _Optional[str] = ...) -> None: ...

class GetStrategyResponse(_message.Message):
    __slots__ = ("strategy",)
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    strategy: Strategy
    def __init__(self, strategy: _Optional[_Union[Strategy, _Mapping]] = ...) -> None: ...

class ListStrategiesRequest(_message.Message):
    __slots__ = ("stages",)
    STAGES_FIELD_NUMBER: _ClassVar[int]
    stages: _containers.RepeatedScalarFieldContainer[Stage]
    def __init__(self, stages: _Optional[_Iterable[_Union[Stage, str]]] = ...) -> None: ...

class ListStrategiesResponse(_message.Message):
    __slots__ = ("strategies",)
    STRATEGIES_FIELD_NUMBER: _ClassVar[int]
    strategies: _containers.RepeatedCompositeFieldContainer[Strategy]
    def __init__(self, strategies: _Optional[_Iterable[_Union[Strategy, _Mapping]]] = ...) -> None: ...

class PromoteStrategyRequest(_message.Message):
    __slots__ = ("slug", "to_stage", "reason")
    SLUG_FIELD_NUMBER: _ClassVar[int]
    TO_STAGE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    slug: str
    to_stage: Stage
    reason: str
    def __init__(self, slug: _Optional[str] = ..., to_stage: _Optional[_Union[Stage, str]] = ..., reason: _Optional[str] = ...) -> None: ...

class PromoteStrategyResponse(_message.Message):
    __slots__ = ("strategy",)
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    strategy: Strategy
    def __init__(self, strategy: _Optional[_Union[Strategy, _Mapping]] = ...) -> None: ...

class PauseStrategyRequest(_message.Message):
    __slots__ = ("slug", "reason", "source")
    SLUG_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    slug: str
    reason: str
    source: PauseSource
    def __init__(self, slug: _Optional[str] = ..., reason: _Optional[str] = ..., source: _Optional[_Union[PauseSource, str]] = ...) -> None: ...

class PauseStrategyResponse(_message.Message):
    __slots__ = ("strategy",)
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    strategy: Strategy
    def __init__(self, strategy: _Optional[_Union[Strategy, _Mapping]] = ...) -> None: ...

class ResumeStrategyRequest(_message.Message):
    __slots__ = ("slug", "reason")
    SLUG_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    slug: str
    reason: str
    def __init__(self, slug: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ResumeStrategyResponse(_message.Message):
    __slots__ = ("strategy",)
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    strategy: Strategy
    def __init__(self, strategy: _Optional[_Union[Strategy, _Mapping]] = ...) -> None: ...

class LinkArtefactRequest(_message.Message):
    __slots__ = ("slug", "artefact")
    SLUG_FIELD_NUMBER: _ClassVar[int]
    ARTEFACT_FIELD_NUMBER: _ClassVar[int]
    slug: str
    artefact: Artefact
    def __init__(self, slug: _Optional[str] = ..., artefact: _Optional[_Union[Artefact, _Mapping]] = ...) -> None: ...

class LinkArtefactResponse(_message.Message):
    __slots__ = ("strategy",)
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    strategy: Strategy
    def __init__(self, strategy: _Optional[_Union[Strategy, _Mapping]] = ...) -> None: ...

class SetLiveCapRequest(_message.Message):
    __slots__ = ("slug", "live_cap", "reason")
    SLUG_FIELD_NUMBER: _ClassVar[int]
    LIVE_CAP_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    slug: str
    live_cap: LiveCap
    reason: str
    def __init__(self, slug: _Optional[str] = ..., live_cap: _Optional[_Union[LiveCap, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...

class SetLiveCapResponse(_message.Message):
    __slots__ = ("strategy",)
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    strategy: Strategy
    def __init__(self, strategy: _Optional[_Union[Strategy, _Mapping]] = ...) -> None: ...

class RecordDriftSignalRequest(_message.Message):
    __slots__ = ("slug", "signal")
    SLUG_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    slug: str
    signal: DriftSignal
    def __init__(self, slug: _Optional[str] = ..., signal: _Optional[_Union[DriftSignal, _Mapping]] = ...) -> None: ...

class RecordDriftSignalResponse(_message.Message):
    __slots__ = ("strategy",)
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    strategy: Strategy
    def __init__(self, strategy: _Optional[_Union[Strategy, _Mapping]] = ...) -> None: ...

class CheckLiveCapRequest(_message.Message):
    __slots__ = ("slug", "condition_id", "order_notional_micros", "position_micros", "position_change_micros")
    SLUG_FIELD_NUMBER: _ClassVar[int]
    CONDITION_ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_NOTIONAL_MICROS_FIELD_NUMBER: _ClassVar[int]
    POSITION_MICROS_FIELD_NUMBER: _ClassVar[int]
    POSITION_CHANGE_MICROS_FIELD_NUMBER: _ClassVar[int]
    slug: str
    condition_id: str
    order_notional_micros: int
    position_micros: int
    position_change_micros: int
    def __init__(self, slug: _Optional[str] = ..., condition_id: _Optional[str] = ..., order_notional_micros: _Optional[int] = ..., position_micros: _Optional[int] = ..., position_change_micros: _Optional[int] = ...) -> None: ...

class CheckLiveCapResponse(_message.Message):
    __slots__ = ("allowed", "stage", "max_notional_micros", "max_position_micros", "resulting_position_micros", "explanation")
    ALLOWED_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    MAX_NOTIONAL_MICROS_FIELD_NUMBER: _ClassVar[int]
    MAX_POSITION_MICROS_FIELD_NUMBER: _ClassVar[int]
    RESULTING_POSITION_MICROS_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    allowed: bool
    stage: Stage
    max_notional_micros: int
    max_position_micros: int
    resulting_position_micros: int
    explanation: str
    def __init__(self, allowed: _Optional[bool] = ..., stage: _Optional[_Union[Stage, str]] = ..., max_notional_micros: _Optional[int] = ..., max_position_micros: _Optional[int] = ..., resulting_position_micros: _Optional[int] = ..., explanation: _Optional[str] = ...) -> None: ...

class WatchStrategiesRequest(_message.Message):
    __slots__ = ("slugs",)
    SLUGS_FIELD_NUMBER: _ClassVar[int]
    slugs: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, slugs: _Optional[_Iterable[str]] = ...) -> None: ...

class WatchStrategiesResponse(_message.Message):
    __slots__ = ("strategy",)
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    strategy: Strategy
    def __init__(self, strategy: _Optional[_Union[Strategy, _Mapping]] = ...) -> None: ...
