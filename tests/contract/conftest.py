"""Contract cases run against the public RPCs only.

In `make test` the target is an in-process mesh (once per storage backend). Run against a
deploy with `polytraders-gov contract-test TARGET --token ... [--auditor-token ...]
[--bot-token ... --bot-slug ...]`, TARGET one HOST:PORT or a service map
("reports=HOST:PORT;lifecycle=HOST:PORT,HOST:PORT;default=HOST:PORT": each RPC goes to the
group serving it); cases needing a token that was not given are skipped, and so, against one
process of a split mesh, are the cases of groups it does not run (it is asked which it runs).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial

import grpc
import pytest

from polytraders.governance.v1 import mesh_pb2, mesh_pb2_grpc, report_bus_pb2, report_bus_pb2_grpc
from polytraders.reports.v1 import reports_pb2
from polytraders.sdk.report_builders import ReportBuilder
from polytraders.sdk.service_map import DEFAULT, RoutedChannel, ServiceMap, group_of_service
from polytraders.sdk.transport import TlsOptions, dial, resolve
from polytraders.servers.mesh import MeshThread
from polytraders.servers.runtime.archive import ReportFilter
from tests.conftest import BACKENDS, start_mesh, url_for_backend

DEADLINE = 10.0


@dataclass
class Target:
    address: str
    """Where the report bus is served."""
    tokens: dict[str, str]
    bot_slug: str | None
    channel: grpc.Channel | RoutedChannel
    archive_size: Callable[[], int] | None = None
    """Rows in the archive, when the target runs in this process (None for a deploy)."""
    groups: frozenset[str] | None = None
    """The groups the one process targeted says it runs; None when every group is reachable (an
    in-process mesh, or a service map)."""
    tls: TlsOptions | None = None
    """How a test's own channel reaches `address` (POLYTRADERS_TLS_*, or a grpcs:// target)."""

    def dial(self) -> grpc.Channel:
        """A channel of the test's own, with gRPC's default options."""
        return dial(self.address, (), self.tls)

    def serves(self, service: str) -> bool:
        return self.groups is None or group_of_service(service) in self.groups

    def require(self, *services: str) -> None:
        """Skip unless the target serves every one of `services` (one process of a split mesh serves its groups')."""
        missing = [service for service in services if not self.serves(service)]
        if missing:
            pytest.skip(f"{', '.join(missing)} not served at {self.address}: its group runs in another process")

    def metadata(self, role: str | None) -> list[tuple[str, str]]:
        if role is None:
            return []
        token = self.tokens.get(role)
        if token is None:
            pytest.skip(f"no {role} token given for this target")
        return [("authorization", f"Bearer {token}")]

    def channel_of(self, service: str) -> grpc.Channel:
        """The channel of the process serving `service` (a split mesh's; else the one channel)."""
        if isinstance(self.channel, RoutedChannel):
            return self.channel.channel_for(f"/{service}/")
        return self.channel

    def reports(self) -> report_bus_pb2_grpc.ReportBusServiceStub:
        return report_bus_pb2_grpc.ReportBusServiceStub(self.channel)

    def builder(self, role: str = "operator") -> ReportBuilder:
        """Reports a caller of `role` may publish: a bot only as itself."""
        slug = self.bot_slug if role == "bot" else f"contract-suite-{uuid.uuid4().hex[:8]}"
        if slug is None:
            pytest.skip("no bot slug given for this target")
        return ReportBuilder(slug, bot_class="governance", mode=reports_pb2.MODE_REPLAY)

    def head_cursor(self, builder: ReportBuilder, role: str = "operator") -> str:
        """The cursor just past a marker report: what is published next comes after it."""
        marker = builder.operations(component="contract", event="contract.marker")
        reply = self.reports().PublishReports(
            report_bus_pb2.PublishReportsRequest(reports=[marker]),
            metadata=self.metadata(role),
            timeout=DEADLINE,
        )
        return reply.last_cursor


EXTERNAL = os.environ.get("POLYTRADERS_CONTRACT_TARGET")


@pytest.fixture(params=["external"] if EXTERNAL else BACKENDS)
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    mesh = None
    if EXTERNAL:
        tokens = {
            role: os.environ[f"POLYTRADERS_CONTRACT_{role.upper()}_TOKEN"]
            for role in ("operator", "auditor", "bot")
            if os.environ.get(f"POLYTRADERS_CONTRACT_{role.upper()}_TOKEN")
        }
        address, bot_slug = EXTERNAL, os.environ.get("POLYTRADERS_CONTRACT_BOT_SLUG")
    else:
        mesh = start_mesh(url_for_backend(request, request.param), request.getfixturevalue("clock"))
        tokens = {
            "operator": "dev-operator-token",
            "auditor": "dev-auditor-token",
            "bot": "dev-bot-token",
        }
        address, bot_slug = mesh.address, "demo-bot"
    try:
        with RoutedChannel(ServiceMap.parse(address)) if EXTERNAL else grpc.insecure_channel(address) as channel:
            size = partial(_requested_reports, mesh) if mesh else None
            one_process = EXTERNAL and list(ServiceMap.parse(address).targets) == [DEFAULT]
            groups = _groups(channel, tokens) if one_process else None
            targets = ServiceMap.parse(address)
            yield Target(targets.channel_target("reports"), tokens, bot_slug, channel, size, groups,
                         resolve(None, targets.secure))  # fmt: skip
    finally:
        if mesh is not None:
            mesh.stop()


REFUSAL_RECORDERS = frozenset({"access-guard", "user-activity-ledger"})
"""Who puts a refused call on the record (an OperationsReport and a user-activity entry): what a
refusal stores is that record, never what the call asked for."""


def _requested_reports(mesh: MeshThread) -> int:
    """The archive's reports, leaving out governance's own records of refused calls."""
    stored = mesh.mesh.parts.bus.archive.read_after(0, ReportFilter(), 1_000_000)
    return sum(1 for report in stored if report.bot_slug not in REFUSAL_RECORDERS)


def _groups(channel: RoutedChannel, tokens: dict[str, str]) -> frozenset[str] | None:
    """What one process says it runs (every group is assumed without a token to ask with)."""
    token = tokens.get("auditor") or tokens.get("operator")
    if token is None:
        return None
    stub = mesh_pb2_grpc.MeshServiceStub(channel)
    described = stub.DescribeProcess(mesh_pb2.DescribeProcessRequest(), metadata=[("authorization", f"Bearer {token}")],
                                     timeout=DEADLINE)  # fmt: skip
    return frozenset(described.groups)


@pytest.fixture(autouse=True)
def _served_by_the_target(request: pytest.FixtureRequest, target: Target) -> None:
    """A contract module's cases run where its `SERVES` services are served (all, but for one
    process of a split mesh)."""
    target.require(*getattr(request.module, "SERVES", ()))
