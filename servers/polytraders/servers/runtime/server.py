"""One factory for every group's gRPC server: health, reflection, auth, limits, graceful drain."""

from __future__ import annotations

import gc
import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, ServiceDescriptor
from google.protobuf.message import Message
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from . import auth
from .access_guard import AccessGuard
from .errors import InvalidArgument
from .interceptors import CallMetrics, GovernanceInterceptor, OperatorActionHook, OutcomeHook
from .requests import WireRequest
from .tls import ServerTls
from .tracing import ServerSpans

log = logging.getLogger(__name__)


def tune_interpreter_for_serving() -> None:
    """Once a serving process has started: keep the collector off what lives as long as it does,
    and have threads hand the GIL over sooner.

    Everything imported and built at startup (hundreds of thousands of objects) is frozen out
    of collections, and young collections run less often, so a batch's short-lived rows die
    by reference count instead of being promoted and rescanned. On the publish path this cut
    the collector's share of the event loop's time from about a fifth to a few percent.

    The report bus's writer thread spends most of a commit inside the database driver without
    the GIL; each time it comes back it waits for the event loop to let go, up to the switch
    interval (5 ms by default, longer than a whole batch's commit). A 1 ms interval lets the
    writer and the event loop overlap instead of taking turns.
    """
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    sys.setswitchinterval(0.001)


@dataclass(frozen=True)
class ServiceBinding:
    """A servicer, who may call each of its methods, and how its requests are decoded."""

    descriptor: ServiceDescriptor
    servicer: Any
    access: Mapping[str, frozenset[auth.Role]]
    wire_requests: frozenset[str] = frozenset()
    """Methods whose servicer receives a `WireRequest` rather than the parsed message alone."""

    def __post_init__(self) -> None:
        methods = {m.name for m in self.descriptor.methods}
        missing, unknown = methods - set(self.access), set(self.access) - methods
        if missing or unknown or not self.wire_requests <= methods:
            raise ValueError(
                f"{self.descriptor.full_name}: access policy missing {sorted(missing)}, "
                f"unknown {sorted(unknown)}; wire requests {sorted(self.wire_requests)}"
            )

    @classmethod
    def of(
        cls,
        messages: Any,
        service: str,
        servicer: Any,
        access: Mapping[str, frozenset[auth.Role]],
        *,
        wire_requests: frozenset[str] = frozenset(),
    ) -> ServiceBinding:
        """Bind `service` of a generated `_pb2` module."""
        return cls(messages.DESCRIPTOR.services_by_name[service], servicer, access, wire_requests)

    @property
    def name(self) -> str:
        return self.descriptor.full_name

    def full_access(self) -> dict[str, frozenset[auth.Role]]:
        return {f"/{self.name}/{method}": roles for method, roles in self.access.items()}

    def add_to_server(self, server: grpc.aio.Server) -> None:
        """What generated `add_*Servicer_to_server` does, read off the descriptor."""
        handlers = {}
        for method in self.descriptor.methods:
            response = message_factory.GetMessageClass(method.output_type)
            deserialize = RequestDecoder(method.input_type, keep_wire=method.name in self.wire_requests)
            if method.client_streaming:
                raise ValueError(f"{self.name}/{method.name}: client streaming is not served")
            handler = (
                grpc.unary_stream_rpc_method_handler
                if method.server_streaming
                else grpc.unary_unary_rpc_method_handler
            )
            handlers[method.name] = handler(
                getattr(self.servicer, method.name),
                request_deserializer=deserialize,
                response_serializer=partial(_serialize, response.SerializeToString),
            )
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(self.name, handlers),))
        server.add_registered_method_handlers(self.name, handlers)


def _serialize(serialize: Callable[[Message], bytes], response: Message | bytes) -> bytes:
    """A servicer may answer with its response already serialised (a stream that forwards stored
    reports builds their bytes without parsing them)."""
    return response if isinstance(response, bytes) else serialize(response)


class RequestDecoder:
    """A method's request deserializer: bytes that are not its message are the caller's fault.

    grpc would answer a deserializer's DecodeError with UNKNOWN; this raises InvalidArgument
    naming the message type instead, which the interceptor maps like any other. The interceptor
    calls it only after the caller's token is checked (see `GovernanceInterceptor`), so bytes
    from an unauthenticated caller are never parsed. With `keep_wire` the servicer gets a
    `WireRequest` (the message and its bytes), for methods that store those bytes.
    """

    __slots__ = ("_parse", "_type_name", "_keep_wire")

    def __init__(self, message_type: Descriptor, *, keep_wire: bool = False) -> None:
        self._parse = message_factory.GetMessageClass(message_type).FromString
        self._type_name = message_type.full_name
        self._keep_wire = keep_wire

    def __call__(self, wire: bytes) -> Any:
        try:
            message = self._parse(wire)
        except Exception:  # noqa: BLE001 - whatever the parser refuses (DecodeError, nesting too deep) was sent
            raise InvalidArgument.field(
                "request", f"is not a valid {self._type_name} ({len(wire)} bytes that do not decode)"
            ) from None
        return WireRequest(message, wire) if self._keep_wire else message


OPEN_SERVICES = frozenset({health.SERVICE_NAME, reflection.SERVICE_NAME})


class GovernanceServer:
    """A started grpc.aio server; `drain()` is what SIGTERM does."""

    def __init__(
        self, server: grpc.aio.Server, health_servicer: health.aio.HealthServicer, port: int
    ) -> None:
        self.server = server
        self.health = health_servicer
        self.port = port

    async def drain(self, grace: float) -> None:
        """Report NOT_SERVING, refuse new calls, let in-flight ones finish within `grace`."""
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)


async def start_server(
    bindings: Sequence[ServiceBinding],
    *,
    host: str,
    port: int,
    tokens: auth.TokenBook | auth.ReloadingTokenBook | None,
    max_message_bytes: int,
    on_operator_action: OperatorActionHook | None = None,
    on_outcome: OutcomeHook | None = None,
    tls: ServerTls | None = None,
    guard: AccessGuard | None = None,
    metrics: CallMetrics | None = None,
    tracer_provider: Any = None,
) -> GovernanceServer:
    if tokens is None:
        log.warning("AUTH IS DISABLED: every caller is treated as an operator. Never run a deploy like this.")
    access: dict[str, frozenset[auth.Role]] = {}
    for binding in bindings:
        access.update(binding.full_access())
    server = grpc.aio.server(
        interceptors=[
            GovernanceInterceptor(
                tokens,
                access,
                OPEN_SERVICES,
                on_operator_action,
                on_outcome,
                mutual_tls=tls is not None and tls.mutual,
                guard=guard,
                metrics=metrics,
                spans=None if tracer_provider is None else ServerSpans(tracer_provider),
            )  # fmt: skip
        ],
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.so_reuseport", 0),
        ],
    )
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for binding in bindings:
        binding.add_to_server(server)
    names = [b.name for b in bindings]
    reflection.enable_server_reflection([*names, health.SERVICE_NAME, reflection.SERVICE_NAME], server)
    address = f"{host}:{port}"
    bound = (
        server.add_insecure_port(address)
        if tls is None
        else server.add_secure_port(address, tls.credentials())
    )
    if bound == 0:
        raise OSError(f"cannot listen on {host}:{port}")
    await server.start()
    for name in ["", *names]:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return GovernanceServer(server, health_servicer, bound)
