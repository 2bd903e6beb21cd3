"""The raw layer: one typed call object per RPC, with a deadline, retries and typed errors.

Idempotent calls retry (tenacity: exponential backoff with jitter, bounded attempts) on the
codes that mean "not now": UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED. Nothing else
is retried, and a non-idempotent call is never retried.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import grpc
import tenacity

from .errors import from_rpc_error

Request = TypeVar("Request")
Response = TypeVar("Response")

RETRYABLE = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED}
)
Metadata = Sequence[tuple[str, str]]


@dataclass(frozen=True)
class CallOptions:
    timeout: float = 5.0
    """Deadline of each attempt, in seconds."""
    attempts: int = 4
    """Most attempts an idempotent call makes."""
    initial_backoff: float = 0.05
    """First wait between attempts, in seconds; it doubles, with jitter."""
    max_backoff: float = 2.0
    """Longest wait between attempts, in seconds."""


def is_retryable(error: BaseException) -> bool:
    return isinstance(error, grpc.RpcError) and error.code() in RETRYABLE


def _policy(options: CallOptions, idempotent: bool) -> dict[str, Any]:
    return dict(
        retry=tenacity.retry_if_exception(is_retryable),
        wait=tenacity.wait_exponential_jitter(
            multiplier=options.initial_backoff, max=options.max_backoff, jitter=options.initial_backoff
        ),
        stop=tenacity.stop_after_attempt(options.attempts if idempotent else 1),
        reraise=True,
    )


class _UnaryCallBase(Generic[Request, Response]):
    _retrying_class: type[tenacity.BaseRetrying]

    def __init__(self, method: Any, metadata: Metadata, options: CallOptions, *, idempotent: bool) -> None:
        self._method = method
        self._metadata = tuple(metadata)
        self._options = options
        self._retrying = self._retrying_class(**_policy(options, idempotent))


class UnaryCall(_UnaryCallBase[Request, Response]):
    """A blocking unary call (`method` is a grpc.UnaryUnaryMultiCallable)."""

    _retrying_class = tenacity.Retrying

    def __call__(self, request: Request, *, timeout: float | None = None) -> Response:
        try:
            response: Response = self._retrying(
                self._method, request, timeout=timeout or self._options.timeout, metadata=self._metadata
            )
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None
        return response


class AsyncUnaryCall(_UnaryCallBase[Request, Response]):
    """An asyncio unary call (`method` is a grpc.aio.UnaryUnaryMultiCallable)."""

    _retrying_class = tenacity.AsyncRetrying

    async def __call__(self, request: Request, *, timeout: float | None = None) -> Response:
        async def attempt() -> Response:
            response: Response = await self._method(
                request, timeout=timeout or self._options.timeout, metadata=self._metadata
            )
            return response

        try:
            return await self._retrying(attempt)
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None


class StreamCall(Generic[Request, Response]):
    """A server stream; no deadline unless given (subscriptions are long-lived)."""

    def __init__(self, method: grpc.UnaryStreamMultiCallable[Request, Response], metadata: Metadata) -> None:
        self._method = method
        self._metadata = tuple(metadata)

    def __call__(self, request: Request, *, timeout: float | None = None) -> Iterator[Response]:
        stream = self._method(request, timeout=timeout, metadata=self._metadata)
        try:
            yield from stream
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.CANCELLED:
                raise from_rpc_error(error) from None
        finally:
            stream.cancel()


class AsyncStreamCall(Generic[Request, Response]):
    def __init__(self, method: grpc.aio.UnaryStreamMultiCallable[Request, Response], metadata: Metadata) -> None:
        self._method = method
        self._metadata = tuple(metadata)

    async def __call__(self, request: Request, *, timeout: float | None = None) -> AsyncIterator[Response]:
        stream = self._method(request, timeout=timeout, metadata=self._metadata)
        try:
            async for item in stream:
                yield item
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.CANCELLED:
                raise from_rpc_error(error) from None
        finally:
            stream.cancel()
