import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ReportKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REPORT_KIND_UNSPECIFIED: _ClassVar[ReportKind]
    REPORT_KIND_OBSERVATION: _ClassVar[ReportKind]
    REPORT_KIND_DECISION: _ClassVar[ReportKind]
    REPORT_KIND_RISK_VOTE: _ClassVar[ReportKind]
    REPORT_KIND_EXECUTION: _ClassVar[ReportKind]
    REPORT_KIND_SETTLEMENT: _ClassVar[ReportKind]
    REPORT_KIND_OPERATIONS: _ClassVar[ReportKind]

class Mode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODE_UNSPECIFIED: _ClassVar[Mode]
    MODE_LIVE: _ClassVar[Mode]
    MODE_PAPER: _ClassVar[Mode]
    MODE_REPLAY: _ClassVar[Mode]
    MODE_SHADOW: _ClassVar[Mode]

class Retention(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RETENTION_UNSPECIFIED: _ClassVar[Retention]
    RETENTION_ONE_YEAR: _ClassVar[Retention]
    RETENTION_SEVEN_YEARS: _ClassVar[Retention]

class Side(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SIDE_UNSPECIFIED: _ClassVar[Side]
    SIDE_BUY: _ClassVar[Side]
    SIDE_SELL: _ClassVar[Side]

class Severity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEVERITY_UNSPECIFIED: _ClassVar[Severity]
    SEVERITY_INFO: _ClassVar[Severity]
    SEVERITY_WARNING: _ClassVar[Severity]
    SEVERITY_ERROR: _ClassVar[Severity]
    SEVERITY_CRITICAL: _ClassVar[Severity]
    SEVERITY_PAGE: _ClassVar[Severity]

class DecisionAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DECISION_ACTION_UNSPECIFIED: _ClassVar[DecisionAction]
    DECISION_ACTION_PLACE_ORDER: _ClassVar[DecisionAction]
    DECISION_ACTION_CANCEL_ORDER: _ClassVar[DecisionAction]
    DECISION_ACTION_HOLD: _ClassVar[DecisionAction]
    DECISION_ACTION_FLATTEN: _ClassVar[DecisionAction]

class Verdict(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VERDICT_UNSPECIFIED: _ClassVar[Verdict]
    VERDICT_APPROVE: _ClassVar[Verdict]
    VERDICT_REJECT: _ClassVar[Verdict]
    VERDICT_RESIZE: _ClassVar[Verdict]
    VERDICT_ABSTAIN: _ClassVar[Verdict]

class ExecutionEvent(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXECUTION_EVENT_UNSPECIFIED: _ClassVar[ExecutionEvent]
    EXECUTION_EVENT_ORDER_TAGGED: _ClassVar[ExecutionEvent]
    EXECUTION_EVENT_ORDER_SUBMITTED: _ClassVar[ExecutionEvent]
    EXECUTION_EVENT_ORDER_ACCEPTED: _ClassVar[ExecutionEvent]
    EXECUTION_EVENT_ORDER_REJECTED: _ClassVar[ExecutionEvent]
    EXECUTION_EVENT_FILL: _ClassVar[ExecutionEvent]
    EXECUTION_EVENT_ORDER_CANCELLED: _ClassVar[ExecutionEvent]

class Liquidity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LIQUIDITY_UNSPECIFIED: _ClassVar[Liquidity]
    LIQUIDITY_MAKER: _ClassVar[Liquidity]
    LIQUIDITY_TAKER: _ClassVar[Liquidity]

class ComponentStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COMPONENT_STATUS_UNSPECIFIED: _ClassVar[ComponentStatus]
    COMPONENT_STATUS_HEALTHY: _ClassVar[ComponentStatus]
    COMPONENT_STATUS_DEGRADED: _ClassVar[ComponentStatus]
    COMPONENT_STATUS_DOWN: _ClassVar[ComponentStatus]
REPORT_KIND_UNSPECIFIED: ReportKind
REPORT_KIND_OBSERVATION: ReportKind
REPORT_KIND_DECISION: ReportKind
REPORT_KIND_RISK_VOTE: ReportKind
REPORT_KIND_EXECUTION: ReportKind
REPORT_KIND_SETTLEMENT: ReportKind
REPORT_KIND_OPERATIONS: ReportKind
MODE_UNSPECIFIED: Mode
MODE_LIVE: Mode
MODE_PAPER: Mode
MODE_REPLAY: Mode
MODE_SHADOW: Mode
RETENTION_UNSPECIFIED: Retention
RETENTION_ONE_YEAR: Retention
RETENTION_SEVEN_YEARS: Retention
SIDE_UNSPECIFIED: Side
SIDE_BUY: Side
SIDE_SELL: Side
SEVERITY_UNSPECIFIED: Severity
SEVERITY_INFO: Severity
SEVERITY_WARNING: Severity
SEVERITY_ERROR: Severity
SEVERITY_CRITICAL: Severity
SEVERITY_PAGE: Severity
DECISION_ACTION_UNSPECIFIED: DecisionAction
DECISION_ACTION_PLACE_ORDER: DecisionAction
DECISION_ACTION_CANCEL_ORDER: DecisionAction
DECISION_ACTION_HOLD: DecisionAction
DECISION_ACTION_FLATTEN: DecisionAction
VERDICT_UNSPECIFIED: Verdict
VERDICT_APPROVE: Verdict
VERDICT_REJECT: Verdict
VERDICT_RESIZE: Verdict
VERDICT_ABSTAIN: Verdict
EXECUTION_EVENT_UNSPECIFIED: ExecutionEvent
EXECUTION_EVENT_ORDER_TAGGED: ExecutionEvent
EXECUTION_EVENT_ORDER_SUBMITTED: ExecutionEvent
EXECUTION_EVENT_ORDER_ACCEPTED: ExecutionEvent
EXECUTION_EVENT_ORDER_REJECTED: ExecutionEvent
EXECUTION_EVENT_FILL: ExecutionEvent
EXECUTION_EVENT_ORDER_CANCELLED: ExecutionEvent
LIQUIDITY_UNSPECIFIED: Liquidity
LIQUIDITY_MAKER: Liquidity
LIQUIDITY_TAKER: Liquidity
COMPONENT_STATUS_UNSPECIFIED: ComponentStatus
COMPONENT_STATUS_HEALTHY: ComponentStatus
COMPONENT_STATUS_DEGRADED: ComponentStatus
COMPONENT_STATUS_DOWN: ComponentStatus

class ReportHeader(_message.Message):
    __slots__ = ("report_id", "kind", "bot_slug", "bot_class", "epoch", "mode", "produced_at", "trace_id", "causation_id", "retention")
    REPORT_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    BOT_SLUG_FIELD_NUMBER: _ClassVar[int]
    BOT_CLASS_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    PRODUCED_AT_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    CAUSATION_ID_FIELD_NUMBER: _ClassVar[int]
    RETENTION_FIELD_NUMBER: _ClassVar[int]
    report_id: str
    kind: ReportKind
    bot_slug: str
    bot_class: str
    epoch: int
    mode: Mode
    produced_at: _timestamp_pb2.Timestamp
    trace_id: str
    causation_id: str
    retention: Retention
    def __init__(self, report_id: _Optional[str] = ..., kind: _Optional[_Union[ReportKind, str]] = ..., bot_slug: _Optional[str] = ..., bot_class: _Optional[str] = ..., epoch: _Optional[int] = ..., mode: _Optional[_Union[Mode, str]] = ..., produced_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., trace_id: _Optional[str] = ..., causation_id: _Optional[str] = ..., retention: _Optional[_Union[Retention, str]] = ...) -> None: ...

class ObservationReport(_message.Message):
    __slots__ = ("condition_id", "token_id", "source", "best_bid", "best_ask", "last_trade_price", "best_bid_size_micros", "best_ask_size_micros", "observed_at", "explanation", "metrics", "bids", "asks", "last_trade_size_micros")
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CONDITION_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    BEST_BID_FIELD_NUMBER: _ClassVar[int]
    BEST_ASK_FIELD_NUMBER: _ClassVar[int]
    LAST_TRADE_PRICE_FIELD_NUMBER: _ClassVar[int]
    BEST_BID_SIZE_MICROS_FIELD_NUMBER: _ClassVar[int]
    BEST_ASK_SIZE_MICROS_FIELD_NUMBER: _ClassVar[int]
    OBSERVED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    BIDS_FIELD_NUMBER: _ClassVar[int]
    ASKS_FIELD_NUMBER: _ClassVar[int]
    LAST_TRADE_SIZE_MICROS_FIELD_NUMBER: _ClassVar[int]
    condition_id: str
    token_id: str
    source: str
    best_bid: str
    best_ask: str
    last_trade_price: str
    best_bid_size_micros: int
    best_ask_size_micros: int
    observed_at: _timestamp_pb2.Timestamp
    explanation: str
    metrics: _containers.ScalarMap[str, str]
    bids: _containers.RepeatedCompositeFieldContainer[BookLevel]
    asks: _containers.RepeatedCompositeFieldContainer[BookLevel]
    last_trade_size_micros: int
    def __init__(self, condition_id: _Optional[str] = ..., token_id: _Optional[str] = ..., source: _Optional[str] = ..., best_bid: _Optional[str] = ..., best_ask: _Optional[str] = ..., last_trade_price: _Optional[str] = ..., best_bid_size_micros: _Optional[int] = ..., best_ask_size_micros: _Optional[int] = ..., observed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., explanation: _Optional[str] = ..., metrics: _Optional[_Mapping[str, str]] = ..., bids: _Optional[_Iterable[_Union[BookLevel, _Mapping]]] = ..., asks: _Optional[_Iterable[_Union[BookLevel, _Mapping]]] = ..., last_trade_size_micros: _Optional[int] = ...) -> None: ...

class BookLevel(_message.Message):
    __slots__ = ("price", "size_micros")
    PRICE_FIELD_NUMBER: _ClassVar[int]
    SIZE_MICROS_FIELD_NUMBER: _ClassVar[int]
    price: str
    size_micros: int
    def __init__(self, price: _Optional[str] = ..., size_micros: _Optional[int] = ...) -> None: ...

class DecisionReport(_message.Message):
    __slots__ = ("strategy_slug", "strategy_version", "action", "condition_id", "token_id", "side", "price", "size_micros", "signal_name", "signal_value", "order_id", "explanation", "metrics")
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    STRATEGY_SLUG_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_VERSION_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    CONDITION_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    SIDE_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    SIZE_MICROS_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_NAME_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_VALUE_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    strategy_slug: str
    strategy_version: str
    action: DecisionAction
    condition_id: str
    token_id: str
    side: Side
    price: str
    size_micros: int
    signal_name: str
    signal_value: str
    order_id: str
    explanation: str
    metrics: _containers.ScalarMap[str, str]
    def __init__(self, strategy_slug: _Optional[str] = ..., strategy_version: _Optional[str] = ..., action: _Optional[_Union[DecisionAction, str]] = ..., condition_id: _Optional[str] = ..., token_id: _Optional[str] = ..., side: _Optional[_Union[Side, str]] = ..., price: _Optional[str] = ..., size_micros: _Optional[int] = ..., signal_name: _Optional[str] = ..., signal_value: _Optional[str] = ..., order_id: _Optional[str] = ..., explanation: _Optional[str] = ..., metrics: _Optional[_Mapping[str, str]] = ...) -> None: ...

class RiskVote(_message.Message):
    __slots__ = ("guard_name", "verdict", "condition_id", "token_id", "proposed_size_micros", "approved_size_micros", "limit_value", "observed_value", "explanation", "metrics")
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    GUARD_NAME_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    CONDITION_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    PROPOSED_SIZE_MICROS_FIELD_NUMBER: _ClassVar[int]
    APPROVED_SIZE_MICROS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_VALUE_FIELD_NUMBER: _ClassVar[int]
    OBSERVED_VALUE_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    guard_name: str
    verdict: Verdict
    condition_id: str
    token_id: str
    proposed_size_micros: int
    approved_size_micros: int
    limit_value: str
    observed_value: str
    explanation: str
    metrics: _containers.ScalarMap[str, str]
    def __init__(self, guard_name: _Optional[str] = ..., verdict: _Optional[_Union[Verdict, str]] = ..., condition_id: _Optional[str] = ..., token_id: _Optional[str] = ..., proposed_size_micros: _Optional[int] = ..., approved_size_micros: _Optional[int] = ..., limit_value: _Optional[str] = ..., observed_value: _Optional[str] = ..., explanation: _Optional[str] = ..., metrics: _Optional[_Mapping[str, str]] = ...) -> None: ...

class ExecutionReport(_message.Message):
    __slots__ = ("event", "order_id", "trade_id", "condition_id", "token_id", "side", "price", "size_micros", "filled_size_micros", "builder_code", "fee_micros", "rebate_micros", "liquidity", "order_type", "trade_status", "matched_at", "explanation", "metrics")
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    EVENT_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    TRADE_ID_FIELD_NUMBER: _ClassVar[int]
    CONDITION_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    SIDE_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    SIZE_MICROS_FIELD_NUMBER: _ClassVar[int]
    FILLED_SIZE_MICROS_FIELD_NUMBER: _ClassVar[int]
    BUILDER_CODE_FIELD_NUMBER: _ClassVar[int]
    FEE_MICROS_FIELD_NUMBER: _ClassVar[int]
    REBATE_MICROS_FIELD_NUMBER: _ClassVar[int]
    LIQUIDITY_FIELD_NUMBER: _ClassVar[int]
    ORDER_TYPE_FIELD_NUMBER: _ClassVar[int]
    TRADE_STATUS_FIELD_NUMBER: _ClassVar[int]
    MATCHED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    event: ExecutionEvent
    order_id: str
    trade_id: str
    condition_id: str
    token_id: str
    side: Side
    price: str
    size_micros: int
    filled_size_micros: int
    builder_code: str
    fee_micros: int
    rebate_micros: int
    liquidity: Liquidity
    order_type: str
    trade_status: str
    matched_at: _timestamp_pb2.Timestamp
    explanation: str
    metrics: _containers.ScalarMap[str, str]
    def __init__(self, event: _Optional[_Union[ExecutionEvent, str]] = ..., order_id: _Optional[str] = ..., trade_id: _Optional[str] = ..., condition_id: _Optional[str] = ..., token_id: _Optional[str] = ..., side: _Optional[_Union[Side, str]] = ..., price: _Optional[str] = ..., size_micros: _Optional[int] = ..., filled_size_micros: _Optional[int] = ..., builder_code: _Optional[str] = ..., fee_micros: _Optional[int] = ..., rebate_micros: _Optional[int] = ..., liquidity: _Optional[_Union[Liquidity, str]] = ..., order_type: _Optional[str] = ..., trade_status: _Optional[str] = ..., matched_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., explanation: _Optional[str] = ..., metrics: _Optional[_Mapping[str, str]] = ...) -> None: ...

class SettlementReport(_message.Message):
    __slots__ = ("record_type", "subject", "condition_id", "token_id", "realised_pnl_micros", "unrealised_pnl_micros", "gross_fee_micros", "rebate_micros", "position_micros", "cash_delta_micros", "period_start", "period_end", "explanation", "metrics", "corrects_report_id", "details_json")
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    RECORD_TYPE_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    CONDITION_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    REALISED_PNL_MICROS_FIELD_NUMBER: _ClassVar[int]
    UNREALISED_PNL_MICROS_FIELD_NUMBER: _ClassVar[int]
    GROSS_FEE_MICROS_FIELD_NUMBER: _ClassVar[int]
    REBATE_MICROS_FIELD_NUMBER: _ClassVar[int]
    POSITION_MICROS_FIELD_NUMBER: _ClassVar[int]
    CASH_DELTA_MICROS_FIELD_NUMBER: _ClassVar[int]
    PERIOD_START_FIELD_NUMBER: _ClassVar[int]
    PERIOD_END_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    CORRECTS_REPORT_ID_FIELD_NUMBER: _ClassVar[int]
    DETAILS_JSON_FIELD_NUMBER: _ClassVar[int]
    record_type: str
    subject: str
    condition_id: str
    token_id: str
    realised_pnl_micros: int
    unrealised_pnl_micros: int
    gross_fee_micros: int
    rebate_micros: int
    position_micros: int
    cash_delta_micros: int
    period_start: _timestamp_pb2.Timestamp
    period_end: _timestamp_pb2.Timestamp
    explanation: str
    metrics: _containers.ScalarMap[str, str]
    corrects_report_id: str
    details_json: str
    def __init__(self, record_type: _Optional[str] = ..., subject: _Optional[str] = ..., condition_id: _Optional[str] = ..., token_id: _Optional[str] = ..., realised_pnl_micros: _Optional[int] = ..., unrealised_pnl_micros: _Optional[int] = ..., gross_fee_micros: _Optional[int] = ..., rebate_micros: _Optional[int] = ..., position_micros: _Optional[int] = ..., cash_delta_micros: _Optional[int] = ..., period_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., period_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., explanation: _Optional[str] = ..., metrics: _Optional[_Mapping[str, str]] = ..., corrects_report_id: _Optional[str] = ..., details_json: _Optional[str] = ...) -> None: ...

class OperationsReport(_message.Message):
    __slots__ = ("component", "status", "severity", "event", "alert_key", "explanation", "metrics")
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    COMPONENT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    ALERT_KEY_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    component: str
    status: ComponentStatus
    severity: Severity
    event: str
    alert_key: str
    explanation: str
    metrics: _containers.ScalarMap[str, str]
    def __init__(self, component: _Optional[str] = ..., status: _Optional[_Union[ComponentStatus, str]] = ..., severity: _Optional[_Union[Severity, str]] = ..., event: _Optional[str] = ..., alert_key: _Optional[str] = ..., explanation: _Optional[str] = ..., metrics: _Optional[_Mapping[str, str]] = ...) -> None: ...

class Report(_message.Message):
    __slots__ = ("header", "observation", "decision", "risk_vote", "execution", "settlement", "operations")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    OBSERVATION_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    RISK_VOTE_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_FIELD_NUMBER: _ClassVar[int]
    SETTLEMENT_FIELD_NUMBER: _ClassVar[int]
    OPERATIONS_FIELD_NUMBER: _ClassVar[int]
    header: ReportHeader
    observation: ObservationReport
    decision: DecisionReport
    risk_vote: RiskVote
    execution: ExecutionReport
    settlement: SettlementReport
    operations: OperationsReport
    def __init__(self, header: _Optional[_Union[ReportHeader, _Mapping]] = ..., observation: _Optional[_Union[ObservationReport, _Mapping]] = ..., decision: _Optional[_Union[DecisionReport, _Mapping]] = ..., risk_vote: _Optional[_Union[RiskVote, _Mapping]] = ..., execution: _Optional[_Union[ExecutionReport, _Mapping]] = ..., settlement: _Optional[_Union[SettlementReport, _Mapping]] = ..., operations: _Optional[_Union[OperationsReport, _Mapping]] = ...) -> None: ...
