"""Injectable time: code that depends on "now" takes a Clock, so tests never sleep."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

from google.protobuf.timestamp_pb2 import Timestamp


class Clock(Protocol):
    def now(self) -> datetime:
        """Current time, timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to; for tests and replays."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta

    def set(self, moment: datetime) -> None:
        self._now = moment.astimezone(UTC)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def to_micros(moment: datetime) -> int:
    """Microseconds since the Unix epoch, exact (no float on the way)."""
    return (moment - _EPOCH) // _MICROSECOND


def from_micros(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def to_timestamp(moment: datetime) -> Timestamp:
    """The wire form of an instant, exact to the microsecond. Naive datetimes are refused: UTC only."""
    if moment.tzinfo is None:
        raise ValueError(f"{moment!r} has no timezone; pass a timezone-aware UTC datetime")
    stamp = Timestamp()
    stamp.FromMicroseconds(to_micros(moment))
    return stamp


def from_timestamp(stamp: Timestamp) -> datetime | None:
    """An instant from the wire; None when the field was left unset."""
    return from_micros(stamp.ToMicroseconds()) if stamp.ByteSize() else None
