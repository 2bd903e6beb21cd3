"""Domain errors. Plain Python: domain modules raise these, the interceptor maps them to
status codes (DESIGN.md, "Status codes are part of the contract")."""

from __future__ import annotations

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
