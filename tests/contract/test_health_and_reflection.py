"""Every deploy answers grpc.health.v1 and server reflection, without a token: each process for
the services it serves (one process, or each of a split mesh's through its service map)."""

from __future__ import annotations

from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from .conftest import DEADLINE, Target

REPORT_BUS = "polytraders.governance.v1.ReportBusService"
REGISTRY = "polytraders.governance.v1.StrategyRegistryService"
EXPERIMENTS = "polytraders.governance.v1.ExperimentTrackerService"
LEDGER = "polytraders.governance.v1.ComplianceLedgerService"
CONFIG_AUDIT = "polytraders.governance.v1.ParameterChangeAuditService"
ACTIVITY = "polytraders.governance.v1.UserActivityLedgerService"
ATTRIBUTION = "polytraders.governance.v1.BuilderAttributionService"
REVENUE = "polytraders.governance.v1.AttributionRevenueService"
SERVICES = (REPORT_BUS, REGISTRY, EXPERIMENTS, LEDGER, CONFIG_AUDIT, ACTIVITY, ATTRIBUTION, REVENUE)


def test_the_server_and_the_report_bus_are_serving(target: Target) -> None:
    for service in filter(target.serves, SERVICES):
        stub = health_pb2_grpc.HealthStub(target.channel_of(service))
        for asked in ("", service):
            reply = stub.Check(health_pb2.HealthCheckRequest(service=asked), timeout=DEADLINE)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING, asked


def test_reflection_lists_the_governance_services(target: Target) -> None:
    for service in filter(target.serves, SERVICES):
        stub = reflection_pb2_grpc.ServerReflectionStub(target.channel_of(service))
        replies = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
        names = {s.name for s in next(iter(replies)).list_services_response.service}
        assert {service, "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"} <= names, service
