"""The lifecycle group: StrategyRegistry (and, later, experiments, backtests, paper trading)."""

from __future__ import annotations

from polytraders.governance.v1 import lifecycle_pb2 as pb
from polytraders.servers.runtime.auth import Principal
from polytraders.servers.runtime.reporter import GovernanceReporter
from polytraders.servers.runtime.server import ServiceBinding

from .registry import StrategyRegistry, stage_name
from .service import registry_binding
from .store import StrategyStore


def lifecycle_bindings(parts) -> list[ServiceBinding]:  # type: ignore[no-untyped-def]
    reporter = GovernanceReporter(parts.bus, "strategy-registry", parts.clock)

    async def emit(strategy: pb.Strategy, action: str, explanation: str, actor: Principal) -> None:
        metrics = {"slug": strategy.slug, "stage": stage_name(strategy.stage), "revision": str(strategy.revision),
                   "actor": actor.name, "role": actor.role.value}  # fmt: skip
        await reporter.decision_record(
            "strategy-registry", f"registry.{action}", strategy.slug, explanation, metrics
        )

    registry = StrategyRegistry(StrategyStore(parts.engine), parts.clock, emit)
    return [registry_binding(registry)]
