"""What every service family of the SDK shares: one verb layer, run blocking or on asyncio.

A family subclasses `Family`, declares which RPCs are idempotent, and writes each verb once
as `return self._invoke("RpcName", request, post)`. `Family.blocking(...)` and
`Family.asyncio(...)` give the same verbs over a blocking or an asyncio channel.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

from .calls import AsyncStreamCall, AsyncUnaryCall, CallOptions, Metadata, StreamCall, UnaryCall


def _identity(response: Any) -> Any:
    return response


class Family:
    stub_class: Callable[[Any], Any]
    idempotent: frozenset[str] = frozenset()
    """RPCs safe to retry (reads, and writes keyed by an idempotency key)."""
    streams: frozenset[str] = frozenset()

    def __init__(
        self, channel: grpc.Channel | grpc.aio.Channel, metadata: Metadata, options: CallOptions, *, aio: bool
    ):
        stub = self.stub_class(channel)
        unary, stream = (AsyncUnaryCall, AsyncStreamCall) if aio else (UnaryCall, StreamCall)
        self._aio = aio
        self._calls: dict[str, Any] = {}
        for method in stub.__dict__:
            if method in self.streams:
                self._calls[method] = stream(getattr(stub, method), metadata)
            else:
                self._calls[method] = unary(
                    getattr(stub, method), metadata, options, idempotent=method in self.idempotent
                )

    def _invoke(
        self,
        method: str,
        request: Any,
        post: Callable[[Any], Any] = _identity,
        *,
        timeout: float | None = None,
    ) -> Any:
        call = self._calls[method]
        if method in self.streams:
            return call(request)
        if not self._aio:
            return post(call(request, timeout=timeout))

        async def invoke() -> Any:
            return post(await call(request, timeout=timeout))

        return invoke()
