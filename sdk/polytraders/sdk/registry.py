"""`gov.registry`: read a strategy's stage, check the live cap, watch changes; operators act."""

from __future__ import annotations

from collections.abc import Generator, Iterable

from polytraders.governance.v1 import lifecycle_pb2 as pb
from polytraders.governance.v1 import lifecycle_pb2_grpc as pb_grpc

from .families import Family, Mode, remote, remote_stream


def latest_paper_gate(strategy: pb.Strategy) -> pb.Artefact | None:
    """The paper gate last linked to the strategy (its days and risk-adjusted return); None before
    the first evaluation."""
    gates = [a for a in strategy.artefacts if a.kind == pb.ARTEFACT_KIND_PAPER_GATE]
    return gates[-1] if gates else None


class RegistryFamily(Family[pb_grpc.StrategyRegistryServiceStub, Mode]):
    """Blocking calls return the generated types; on AsyncGovernance the same verbs are awaitable."""

    stub_class = pb_grpc.StrategyRegistryServiceStub
    idempotent = frozenset({"GetStrategy", "ListStrategies", "CheckLiveCap"})

    @remote
    def get(self, slug: str) -> pb.Strategy:
        return self._invoke(self._rpc.GetStrategy, pb.GetStrategyRequest(slug=slug), lambda r: r.strategy)

    @remote
    def stage(self, slug: str) -> pb.Stage.ValueType:
        return self._invoke(
            self._rpc.GetStrategy, pb.GetStrategyRequest(slug=slug), lambda r: r.strategy.stage
        )

    @remote
    def list(self, stages: Iterable[pb.Stage.ValueType] = ()) -> list[pb.Strategy]:
        return self._invoke(
            self._rpc.ListStrategies,
            pb.ListStrategiesRequest(stages=list(stages)),
            lambda r: list(r.strategies),
        )

    @remote
    def check_live_cap(
        self,
        slug: str,
        *,
        order_notional_micros: int,
        position_micros: int = 0,
        position_change_micros: int = 0,
        condition_id: str = "",
    ) -> pb.CheckLiveCapResponse:
        """Whether an order fits the live cap, with the numbers; it never blocks the order itself."""
        request = pb.CheckLiveCapRequest(
            slug=slug, condition_id=condition_id, order_notional_micros=order_notional_micros,
            position_micros=position_micros, position_change_micros=position_change_micros,
        )  # fmt: skip
        return self._invoke(self._rpc.CheckLiveCap, request)

    @remote_stream
    def watch(self, slugs: Iterable[str] = ()) -> Generator[pb.WatchStrategiesResponse, None, None]:
        """The current state of each strategy, then every change."""
        return self._stream(self._rpc.WatchStrategies, pb.WatchStrategiesRequest(slugs=list(slugs)))

    # Operator verbs (a bot token gets PermissionDeniedError).

    @remote
    def register(
        self, slug: str, *, owner: str, version: str, authority: Iterable[str] = (), reason: str = ""
    ) -> pb.Strategy:
        request = pb.RegisterStrategyRequest(
            slug=slug, owner=owner, version=version, authority=list(authority), reason=reason
        )
        return self._invoke(self._rpc.RegisterStrategy, request, lambda r: r.strategy)

    @remote
    def promote(
        self,
        slug: str,
        to_stage: pb.Stage.ValueType,
        reason: str,
        stage_metadata: dict[str, str] | None = None,
    ) -> pb.Strategy:
        request = pb.PromoteStrategyRequest(
            slug=slug, to_stage=to_stage, reason=reason, stage_metadata=stage_metadata
        )
        return self._invoke(self._rpc.PromoteStrategy, request, lambda r: r.strategy)

    @remote
    def pause(
        self, slug: str, reason: str, source: pb.PauseSource.ValueType = pb.PAUSE_SOURCE_OPERATOR
    ) -> pb.Strategy:
        request = pb.PauseStrategyRequest(slug=slug, reason=reason, source=source)
        return self._invoke(self._rpc.PauseStrategy, request, lambda r: r.strategy)

    @remote
    def resume(self, slug: str, reason: str) -> pb.Strategy:
        return self._invoke(
            self._rpc.ResumeStrategy, pb.ResumeStrategyRequest(slug=slug, reason=reason), lambda r: r.strategy
        )

    @remote
    def link_artefact(self, slug: str, artefact: pb.Artefact) -> pb.Strategy:
        request = pb.LinkArtefactRequest(slug=slug, artefact=artefact)
        return self._invoke(self._rpc.LinkArtefact, request, lambda r: r.strategy)

    @remote
    def set_live_cap(self, slug: str, cap: pb.LiveCap, reason: str = "") -> pb.Strategy:
        request = pb.SetLiveCapRequest(slug=slug, live_cap=cap, reason=reason)
        return self._invoke(self._rpc.SetLiveCap, request, lambda r: r.strategy)

    @remote
    def record_drift_signal(self, slug: str, signal: pb.DriftSignal) -> pb.Strategy:
        request = pb.RecordDriftSignalRequest(slug=slug, signal=signal)
        return self._invoke(self._rpc.RecordDriftSignal, request, lambda r: r.strategy)
