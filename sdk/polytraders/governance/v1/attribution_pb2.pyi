import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DiscrepancyKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DISCREPANCY_KIND_UNSPECIFIED: _ClassVar[DiscrepancyKind]
    DISCREPANCY_KIND_MISSING_CODE: _ClassVar[DiscrepancyKind]
    DISCREPANCY_KIND_UNATTRIBUTED_FILL: _ClassVar[DiscrepancyKind]
    DISCREPANCY_KIND_UNKNOWN_TRADE: _ClassVar[DiscrepancyKind]
    DISCREPANCY_KIND_VOLUME_DRIFT: _ClassVar[DiscrepancyKind]
    DISCREPANCY_KIND_ORDER_COUNT_MISMATCH: _ClassVar[DiscrepancyKind]
    DISCREPANCY_KIND_PRICE_MISMATCH: _ClassVar[DiscrepancyKind]
    DISCREPANCY_KIND_SIZE_MISMATCH: _ClassVar[DiscrepancyKind]
    DISCREPANCY_KIND_STATUS_MISMATCH: _ClassVar[DiscrepancyKind]

class ReconciliationStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RECONCILIATION_STATUS_UNSPECIFIED: _ClassVar[ReconciliationStatus]
    RECONCILIATION_STATUS_CLEAN: _ClassVar[ReconciliationStatus]
    RECONCILIATION_STATUS_DISCREPANCIES: _ClassVar[ReconciliationStatus]
    RECONCILIATION_STATUS_FAILED: _ClassVar[ReconciliationStatus]
DISCREPANCY_KIND_UNSPECIFIED: DiscrepancyKind
DISCREPANCY_KIND_MISSING_CODE: DiscrepancyKind
DISCREPANCY_KIND_UNATTRIBUTED_FILL: DiscrepancyKind
DISCREPANCY_KIND_UNKNOWN_TRADE: DiscrepancyKind
DISCREPANCY_KIND_VOLUME_DRIFT: DiscrepancyKind
DISCREPANCY_KIND_ORDER_COUNT_MISMATCH: DiscrepancyKind
DISCREPANCY_KIND_PRICE_MISMATCH: DiscrepancyKind
DISCREPANCY_KIND_SIZE_MISMATCH: DiscrepancyKind
DISCREPANCY_KIND_STATUS_MISMATCH: DiscrepancyKind
RECONCILIATION_STATUS_UNSPECIFIED: ReconciliationStatus
RECONCILIATION_STATUS_CLEAN: ReconciliationStatus
RECONCILIATION_STATUS_DISCREPANCIES: ReconciliationStatus
RECONCILIATION_STATUS_FAILED: ReconciliationStatus

class Discrepancy(_message.Message):
    __slots__ = ("kind", "trade_id", "liquidity", "condition_id", "bot_slug", "local_value", "exchange_value", "explanation", "case_id")
    KIND_FIELD_NUMBER: _ClassVar[int]
    TRADE_ID_FIELD_NUMBER: _ClassVar[int]
    LIQUIDITY_FIELD_NUMBER: _ClassVar[int]
    CONDITION_ID_FIELD_NUMBER: _ClassVar[int]
    BOT_SLUG_FIELD_NUMBER: _ClassVar[int]
    LOCAL_VALUE_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_VALUE_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    kind: DiscrepancyKind
    trade_id: str
    liquidity: str
    condition_id: str
    bot_slug: str
    local_value: str
    exchange_value: str
    explanation: str
    case_id: str
    def __init__(self, kind: _Optional[_Union[DiscrepancyKind, str]] = ..., trade_id: _Optional[str] = ..., liquidity: _Optional[str] = ..., condition_id: _Optional[str] = ..., bot_slug: _Optional[str] = ..., local_value: _Optional[str] = ..., exchange_value: _Optional[str] = ..., explanation: _Optional[str] = ..., case_id: _Optional[str] = ...) -> None: ...

class Reconciliation(_message.Message):
    __slots__ = ("reconciliation_id", "window_start", "window_end", "started_at", "finished_at", "status", "local_fills", "exchange_trades", "duplicate_trades", "local_volume_micros", "exchange_volume_micros", "volume_drift", "pages", "retries", "discrepancies", "failure", "discrepancies_omitted")
    RECONCILIATION_ID_FIELD_NUMBER: _ClassVar[int]
    WINDOW_START_FIELD_NUMBER: _ClassVar[int]
    WINDOW_END_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LOCAL_FILLS_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_TRADES_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_TRADES_FIELD_NUMBER: _ClassVar[int]
    LOCAL_VOLUME_MICROS_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_VOLUME_MICROS_FIELD_NUMBER: _ClassVar[int]
    VOLUME_DRIFT_FIELD_NUMBER: _ClassVar[int]
    PAGES_FIELD_NUMBER: _ClassVar[int]
    RETRIES_FIELD_NUMBER: _ClassVar[int]
    DISCREPANCIES_FIELD_NUMBER: _ClassVar[int]
    FAILURE_FIELD_NUMBER: _ClassVar[int]
    DISCREPANCIES_OMITTED_FIELD_NUMBER: _ClassVar[int]
    reconciliation_id: str
    window_start: _timestamp_pb2.Timestamp
    window_end: _timestamp_pb2.Timestamp
    started_at: _timestamp_pb2.Timestamp
    finished_at: _timestamp_pb2.Timestamp
    status: ReconciliationStatus
    local_fills: int
    exchange_trades: int
    duplicate_trades: int
    local_volume_micros: int
    exchange_volume_micros: int
    volume_drift: str
    pages: int
    retries: int
    discrepancies: _containers.RepeatedCompositeFieldContainer[Discrepancy]
    failure: str
    discrepancies_omitted: int
    def __init__(self, reconciliation_id: _Optional[str] = ..., window_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., window_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., status: _Optional[_Union[ReconciliationStatus, str]] = ..., local_fills: _Optional[int] = ..., exchange_trades: _Optional[int] = ..., duplicate_trades: _Optional[int] = ..., local_volume_micros: _Optional[int] = ..., exchange_volume_micros: _Optional[int] = ..., volume_drift: _Optional[str] = ..., pages: _Optional[int] = ..., retries: _Optional[int] = ..., discrepancies: _Optional[_Iterable[_Union[Discrepancy, _Mapping]]] = ..., failure: _Optional[str] = ..., discrepancies_omitted: _Optional[int] = ...) -> None: ...

class ReconcileRequest(_message.Message):
    __slots__ = ("window_start", "window_end")
    WINDOW_START_FIELD_NUMBER: _ClassVar[int]
    WINDOW_END_FIELD_NUMBER: _ClassVar[int]
    window_start: _timestamp_pb2.Timestamp
    window_end: _timestamp_pb2.Timestamp
    def __init__(self, window_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., window_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ReconcileResponse(_message.Message):
    __slots__ = ("reconciliation",)
    RECONCILIATION_FIELD_NUMBER: _ClassVar[int]
    reconciliation: Reconciliation
    def __init__(self, reconciliation: _Optional[_Union[Reconciliation, _Mapping]] = ...) -> None: ...

class GetReconciliationRequest(_message.Message):
    __slots__ = ("reconciliation_id",)
    RECONCILIATION_ID_FIELD_NUMBER: _ClassVar[int]
    reconciliation_id: str
    def __init__(self, reconciliation_id: _Optional[str] = ...) -> None: ...

class GetReconciliationResponse(_message.Message):
    __slots__ = ("reconciliation",)
    RECONCILIATION_FIELD_NUMBER: _ClassVar[int]
    reconciliation: Reconciliation
    def __init__(self, reconciliation: _Optional[_Union[Reconciliation, _Mapping]] = ...) -> None: ...

class Fill(_message.Message):
    __slots__ = ("report_id", "bot_slug", "trade_id", "liquidity", "order_id", "condition_id", "token_id", "side", "price", "size_micros", "notional_micros", "fee_micros", "rebate_micros", "builder_code", "code_source", "matched_at", "trade_status")
    REPORT_ID_FIELD_NUMBER: _ClassVar[int]
    BOT_SLUG_FIELD_NUMBER: _ClassVar[int]
    TRADE_ID_FIELD_NUMBER: _ClassVar[int]
    LIQUIDITY_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    CONDITION_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    SIDE_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    SIZE_MICROS_FIELD_NUMBER: _ClassVar[int]
    NOTIONAL_MICROS_FIELD_NUMBER: _ClassVar[int]
    FEE_MICROS_FIELD_NUMBER: _ClassVar[int]
    REBATE_MICROS_FIELD_NUMBER: _ClassVar[int]
    BUILDER_CODE_FIELD_NUMBER: _ClassVar[int]
    CODE_SOURCE_FIELD_NUMBER: _ClassVar[int]
    MATCHED_AT_FIELD_NUMBER: _ClassVar[int]
    TRADE_STATUS_FIELD_NUMBER: _ClassVar[int]
    report_id: str
    bot_slug: str
    trade_id: str
    liquidity: str
    order_id: str
    condition_id: str
    token_id: str
    side: str
    price: str
    size_micros: int
    notional_micros: int
    fee_micros: int
    rebate_micros: int
    builder_code: str
    code_source: str
    matched_at: _timestamp_pb2.Timestamp
    trade_status: str
    def __init__(self, report_id: _Optional[str] = ..., bot_slug: _Optional[str] = ..., trade_id: _Optional[str] = ..., liquidity: _Optional[str] = ..., order_id: _Optional[str] = ..., condition_id: _Optional[str] = ..., token_id: _Optional[str] = ..., side: _Optional[str] = ..., price: _Optional[str] = ..., size_micros: _Optional[int] = ..., notional_micros: _Optional[int] = ..., fee_micros: _Optional[int] = ..., rebate_micros: _Optional[int] = ..., builder_code: _Optional[str] = ..., code_source: _Optional[str] = ..., matched_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., trade_status: _Optional[str] = ...) -> None: ...

class ListFillsRequest(_message.Message):
    __slots__ = ("bot_slug", "condition_id", "since", "until", "limit")
    BOT_SLUG_FIELD_NUMBER: _ClassVar[int]
    CONDITION_ID_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    bot_slug: str
    condition_id: str
    since: _timestamp_pb2.Timestamp
    until: _timestamp_pb2.Timestamp
    limit: int
    def __init__(self, bot_slug: _Optional[str] = ..., condition_id: _Optional[str] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., limit: _Optional[int] = ...) -> None: ...

class ListFillsResponse(_message.Message):
    __slots__ = ("fills",)
    FILLS_FIELD_NUMBER: _ClassVar[int]
    fills: _containers.RepeatedCompositeFieldContainer[Fill]
    def __init__(self, fills: _Optional[_Iterable[_Union[Fill, _Mapping]]] = ...) -> None: ...

class QuarantineCase(_message.Message):
    __slots__ = ("case_id", "kind", "reconciliation_id", "condition_id", "explanation", "record_keys", "opened_at", "released", "released_at", "released_by", "release_reason", "record_count")
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    RECONCILIATION_ID_FIELD_NUMBER: _ClassVar[int]
    CONDITION_ID_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    RECORD_KEYS_FIELD_NUMBER: _ClassVar[int]
    OPENED_AT_FIELD_NUMBER: _ClassVar[int]
    RELEASED_FIELD_NUMBER: _ClassVar[int]
    RELEASED_AT_FIELD_NUMBER: _ClassVar[int]
    RELEASED_BY_FIELD_NUMBER: _ClassVar[int]
    RELEASE_REASON_FIELD_NUMBER: _ClassVar[int]
    RECORD_COUNT_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    kind: DiscrepancyKind
    reconciliation_id: str
    condition_id: str
    explanation: str
    record_keys: _containers.RepeatedScalarFieldContainer[str]
    opened_at: _timestamp_pb2.Timestamp
    released: bool
    released_at: _timestamp_pb2.Timestamp
    released_by: str
    release_reason: str
    record_count: int
    def __init__(self, case_id: _Optional[str] = ..., kind: _Optional[_Union[DiscrepancyKind, str]] = ..., reconciliation_id: _Optional[str] = ..., condition_id: _Optional[str] = ..., explanation: _Optional[str] = ..., record_keys: _Optional[_Iterable[str]] = ..., opened_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., released: _Optional[bool] = ..., released_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., released_by: _Optional[str] = ..., release_reason: _Optional[str] = ..., record_count: _Optional[int] = ...) -> None: ...

class ListQuarantineRequest(_message.Message):
    __slots__ = ("include_released", "condition_id", "limit")
    INCLUDE_RELEASED_FIELD_NUMBER: _ClassVar[int]
    CONDITION_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    include_released: bool
    condition_id: str
    limit: int
    def __init__(self, include_released: _Optional[bool] = ..., condition_id: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class ListQuarantineResponse(_message.Message):
    __slots__ = ("cases",)
    CASES_FIELD_NUMBER: _ClassVar[int]
    cases: _containers.RepeatedCompositeFieldContainer[QuarantineCase]
    def __init__(self, cases: _Optional[_Iterable[_Union[QuarantineCase, _Mapping]]] = ...) -> None: ...

class ReleaseQuarantineRequest(_message.Message):
    __slots__ = ("case_id", "reason")
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    reason: str
    def __init__(self, case_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ReleaseQuarantineResponse(_message.Message):
    __slots__ = ("quarantine_case",)
    QUARANTINE_CASE_FIELD_NUMBER: _ClassVar[int]
    quarantine_case: QuarantineCase
    def __init__(self, quarantine_case: _Optional[_Union[QuarantineCase, _Mapping]] = ...) -> None: ...

class RevenueExclusion(_message.Message):
    __slots__ = ("record_key", "case_id", "kind", "reason", "builder_fee_micros")
    RECORD_KEY_FIELD_NUMBER: _ClassVar[int]
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    BUILDER_FEE_MICROS_FIELD_NUMBER: _ClassVar[int]
    record_key: str
    case_id: str
    kind: DiscrepancyKind
    reason: str
    builder_fee_micros: int
    def __init__(self, record_key: _Optional[str] = ..., case_id: _Optional[str] = ..., kind: _Optional[_Union[DiscrepancyKind, str]] = ..., reason: _Optional[str] = ..., builder_fee_micros: _Optional[int] = ...) -> None: ...

class MarketRevenue(_message.Message):
    __slots__ = ("condition_id", "builder_fee_micros", "expected_builder_fee_micros", "exchange_rebate_micros", "internal_rebate_micros", "trades")
    CONDITION_ID_FIELD_NUMBER: _ClassVar[int]
    BUILDER_FEE_MICROS_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_BUILDER_FEE_MICROS_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_REBATE_MICROS_FIELD_NUMBER: _ClassVar[int]
    INTERNAL_REBATE_MICROS_FIELD_NUMBER: _ClassVar[int]
    TRADES_FIELD_NUMBER: _ClassVar[int]
    condition_id: str
    builder_fee_micros: int
    expected_builder_fee_micros: int
    exchange_rebate_micros: int
    internal_rebate_micros: int
    trades: int
    def __init__(self, condition_id: _Optional[str] = ..., builder_fee_micros: _Optional[int] = ..., expected_builder_fee_micros: _Optional[int] = ..., exchange_rebate_micros: _Optional[int] = ..., internal_rebate_micros: _Optional[int] = ..., trades: _Optional[int] = ...) -> None: ...

class RevenueReport(_message.Message):
    __slots__ = ("day", "report_id", "corrects_report_id", "builder_code", "reconciliation_id", "builder_fee_micros", "expected_builder_fee_micros", "exchange_rebate_micros", "internal_rebate_micros", "counted_trades", "exclusions", "markets", "explanation", "produced_at", "differences")
    DAY_FIELD_NUMBER: _ClassVar[int]
    REPORT_ID_FIELD_NUMBER: _ClassVar[int]
    CORRECTS_REPORT_ID_FIELD_NUMBER: _ClassVar[int]
    BUILDER_CODE_FIELD_NUMBER: _ClassVar[int]
    RECONCILIATION_ID_FIELD_NUMBER: _ClassVar[int]
    BUILDER_FEE_MICROS_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_BUILDER_FEE_MICROS_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_REBATE_MICROS_FIELD_NUMBER: _ClassVar[int]
    INTERNAL_REBATE_MICROS_FIELD_NUMBER: _ClassVar[int]
    COUNTED_TRADES_FIELD_NUMBER: _ClassVar[int]
    EXCLUSIONS_FIELD_NUMBER: _ClassVar[int]
    MARKETS_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    PRODUCED_AT_FIELD_NUMBER: _ClassVar[int]
    DIFFERENCES_FIELD_NUMBER: _ClassVar[int]
    day: int
    report_id: str
    corrects_report_id: str
    builder_code: str
    reconciliation_id: str
    builder_fee_micros: int
    expected_builder_fee_micros: int
    exchange_rebate_micros: int
    internal_rebate_micros: int
    counted_trades: int
    exclusions: _containers.RepeatedCompositeFieldContainer[RevenueExclusion]
    markets: _containers.RepeatedCompositeFieldContainer[MarketRevenue]
    explanation: str
    produced_at: _timestamp_pb2.Timestamp
    differences: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, day: _Optional[int] = ..., report_id: _Optional[str] = ..., corrects_report_id: _Optional[str] = ..., builder_code: _Optional[str] = ..., reconciliation_id: _Optional[str] = ..., builder_fee_micros: _Optional[int] = ..., expected_builder_fee_micros: _Optional[int] = ..., exchange_rebate_micros: _Optional[int] = ..., internal_rebate_micros: _Optional[int] = ..., counted_trades: _Optional[int] = ..., exclusions: _Optional[_Iterable[_Union[RevenueExclusion, _Mapping]]] = ..., markets: _Optional[_Iterable[_Union[MarketRevenue, _Mapping]]] = ..., explanation: _Optional[str] = ..., produced_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., differences: _Optional[_Iterable[str]] = ...) -> None: ...

class ReportRevenueRequest(_message.Message):
    __slots__ = ("day",)
    DAY_FIELD_NUMBER: _ClassVar[int]
    day: int
    def __init__(self, day: _Optional[int] = ...) -> None: ...

class ReportRevenueResponse(_message.Message):
    __slots__ = ("published", "report", "failure")
    PUBLISHED_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    FAILURE_FIELD_NUMBER: _ClassVar[int]
    published: bool
    report: RevenueReport
    failure: str
    def __init__(self, published: _Optional[bool] = ..., report: _Optional[_Union[RevenueReport, _Mapping]] = ..., failure: _Optional[str] = ...) -> None: ...

class GetRevenueReportRequest(_message.Message):
    __slots__ = ("day",)
    DAY_FIELD_NUMBER: _ClassVar[int]
    day: int
    def __init__(self, day: _Optional[int] = ...) -> None: ...

class GetRevenueReportResponse(_message.Message):
    __slots__ = ("report",)
    REPORT_FIELD_NUMBER: _ClassVar[int]
    report: RevenueReport
    def __init__(self, report: _Optional[_Union[RevenueReport, _Mapping]] = ...) -> None: ...

class ListRevenueReportsRequest(_message.Message):
    __slots__ = ("from_day", "to_day")
    FROM_DAY_FIELD_NUMBER: _ClassVar[int]
    TO_DAY_FIELD_NUMBER: _ClassVar[int]
    from_day: int
    to_day: int
    def __init__(self, from_day: _Optional[int] = ..., to_day: _Optional[int] = ...) -> None: ...

class ListRevenueReportsResponse(_message.Message):
    __slots__ = ("reports",)
    REPORTS_FIELD_NUMBER: _ClassVar[int]
    reports: _containers.RepeatedCompositeFieldContainer[RevenueReport]
    def __init__(self, reports: _Optional[_Iterable[_Union[RevenueReport, _Mapping]]] = ...) -> None: ...
