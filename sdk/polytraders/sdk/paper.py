"""`gov.paper`, `gov.backtests`: the evidence a strategy needs before live money."""

from __future__ import annotations

from polytraders.governance.v1 import lifecycle_pb2 as pb
from polytraders.governance.v1 import lifecycle_pb2_grpc as pb_grpc

from .families import Family, Mode, remote


class PaperFamily(Family[pb_grpc.PaperTradeServiceStub, Mode]):
    stub_class = pb_grpc.PaperTradeServiceStub
    idempotent = frozenset({"GetPaperSession", "ListPaperSessions"})

    @remote
    def get(self, session_id: str) -> pb.GetPaperSessionResponse:
        """The session and its strategy's paper days, oldest first."""
        return self._invoke(self._rpc.GetPaperSession, pb.GetPaperSessionRequest(session_id=session_id))

    @remote
    def list(self, strategy_slug: str = "") -> list[pb.PaperSession]:
        """The sessions the answering process started (running or stopped), newest first."""
        request = pb.ListPaperSessionsRequest(strategy_slug=strategy_slug)
        return self._invoke(self._rpc.ListPaperSessions, request, lambda r: list(r.sessions))

    @remote
    def evaluate_gate(self, strategy_slug: str) -> pb.EvaluatePaperGateResponse:
        """Compute the strategy's paper gate from its days and link it in the registry (operators)."""
        return self._invoke(
            self._rpc.EvaluatePaperGate, pb.EvaluatePaperGateRequest(strategy_slug=strategy_slug)
        )


class BacktestsFamily(Family[pb_grpc.BacktesterServiceStub, Mode]):
    """Backtest runs (operators start them: `polytraders-gov backtest run`); anyone reads."""

    stub_class = pb_grpc.BacktesterServiceStub
    idempotent = frozenset({"GetBacktest", "ListBacktests"})

    @remote
    def run(self, request: pb.StartBacktestRequest, *, timeout: float = 3600) -> pb.Backtest:
        """Replay archived books through a strategy (operators); returns once the run finished."""
        return self._invoke(self._rpc.StartBacktest, request, lambda r: r.backtest, timeout=timeout)

    @remote
    def list(self, *, limit: int = 0) -> list[pb.Backtest]:
        """Runs, newest first, without their images and HTML."""
        return self._invoke(
            self._rpc.ListBacktests, pb.ListBacktestsRequest(limit=limit), lambda r: list(r.backtests)
        )

    @remote
    def get(self, backtest_id: str, *, timeout: float | None = None) -> pb.Backtest:
        """One run with its equity curve and its HTML report."""
        request = pb.GetBacktestRequest(backtest_id=backtest_id)
        return self._invoke(self._rpc.GetBacktest, request, lambda r: r.backtest, timeout=timeout)
