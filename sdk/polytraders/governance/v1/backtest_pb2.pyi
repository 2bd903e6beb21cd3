import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from polytraders.reports.v1 import reports_pb2 as _reports_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StartBacktestRequest(_message.Message):
    __slots__ = ("strategy", "parameters_json", "strategy_slug", "token_ids", "window_start", "window_end", "parameters_b_json")
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_JSON_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_SLUG_FIELD_NUMBER: _ClassVar[int]
    TOKEN_IDS_FIELD_NUMBER: _ClassVar[int]
    WINDOW_START_FIELD_NUMBER: _ClassVar[int]
    WINDOW_END_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_B_JSON_FIELD_NUMBER: _ClassVar[int]
    strategy: str
    parameters_json: str
    strategy_slug: str
    token_ids: _containers.RepeatedScalarFieldContainer[str]
    window_start: _timestamp_pb2.Timestamp
    window_end: _timestamp_pb2.Timestamp
    parameters_b_json: str
    def __init__(self, strategy: _Optional[str] = ..., parameters_json: _Optional[str] = ..., strategy_slug: _Optional[str] = ..., token_ids: _Optional[_Iterable[str]] = ..., window_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., window_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., parameters_b_json: _Optional[str] = ...) -> None: ...

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
    __slots__ = ("backtest_id", "request", "result", "result_b", "input_digest", "output_digest", "equity_png", "html", "ran_at", "bot_slug")
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
    def __init__(self, backtest_id: _Optional[str] = ..., request: _Optional[_Union[StartBacktestRequest, _Mapping]] = ..., result: _Optional[_Union[BacktestResult, _Mapping]] = ..., result_b: _Optional[_Union[BacktestResult, _Mapping]] = ..., input_digest: _Optional[str] = ..., output_digest: _Optional[str] = ..., equity_png: _Optional[bytes] = ..., html: _Optional[str] = ..., ran_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., bot_slug: _Optional[str] = ...) -> None: ...

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
