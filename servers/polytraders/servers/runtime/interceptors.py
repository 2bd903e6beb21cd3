"""The one interceptor every service goes through: authenticate, authorize, decode, log, map errors.

Servicers never touch status codes: they raise the domain errors of `errors.py`, and this
module turns them into the contract of DESIGN.md (INVALID_ARGUMENT carries
google.rpc.BadRequest field violations), cut short enough to always reach the caller.
Anything else is INTERNAL with a reference id in the log and no traceback on the wire.
A request's bytes are decoded only once its token and role are checked.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, NoReturn, Protocol, TypeAlias, cast

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from . import auth
from .errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    GovernanceError,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
    shorten,
)
from .request_limits import check_request
from .requests import ServicerContext

if TYPE_CHECKING:
    from .access_guard import AccessGuard
    from .tracing import ServerSpans

access_log = logging.getLogger("polytraders.access")
log = logging.getLogger(__name__)

_CODES: dict[type[GovernanceError], grpc.StatusCode] = {
    InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    NotFound: grpc.StatusCode.NOT_FOUND,
    FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    Unavailable: grpc.StatusCode.UNAVAILABLE,
    ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
}


# What one status may carry. gRPC's metadata limit (16 KB, holding the message percent-encoded
# and the details base64-encoded) must never turn the real code into RESOURCE_EXHAUSTED: even in
# four-byte characters these come to about 10 KB.
MESSAGE_LIMIT = 256
FIELD_LIMIT = 128
DESCRIPTION_LIMIT = 256
MAX_VIOLATIONS = 20
DETAILS_LIMIT_BYTES = 4096


def status_for(error: GovernanceError) -> grpc.Status:
    """The status a domain error becomes, cut to fit the metadata limit whatever it quotes."""
    code = next(
        (_CODES[kind] for kind in type(error).__mro__ if kind in _CODES),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    status = status_pb2.Status(code=code.value[0], message=shorten(str(error), MESSAGE_LIMIT))
    if isinstance(error, InvalidArgument):
        detail = any_pb2.Any()
        detail.Pack(_bad_request(error.violations))
        status.details.append(detail)
    return rpc_status.to_status(status)


def _bad_request(violations: Sequence[FieldViolation]) -> error_details_pb2.BadRequest:
    """The first violations, each cut short; the last ones dropped while the whole is too big."""
    bad_request = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(
                field=shorten(v.field, FIELD_LIMIT), description=shorten(v.description, DESCRIPTION_LIMIT)
            )
            for v in violations[:MAX_VIOLATIONS]
        ]
    )
    while len(bad_request.field_violations) > 1 and bad_request.ByteSize() > DETAILS_LIMIT_BYTES:
        del bad_request.field_violations[-1]
    return bad_request


_INTERNAL = code_pb2.INTERNAL
_DEADLINE_SLACK = 0.05
"""Seconds: a call stopped this close to its deadline (or past it) was stopped by the deadline."""
SESSION_METADATA = "x-polytraders-session"
OperatorActionHook = Callable[[auth.Principal, str, Any, str], Awaitable[None]]
OutcomeHook = Callable[[str, grpc.StatusCode, float], None]
_Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
# What a grpc.aio handler holds: the servicer's coroutine function, or its async generator function
# for a stream (typeshed's RpcMethodHandler describes synchronous grpc's).
_UnaryBehaviour: TypeAlias = "Callable[[Any, ServicerContext], Awaitable[Any]]"
_StreamBehaviour: TypeAlias = "Callable[[Any, ServicerContext], AsyncGenerator[Any, None]]"


class CallMetrics(Protocol):
    """Where every call's start and end are counted (runtime.metrics.MeshMetrics)."""

    def call_started(self, method: str) -> None: ...

    def call_finished(self, method: str, code: grpc.StatusCode, seconds: float) -> None: ...
"""(method, status code, seconds) of every unary call: the SLO monitor's feed. Must be cheap."""


class GovernanceInterceptor(grpc.aio.ServerInterceptor):
    """`access` maps full method names (/pkg.Service/Method) to the roles allowed to call them.

    Services listed in `open_services` (health, reflection) pass untouched: anyone may ask
    whether the server is up and what it serves.
    """

    def __init__(
        self,
        tokens: auth.TokenBook | auth.ReloadingTokenBook | None,
        access: Mapping[str, frozenset[auth.Role]],
        open_services: frozenset[str],
        on_operator_action: OperatorActionHook | None = None,
        on_outcome: OutcomeHook | None = None,
        *,
        mutual_tls: bool = False,
        guard: AccessGuard | None = None,
        metrics: CallMetrics | None = None,
        spans: ServerSpans | None = None,
    ) -> None:
        self._tokens = tokens
        self.access = access
        self._open = open_services
        self._on_operator_action = on_operator_action
        self.on_outcome = on_outcome
        self._mutual_tls = mutual_tls
        self.guard = guard
        self.metrics = metrics
        self.spans = spans

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[_Handler | None]],
        details: grpc.HandlerCallDetails,
    ) -> _Handler | None:
        handler = await continuation(details)
        if handler is None or details.method.split("/")[1] in self._open:
            return handler
        return self._wrap(handler, details)

    async def _after_operator_action(
        self, call: _Call, details: grpc.HandlerCallDetails, request: Any
    ) -> None:
        """Every successful operator call that changes something reaches the one hook (user activity)."""
        if self._on_operator_action is None or self.access.get(details.method) != auth.OPERATE:
            return
        metadata = dict(details.invocation_metadata or ())
        session = metadata.get(SESSION_METADATA, "")
        try:
            await self._on_operator_action(call.principal, details.method, request, str(session))
        except Exception:  # the action happened; losing its record is logged loudly, not turned into an error
            log.exception("operator action %s by %s not recorded", details.method, call.principal.name)

    def _authenticate(
        self, details: grpc.HandlerCallDetails, context: ServicerContext
    ) -> auth.Principal:
        """A bearer token names the caller; under mTLS a call without one is its client
        certificate's principal (the tokens file's `[[certificate]]` entries)."""
        if self._tokens is None:
            principal = auth.ANONYMOUS_OPERATOR
        else:
            metadata = details.invocation_metadata or ()
            if self._mutual_tls and not any(key == "authorization" for key, _ in metadata):
                principal = self._certificate_principal(context)
            else:
                principal = self._tokens.authenticate(metadata)
        return principal

    def _certificate_principal(self, context: ServicerContext) -> auth.Principal:
        assert self._tokens is not None
        names = context.auth_context().get("x509_common_name") or [b""]
        common_name = next(iter(names)).decode(errors="replace")
        principal = self._tokens.certificate_principal(common_name)
        if principal is None:
            raise Unauthenticated(
                f"no bearer token, and the client certificate CN={common_name!r} is in no [[certificate]] entry"
            )
        return principal

    def _wrap(self, handler: _Handler, details: grpc.HandlerCallDetails) -> _Handler:
        """The handler grpc runs instead: it receives the request's bytes and decodes them only
        once the caller is admitted (see `_Call.admit`), so the token is checked first and bytes
        that do not decode are mapped like any other refusal."""
        method = details.method
        decode = handler.request_deserializer
        if handler.unary_unary:
            inner = cast(_UnaryBehaviour, handler.unary_unary)

            async def unary(wire: bytes, context: ServicerContext) -> Any:
                with _Call(self, details, context, unary=True) as call:
                    request = await call.admit(decode, wire)
                    try:
                        response = await inner(request, context)
                    except Exception as error:  # noqa: BLE001 - mapped, never leaked
                        await call.fail(error)
                    await self._after_operator_action(call, details, request)
                    return response

            return grpc.unary_unary_rpc_method_handler(unary, None, handler.response_serializer)
        if handler.unary_stream:
            inner_stream = cast(_StreamBehaviour, handler.unary_stream)

            async def stream(wire: bytes, context: ServicerContext) -> None:
                """Writes rather than yields, so the whole stream, its end and its cleanup run in
                the RPC's own task (a generator grpc drops when the caller leaves is closed later,
                from another task and context)."""
                with _Call(self, details, context) as call:
                    request = await call.admit(decode, wire)
                    async with aclosing(inner_stream(request, context)) as items:
                        while True:
                            try:
                                item = await anext(items)
                            except StopAsyncIteration:
                                return
                            except Exception as error:  # noqa: BLE001 - mapped, never leaked
                                await call.fail(error)
                            await context.write(item)

            return grpc.unary_stream_rpc_method_handler(stream, None, handler.response_serializer)
        raise NotImplementedError(f"{method}: only unary and server-streaming RPCs are served")


class _Call:
    """One RPC's admission, error mapping, access-log line, metrics and span."""

    def __init__(
        self,
        interceptor: GovernanceInterceptor,
        details: grpc.HandlerCallDetails,
        context: ServicerContext,
        *,
        unary: bool = False,
    ) -> None:
        self._interceptor = interceptor
        self._unary = unary
        self._details = details
        self._context = context
        self._principal: auth.Principal | None = None
        self._code = grpc.StatusCode.OK
        self._token: Any = None
        self._opened_span: Any = None

    def __enter__(self) -> _Call:
        self._started = time.perf_counter()
        if self._interceptor.metrics is not None:
            self._interceptor.metrics.call_started(self._details.method)
        if self._interceptor.spans is not None:  # last: nothing after it can fail and leave it open
            self._opened_span = self._interceptor.spans.open(self._details.method, self._details.invocation_metadata)
        return self

    @property
    def principal(self) -> auth.Principal:
        assert self._principal is not None
        return self._principal

    async def admit(self, decode: Callable[[bytes], Any] | None, wire: bytes) -> Any:
        """The caller's token and role first, from the metadata alone; then the request decoded
        and held to the limits of the edge (`request_limits`), before any servicer sees it."""
        try:
            if self._interceptor.guard is not None:
                self._interceptor.guard.admit(self._context.peer())
            self._principal = self._interceptor._authenticate(self._details, self._context)
            auth.authorize(self._principal, self._details.method, self._interceptor.access)
            request = wire if decode is None else decode(wire)
            check_request(request, self._details.invocation_metadata)
        except GovernanceError as error:
            await self.fail(error)
        self._token = auth.set_current_principal(self._principal)
        return request

    async def fail(self, error: Exception) -> NoReturn:
        if isinstance(error, grpc.aio.AbortError):
            raise error
        if isinstance(error, GovernanceError):
            status = status_for(error)
            if isinstance(error, Unauthenticated | PermissionDenied) and self._interceptor.guard is not None:
                metadata = dict(self._details.invocation_metadata or ())
                self._interceptor.guard.denied(
                    self._details.method, self._principal, self._context.peer(), status.code, str(error),
                    str(metadata.get(SESSION_METADATA, "")),
                )  # fmt: skip
        else:
            ref = uuid.uuid4().hex[:12]
            log.exception("unexpected error in %s (ref %s)", self._details.method, ref)
            status = rpc_status.to_status(
                status_pb2.Status(code=_INTERNAL, message=f"internal error (ref {ref})")
            )
        self._code = status.code
        await self._context.abort(status.code, status.details, status.trailing_metadata)

    def _cut_short(self) -> grpc.StatusCode:
        """The code of a call stopped before it finished: its deadline passed, or its caller left.
        The server's deadline is the caller's plus the time the request took to arrive, so a caller
        leaving at its own deadline is heard a little before the server's: `_DEADLINE_SLACK`."""
        remaining = self._context.time_remaining()
        passed = remaining is not None and remaining <= _DEADLINE_SLACK
        return grpc.StatusCode.DEADLINE_EXCEEDED if passed else grpc.StatusCode.CANCELLED

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self._token is not None:
            auth.reset_current_principal(self._token)
        if exc_type is not None and self._code is grpc.StatusCode.OK:
            self._code = self._cut_short()
        spans = self._interceptor.spans
        if spans is not None and self._opened_span is not None:
            spans.close(self._opened_span, self._code)
        elapsed = time.perf_counter() - self._started
        if self._unary and self._interceptor.on_outcome is not None:
            self._interceptor.on_outcome(self._details.method, self._code, elapsed)
        if self._interceptor.metrics is not None:
            self._interceptor.metrics.call_finished(self._details.method, self._code, elapsed)
        if not access_log.isEnabledFor(logging.INFO):
            return
        principal = self._principal
        access_log.info(
            json.dumps(
                {
                    "method": self._details.method,
                    "caller": principal.name if principal else None,
                    "role": principal.role.value if principal else None,
                    "code": self._code.name,
                    "ms": round(elapsed * 1000, 3),
                }
            )
        )
