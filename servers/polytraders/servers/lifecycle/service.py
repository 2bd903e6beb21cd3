"""StrategyRegistryService: protobuf in, registry call, protobuf out."""

from __future__ import annotations

from collections.abc import AsyncIterator

from polytraders.governance.v1 import lifecycle_pb2 as pb
from polytraders.governance.v1 import lifecycle_pb2_grpc as pb_grpc
from polytraders.servers.runtime import auth
from polytraders.servers.runtime.auth import current_principal
from polytraders.servers.runtime.requests import ServicerContext
from polytraders.servers.runtime.server import ServiceBinding

from .backtest import Backtester
from .experiments import ExperimentTracker
from .paper import PaperTrader
from .registry import StrategyRegistry

ACCESS = {
    "RegisterStrategy": auth.OPERATE,
    "GetStrategy": auth.READ,
    "ListStrategies": auth.READ,
    "PromoteStrategy": auth.OPERATE,
    "PauseStrategy": auth.OPERATE,
    "ResumeStrategy": auth.OPERATE,
    "LinkArtefact": auth.OPERATE,
    "SetLiveCap": auth.OPERATE,
    "RecordDriftSignal": auth.OPERATE,
    "CheckLiveCap": auth.READ,
    "WatchStrategies": auth.READ,
}


class StrategyRegistryServicer(pb_grpc.StrategyRegistryServiceServicer):
    def __init__(self, registry: StrategyRegistry) -> None:
        self._registry = registry

    async def RegisterStrategy(
        self, request: pb.RegisterStrategyRequest, context: ServicerContext
    ) -> pb.RegisterStrategyResponse:
        strategy = await self._registry.register(
            request.slug,
            request.owner,
            request.version,
            list(request.authority),
            request.reason,
            current_principal(),
        )
        return pb.RegisterStrategyResponse(strategy=strategy)

    async def GetStrategy(
        self, request: pb.GetStrategyRequest, context: ServicerContext
    ) -> pb.GetStrategyResponse:
        return pb.GetStrategyResponse(strategy=await self._registry.get(request.slug))

    async def ListStrategies(
        self, request: pb.ListStrategiesRequest, context: ServicerContext
    ) -> pb.ListStrategiesResponse:
        return pb.ListStrategiesResponse(strategies=await self._registry.list(frozenset(request.stages)))

    async def PromoteStrategy(
        self, request: pb.PromoteStrategyRequest, context: ServicerContext
    ) -> pb.PromoteStrategyResponse:
        strategy = await self._registry.promote(
            request.slug, request.to_stage, request.reason, current_principal(), dict(request.stage_metadata)
        )
        return pb.PromoteStrategyResponse(strategy=strategy)

    async def PauseStrategy(
        self, request: pb.PauseStrategyRequest, context: ServicerContext
    ) -> pb.PauseStrategyResponse:
        strategy = await self._registry.pause(
            request.slug, request.source, request.reason, current_principal()
        )
        return pb.PauseStrategyResponse(strategy=strategy)

    async def ResumeStrategy(
        self, request: pb.ResumeStrategyRequest, context: ServicerContext
    ) -> pb.ResumeStrategyResponse:
        return pb.ResumeStrategyResponse(
            strategy=await self._registry.resume(request.slug, request.reason, current_principal())
        )

    async def LinkArtefact(
        self, request: pb.LinkArtefactRequest, context: ServicerContext
    ) -> pb.LinkArtefactResponse:
        strategy = await self._registry.link_artefact(request.slug, request.artefact, current_principal())
        return pb.LinkArtefactResponse(strategy=strategy)

    async def SetLiveCap(
        self, request: pb.SetLiveCapRequest, context: ServicerContext
    ) -> pb.SetLiveCapResponse:
        strategy = await self._registry.set_live_cap(
            request.slug, request.live_cap, request.reason, current_principal()
        )
        return pb.SetLiveCapResponse(strategy=strategy)

    async def RecordDriftSignal(
        self, request: pb.RecordDriftSignalRequest, context: ServicerContext
    ) -> pb.RecordDriftSignalResponse:
        strategy = await self._registry.record_drift(request.slug, request.signal, current_principal())
        return pb.RecordDriftSignalResponse(strategy=strategy)

    async def CheckLiveCap(
        self, request: pb.CheckLiveCapRequest, context: ServicerContext
    ) -> pb.CheckLiveCapResponse:
        check = await self._registry.check_live_cap(
            request.slug,
            request.order_notional_micros,
            request.position_micros,
            request.position_change_micros,
        )
        return pb.CheckLiveCapResponse(
            allowed=check.allowed, stage=check.stage, max_notional_micros=check.max_notional_micros,
            max_position_micros=check.max_position_micros,
            resulting_position_micros=check.resulting_position_micros, explanation=check.explanation,
        )  # fmt: skip

    async def WatchStrategies(
        self, request: pb.WatchStrategiesRequest, context: ServicerContext
    ) -> AsyncIterator[pb.WatchStrategiesResponse]:
        async for strategy in self._registry.watch(frozenset(request.slugs)):
            yield pb.WatchStrategiesResponse(strategy=strategy)


def registry_binding(registry: StrategyRegistry) -> ServiceBinding:
    return ServiceBinding.of(pb, "StrategyRegistryService", StrategyRegistryServicer(registry), ACCESS)


EXPERIMENT_ACCESS = {
    "CreateExperiment": auth.OPERATE,
    "RecordSamples": auth.OPERATE,
    "GetExperiment": auth.READ,
    "ListExperiments": auth.READ,
}


class ExperimentTrackerServicer(pb_grpc.ExperimentTrackerServiceServicer):
    def __init__(self, tracker: ExperimentTracker) -> None:
        self._tracker = tracker

    async def CreateExperiment(
        self, request: pb.CreateExperimentRequest, context: ServicerContext
    ) -> pb.CreateExperimentResponse:
        return pb.CreateExperimentResponse(
            experiment=await self._tracker.create(request.experiment, current_principal())
        )

    async def RecordSamples(
        self, request: pb.RecordSamplesRequest, context: ServicerContext
    ) -> pb.RecordSamplesResponse:
        experiment, accepted, duplicates = await self._tracker.record(
            request.experiment_id, list(request.samples), current_principal()
        )
        return pb.RecordSamplesResponse(
            experiment=experiment, accepted_count=accepted, duplicate_count=duplicates
        )

    async def GetExperiment(
        self, request: pb.GetExperimentRequest, context: ServicerContext
    ) -> pb.GetExperimentResponse:
        return pb.GetExperimentResponse(experiment=await self._tracker.get(request.experiment_id))

    async def ListExperiments(
        self, request: pb.ListExperimentsRequest, context: ServicerContext
    ) -> pb.ListExperimentsResponse:
        return pb.ListExperimentsResponse(experiments=await self._tracker.list())


def experiments_binding(tracker: ExperimentTracker) -> ServiceBinding:
    return ServiceBinding.of(
        pb, "ExperimentTrackerService", ExperimentTrackerServicer(tracker), EXPERIMENT_ACCESS
    )


BACKTEST_ACCESS = {
    "StartBacktest": auth.OPERATE,
    "GetBacktest": auth.READ,
    "StreamBacktestReports": auth.READ,
    "ListBacktests": auth.READ,
}


class BacktesterServicer(pb_grpc.BacktesterServiceServicer):
    def __init__(self, backtester: Backtester) -> None:
        self._backtester = backtester

    async def StartBacktest(
        self, request: pb.StartBacktestRequest, context: ServicerContext
    ) -> pb.StartBacktestResponse:
        return pb.StartBacktestResponse(backtest=await self._backtester.start(request, current_principal()))

    async def GetBacktest(
        self, request: pb.GetBacktestRequest, context: ServicerContext
    ) -> pb.GetBacktestResponse:
        return pb.GetBacktestResponse(backtest=await self._backtester.get(request.backtest_id))

    async def StreamBacktestReports(
        self, request: pb.StreamBacktestReportsRequest, context: ServicerContext
    ) -> AsyncIterator[pb.StreamBacktestReportsResponse]:
        async for report in self._backtester.reports(request.backtest_id):
            yield pb.StreamBacktestReportsResponse(report=report)

    async def ListBacktests(
        self, request: pb.ListBacktestsRequest, context: ServicerContext
    ) -> pb.ListBacktestsResponse:
        return pb.ListBacktestsResponse(backtests=await self._backtester.list(request.limit))


def backtest_binding(backtester: Backtester) -> ServiceBinding:
    return ServiceBinding.of(pb, "BacktesterService", BacktesterServicer(backtester), BACKTEST_ACCESS)


PAPER_ACCESS = {
    "StartPaperSession": auth.OPERATE,
    "StopPaperSession": auth.OPERATE,
    "GetPaperSession": auth.READ,
    "ListPaperSessions": auth.READ,
    "EvaluatePaperGate": auth.OPERATE,
}


class PaperTradeServicer(pb_grpc.PaperTradeServiceServicer):
    def __init__(self, trader: PaperTrader) -> None:
        self._trader = trader

    async def StartPaperSession(
        self, request: pb.StartPaperSessionRequest, context: ServicerContext
    ) -> pb.StartPaperSessionResponse:
        return pb.StartPaperSessionResponse(session=await self._trader.start(request))

    async def StopPaperSession(
        self, request: pb.StopPaperSessionRequest, context: ServicerContext
    ) -> pb.StopPaperSessionResponse:
        return pb.StopPaperSessionResponse(session=await self._trader.stop(request.session_id))

    async def GetPaperSession(
        self, request: pb.GetPaperSessionRequest, context: ServicerContext
    ) -> pb.GetPaperSessionResponse:
        session, days = await self._trader.get(request.session_id)
        return pb.GetPaperSessionResponse(session=session, days=days)

    async def ListPaperSessions(
        self, request: pb.ListPaperSessionsRequest, context: ServicerContext
    ) -> pb.ListPaperSessionsResponse:
        return pb.ListPaperSessionsResponse(sessions=self._trader.sessions(request.strategy_slug))

    async def EvaluatePaperGate(
        self, request: pb.EvaluatePaperGateRequest, context: ServicerContext
    ) -> pb.EvaluatePaperGateResponse:
        return await self._trader.evaluate_gate(request.strategy_slug, current_principal())


def paper_binding(trader: PaperTrader) -> ServiceBinding:
    return ServiceBinding.of(pb, "PaperTradeService", PaperTradeServicer(trader), PAPER_ACCESS)
