import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from polytraders.reports.v1 import reports_pb2 as _reports_pb2
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

class ExperimentMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXPERIMENT_MODE_UNSPECIFIED: _ClassVar[ExperimentMode]
    EXPERIMENT_MODE_SHADOW: _ClassVar[ExperimentMode]
    EXPERIMENT_MODE_LIMITED_LIVE: _ClassVar[ExperimentMode]

class ExperimentStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXPERIMENT_STATUS_UNSPECIFIED: _ClassVar[ExperimentStatus]
    EXPERIMENT_STATUS_RUNNING: _ClassVar[ExperimentStatus]
    EXPERIMENT_STATUS_VARIANT_WORSE: _ClassVar[ExperimentStatus]
    EXPERIMENT_STATUS_VARIANT_BETTER: _ClassVar[ExperimentStatus]
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
EXPERIMENT_MODE_UNSPECIFIED: ExperimentMode
EXPERIMENT_MODE_SHADOW: ExperimentMode
EXPERIMENT_MODE_LIMITED_LIVE: ExperimentMode
EXPERIMENT_STATUS_UNSPECIFIED: ExperimentStatus
EXPERIMENT_STATUS_RUNNING: ExperimentStatus
EXPERIMENT_STATUS_VARIANT_WORSE: ExperimentStatus
EXPERIMENT_STATUS_VARIANT_BETTER: ExperimentStatus

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
    __slots__ = ("slug", "to_stage", "reason", "stage_metadata")
    class StageMetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SLUG_FIELD_NUMBER: _ClassVar[int]
    TO_STAGE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    STAGE_METADATA_FIELD_NUMBER: _ClassVar[int]
    slug: str
    to_stage: Stage
    reason: str
    stage_metadata: _containers.ScalarMap[str, str]
    def __init__(self, slug: _Optional[str] = ..., to_stage: _Optional[_Union[Stage, str]] = ..., reason: _Optional[str] = ..., stage_metadata: _Optional[_Mapping[str, str]] = ...) -> None: ...

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

class ExperimentResult(_message.Message):
    __slots__ = ("samples", "mean_difference", "fixed_lower", "fixed_upper", "sequential_lower", "sequential_upper", "p_value")
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    MEAN_DIFFERENCE_FIELD_NUMBER: _ClassVar[int]
    FIXED_LOWER_FIELD_NUMBER: _ClassVar[int]
    FIXED_UPPER_FIELD_NUMBER: _ClassVar[int]
    SEQUENTIAL_LOWER_FIELD_NUMBER: _ClassVar[int]
    SEQUENTIAL_UPPER_FIELD_NUMBER: _ClassVar[int]
    P_VALUE_FIELD_NUMBER: _ClassVar[int]
    samples: int
    mean_difference: str
    fixed_lower: str
    fixed_upper: str
    sequential_lower: str
    sequential_upper: str
    p_value: str
    def __init__(self, samples: _Optional[int] = ..., mean_difference: _Optional[str] = ..., fixed_lower: _Optional[str] = ..., fixed_upper: _Optional[str] = ..., sequential_lower: _Optional[str] = ..., sequential_upper: _Optional[str] = ..., p_value: _Optional[str] = ...) -> None: ...

class Experiment(_message.Message):
    __slots__ = ("experiment_id", "control_slug", "variant_slug", "mode", "metric", "minimum_detectable_effect", "alpha", "pause_variant_on_drift", "status", "result", "created_by", "created_at", "decided_at")
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    CONTROL_SLUG_FIELD_NUMBER: _ClassVar[int]
    VARIANT_SLUG_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    MINIMUM_DETECTABLE_EFFECT_FIELD_NUMBER: _ClassVar[int]
    ALPHA_FIELD_NUMBER: _ClassVar[int]
    PAUSE_VARIANT_ON_DRIFT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    DECIDED_AT_FIELD_NUMBER: _ClassVar[int]
    experiment_id: str
    control_slug: str
    variant_slug: str
    mode: ExperimentMode
    metric: str
    minimum_detectable_effect: str
    alpha: str
    pause_variant_on_drift: bool
    status: ExperimentStatus
    result: ExperimentResult
    created_by: str
    created_at: _timestamp_pb2.Timestamp
    decided_at: _timestamp_pb2.Timestamp
    def __init__(self, experiment_id: _Optional[str] = ..., control_slug: _Optional[str] = ..., variant_slug: _Optional[str] = ..., mode: _Optional[_Union[ExperimentMode, str]] = ..., metric: _Optional[str] = ..., minimum_detectable_effect: _Optional[str] = ..., alpha: _Optional[str] = ..., pause_variant_on_drift: _Optional[bool] = ..., status: _Optional[_Union[ExperimentStatus, str]] = ..., result: _Optional[_Union[ExperimentResult, _Mapping]] = ..., created_by: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., decided_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class MatchedSample(_message.Message):
    __slots__ = ("condition_id", "window_start", "window_end", "control_value", "variant_value")
    CONDITION_ID_FIELD_NUMBER: _ClassVar[int]
    WINDOW_START_FIELD_NUMBER: _ClassVar[int]
    WINDOW_END_FIELD_NUMBER: _ClassVar[int]
    CONTROL_VALUE_FIELD_NUMBER: _ClassVar[int]
    VARIANT_VALUE_FIELD_NUMBER: _ClassVar[int]
    condition_id: str
    window_start: _timestamp_pb2.Timestamp
    window_end: _timestamp_pb2.Timestamp
    control_value: str
    variant_value: str
    def __init__(self, condition_id: _Optional[str] = ..., window_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., window_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., control_value: _Optional[str] = ..., variant_value: _Optional[str] = ...) -> None: ...

class CreateExperimentRequest(_message.Message):
    __slots__ = ("experiment",)
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    experiment: Experiment
    def __init__(self, experiment: _Optional[_Union[Experiment, _Mapping]] = ...) -> None: ...

class CreateExperimentResponse(_message.Message):
    __slots__ = ("experiment",)
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    experiment: Experiment
    def __init__(self, experiment: _Optional[_Union[Experiment, _Mapping]] = ...) -> None: ...

class RecordSamplesRequest(_message.Message):
    __slots__ = ("experiment_id", "samples")
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    experiment_id: str
    samples: _containers.RepeatedCompositeFieldContainer[MatchedSample]
    def __init__(self, experiment_id: _Optional[str] = ..., samples: _Optional[_Iterable[_Union[MatchedSample, _Mapping]]] = ...) -> None: ...

class RecordSamplesResponse(_message.Message):
    __slots__ = ("experiment", "accepted_count", "duplicate_count")
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_COUNT_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_COUNT_FIELD_NUMBER: _ClassVar[int]
    experiment: Experiment
    accepted_count: int
    duplicate_count: int
    def __init__(self, experiment: _Optional[_Union[Experiment, _Mapping]] = ..., accepted_count: _Optional[int] = ..., duplicate_count: _Optional[int] = ...) -> None: ...

class GetExperimentRequest(_message.Message):
    __slots__ = ("experiment_id",)
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    experiment_id: str
    def __init__(self, experiment_id: _Optional[str] = ...) -> None: ...

class GetExperimentResponse(_message.Message):
    __slots__ = ("experiment",)
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    experiment: Experiment
    def __init__(self, experiment: _Optional[_Union[Experiment, _Mapping]] = ...) -> None: ...

class ListExperimentsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListExperimentsResponse(_message.Message):
    __slots__ = ("experiments",)
    EXPERIMENTS_FIELD_NUMBER: _ClassVar[int]
    experiments: _containers.RepeatedCompositeFieldContainer[Experiment]
    def __init__(self, experiments: _Optional[_Iterable[_Union[Experiment, _Mapping]]] = ...) -> None: ...

class StartBacktestRequest(_message.Message):
    __slots__ = ("strategy", "parameters_json", "strategy_slug", "token_ids", "window_start", "window_end", "parameters_b_json", "signal_bot_slugs", "parameters_from_bot", "parameters_at", "fee_rate", "fee_exponent", "tick_size", "min_size_micros")
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_JSON_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_SLUG_FIELD_NUMBER: _ClassVar[int]
    TOKEN_IDS_FIELD_NUMBER: _ClassVar[int]
    WINDOW_START_FIELD_NUMBER: _ClassVar[int]
    WINDOW_END_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_B_JSON_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_BOT_SLUGS_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FROM_BOT_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_AT_FIELD_NUMBER: _ClassVar[int]
    FEE_RATE_FIELD_NUMBER: _ClassVar[int]
    FEE_EXPONENT_FIELD_NUMBER: _ClassVar[int]
    TICK_SIZE_FIELD_NUMBER: _ClassVar[int]
    MIN_SIZE_MICROS_FIELD_NUMBER: _ClassVar[int]
    strategy: str
    parameters_json: str
    strategy_slug: str
    token_ids: _containers.RepeatedScalarFieldContainer[str]
    window_start: _timestamp_pb2.Timestamp
    window_end: _timestamp_pb2.Timestamp
    parameters_b_json: str
    signal_bot_slugs: _containers.RepeatedScalarFieldContainer[str]
    parameters_from_bot: str
    parameters_at: _timestamp_pb2.Timestamp
    fee_rate: str
    fee_exponent: str
    tick_size: str
    min_size_micros: int
    def __init__(self, strategy: _Optional[str] = ..., parameters_json: _Optional[str] = ..., strategy_slug: _Optional[str] = ..., token_ids: _Optional[_Iterable[str]] = ..., window_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., window_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., parameters_b_json: _Optional[str] = ..., signal_bot_slugs: _Optional[_Iterable[str]] = ..., parameters_from_bot: _Optional[str] = ..., parameters_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., fee_rate: _Optional[str] = ..., fee_exponent: _Optional[str] = ..., tick_size: _Optional[str] = ..., min_size_micros: _Optional[int] = ...) -> None: ...

class BacktestResult(_message.Message):
    __slots__ = ("pnl_micros", "fee_micros", "sharpe", "sortino", "max_drawdown_micros", "fill_ratio", "events", "fills", "per_market")
    PNL_MICROS_FIELD_NUMBER: _ClassVar[int]
    FEE_MICROS_FIELD_NUMBER: _ClassVar[int]
    SHARPE_FIELD_NUMBER: _ClassVar[int]
    SORTINO_FIELD_NUMBER: _ClassVar[int]
    MAX_DRAWDOWN_MICROS_FIELD_NUMBER: _ClassVar[int]
    FILL_RATIO_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    FILLS_FIELD_NUMBER: _ClassVar[int]
    PER_MARKET_FIELD_NUMBER: _ClassVar[int]
    pnl_micros: int
    fee_micros: int
    sharpe: str
    sortino: str
    max_drawdown_micros: int
    fill_ratio: str
    events: int
    fills: int
    per_market: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, pnl_micros: _Optional[int] = ..., fee_micros: _Optional[int] = ..., sharpe: _Optional[str] = ..., sortino: _Optional[str] = ..., max_drawdown_micros: _Optional[int] = ..., fill_ratio: _Optional[str] = ..., events: _Optional[int] = ..., fills: _Optional[int] = ..., per_market: _Optional[_Iterable[str]] = ...) -> None: ...

class Backtest(_message.Message):
    __slots__ = ("backtest_id", "request", "result", "result_b", "input_digest", "output_digest", "equity_png", "html", "ran_at", "bot_slug", "output_digest_b")
    BACKTEST_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    RESULT_B_FIELD_NUMBER: _ClassVar[int]
    INPUT_DIGEST_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_DIGEST_FIELD_NUMBER: _ClassVar[int]
    EQUITY_PNG_FIELD_NUMBER: _ClassVar[int]
    HTML_FIELD_NUMBER: _ClassVar[int]
    RAN_AT_FIELD_NUMBER: _ClassVar[int]
    BOT_SLUG_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_DIGEST_B_FIELD_NUMBER: _ClassVar[int]
    backtest_id: str
    request: StartBacktestRequest
    result: BacktestResult
    result_b: BacktestResult
    input_digest: str
    output_digest: str
    equity_png: bytes
    html: str
    ran_at: _timestamp_pb2.Timestamp
    bot_slug: str
    output_digest_b: str
    def __init__(self, backtest_id: _Optional[str] = ..., request: _Optional[_Union[StartBacktestRequest, _Mapping]] = ..., result: _Optional[_Union[BacktestResult, _Mapping]] = ..., result_b: _Optional[_Union[BacktestResult, _Mapping]] = ..., input_digest: _Optional[str] = ..., output_digest: _Optional[str] = ..., equity_png: _Optional[bytes] = ..., html: _Optional[str] = ..., ran_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., bot_slug: _Optional[str] = ..., output_digest_b: _Optional[str] = ...) -> None: ...

class StartBacktestResponse(_message.Message):
    __slots__ = ("backtest",)
    BACKTEST_FIELD_NUMBER: _ClassVar[int]
    backtest: Backtest
    def __init__(self, backtest: _Optional[_Union[Backtest, _Mapping]] = ...) -> None: ...

class GetBacktestRequest(_message.Message):
    __slots__ = ("backtest_id",)
    BACKTEST_ID_FIELD_NUMBER: _ClassVar[int]
    backtest_id: str
    def __init__(self, backtest_id: _Optional[str] = ...) -> None: ...

class GetBacktestResponse(_message.Message):
    __slots__ = ("backtest",)
    BACKTEST_FIELD_NUMBER: _ClassVar[int]
    backtest: Backtest
    def __init__(self, backtest: _Optional[_Union[Backtest, _Mapping]] = ...) -> None: ...

class StreamBacktestReportsRequest(_message.Message):
    __slots__ = ("backtest_id",)
    BACKTEST_ID_FIELD_NUMBER: _ClassVar[int]
    backtest_id: str
    def __init__(self, backtest_id: _Optional[str] = ...) -> None: ...

class StreamBacktestReportsResponse(_message.Message):
    __slots__ = ("report",)
    REPORT_FIELD_NUMBER: _ClassVar[int]
    report: _reports_pb2.Report
    def __init__(self, report: _Optional[_Union[_reports_pb2.Report, _Mapping]] = ...) -> None: ...

class ListBacktestsRequest(_message.Message):
    __slots__ = ("limit",)
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    limit: int
    def __init__(self, limit: _Optional[int] = ...) -> None: ...

class ListBacktestsResponse(_message.Message):
    __slots__ = ("backtests",)
    BACKTESTS_FIELD_NUMBER: _ClassVar[int]
    backtests: _containers.RepeatedCompositeFieldContainer[Backtest]
    def __init__(self, backtests: _Optional[_Iterable[_Union[Backtest, _Mapping]]] = ...) -> None: ...

class PaperDay(_message.Message):
    __slots__ = ("day", "equity_start_micros", "equity_end_micros")
    DAY_FIELD_NUMBER: _ClassVar[int]
    EQUITY_START_MICROS_FIELD_NUMBER: _ClassVar[int]
    EQUITY_END_MICROS_FIELD_NUMBER: _ClassVar[int]
    day: int
    equity_start_micros: int
    equity_end_micros: int
    def __init__(self, day: _Optional[int] = ..., equity_start_micros: _Optional[int] = ..., equity_end_micros: _Optional[int] = ...) -> None: ...

class PaperSession(_message.Message):
    __slots__ = ("session_id", "strategy_slug", "strategy", "parameters_json", "token_ids", "running", "events", "fills", "equity_micros", "failure")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_SLUG_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_JSON_FIELD_NUMBER: _ClassVar[int]
    TOKEN_IDS_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    FILLS_FIELD_NUMBER: _ClassVar[int]
    EQUITY_MICROS_FIELD_NUMBER: _ClassVar[int]
    FAILURE_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    strategy_slug: str
    strategy: str
    parameters_json: str
    token_ids: _containers.RepeatedScalarFieldContainer[str]
    running: bool
    events: int
    fills: int
    equity_micros: int
    failure: str
    def __init__(self, session_id: _Optional[str] = ..., strategy_slug: _Optional[str] = ..., strategy: _Optional[str] = ..., parameters_json: _Optional[str] = ..., token_ids: _Optional[_Iterable[str]] = ..., running: _Optional[bool] = ..., events: _Optional[int] = ..., fills: _Optional[int] = ..., equity_micros: _Optional[int] = ..., failure: _Optional[str] = ...) -> None: ...

class StartPaperSessionRequest(_message.Message):
    __slots__ = ("strategy", "parameters_json", "strategy_slug", "token_ids", "capital_micros", "signal_bot_slugs")
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_JSON_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_SLUG_FIELD_NUMBER: _ClassVar[int]
    TOKEN_IDS_FIELD_NUMBER: _ClassVar[int]
    CAPITAL_MICROS_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_BOT_SLUGS_FIELD_NUMBER: _ClassVar[int]
    strategy: str
    parameters_json: str
    strategy_slug: str
    token_ids: _containers.RepeatedScalarFieldContainer[str]
    capital_micros: int
    signal_bot_slugs: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, strategy: _Optional[str] = ..., parameters_json: _Optional[str] = ..., strategy_slug: _Optional[str] = ..., token_ids: _Optional[_Iterable[str]] = ..., capital_micros: _Optional[int] = ..., signal_bot_slugs: _Optional[_Iterable[str]] = ...) -> None: ...

class StartPaperSessionResponse(_message.Message):
    __slots__ = ("session",)
    SESSION_FIELD_NUMBER: _ClassVar[int]
    session: PaperSession
    def __init__(self, session: _Optional[_Union[PaperSession, _Mapping]] = ...) -> None: ...

class StopPaperSessionRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class StopPaperSessionResponse(_message.Message):
    __slots__ = ("session",)
    SESSION_FIELD_NUMBER: _ClassVar[int]
    session: PaperSession
    def __init__(self, session: _Optional[_Union[PaperSession, _Mapping]] = ...) -> None: ...

class GetPaperSessionRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class GetPaperSessionResponse(_message.Message):
    __slots__ = ("session", "days")
    SESSION_FIELD_NUMBER: _ClassVar[int]
    DAYS_FIELD_NUMBER: _ClassVar[int]
    session: PaperSession
    days: _containers.RepeatedCompositeFieldContainer[PaperDay]
    def __init__(self, session: _Optional[_Union[PaperSession, _Mapping]] = ..., days: _Optional[_Iterable[_Union[PaperDay, _Mapping]]] = ...) -> None: ...

class ListPaperSessionsRequest(_message.Message):
    __slots__ = ("strategy_slug",)
    STRATEGY_SLUG_FIELD_NUMBER: _ClassVar[int]
    strategy_slug: str
    def __init__(self, strategy_slug: _Optional[str] = ...) -> None: ...

class ListPaperSessionsResponse(_message.Message):
    __slots__ = ("sessions",)
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    sessions: _containers.RepeatedCompositeFieldContainer[PaperSession]
    def __init__(self, sessions: _Optional[_Iterable[_Union[PaperSession, _Mapping]]] = ...) -> None: ...

class EvaluatePaperGateRequest(_message.Message):
    __slots__ = ("strategy_slug",)
    STRATEGY_SLUG_FIELD_NUMBER: _ClassVar[int]
    strategy_slug: str
    def __init__(self, strategy_slug: _Optional[str] = ...) -> None: ...

class EvaluatePaperGateResponse(_message.Message):
    __slots__ = ("gate", "passes", "explanation")
    GATE_FIELD_NUMBER: _ClassVar[int]
    PASSES_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    gate: PaperGate
    passes: bool
    explanation: str
    def __init__(self, gate: _Optional[_Union[PaperGate, _Mapping]] = ..., passes: _Optional[bool] = ..., explanation: _Optional[str] = ...) -> None: ...
