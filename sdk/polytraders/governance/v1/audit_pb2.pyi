from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
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
