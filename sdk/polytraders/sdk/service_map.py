"""Where each bot group of the mesh is served: described once, read by the SDK, the CLI, the
console, `contract-test` and the mesh's own processes alike.

A group may have several replicas: its channel then balances calls round-robin over them, and
gRPC's own client-side health checking (grpc.health.v1, watched per connection) keeps a replica
that is not SERVING out of the rotation until it is again.

Written as TOML (a `[targets]` table: group = "host:port" or a list of them) or as one string
(`POLYTRADERS_TARGETS="reports=10.0.0.1:50051,10.0.0.2:50051;lifecycle=10.0.0.3:50051"`), with an
optional `default` for every group not named. Addresses written `grpcs://host:port` (all of them,
or none) mean the mesh serves TLS.
"""

from __future__ import annotations

import importlib
import ipaddress
import json
import os
import pkgutil
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, TypeVar, cast

import grpc
from google.protobuf import descriptor_pool

from polytraders.governance import v1 as governance_v1

from .transport import TlsOptions, dial, resolve, split_scheme

Stub = TypeVar("Stub")

GROUPS = ("reports", "lifecycle", "audit", "attribution", "ledger", "operations")
FAMILY_GROUPS = {
    "reports": "reports",
    "registry": "lifecycle",
    "experiments": "lifecycle",
    "audit": "audit",
    "attribution": "attribution",
    "ledger": "ledger",
    "pnl": "ledger",
    "explanations": "ledger",
    "portfolio": "ledger",
    "paper": "lifecycle",
    "backtests": "lifecycle",
    "incidents": "operations",
    "cron": "operations",
    "fleet": "operations",
    "slos": "operations",
    "operations": "operations",
}
"""The group that serves each SDK family (and each group itself)."""
DEFAULT = "default"
ENV = "POLYTRADERS_TARGETS"


@dataclass(frozen=True)
class ServiceMap:
    """group → the addresses (host:port) of its replicas; `default` serves any group not named."""

    targets: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    secure: bool = False
    """The addresses were written grpcs://: dial them over TLS."""

    def __post_init__(self) -> None:
        schemes = {split_scheme(a)[1] for addresses in self.targets.values() for a in addresses}
        if schemes == {True, False}:
            raise ValueError("service map: write every address grpcs:// (TLS) or none")
        if True in schemes:
            stripped = {
                g: tuple(split_scheme(a)[0] for a in addresses) for g, addresses in self.targets.items()
            }
            object.__setattr__(self, "targets", stripped)
            object.__setattr__(self, "secure", True)
        for group, addresses in self.targets.items():
            if group != DEFAULT and group not in GROUPS:
                raise ValueError(
                    f"service map: unknown group {group!r}; groups: {', '.join(GROUPS)}, {DEFAULT}"
                )
            if not addresses or not all(_is_address(a) for a in addresses):
                raise ValueError(f"service map: {group} needs host:port addresses, got {list(addresses)}")
            if len(addresses) > 1:
                _ip_literals(group, addresses)

    @classmethod
    def of(cls, targets: Mapping[str, str | list[str] | tuple[str, ...]]) -> ServiceMap:
        return cls(
            {group: (value,) if isinstance(value, str) else tuple(value) for group, value in targets.items()}
        )

    @classmethod
    def parse(cls, text: str) -> ServiceMap:
        """`group=host:port[,host:port...];group=...`; a bare `host:port` is the default for every group."""
        targets: dict[str, tuple[str, ...]] = {}
        for part in filter(None, (p.strip() for p in text.split(";"))):
            group, equals, addresses = part.partition("=")
            if not equals:
                group, addresses = DEFAULT, part
            targets[group.strip()] = tuple(a.strip() for a in addresses.split(",") if a.strip())
        return cls(targets)

    @classmethod
    def from_toml(cls, path: str | Path) -> ServiceMap:
        """The `[targets]` table of a TOML file (the mesh's own config file may hold it)."""
        table: dict[str, Any] = tomllib.loads(Path(path).read_text()).get("targets", {})
        try:
            return cls.of(table)
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> ServiceMap | None:
        """POLYTRADERS_TARGETS, or None when it is not set."""
        text = environ.get(ENV, "").strip()
        return cls.parse(text) if text else None

    def serves(self, group: str) -> bool:
        return group in self.targets or DEFAULT in self.targets

    def addresses(self, family_or_group: str) -> tuple[str, ...]:
        group = FAMILY_GROUPS.get(family_or_group, family_or_group)
        found = self.targets.get(group) or self.targets.get(DEFAULT)
        if (
            not found and group not in GROUPS and self.targets
        ):  # MeshService, health: every process serves them
            found = next(iter(self.targets.values()))
        if not found:
            raise ValueError(f"the service map names no target for {group!r} and no {DEFAULT!r}")
        return found

    def channel_target(self, family_or_group: str) -> str:
        """One address as it is; several as one gRPC target (`ipv4:` / `ipv6:` literals) to balance over."""
        addresses = self.addresses(family_or_group)
        if len(addresses) == 1:
            return addresses[0]
        scheme = "ipv6" if ":" in addresses[0].rsplit(":", 1)[0].strip("[]") else "ipv4"
        return f"{scheme}:{','.join(addresses)}"

    def channel_options(self, family_or_group: str) -> list[tuple[str, Any]]:
        """Round-robin with client-side health checking over several replicas; nothing for one."""
        if len(self.addresses(family_or_group)) == 1:
            return []
        config = {"loadBalancingConfig": [{"round_robin": {}}], "healthCheckConfig": {"serviceName": ""}}
        return [("grpc.service_config", json.dumps(config))]


@cache
def _load_contracts() -> None:
    """Every governance service into the default descriptor pool (their modules register them)."""
    for found in pkgutil.iter_modules(governance_v1.__path__):
        if found.name.endswith("_pb2"):
            importlib.import_module(f"{governance_v1.__name__}.{found.name}")


def group_of_service(service: str) -> str:
    """The group serving a governance service: the proto file it is defined in names it
    (report_bus.proto → reports); any other service (health, reflection, MeshService) → default."""
    _load_contracts()
    try:
        stem = Path(descriptor_pool.Default().FindServiceByName(service).file.name).stem
    except KeyError:
        return DEFAULT
    group = "reports" if stem == "report_bus" else stem
    return group if group in GROUPS else DEFAULT


class RoutedChannel:
    """A blocking channel that sends each RPC to the replicas of the group serving its service, so
    a stub built on it reaches a split mesh as it would one process (the contract suite uses it)."""

    def __init__(self, targets: ServiceMap, tls: TlsOptions | None = None) -> None:
        self._targets = targets
        self._tls = resolve(tls, targets.secure)
        self._channels: dict[str, grpc.Channel] = {}

    def target_for(self, method: str) -> tuple[str, str]:
        """(group, gRPC target) of "/package.Service/Method"."""
        group = group_of_service(method.strip("/").split("/")[0])
        return group, self._targets.channel_target(group)

    def channel_for(self, method: str) -> grpc.Channel:
        """The channel of "/package.Service/Method"'s group (one per target)."""
        group, target = self.target_for(method)
        if target not in self._channels:
            self._channels[target] = dial(target, self._targets.channel_options(group), self._tls)
        return self._channels[target]

    def unary_unary(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return self.channel_for(method).unary_unary(method, *args, **kwargs)

    def unary_stream(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return self.channel_for(method).unary_stream(method, *args, **kwargs)

    def stream_unary(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return self.channel_for(method).stream_unary(method, *args, **kwargs)

    def stream_stream(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return self.channel_for(method).stream_stream(method, *args, **kwargs)

    def stub(self, stub_class: Callable[[grpc.Channel], Stub]) -> Stub:
        """A generated stub on this channel (it makes every call a grpc.Channel makes)."""
        return stub_class(cast(grpc.Channel, self))

    def close(self) -> None:
        for channel in self._channels.values():
            channel.close()
        self._channels.clear()

    def __enter__(self) -> RoutedChannel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _is_address(address: str) -> bool:
    host, colon, port = address.rpartition(":")
    return bool(host and colon and port.isdigit() and 0 < int(port) < 65536)


def _ip_literals(group: str, addresses: tuple[str, ...]) -> None:
    """Several replicas are balanced over as address literals (gRPC's ipv4:/ipv6: targets)."""
    for address in addresses:
        host = address.rpartition(":")[0].strip("[]")
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ValueError(
                f"service map: {group} lists several replicas, so each must be an IP address "
                f"(got {address!r}); for a DNS name with several records give that one name"
            ) from None
