"""The other processes of a split mesh, reached through the service map: one channel per group,
this process's mesh token on every call, and their refusals turned into this process's errors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import grpc

from polytraders.sdk.errors import field_violations
from polytraders.sdk.service_map import ServiceMap
from polytraders.sdk.transport import TlsOptions, dial_aio

from .errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    GovernanceError,
    InvalidArgument,
    NotFound,
    Unavailable,
)

T = TypeVar("T")
READ_SECONDS = 10.0


class Peers:
    def __init__(
        self,
        targets: ServiceMap | None = None,
        token: str = "",
        timeout_seconds: float = 900,
        tls: TlsOptions | None = None,
        interceptors: Sequence[Any] = (),
    ) -> None:
        self._targets = targets
        self._tls = tls
        self._interceptors = interceptors
        """The channels' client interceptors (trace context, when tracing is on)."""
        self.metadata = (("authorization", f"Bearer {token}"),)
        self.timeout = timeout_seconds
        """Deadline of a command run by another process (a day's reconcile may take minutes)."""
        self.read_timeout = min(READ_SECONDS, timeout_seconds)
        """Deadline of a read of another group (a follower waits on it)."""
        self._channels: dict[str, grpc.aio.Channel] = {}

    def serve(self, group: str) -> bool:
        """Whether the service map names a process for `group`."""
        return self._targets is not None and self._targets.serves(group)

    async def call(self, group: str, call: Callable[[grpc.aio.Channel], Awaitable[T]]) -> T:
        """`call` on the group's channel; a refusal is raised as this process's own error."""
        try:
            return await call(self._channel(group))
        except grpc.aio.AioRpcError as error:
            raise _as_ours(group, error) from None

    def _channel(self, group: str) -> grpc.aio.Channel:
        assert self._targets is not None
        if group not in self._channels:
            self._channels[group] = dial_aio(self._targets.channel_target(group), self._targets.channel_options(group),
                                             self._tls, self._interceptors)  # fmt: skip
        return self._channels[group]

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()


_PASSED_ON: dict[grpc.StatusCode, type[GovernanceError]] = {
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
}


def _as_ours(group: str, error: grpc.aio.AioRpcError) -> GovernanceError:
    """What the caller of this process is told: the other process's answer where it is about the
    caller's request; that the group could not be reached, or refused this process, otherwise."""
    code, details = error.code(), error.details() or ""
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        named = [FieldViolation(v.field, v.description) for v in field_violations(error)]
        return InvalidArgument(named or [FieldViolation("request", details)])
    if code in _PASSED_ON:
        return _PASSED_ON[code](details)
    if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
        return FailedPrecondition(f"the {group} group refused this process (check its mesh_token): {details}")
    return Unavailable(f"the {group} group's process did not answer: {code.name}: {details}")
