"""One factory for every group's gRPC server: health, reflection, auth, limits, graceful drain."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from . import auth
from .interceptors import GovernanceInterceptor, OperatorActionHook, OutcomeHook

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServiceBinding:
    """A servicer, how to add it to a server, and who may call each of its methods."""

    descriptor: ServiceDescriptor
    servicer: Any
    add_to_server: Callable[[Any, grpc.aio.Server], None]
    access: Mapping[str, frozenset[auth.Role]]

    def __post_init__(self) -> None:
        methods = {m.name for m in self.descriptor.methods}
        missing, unknown = methods - set(self.access), set(self.access) - methods
        if missing or unknown:
            raise ValueError(
                f"{self.descriptor.full_name}: access policy missing {sorted(missing)}, unknown {sorted(unknown)}"
            )

    @classmethod
    def of(
        cls,
        messages: Any,
        stubs: Any,
        service: str,
        servicer: Any,
        access: Mapping[str, frozenset[auth.Role]],
    ) -> ServiceBinding:
        """Bind `service` of a generated `_pb2` module and its `_pb2_grpc` twin."""
        return cls(
            descriptor=messages.DESCRIPTOR.services_by_name[service],
            servicer=servicer,
            add_to_server=getattr(stubs, f"add_{service}Servicer_to_server"),
            access=access,
        )

    @property
    def name(self) -> str:
        return self.descriptor.full_name

    def full_access(self) -> dict[str, frozenset[auth.Role]]:
        return {f"/{self.name}/{method}": roles for method, roles in self.access.items()}


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
    tokens: auth.TokenBook | None,
    max_message_bytes: int,
    on_operator_action: OperatorActionHook | None = None,
    on_outcome: OutcomeHook | None = None,
) -> GovernanceServer:
    if tokens is None:
        log.warning("AUTH IS DISABLED: every caller is treated as an operator. Never run a deploy like this.")
    access: dict[str, frozenset[auth.Role]] = {}
    for binding in bindings:
        access.update(binding.full_access())
    server = grpc.aio.server(
        interceptors=[GovernanceInterceptor(tokens, access, OPEN_SERVICES, on_operator_action, on_outcome)],
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.so_reuseport", 0),
        ],
    )
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for binding in bindings:
        binding.add_to_server(binding.servicer, server)
    names = [b.name for b in bindings]
    reflection.enable_server_reflection([*names, health.SERVICE_NAME, reflection.SERVICE_NAME], server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot listen on {host}:{port}")
    await server.start()
    for name in ["", *names]:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return GovernanceServer(server, health_servicer, bound)
