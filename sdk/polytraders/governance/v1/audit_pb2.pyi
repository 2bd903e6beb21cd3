import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LedgerProblem(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LEDGER_PROBLEM_UNSPECIFIED: _ClassVar[LedgerProblem]
    LEDGER_PROBLEM_EDITED: _ClassVar[LedgerProblem]
    LEDGER_PROBLEM_REMOVED: _ClassVar[LedgerProblem]
    LEDGER_PROBLEM_REORDERED: _ClassVar[LedgerProblem]
    LEDGER_PROBLEM_CHECKPOINT: _ClassVar[LedgerProblem]
LEDGER_PROBLEM_UNSPECIFIED: LedgerProblem
LEDGER_PROBLEM_EDITED: LedgerProblem
LEDGER_PROBLEM_REMOVED: LedgerProblem
LEDGER_PROBLEM_REORDERED: LedgerProblem
LEDGER_PROBLEM_CHECKPOINT: LedgerProblem

class LedgerBreak(_message.Message):
    __slots__ = ("stream", "seq", "entry_id", "problem", "explanation")
    STREAM_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    PROBLEM_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    stream: str
    seq: int
    entry_id: str
    problem: LedgerProblem
    explanation: str
    def __init__(self, stream: _Optional[str] = ..., seq: _Optional[int] = ..., entry_id: _Optional[str] = ..., problem: _Optional[_Union[LedgerProblem, str]] = ..., explanation: _Optional[str] = ...) -> None: ...

class VerifyLedgerRequest(_message.Message):
    __slots__ = ("stream", "from_latest_checkpoint")
    STREAM_FIELD_NUMBER: _ClassVar[int]
    FROM_LATEST_CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    stream: str
    from_latest_checkpoint: bool
    def __init__(self, stream: _Optional[str] = ..., from_latest_checkpoint: _Optional[bool] = ...) -> None: ...

class VerifyLedgerResponse(_message.Message):
    __slots__ = ("ok", "entries_checked", "checkpoints_checked", "first_break")
    OK_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_CHECKED_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINTS_CHECKED_FIELD_NUMBER: _ClassVar[int]
    FIRST_BREAK_FIELD_NUMBER: _ClassVar[int]
    ok: bool
    entries_checked: int
    checkpoints_checked: int
    first_break: LedgerBreak
    def __init__(self, ok: _Optional[bool] = ..., entries_checked: _Optional[int] = ..., checkpoints_checked: _Optional[int] = ..., first_break: _Optional[_Union[LedgerBreak, _Mapping]] = ...) -> None: ...

class ConfigChange(_message.Message):
    __slots__ = ("change_id", "bot_slug", "changed_at", "actor", "source", "reason", "keys", "before", "after", "snapshot_json", "diff")
    class BeforeEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class AfterEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CHANGE_ID_FIELD_NUMBER: _ClassVar[int]
    BOT_SLUG_FIELD_NUMBER: _ClassVar[int]
    CHANGED_AT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    BEFORE_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_JSON_FIELD_NUMBER: _ClassVar[int]
    DIFF_FIELD_NUMBER: _ClassVar[int]
    change_id: str
    bot_slug: str
    changed_at: _timestamp_pb2.Timestamp
    actor: str
    source: str
    reason: str
    keys: _containers.RepeatedScalarFieldContainer[str]
    before: _containers.ScalarMap[str, str]
    after: _containers.ScalarMap[str, str]
    snapshot_json: str
    diff: str
    def __init__(self, change_id: _Optional[str] = ..., bot_slug: _Optional[str] = ..., changed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., actor: _Optional[str] = ..., source: _Optional[str] = ..., reason: _Optional[str] = ..., keys: _Optional[_Iterable[str]] = ..., before: _Optional[_Mapping[str, str]] = ..., after: _Optional[_Mapping[str, str]] = ..., snapshot_json: _Optional[str] = ..., diff: _Optional[str] = ...) -> None: ...

class GetConfigAtRequest(_message.Message):
    __slots__ = ("bot_slug", "at")
    BOT_SLUG_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    bot_slug: str
    at: _timestamp_pb2.Timestamp
    def __init__(self, bot_slug: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetConfigAtResponse(_message.Message):
    __slots__ = ("snapshot_json", "as_of")
    SNAPSHOT_JSON_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    snapshot_json: str
    as_of: ConfigChange
    def __init__(self, snapshot_json: _Optional[str] = ..., as_of: _Optional[_Union[ConfigChange, _Mapping]] = ...) -> None: ...

class ListChangesRequest(_message.Message):
    __slots__ = ("bot_slug", "key", "actor", "since", "until", "limit")
    BOT_SLUG_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    bot_slug: str
    key: str
    actor: str
    since: _timestamp_pb2.Timestamp
    until: _timestamp_pb2.Timestamp
    limit: int
    def __init__(self, bot_slug: _Optional[str] = ..., key: _Optional[str] = ..., actor: _Optional[str] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., limit: _Optional[int] = ...) -> None: ...

class ListChangesResponse(_message.Message):
    __slots__ = ("changes",)
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    changes: _containers.RepeatedCompositeFieldContainer[ConfigChange]
    def __init__(self, changes: _Optional[_Iterable[_Union[ConfigChange, _Mapping]]] = ...) -> None: ...

class UserAction(_message.Message):
    __slots__ = ("action_id", "user", "session_id", "action", "target", "at", "details_json")
    ACTION_ID_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    DETAILS_JSON_FIELD_NUMBER: _ClassVar[int]
    action_id: str
    user: str
    session_id: str
    action: str
    target: str
    at: _timestamp_pb2.Timestamp
    details_json: str
    def __init__(self, action_id: _Optional[str] = ..., user: _Optional[str] = ..., session_id: _Optional[str] = ..., action: _Optional[str] = ..., target: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., details_json: _Optional[str] = ...) -> None: ...

class StartSessionRequest(_message.Message):
    __slots__ = ("description",)
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    description: str
    def __init__(self, description: _Optional[str] = ...) -> None: ...

class StartSessionResponse(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class EndSessionRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class EndSessionResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RecordUserActionRequest(_message.Message):
    __slots__ = ("session_id", "action", "target", "details_json")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    DETAILS_JSON_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    action: str
    target: str
    details_json: str
    def __init__(self, session_id: _Optional[str] = ..., action: _Optional[str] = ..., target: _Optional[str] = ..., details_json: _Optional[str] = ...) -> None: ...

class RecordUserActionResponse(_message.Message):
    __slots__ = ("action_id",)
    ACTION_ID_FIELD_NUMBER: _ClassVar[int]
    action_id: str
    def __init__(self, action_id: _Optional[str] = ...) -> None: ...

class ListUserActionsRequest(_message.Message):
    __slots__ = ("user", "session_id", "action", "since", "until", "limit")
    USER_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    user: str
    session_id: str
    action: str
    since: _timestamp_pb2.Timestamp
    until: _timestamp_pb2.Timestamp
    limit: int
    def __init__(self, user: _Optional[str] = ..., session_id: _Optional[str] = ..., action: _Optional[str] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., limit: _Optional[int] = ...) -> None: ...

class ListUserActionsResponse(_message.Message):
    __slots__ = ("actions",)
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    actions: _containers.RepeatedCompositeFieldContainer[UserAction]
    def __init__(self, actions: _Optional[_Iterable[_Union[UserAction, _Mapping]]] = ...) -> None: ...
