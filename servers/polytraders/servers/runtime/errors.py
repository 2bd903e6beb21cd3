"""Domain errors. Plain Python: domain modules raise these, the interceptor maps them to
status codes (DESIGN.md, "Status codes are part of the contract")."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


class GovernanceError(Exception):
    """Base of every error a caller caused; never mapped to INTERNAL."""


class InvalidArgument(GovernanceError):
    def __init__(self, violations: Iterable[FieldViolation]) -> None:
        self.violations = tuple(violations)
        if not self.violations:
            raise ValueError("InvalidArgument needs at least one violation")
        super().__init__("; ".join(f"{v.field}: {v.description}" for v in self.violations))

    @classmethod
    def field(cls, field: str, description: str) -> InvalidArgument:
        return cls([FieldViolation(field, description)])


class Unauthenticated(GovernanceError):
    pass


class PermissionDenied(GovernanceError):
    pass


class NotFound(GovernanceError):
    pass


class FailedPrecondition(GovernanceError):
    pass


class AlreadyExists(GovernanceError):
    pass


class Unavailable(GovernanceError):
    """A group this call needs is served by another process, which did not answer: try again."""


class ResourceExhausted(GovernanceError):
    """The caller is held back for a while (too many refused credentials from its address)."""


QUOTE_LIMIT = 64
"""The most characters of one value a shortened message keeps (a prefix, then an ellipsis and its length)."""

_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_GROUPED = re.compile(r"\([^()]*\)|\[[^\[\]]*\]|\{[^{}]*\}")
_RUN = re.compile(r"\S+")
# Each pattern scans in linear time whatever a caller sent (no nested repetition, no escapes to backtrack on).


def _cut_quoted(match: re.Match[str]) -> str:
    span = match.group()
    inner = span[1:-1]
    if len(inner) <= QUOTE_LIMIT:
        return span
    return f"{span[0]}{inner[:QUOTE_LIMIT]}…{span[-1]} ({len(inner)} chars)"


def _cut_run(match: re.Match[str]) -> str:
    run = match.group()
    return run if len(run) <= QUOTE_LIMIT else f"{run[:QUOTE_LIMIT]}… ({len(run)} chars)"


def shorten(text: str, limit: int) -> str:
    """`text` within `limit` characters, for a status a caller must receive whole.

    Messages are built with f-strings quoting what was sent or stored (ids, lists, names), and a
    message longer than gRPC's 16 KB metadata limit reaches the caller as RESOURCE_EXHAUSTED
    instead of its own code. A text over `limit` has its long quoted values, then bracketed
    lists, then long words cut to a short prefix with their length; what is still too long is
    cut at `limit`. A text within `limit` is left whole.
    """
    if len(text) <= limit:
        return text
    shortened = text
    for pattern, cut in ((_QUOTED, _cut_quoted), (_GROUPED, _cut_quoted), (_RUN, _cut_run)):
        shortened = pattern.sub(cut, shortened)
        if len(shortened) <= limit:
            return shortened
    suffix = f"… ({len(text)} chars)"
    return shortened[: max(limit - len(suffix), 0)] + suffix
