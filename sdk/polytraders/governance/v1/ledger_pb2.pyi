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

class PnlDimension(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PNL_DIMENSION_UNSPECIFIED: _ClassVar[PnlDimension]
    PNL_DIMENSION_BOT: _ClassVar[PnlDimension]
    PNL_DIMENSION_MARKET: _ClassVar[PnlDimension]
    PNL_DIMENSION_BUILDER: _ClassVar[PnlDimension]
PNL_DIMENSION_UNSPECIFIED: PnlDimension
PNL_DIMENSION_BOT: PnlDimension
PNL_DIMENSION_MARKET: PnlDimension
PNL_DIMENSION_BUILDER: PnlDimension

class RecordFillRequest(_message.Message):
    __slots__ = ("report",)
    REPORT_FIELD_NUMBER: _ClassVar[int]
    report: _reports_pb2.Report
    def __init__(self, report: _Optional[_Union[_reports_pb2.Report, _Mapping]] = ...) -> None: ...

class RecordFillResponse(_message.Message):
    __slots__ = ("position", "realised_pnl_micros", "settlement_report_id", "booked")
    POSITION_FIELD_NUMBER: _ClassVar[int]
    REALISED_PNL_MICROS_FIELD_NUMBER: _ClassVar[int]
    SETTLEMENT_REPORT_ID_FIELD_NUMBER: _ClassVar[int]
    BOOKED_FIELD_NUMBER: _ClassVar[int]
    position: Position
    realised_pnl_micros: int
    settlement_report_id: str
    booked: bool
    def __init__(self, position: _Optional[_Union[Position, _Mapping]] = ..., realised_pnl_micros: _Optional[int] = ..., settlement_report_id: _Optional[str] = ..., booked: _Optional[bool] = ...) -> None: ...

class Position(_message.Message):
    __slots__ = ("bot_slug", "condition_id", "token_id", "size_micros", "cost_micros", "realised_pnl_micros", "unrealised_pnl_micros", "mark", "resolved")
    BOT_SLUG_FIELD_NUMBER: _ClassVar[int]
    CONDITION_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    SIZE_MICROS_FIELD_NUMBER: _ClassVar[int]
    COST_MICROS_FIELD_NUMBER: _ClassVar[int]
    REALISED_PNL_MICROS_FIELD_NUMBER: _ClassVar[int]
    UNREALISED_PNL_MICROS_FIELD_NUMBER: _ClassVar[int]
    MARK_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_FIELD_NUMBER: _ClassVar[int]
    bot_slug: str
    condition_id: str
    token_id: str
    size_micros: int
    cost_micros: int
    realised_pnl_micros: int
    unrealised_pnl_micros: int
    mark: str
    resolved: bool
    def __init__(self, bot_slug: _Optional[str] = ..., condition_id: _Optional[str] = ..., token_id: _Optional[str] = ..., size_micros: _Optional[int] = ..., cost_micros: _Optional[int] = ..., realised_pnl_micros: _Optional[int] = ..., unrealised_pnl_micros: _Optional[int] = ..., mark: _Optional[str] = ..., resolved: _Optional[bool] = ...) -> None: ...

class RecordMarkRequest(_message.Message):
    __slots__ = ("token_id", "best_bid", "best_ask", "last_trade_price")
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    BEST_BID_FIELD_NUMBER: _ClassVar[int]
    BEST_ASK_FIELD_NUMBER: _ClassVar[int]
    LAST_TRADE_PRICE_FIELD_NUMBER: _ClassVar[int]
    token_id: str
    best_bid: str
    best_ask: str
    last_trade_price: str
    def __init__(self, token_id: _Optional[str] = ..., best_bid: _Optional[str] = ..., best_ask: _Optional[str] = ..., last_trade_price: _Optional[str] = ...) -> None: ...

class RecordMarkResponse(_message.Message):
    __slots__ = ("mark",)
    MARK_FIELD_NUMBER: _ClassVar[int]
    mark: str
    def __init__(self, mark: _Optional[str] = ...) -> None: ...

class RecordResolutionRequest(_message.Message):
    __slots__ = ("condition_id", "winning_token_id", "token_ids")
    CONDITION_ID_FIELD_NUMBER: _ClassVar[int]
    WINNING_TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_IDS_FIELD_NUMBER: _ClassVar[int]
    condition_id: str
    winning_token_id: str
    token_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, condition_id: _Optional[str] = ..., winning_token_id: _Optional[str] = ..., token_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class RecordResolutionResponse(_message.Message):
    __slots__ = ("settled",)
    SETTLED_FIELD_NUMBER: _ClassVar[int]
    settled: _containers.RepeatedCompositeFieldContainer[Position]
    def __init__(self, settled: _Optional[_Iterable[_Union[Position, _Mapping]]] = ...) -> None: ...

class OutcomeToken(_message.Message):
    __slots__ = ("condition_id", "token_id")
    CONDITION_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    condition_id: str
    token_id: str
    def __init__(self, condition_id: _Optional[str] = ..., token_id: _Optional[str] = ...) -> None: ...

class RecordConversionRequest(_message.Message):
    __slots__ = ("bot_slug", "from_no_token_ids", "to_yes", "amount_micros", "conversion_id")
    BOT_SLUG_FIELD_NUMBER: _ClassVar[int]
    FROM_NO_TOKEN_IDS_FIELD_NUMBER: _ClassVar[int]
    TO_YES_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_MICROS_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_ID_FIELD_NUMBER: _ClassVar[int]
    bot_slug: str
    from_no_token_ids: _containers.RepeatedScalarFieldContainer[str]
    to_yes: _containers.RepeatedCompositeFieldContainer[OutcomeToken]
    amount_micros: int
    conversion_id: str
    def __init__(self, bot_slug: _Optional[str] = ..., from_no_token_ids: _Optional[_Iterable[str]] = ..., to_yes: _Optional[_Iterable[_Union[OutcomeToken, _Mapping]]] = ..., amount_micros: _Optional[int] = ..., conversion_id: _Optional[str] = ...) -> None: ...

class RecordConversionResponse(_message.Message):
    __slots__ = ("positions", "realised_pnl_micros")
    POSITIONS_FIELD_NUMBER: _ClassVar[int]
    REALISED_PNL_MICROS_FIELD_NUMBER: _ClassVar[int]
    positions: _containers.RepeatedCompositeFieldContainer[Position]
    realised_pnl_micros: int
    def __init__(self, positions: _Optional[_Iterable[_Union[Position, _Mapping]]] = ..., realised_pnl_micros: _Optional[int] = ...) -> None: ...

class GetPnlRequest(_message.Message):
    __slots__ = ("group_by", "since", "until")
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    group_by: _containers.RepeatedScalarFieldContainer[PnlDimension]
    since: _timestamp_pb2.Timestamp
    until: _timestamp_pb2.Timestamp
    def __init__(self, group_by: _Optional[_Iterable[_Union[PnlDimension, str]]] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PnlRow(_message.Message):
    __slots__ = ("bot_slug", "condition_id", "builder_code", "realised_pnl_micros", "gross_fee_micros", "rebate_micros", "net_fee_micros", "net_pnl_micros", "fills", "notional_micros", "unrealised_pnl_micros", "adjustment_micros", "total_pnl_micros")
    BOT_SLUG_FIELD_NUMBER: _ClassVar[int]
    CONDITION_ID_FIELD_NUMBER: _ClassVar[int]
    BUILDER_CODE_FIELD_NUMBER: _ClassVar[int]
    REALISED_PNL_MICROS_FIELD_NUMBER: _ClassVar[int]
    GROSS_FEE_MICROS_FIELD_NUMBER: _ClassVar[int]
    REBATE_MICROS_FIELD_NUMBER: _ClassVar[int]
    NET_FEE_MICROS_FIELD_NUMBER: _ClassVar[int]
    NET_PNL_MICROS_FIELD_NUMBER: _ClassVar[int]
    FILLS_FIELD_NUMBER: _ClassVar[int]
    NOTIONAL_MICROS_FIELD_NUMBER: _ClassVar[int]
    UNREALISED_PNL_MICROS_FIELD_NUMBER: _ClassVar[int]
    ADJUSTMENT_MICROS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_PNL_MICROS_FIELD_NUMBER: _ClassVar[int]
    bot_slug: str
    condition_id: str
    builder_code: str
    realised_pnl_micros: int
    gross_fee_micros: int
    rebate_micros: int
    net_fee_micros: int
    net_pnl_micros: int
    fills: int
    notional_micros: int
    unrealised_pnl_micros: int
    adjustment_micros: int
    total_pnl_micros: int
    def __init__(self, bot_slug: _Optional[str] = ..., condition_id: _Optional[str] = ..., builder_code: _Optional[str] = ..., realised_pnl_micros: _Optional[int] = ..., gross_fee_micros: _Optional[int] = ..., rebate_micros: _Optional[int] = ..., net_fee_micros: _Optional[int] = ..., net_pnl_micros: _Optional[int] = ..., fills: _Optional[int] = ..., notional_micros: _Optional[int] = ..., unrealised_pnl_micros: _Optional[int] = ..., adjustment_micros: _Optional[int] = ..., total_pnl_micros: _Optional[int] = ...) -> None: ...

class GetPnlResponse(_message.Message):
    __slots__ = ("rows", "total")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    rows: _containers.RepeatedCompositeFieldContainer[PnlRow]
    total: PnlRow
    def __init__(self, rows: _Optional[_Iterable[_Union[PnlRow, _Mapping]]] = ..., total: _Optional[_Union[PnlRow, _Mapping]] = ...) -> None: ...

class ListPositionsRequest(_message.Message):
    __slots__ = ("bot_slug", "include_closed")
    BOT_SLUG_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_CLOSED_FIELD_NUMBER: _ClassVar[int]
    bot_slug: str
    include_closed: bool
    def __init__(self, bot_slug: _Optional[str] = ..., include_closed: _Optional[bool] = ...) -> None: ...

class ListPositionsResponse(_message.Message):
    __slots__ = ("positions",)
    POSITIONS_FIELD_NUMBER: _ClassVar[int]
    positions: _containers.RepeatedCompositeFieldContainer[Position]
    def __init__(self, positions: _Optional[_Iterable[_Union[Position, _Mapping]]] = ...) -> None: ...

class Explanation(_message.Message):
    __slots__ = ("fill_report_id", "trace_id", "bot_slug", "report_id", "corrects_report_id", "text", "missing", "matched_at")
    FILL_REPORT_ID_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    BOT_SLUG_FIELD_NUMBER: _ClassVar[int]
    REPORT_ID_FIELD_NUMBER: _ClassVar[int]
    CORRECTS_REPORT_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    MISSING_FIELD_NUMBER: _ClassVar[int]
    MATCHED_AT_FIELD_NUMBER: _ClassVar[int]
    fill_report_id: str
    trace_id: str
    bot_slug: str
    report_id: str
    corrects_report_id: str
    text: str
    missing: _containers.RepeatedScalarFieldContainer[str]
    matched_at: _timestamp_pb2.Timestamp
    def __init__(self, fill_report_id: _Optional[str] = ..., trace_id: _Optional[str] = ..., bot_slug: _Optional[str] = ..., report_id: _Optional[str] = ..., corrects_report_id: _Optional[str] = ..., text: _Optional[str] = ..., missing: _Optional[_Iterable[str]] = ..., matched_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ExplainRequest(_message.Message):
    __slots__ = ("fill_report_id",)
    FILL_REPORT_ID_FIELD_NUMBER: _ClassVar[int]
    fill_report_id: str
    def __init__(self, fill_report_id: _Optional[str] = ...) -> None: ...

class ExplainResponse(_message.Message):
    __slots__ = ("explanation",)
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    explanation: Explanation
    def __init__(self, explanation: _Optional[_Union[Explanation, _Mapping]] = ...) -> None: ...

class ListExplanationsRequest(_message.Message):
    __slots__ = ("bot_slug", "trace_id", "incomplete_only", "limit")
    BOT_SLUG_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    INCOMPLETE_ONLY_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    bot_slug: str
    trace_id: str
    incomplete_only: bool
    limit: int
    def __init__(self, bot_slug: _Optional[str] = ..., trace_id: _Optional[str] = ..., incomplete_only: _Optional[bool] = ..., limit: _Optional[int] = ...) -> None: ...

class ListExplanationsResponse(_message.Message):
    __slots__ = ("explanations",)
    EXPLANATIONS_FIELD_NUMBER: _ClassVar[int]
    explanations: _containers.RepeatedCompositeFieldContainer[Explanation]
    def __init__(self, explanations: _Optional[_Iterable[_Union[Explanation, _Mapping]]] = ...) -> None: ...

class PortfolioDiscrepancy(_message.Message):
    __slots__ = ("bot_slug", "subject", "ref", "expected", "actual", "value_micros", "explanation", "above_threshold")
    BOT_SLUG_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    REF_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_FIELD_NUMBER: _ClassVar[int]
    ACTUAL_FIELD_NUMBER: _ClassVar[int]
    VALUE_MICROS_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    ABOVE_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    bot_slug: str
    subject: str
    ref: str
    expected: str
    actual: str
    value_micros: int
    explanation: str
    above_threshold: bool
    def __init__(self, bot_slug: _Optional[str] = ..., subject: _Optional[str] = ..., ref: _Optional[str] = ..., expected: _Optional[str] = ..., actual: _Optional[str] = ..., value_micros: _Optional[int] = ..., explanation: _Optional[str] = ..., above_threshold: _Optional[bool] = ...) -> None: ...

class SyncCycle(_message.Message):
    __slots__ = ("cycle", "at", "ok", "failure", "accounts", "discrepancies", "paused_strategies")
    CYCLE_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    FAILURE_FIELD_NUMBER: _ClassVar[int]
    ACCOUNTS_FIELD_NUMBER: _ClassVar[int]
    DISCREPANCIES_FIELD_NUMBER: _ClassVar[int]
    PAUSED_STRATEGIES_FIELD_NUMBER: _ClassVar[int]
    cycle: int
    at: _timestamp_pb2.Timestamp
    ok: bool
    failure: str
    accounts: int
    discrepancies: _containers.RepeatedCompositeFieldContainer[PortfolioDiscrepancy]
    paused_strategies: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, cycle: _Optional[int] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., ok: _Optional[bool] = ..., failure: _Optional[str] = ..., accounts: _Optional[int] = ..., discrepancies: _Optional[_Iterable[_Union[PortfolioDiscrepancy, _Mapping]]] = ..., paused_strategies: _Optional[_Iterable[str]] = ...) -> None: ...

class SyncNowRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SyncNowResponse(_message.Message):
    __slots__ = ("cycle",)
    CYCLE_FIELD_NUMBER: _ClassVar[int]
    cycle: SyncCycle
    def __init__(self, cycle: _Optional[_Union[SyncCycle, _Mapping]] = ...) -> None: ...

class GetLastSyncRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetLastSyncResponse(_message.Message):
    __slots__ = ("cycle",)
    CYCLE_FIELD_NUMBER: _ClassVar[int]
    cycle: SyncCycle
    def __init__(self, cycle: _Optional[_Union[SyncCycle, _Mapping]] = ...) -> None: ...

class RecordRebatePayoutRequest(_message.Message):
    __slots__ = ("bot_slug", "condition_id", "day", "amount_micros")
    BOT_SLUG_FIELD_NUMBER: _ClassVar[int]
    CONDITION_ID_FIELD_NUMBER: _ClassVar[int]
    DAY_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_MICROS_FIELD_NUMBER: _ClassVar[int]
    bot_slug: str
    condition_id: str
    day: int
    amount_micros: int
    def __init__(self, bot_slug: _Optional[str] = ..., condition_id: _Optional[str] = ..., day: _Optional[int] = ..., amount_micros: _Optional[int] = ...) -> None: ...

class RecordRebatePayoutResponse(_message.Message):
    __slots__ = ("accrued_micros", "paid_micros", "adjustment_micros", "settlement_report_id")
    ACCRUED_MICROS_FIELD_NUMBER: _ClassVar[int]
    PAID_MICROS_FIELD_NUMBER: _ClassVar[int]
    ADJUSTMENT_MICROS_FIELD_NUMBER: _ClassVar[int]
    SETTLEMENT_REPORT_ID_FIELD_NUMBER: _ClassVar[int]
    accrued_micros: int
    paid_micros: int
    adjustment_micros: int
    settlement_report_id: str
    def __init__(self, accrued_micros: _Optional[int] = ..., paid_micros: _Optional[int] = ..., adjustment_micros: _Optional[int] = ..., settlement_report_id: _Optional[str] = ...) -> None: ...

class RejectedFill(_message.Message):
    __slots__ = ("report_id", "bot_slug", "trade_id", "field", "reason", "rejected_at")
    REPORT_ID_FIELD_NUMBER: _ClassVar[int]
    BOT_SLUG_FIELD_NUMBER: _ClassVar[int]
    TRADE_ID_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REJECTED_AT_FIELD_NUMBER: _ClassVar[int]
    report_id: str
    bot_slug: str
    trade_id: str
    field: str
    reason: str
    rejected_at: _timestamp_pb2.Timestamp
    def __init__(self, report_id: _Optional[str] = ..., bot_slug: _Optional[str] = ..., trade_id: _Optional[str] = ..., field: _Optional[str] = ..., reason: _Optional[str] = ..., rejected_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListRejectedFillsRequest(_message.Message):
    __slots__ = ("bot_slug", "limit")
    BOT_SLUG_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    bot_slug: str
    limit: int
    def __init__(self, bot_slug: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class ListRejectedFillsResponse(_message.Message):
    __slots__ = ("rejected",)
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    rejected: _containers.RepeatedCompositeFieldContainer[RejectedFill]
    def __init__(self, rejected: _Optional[_Iterable[_Union[RejectedFill, _Mapping]]] = ...) -> None: ...
