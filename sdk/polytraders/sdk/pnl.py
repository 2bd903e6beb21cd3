"""`gov.pnl`, `gov.explanations`, `gov.portfolio`: the post-trade ledger's reads, for consoles,
operator tools and a bot reading its own book. Money is int pUSD micro-units throughout."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from polytraders.governance.v1 import ledger_pb2 as pb
from polytraders.governance.v1 import ledger_pb2_grpc as pb_grpc

from .audit import _timestamp
from .families import Family, Mode, remote

DIMENSIONS = {
    "bot": pb.PNL_DIMENSION_BOT,
    "market": pb.PNL_DIMENSION_MARKET,
    "builder": pb.PNL_DIMENSION_BUILDER,
}


class PnlFamily(Family[pb_grpc.PnLReporterServiceStub, Mode]):
    stub_class = pb_grpc.PnLReporterServiceStub
    # a mark replaces the last one, so sending it twice is harmless
    idempotent = frozenset({"GetPnl", "ListPositions", "ListRejectedFills", "RecordMark"})

    @remote
    def get(
        self, group_by: Iterable[str] = (), *, since: datetime | None = None, until: datetime | None = None
    ) -> pb.GetPnlResponse:
        """P&L grouped by any of "bot", "market", "builder" over [since, until); the rows sum to
        the total to the micro-unit."""
        dimensions = list(group_by)
        unknown = [d for d in dimensions if d not in DIMENSIONS]
        if unknown:
            raise ValueError(f"group_by: unknown {unknown}; one of {sorted(DIMENSIONS)}")
        request = pb.GetPnlRequest(group_by=[DIMENSIONS[d] for d in dimensions], since=_timestamp(since),
                                   until=_timestamp(until))  # fmt: skip
        return self._invoke(self._rpc.GetPnl, request)

    @remote
    def mark(
        self, token_id: str, *, best_bid: str = "", best_ask: str = "", last_trade_price: str = ""
    ) -> str:
        """A token's mark from its book (the mid; the last trade when one side is empty); the mark taken."""
        request = pb.RecordMarkRequest(token_id=token_id, best_bid=best_bid, best_ask=best_ask,
                                       last_trade_price=last_trade_price)  # fmt: skip
        return self._invoke(self._rpc.RecordMark, request, lambda r: r.mark)

    @remote
    def positions(self, bot_slug: str = "", *, include_closed: bool = False) -> list[pb.Position]:
        request = pb.ListPositionsRequest(bot_slug=bot_slug, include_closed=include_closed)
        return self._invoke(self._rpc.ListPositions, request, lambda r: list(r.positions))


class ExplanationsFamily(Family[pb_grpc.PostTradeExplainerServiceStub, Mode]):
    stub_class = pb_grpc.PostTradeExplainerServiceStub
    idempotent = frozenset({"Explain", "ListExplanations"})

    @remote
    def explain(self, fill_report_id: str) -> pb.Explanation:
        """The explanation in force for a fill (its latest correction)."""
        request = pb.ExplainRequest(fill_report_id=fill_report_id)
        return self._invoke(self._rpc.Explain, request, lambda r: r.explanation)

    @remote
    def list(
        self, bot_slug: str = "", *, trace_id: str = "", incomplete_only: bool = False, limit: int = 0
    ) -> list[pb.Explanation]:
        request = pb.ListExplanationsRequest(bot_slug=bot_slug, trace_id=trace_id,
                                             incomplete_only=incomplete_only, limit=limit)  # fmt: skip
        return self._invoke(self._rpc.ListExplanations, request, lambda r: list(r.explanations))


class PortfolioFamily(Family[pb_grpc.PortfolioSyncServiceStub, Mode]):
    stub_class = pb_grpc.PortfolioSyncServiceStub
    idempotent = frozenset({"GetLastSync"})

    @remote
    def sync_now(self) -> pb.SyncCycle:
        """Run a reconciliation cycle against the CLOB and the chain now (operators)."""
        return self._invoke(self._rpc.SyncNow, pb.SyncNowRequest(), lambda r: r.cycle)

    @remote
    def last_sync(self) -> pb.SyncCycle:
        """The last cycle (cycle 0 before the first)."""
        return self._invoke(self._rpc.GetLastSync, pb.GetLastSyncRequest(), lambda r: r.cycle)
