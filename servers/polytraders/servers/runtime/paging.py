"""How many rows a list RPC returns."""

from __future__ import annotations

from .errors import InvalidArgument

DEFAULT_PAGE = 100
MAX_PAGE = 1000


def page_size(limit: int, field: str = "limit") -> int:
    """A request's `limit`: 1 to 1000, and 0 means the default of 100."""
    if not 0 <= limit <= MAX_PAGE:
        raise InvalidArgument.field(field, f"must be between 1 and {MAX_PAGE} (0 means {DEFAULT_PAGE})")
    return limit or DEFAULT_PAGE
