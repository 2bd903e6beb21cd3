"""What every service family of the SDK shares: one verb layer, run blocking or on asyncio.

A family subclasses `Family[Stub, Mode]`, declares which RPCs are idempotent, and writes each
verb once, decorated `@remote` (or `@remote_stream`), as `return self._invoke(self._rpc.Name,
request, post)`: mypy checks the request and the response against the generated stub. The same
class serves both clients: `RegistryFamily[Blocking]` returns values, `RegistryFamily[Asyncio]`
returns awaitables (and async iterators for streams), because the decorators type the verb by
the family's mode.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from types import SimpleNamespace
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, cast, overload

import grpc

from .calls import AsyncStreamCall, AsyncUnaryCall, CallOptions, Metadata, StreamCall, UnaryCall


class Blocking:
    """The mode of `Governance`'s families: a verb returns its value."""


class Asyncio:
    """The mode of `AsyncGovernance`'s families: a verb returns an awaitable or an async iterator."""


Stub = TypeVar("Stub")
Mode = TypeVar("Mode", Blocking, Asyncio)
Params = ParamSpec("Params")
Result = TypeVar("Result")
Item = TypeVar("Item")
Request = TypeVar("Request")
Response = TypeVar("Response")


class Family(Generic[Stub, Mode]):
    stub_class: Callable[[Any], Stub]
    """The generated stub: it takes a blocking or an asyncio channel."""
    idempotent: frozenset[str] = frozenset()
    """RPCs safe to retry (reads, and writes keyed by an idempotency key)."""

    def __init__(
        self, channel: grpc.Channel | grpc.aio.Channel, metadata: Metadata, options: CallOptions, *, aio: bool
    ):
        stub = self.stub_class(channel)
        unary, stream = (AsyncUnaryCall, AsyncStreamCall) if aio else (UnaryCall, StreamCall)
        streaming = (grpc.UnaryStreamMultiCallable, grpc.aio.UnaryStreamMultiCallable)
        calls: dict[str, Any] = {}
        for method, callable_ in vars(stub).items():
            server_stream = isinstance(callable_, streaming)
            if server_stream:
                calls[method] = stream(callable_, metadata)
            else:
                calls[method] = unary(callable_, metadata, options, idempotent=method in self.idempotent)
        self._aio = aio
        # The stub's RPCs by their generated names and types, each wrapped with deadline, retries
        # and typed errors: a wrapper takes the stub's request and gives its response.
        self._rpc = cast(Stub, SimpleNamespace(**calls))

    @overload
    def _invoke(
        self,
        rpc: grpc.UnaryUnaryMultiCallable[Request, Response],
        request: Request,
        *,
        timeout: float | None = None,
    ) -> Response: ...
    @overload
    def _invoke(
        self,
        rpc: grpc.UnaryUnaryMultiCallable[Request, Response],
        request: Request,
        post: Callable[[Response], Result],
        *,
        timeout: float | None = None,
    ) -> Result: ...
    def _invoke(
        self,
        rpc: Any,
        request: Any,
        post: Callable[[Any], Any] | None = None,
        *,
        timeout: float | None = None,
    ) -> Any:
        """The response (or `post` of it); on asyncio, an awaitable of it (see `remote`)."""
        if not self._aio:
            response = rpc(request, timeout=timeout)
            return response if post is None else post(response)

        async def invoke() -> Any:
            response = await rpc(request, timeout=timeout)
            return response if post is None else post(response)

        return invoke()

    def _stream(
        self, rpc: grpc.UnaryStreamMultiCallable[Request, Response], request: Request
    ) -> Iterator[Response]:
        """The server's stream; on asyncio, an async iterator of it (see `remote_stream`)."""
        return cast(Iterator[Response], rpc(request))  # the wrapper's own iterator, async on asyncio

    def _offload(self, work: Callable[Params, Result], *args: Params.args, **kwargs: Params.kwargs) -> Result:
        """Run blocking work: here, or on a worker thread as an awaitable when on asyncio."""
        if self._aio:
            return cast(Result, asyncio.to_thread(work, *args, **kwargs))  # awaited by the caller (`remote`)
        return work(*args, **kwargs)


class _Verb(Generic[Params, Result]):
    """A family's verb; what it returns on each mode is its subclass's `__get__`."""

    def __init__(self, verb: Callable[Concatenate[Any, Params], Result]) -> None:
        self._verb = verb
        self.__doc__ = verb.__doc__
        self.__name__ = verb.__name__

    def _bound(self, family: Any, owner: type) -> Any:
        return self if family is None else self._verb.__get__(family, owner)


class remote(_Verb[Params, Result]):
    """Marks a verb that calls governance: a plain call on a blocking family, awaitable on asyncio."""

    @overload
    def __get__(self, family: None, owner: type) -> remote[Params, Result]: ...
    @overload
    def __get__(self, family: Family[Any, Blocking], owner: type) -> Callable[Params, Result]: ...
    @overload
    def __get__(self, family: Family[Any, Asyncio], owner: type) -> Callable[Params, Awaitable[Result]]: ...
    def __get__(self, family: Any, owner: type) -> Any:
        return self._bound(family, owner)


class remote_stream(_Verb[Params, Iterator[Item]]):
    """Marks a verb that returns a server stream: an iterator on a blocking family, async on asyncio."""

    @overload
    def __get__(self, family: None, owner: type) -> remote_stream[Params, Item]: ...
    @overload
    def __get__(self, family: Family[Any, Blocking], owner: type) -> Callable[Params, Iterator[Item]]: ...
    @overload
    def __get__(self, family: Family[Any, Asyncio], owner: type) -> Callable[Params, AsyncIterator[Item]]: ...
    def __get__(self, family: Any, owner: type) -> Any:
        return self._bound(family, owner)
