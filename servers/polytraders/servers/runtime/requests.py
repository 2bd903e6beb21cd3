"""Reading request fields every servicer shares: list limits, instants, and a request's own bytes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple, TypeAlias

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from polytraders.sdk.clock import from_timestamp

from .errors import InvalidArgument

DEFAULT_PAGE = 100
MAX_PAGE = 1000

ServicerContext: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"
"""What every servicer method is handed beside its request (grpc.aio's; the interceptor decodes
requests and encodes responses, so its message types are the method's own)."""


class WireRequest(NamedTuple):
    """A request as parsed, beside the bytes it arrived as (for methods that store those bytes)."""

    message: Any
    wire: bytes


def page_size(limit: int, field: str = "limit") -> int:
    """A request's `limit`: 1 to 1000, and 0 means the default of 100."""
    if not 0 <= limit <= MAX_PAGE:
        raise InvalidArgument.field(field, f"must be between 1 and {MAX_PAGE} (0 means {DEFAULT_PAGE})")
    return limit or DEFAULT_PAGE


def instant(stamp: Timestamp, field: str) -> datetime | None:
    """A request's timestamp (None when unset); one outside 0001..9999 names its field."""
    try:
        return from_timestamp(stamp)
    except (ValueError, OverflowError):
        raise InvalidArgument.field(field, "is not a valid timestamp (years 0001 to 9999, UTC)") from None
