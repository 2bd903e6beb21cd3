"""What every service family of the SDK shares: one verb layer, run blocking or on asyncio.

A family subclasses `Family[Stub, Mode]`, declares which RPCs are idempotent, and writes each
verb once, as `return self._invoke(self._rpc.Name, request, post)` (or `self._stream(...)`),
decorated `@remote` (`@remote_stream`). The same class serves both clients, and its mode follows
the channel it is built on: on a blocking channel `_invoke` returns the value, on an asyncio one a
coroutine of it (`_stream`: a generator, or an async generator). Python cannot say "the same verb,
awaitable" in one signature, so the decorators say it to the type checker: through
`RegistryFamily[Blocking]` a verb returns what it declares, through `RegistryFamily[Asyncio]` a
coroutine of it; mypy checks requests and responses against the generated stub.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
from collections.abc import AsyncGenerator, Callable, Coroutine, Generator
from types import SimpleNamespace
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, cast, overload

import grpc

from .calls import AsyncStreamCall, AsyncUnaryCall, CallOptions, Metadata, StreamCall, UnaryCall


class Blocking:
    """The mode of `Governance`'s families: a verb returns its value."""


class Asyncio:
    """The mode of `AsyncGovernance`'s families: a verb returns a coroutine (a stream: an async generator)."""


Stub = TypeVar("Stub")
Mode = TypeVar("Mode", Blocking, Asyncio)
Params = ParamSpec("Params")
Result = TypeVar("Result")
Item = TypeVar("Item")
Request = TypeVar("Request")
Response = TypeVar("Response")


@functools.cache
def _server_streams(stub_class: type) -> frozenset[str]:
    """The service's server-streaming RPCs, as its proto declares them."""
    messages = importlib.import_module(stub_class.__module__.removesuffix("_grpc"))
    service = messages.DESCRIPTOR.services_by_name[stub_class.__name__.removesuffix("Stub")]
    return frozenset(method.name for method in service.methods if method.server_streaming)


class Family(Generic[Stub, Mode]):
    stub_class: Callable[[Any], Stub]
    """The generated stub: it takes a blocking or an asyncio channel."""
    idempotent: frozenset[str] = frozenset()
    """RPCs safe to retry (reads, and writes keyed by an idempotency key)."""

    def __init__(self, channel: grpc.Channel | grpc.aio.Channel, metadata: Metadata, options: CallOptions) -> None:
        self._aio = isinstance(channel, grpc.aio.Channel)
        unary, stream = (AsyncUnaryCall, AsyncStreamCall) if self._aio else (UnaryCall, StreamCall)
        streams = _server_streams(cast(type, self.stub_class))
        calls: dict[str, Any] = {}
        for method, callable_ in vars(self.stub_class(channel)).items():
            if method in streams:
                calls[method] = stream(callable_, metadata)
            else:
                calls[method] = unary(callable_, metadata, options, idempotent=method in self.idempotent)
        # Only a typed handle for `_invoke` and `_stream`: each attribute is the stub's RPC of that
        # name wrapped with its deadline, retries and typed errors (called with a request and a timeout).
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
        """The response (or `post` of it); on asyncio, a coroutine of it."""
        if not self._aio:
            response = rpc(request, timeout=timeout)
            return response if post is None else post(response)

        async def invoke() -> Any:
            response = await rpc(request, timeout=timeout)
            return response if post is None else post(response)

        return invoke()

    def _stream(
        self, rpc: grpc.UnaryStreamMultiCallable[Request, Response], request: Request
    ) -> Generator[Response, None, None]:
        """The server's stream as a generator (closing it cancels the call); on asyncio, an async one."""
        return cast(Generator[Response, None, None], rpc(request))

    def _offload(self, work: Callable[Params, Result], *args: Params.args, **kwargs: Params.kwargs) -> Result:
        """Blocking work: done here, or on asyncio handed to a worker thread (a coroutine of it)."""
        if self._aio:
            return cast(Result, asyncio.to_thread(work, *args, **kwargs))
        return work(*args, **kwargs)


class _Verb(Generic[Params, Result]):
    """The verb itself, unchanged at run time (on the class too, for help(), inspect and autospec);
    the subclasses' `__get__` overloads only tell the type checker what it returns in each mode."""

    def __init__(self, verb: Callable[Concatenate[Any, Params], Result]) -> None:
        self._verb = verb

    def _bound(self, family: Any, owner: type) -> Any:
        return self._verb if family is None else self._verb.__get__(family, owner)


class remote(_Verb[Params, Result]):
    """Marks a verb that calls governance: its value on a blocking family, a coroutine on asyncio."""

    @overload
    def __get__(self, family: None, owner: type) -> Callable[Concatenate[Any, Params], Result]: ...
    @overload
    def __get__(self, family: Family[Any, Blocking], owner: type) -> Callable[Params, Result]: ...
    @overload
    def __get__(
        self, family: Family[Any, Asyncio], owner: type
    ) -> Callable[Params, Coroutine[Any, Any, Result]]: ...
    def __get__(self, family: Any, owner: type) -> Any:
        return self._bound(family, owner)


class remote_stream(_Verb[Params, Generator[Item, None, None]]):
    """Marks a verb that returns a server stream: a generator on a blocking family, an async one on asyncio."""

    @overload
    def __get__(
        self, family: None, owner: type
    ) -> Callable[Concatenate[Any, Params], Generator[Item, None, None]]: ...
    @overload
    def __get__(
        self, family: Family[Any, Blocking], owner: type
    ) -> Callable[Params, Generator[Item, None, None]]: ...
    @overload
    def __get__(
        self, family: Family[Any, Asyncio], owner: type
    ) -> Callable[Params, AsyncGenerator[Item, None]]: ...
    def __get__(self, family: Any, owner: type) -> Any:
        return self._bound(family, owner)
