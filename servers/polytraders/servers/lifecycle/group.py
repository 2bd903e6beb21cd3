"""The lifecycle group: StrategyRegistry, ExperimentTracker, Backtester and the Paper-Trade Runner."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from polymarket import PRODUCTION, Environment

from polytraders.clients.clob import environment_at
from polytraders.governance.v1 import lifecycle_pb2 as pb
from polytraders.governance.v1 import lifecycle_pb2_grpc as pb_grpc
from polytraders.sdk.clock import to_micros
from polytraders.servers.runtime.auth import Principal, Role
from polytraders.servers.runtime.errors import NotFound
from polytraders.servers.runtime.parts import MeshParts
from polytraders.servers.runtime.peers import Peers
from polytraders.servers.runtime.reporter import GovernanceReporter
from polytraders.servers.runtime.server import ServiceBinding

from .backtest import Backtester, SimulationParts
from .experiments import ExperimentTracker
from .paper import PaperTrader
from .registry import LIVE_STAGES, REPORTER, GateRules, StrategyRegistry, stage_name
from .service import backtest_binding, experiments_binding, paper_binding, registry_binding
from .store import ExperimentStore, StrategyStore


def _stage_at(strategy: pb.Strategy, at: datetime) -> str | None:
    entered = [c.to_stage for c in strategy.history if c.at.ToMicroseconds() <= to_micros(at)]
    return stage_name(entered[-1]) if entered else None


def lifecycle_queries(peers: Peers) -> dict[str, Callable[..., Awaitable[Any]]]:
    """The lifecycle group's reads for other groups, asked of the process that serves it."""

    async def stage_at(slug: str, at: datetime) -> str | None:
        request = pb.GetStrategyRequest(slug=slug)
        try:
            reply = await peers.call("lifecycle", lambda channel: pb_grpc.StrategyRegistryServiceStub(channel).GetStrategy(
                request, metadata=peers.metadata, timeout=peers.read_timeout))  # fmt: skip
        except NotFound:
            return None
        return _stage_at(reply.strategy, at)

    return {"registry.stage_at": stage_at}


def lifecycle_bindings(parts: MeshParts) -> list[ServiceBinding]:
    registry_reporter = GovernanceReporter(parts.bus, REPORTER, parts.clock)
    experiment_reporter = GovernanceReporter(parts.bus, "experiment-tracker", parts.clock)

    async def registry_changed(
        strategy: pb.Strategy, action: str, explanation: str, actor: Principal
    ) -> None:
        metrics = {"slug": strategy.slug, "stage": stage_name(strategy.stage), "revision": str(strategy.revision),
                   "actor": actor.name, "role": actor.role.value}  # fmt: skip
        await registry_reporter.decision_record(
            REPORTER, f"registry.{action}", strategy.slug, explanation, metrics
        )

    async def experiment_changed(
        experiment: pb.Experiment, action: str, explanation: str, actor: Principal
    ) -> None:
        r = experiment.result
        metrics = {"experiment_id": experiment.experiment_id, "samples": str(r.samples), "p_value": r.p_value,
                   "mean_difference": r.mean_difference, "actor": actor.name}  # fmt: skip
        await experiment_reporter.decision_record(
            "experiment-tracker", f"experiment.{action}", experiment.variant_slug, explanation, metrics
        )

    rules = GateRules(
        min_paper_days=parts.config.min_paper_days,
        require_positive_risk_adj=parts.config.require_positive_risk_adj,
        min_limited_live=timedelta(days=parts.config.min_limited_live_days),
    )
    registry = StrategyRegistry(StrategyStore(parts.engine), parts.clock, registry_changed, rules)
    parts.spawn(registry.follow_changes(parts.bus), name="registry.follow-changes")

    async def pause_live(arguments: Mapping[str, str], scheduled: datetime) -> str:
        """Pause every LIMITED_LIVE and GENERAL_LIVE strategy (IncidentCommander's SEV1 action)."""
        actor = Principal("incident-commander", Role.OPERATOR)
        reason = arguments.get("reason", "incident")
        paused, failed = [], []
        for strategy in await registry.list(LIVE_STAGES):
            try:  # one strategy that cannot be paused must not leave the others live
                paused.append(
                    (
                        await registry.pause(strategy.slug, pb.PAUSE_SOURCE_INCIDENT_COMMANDER, reason, actor)
                    ).slug
                )
            except Exception as error:  # noqa: BLE001 - named in the result, on the incident's timeline
                failed.append(f"{strategy.slug} ({type(error).__name__}: {error})")
        done = f"paused {len(paused)} live strategies" + (f": {', '.join(paused)}" if paused else "")
        return done + (f"; FAILED to pause {', '.join(failed)}" if failed else "")

    async def stage_at(slug: str, at: datetime) -> str | None:
        """The stage `slug` was at, at `at` (None when the registry has no such strategy)."""
        try:
            return _stage_at(await registry.get(slug), at)
        except NotFound:
            return None

    async def pause_for(arguments: Mapping[str, str], scheduled: datetime) -> str:
        """Pause one strategy for a governance bot (arguments: slug, reason, source)."""
        source = pb.PauseSource.Value(f"PAUSE_SOURCE_{arguments.get('source', 'portfolio_sync').upper()}")
        actor = Principal(arguments.get("source", "portfolio_sync").replace("_", "-"), Role.OPERATOR)
        paused = await registry.pause(arguments["slug"], source, arguments.get("reason", ""), actor)
        return f"paused {paused.slug}"

    parts.commands["registry.pause_live"] = pause_live
    parts.commands["registry.pause"] = pause_for
    parts.queries["registry.stage_at"] = stage_at
    tracker = ExperimentTracker(ExperimentStore(parts.engine), registry, parts.clock, experiment_changed)
    simulation = SimulationParts(parts.engine, parts.bus, parts.clock, registry, parts.config.strategy_packages,
                                 parts.config.builder_code)  # fmt: skip
    backtester = Backtester(
        simulation, GovernanceReporter(parts.bus, "backtester", parts.clock), parts.queries
    )
    config = parts.config

    def market_feed() -> Environment:
        if not (config.clob_url or config.clob_market_ws_url):
            return PRODUCTION
        return environment_at(config.clob_url or PRODUCTION._config.clob_url, config.clob_market_ws_url)

    trader = PaperTrader(simulation, rules, market_feed)
    parts.on_stop.append(trader.stop_all)
    return [registry_binding(registry), experiments_binding(tracker), backtest_binding(backtester),
            paper_binding(trader)]  # fmt: skip
