import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from polytraders.reports.v1 import reports_pb2 as _reports_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PublishReportsRequest(_message.Message):
    __slots__ = ("reports",)
    REPORTS_FIELD_NUMBER: _ClassVar[int]
    reports: _containers.RepeatedCompositeFieldContainer[_reports_pb2.Report]
    def __init__(self, reports: _Optional[_Iterable[_Union[_reports_pb2.Report, _Mapping]]] = ...) -> None: ...

class PublishReportsResponse(_message.Message):
    __slots__ = ("accepted_count", "duplicate_count", "last_cursor")
    ACCEPTED_COUNT_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_COUNT_FIELD_NUMBER: _ClassVar[int]
    LAST_CURSOR_FIELD_NUMBER: _ClassVar[int]
    accepted_count: int
    duplicate_count: int
    last_cursor: str
    def __init__(self, accepted_count: _Optional[int] = ..., duplicate_count: _Optional[int] = ..., last_cursor: _Optional[str] = ...) -> None: ...

class SubscribeReportsRequest(_message.Message):
    __slots__ = ("kinds", "bot_slugs", "modes", "epoch_from", "epoch_to", "cursor", "live_only")
    KINDS_FIELD_NUMBER: _ClassVar[int]
    BOT_SLUGS_FIELD_NUMBER: _ClassVar[int]
    MODES_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FROM_FIELD_NUMBER: _ClassVar[int]
    EPOCH_TO_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    LIVE_ONLY_FIELD_NUMBER: _ClassVar[int]
    kinds: _containers.RepeatedScalarFieldContainer[_reports_pb2.ReportKind]
    bot_slugs: _containers.RepeatedScalarFieldContainer[str]
    modes: _containers.RepeatedScalarFieldContainer[_reports_pb2.Mode]
    epoch_from: int
    epoch_to: int
    cursor: str
    live_only: bool
    def __init__(self, kinds: _Optional[_Iterable[_Union[_reports_pb2.ReportKind, str]]] = ..., bot_slugs: _Optional[_Iterable[str]] = ..., modes: _Optional[_Iterable[_Union[_reports_pb2.Mode, str]]] = ..., epoch_from: _Optional[int] = ..., epoch_to: _Optional[int] = ..., cursor: _Optional[str] = ..., live_only: _Optional[bool] = ...) -> None: ...

class SubscribeReportsResponse(_message.Message):
    __slots__ = ("report", "cursor", "topic", "partition_key")
    REPORT_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    PARTITION_KEY_FIELD_NUMBER: _ClassVar[int]
    report: _reports_pb2.Report
    cursor: str
    topic: str
    partition_key: str
    def __init__(self, report: _Optional[_Union[_reports_pb2.Report, _Mapping]] = ..., cursor: _Optional[str] = ..., topic: _Optional[str] = ..., partition_key: _Optional[str] = ...) -> None: ...

class SubscribeReportBatchesRequest(_message.Message):
    __slots__ = ("subscription", "max_reports")
    SUBSCRIPTION_FIELD_NUMBER: _ClassVar[int]
    MAX_REPORTS_FIELD_NUMBER: _ClassVar[int]
    subscription: SubscribeReportsRequest
    max_reports: int
    def __init__(self, subscription: _Optional[_Union[SubscribeReportsRequest, _Mapping]] = ..., max_reports: _Optional[int] = ...) -> None: ...

class SubscribeReportBatchesResponse(_message.Message):
    __slots__ = ("reports",)
    REPORTS_FIELD_NUMBER: _ClassVar[int]
    reports: _containers.RepeatedCompositeFieldContainer[SubscribeReportsResponse]
    def __init__(self, reports: _Optional[_Iterable[_Union[SubscribeReportsResponse, _Mapping]]] = ...) -> None: ...

class PurgeExpiredReportsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PurgeExpiredReportsResponse(_message.Message):
    __slots__ = ("purged_count",)
    PURGED_COUNT_FIELD_NUMBER: _ClassVar[int]
    purged_count: int
    def __init__(self, purged_count: _Optional[int] = ...) -> None: ...

class ListSetAsideReportsRequest(_message.Message):
    __slots__ = ("follower", "cursor", "limit")
    FOLLOWER_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    follower: str
    cursor: str
    limit: int
    def __init__(self, follower: _Optional[str] = ..., cursor: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class SetAsideReport(_message.Message):
    __slots__ = ("follower", "report_id", "cursor", "bot_slug", "reason", "set_aside_at")
    FOLLOWER_FIELD_NUMBER: _ClassVar[int]
    REPORT_ID_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    BOT_SLUG_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    SET_ASIDE_AT_FIELD_NUMBER: _ClassVar[int]
    follower: str
    report_id: str
    cursor: str
    bot_slug: str
    reason: str
    set_aside_at: _timestamp_pb2.Timestamp
    def __init__(self, follower: _Optional[str] = ..., report_id: _Optional[str] = ..., cursor: _Optional[str] = ..., bot_slug: _Optional[str] = ..., reason: _Optional[str] = ..., set_aside_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListSetAsideReportsResponse(_message.Message):
    __slots__ = ("reports", "next_cursor")
    REPORTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    reports: _containers.RepeatedCompositeFieldContainer[SetAsideReport]
    next_cursor: str
    def __init__(self, reports: _Optional[_Iterable[_Union[SetAsideReport, _Mapping]]] = ..., next_cursor: _Optional[str] = ...) -> None: ...
