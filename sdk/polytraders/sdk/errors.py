"""What a governance call can fail with: one exception per status code a caller can act on."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status


@dataclass(frozen=True)
class FieldViolation:
    """One bad field of a request, as the server named it (e.g. ``reports[3].header.epoch``)."""

    field: str
    description: str


class GovernanceError(Exception):
    """A governance RPC failed; `code` is the gRPC status, `violations` the fields it named."""

    def __init__(
        self, code: grpc.StatusCode, message: str, violations: tuple[FieldViolation, ...] = ()
    ) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message
        self.violations = violations


class InvalidArgumentError(GovernanceError):
    """The request was malformed; `violations` says which fields and why."""


class UnauthenticatedError(GovernanceError):
    """The token is missing or unknown."""


class PermissionDeniedError(GovernanceError):
    """The token's role or bot_slug may not do this."""


class NotFoundError(GovernanceError):
    """The id named in the request does not exist."""


class FailedPreconditionError(GovernanceError):
    """The request is well formed but not allowed in the current state (e.g. an illegal transition)."""


class AlreadyExistsError(GovernanceError):
    """Something with that id exists already."""


class UnavailableError(GovernanceError):
    """Governance could not be reached in time (after retries, for idempotent calls)."""


_BY_CODE: dict[grpc.StatusCode, type[GovernanceError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.UNAUTHENTICATED: UnauthenticatedError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPreconditionError,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExistsError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: UnavailableError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: UnavailableError,
}


def field_violations(error: grpc.RpcError) -> tuple[FieldViolation, ...]:
    """The google.rpc.BadRequest violations carried in an error's trailers."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]  # the RpcError a call raised is that grpc.Call
    found: list[FieldViolation] = []
    for detail in status.details if status else ():
        bad_request = error_details_pb2.BadRequest()
        if detail.Unpack(bad_request):
            found.extend(FieldViolation(v.field, v.description) for v in bad_request.field_violations)
    return tuple(found)


def from_rpc_error(error: grpc.RpcError) -> GovernanceError:
    code = error.code()
    kind = _BY_CODE.get(code, GovernanceError)
    return kind(code, error.details() or "", field_violations(error))
