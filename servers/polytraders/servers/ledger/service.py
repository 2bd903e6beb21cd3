"""The ledger group's servicers, and how the group is built from the mesh's parts."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from polymarket import PRODUCTION

from polytraders.clients.chain import ChainReader
from polytraders.clients.clob import OpenOrdersReader, RateLimit, RetryPolicy, environment_at
from polytraders.governance.v1 import ledger_pb2 as pb
from polytraders.governance.v1 import ledger_pb2_grpc as pb_grpc
from polytraders.sdk.clock import to_timestamp
from polytraders.servers.runtime import auth
from polytraders.servers.runtime.commands import Command
from polytraders.servers.runtime.config import ServerConfig
from polytraders.servers.runtime.errors import FailedPrecondition
from polytraders.servers.runtime.parts import MeshParts
from polytraders.servers.runtime.reporter import GovernanceReporter
from polytraders.servers.runtime.requests import ServicerContext, instant, page_size
from polytraders.servers.runtime.server import ServiceBinding

from .book import PnLLedger, RebateShares
from .explainer import PostTradeExplainer
from .portfolio import Account, PortfolioSync, load_portfolio, private_key

PNL_ACCESS = {
    "RecordFill": auth.BOT_WRITE,
    "RecordMark": auth.BOT_WRITE,
    "RecordResolution": auth.OPERATE,
    "RecordConversion": auth.BOT_WRITE,
    "GetPnl": auth.READ,
    "ListPositions": auth.READ,
    "RecordRebatePayout": auth.OPERATE,
    "ListRejectedFills": auth.READ,
}


class PnLReporterServicer(pb_grpc.PnLReporterServiceServicer):
    def __init__(self, ledger: PnLLedger) -> None:
        self._ledger = ledger

    async def RecordFill(
        self, request: pb.RecordFillRequest, context: ServicerContext
    ) -> pb.RecordFillResponse:
        auth.current_principal().require_acting_for(request.report.header.bot_slug, "report.header.bot_slug")
        return await self._ledger.record_fill(request.report)

    async def RecordMark(
        self, request: pb.RecordMarkRequest, context: ServicerContext
    ) -> pb.RecordMarkResponse:
        mark = await self._ledger.record_mark(request.token_id, request.best_bid, request.best_ask,
                                              request.last_trade_price)  # fmt: skip
        return pb.RecordMarkResponse(mark=str(mark))

    async def RecordResolution(
        self, request: pb.RecordResolutionRequest, context: ServicerContext
    ) -> pb.RecordResolutionResponse:
        settled = await self._ledger.record_resolution(request.condition_id, request.winning_token_id,
                                                       list(request.token_ids))  # fmt: skip
        return pb.RecordResolutionResponse(settled=settled)

    async def RecordConversion(
        self, request: pb.RecordConversionRequest, context: ServicerContext
    ) -> pb.RecordConversionResponse:
        auth.current_principal().require_acting_for(request.bot_slug, "bot_slug")
        return await self._ledger.record_conversion(request)

    async def GetPnl(self, request: pb.GetPnlRequest, context: ServicerContext) -> pb.GetPnlResponse:
        return await self._ledger.pnl(list(request.group_by), instant(request.since, "since"),
                                      instant(request.until, "until"))  # fmt: skip

    async def ListPositions(
        self, request: pb.ListPositionsRequest, context: ServicerContext
    ) -> pb.ListPositionsResponse:
        bot_slug = auth.current_principal().slug_to_read(request.bot_slug)
        return pb.ListPositionsResponse(
            positions=await self._ledger.positions(bot_slug, request.include_closed)
        )


    async def RecordRebatePayout(
        self, request: pb.RecordRebatePayoutRequest, context: ServicerContext
    ) -> pb.RecordRebatePayoutResponse:
        return await self._ledger.record_rebate_payout(request)

    async def ListRejectedFills(
        self, request: pb.ListRejectedFillsRequest, context: ServicerContext
    ) -> pb.ListRejectedFillsResponse:
        bot_slug = auth.current_principal().slug_to_read(request.bot_slug)
        return pb.ListRejectedFillsResponse(
            rejected=await self._ledger.rejected(bot_slug, page_size(request.limit))
        )


EXPLAINER_ACCESS = {"Explain": auth.READ, "ListExplanations": auth.READ}
SYNC_ACCESS = {"SyncNow": auth.OPERATE, "GetLastSync": auth.INTERNAL_READ}


class PortfolioSyncServicer(pb_grpc.PortfolioSyncServiceServicer):
    def __init__(self, sync: PortfolioSync | None) -> None:
        self._sync = sync

    def _configured(self) -> PortfolioSync:
        if self._sync is None:
            raise FailedPrecondition(
                "PortfolioSync has no accounts: set portfolio_manifest (POLYTRADERS_PORTFOLIO_MANIFEST)"
            )
        return self._sync

    async def SyncNow(self, request: pb.SyncNowRequest, context: ServicerContext) -> pb.SyncNowResponse:
        return pb.SyncNowResponse(cycle=await self._configured().cycle())

    async def GetLastSync(
        self, request: pb.GetLastSyncRequest, context: ServicerContext
    ) -> pb.GetLastSyncResponse:
        return pb.GetLastSyncResponse(cycle=await self._configured().last())


class PostTradeExplainerServicer(pb_grpc.PostTradeExplainerServiceServicer):
    def __init__(self, explainer: PostTradeExplainer) -> None:
        self._explainer = explainer

    async def Explain(self, request: pb.ExplainRequest, context: ServicerContext) -> pb.ExplainResponse:
        explanation = await self._explainer.get(request.fill_report_id)
        auth.current_principal().require_acting_for(explanation.bot_slug, "fill_report_id")
        return pb.ExplainResponse(explanation=explanation)

    async def ListExplanations(
        self, request: pb.ListExplanationsRequest, context: ServicerContext
    ) -> pb.ListExplanationsResponse:
        bot_slug = auth.current_principal().slug_to_read(request.bot_slug)
        found = await self._explainer.list(bot_slug, request.trace_id, request.incomplete_only, request.limit)
        return pb.ListExplanationsResponse(explanations=found)


def rebate_shares(config: ServerConfig) -> RebateShares:
    """`maker_rebate_share` for every market, `maker_rebate_shares` ("condition_id=share") per market."""
    try:
        default = Decimal(config.maker_rebate_share)
        by_market = {
            k.strip().lower(): Decimal(v)
            for k, _, v in (item.partition("=") for item in config.maker_rebate_shares)
        }
    except InvalidOperation:
        raise ValueError("maker rebate shares must be decimals, e.g. 0.20 or 0xabc…=0.25") from None
    if not all(0 <= share <= 1 for share in (default, *by_market.values())):
        raise ValueError("maker rebate shares lie between 0 and 1")
    return RebateShares(default, by_market)


def ledger_bindings(parts: MeshParts) -> list[ServiceBinding]:
    reporter = GovernanceReporter(parts.bus, "pnl-reporter", parts.clock)
    ledger = PnLLedger(parts.engine, parts.bus, parts.clock, reporter, rebate_shares(parts.config), parts.alerts,
                       parts.metrics.fills)  # fmt: skip

    async def pnl_window(arguments: Mapping[str, str], scheduled: datetime) -> str:
        """The window report: P&L by bot for the hour (or `hours`) before the scheduled moment."""
        end = scheduled.replace(minute=0, second=0, microsecond=0)
        start = end - timedelta(hours=int(arguments.get("hours", "1")))
        result = await ledger.pnl([pb.PNL_DIMENSION_BOT], start, end)
        for row in result.rows:
            await reporter.record(
                "pnl.window", row.bot_slug,
                f"{row.bot_slug} from {start.isoformat()} to {end.isoformat()}: realised {row.realised_pnl_micros} "
                f"micro-pUSD over {row.fills} fills, fees {row.gross_fee_micros}, rebates {row.rebate_micros}",
                "", realised_pnl_micros=row.realised_pnl_micros, gross_fee_micros=row.gross_fee_micros,
                rebate_micros=row.rebate_micros, period_start=to_timestamp(start), period_end=to_timestamp(end),
            )  # fmt: skip
        return f"P&L window {start.isoformat()}..{end.isoformat()}: {len(result.rows)} bots reported"

    explainer = PostTradeExplainer(parts.engine, parts.bus, GovernanceReporter(parts.bus, "post-trade-explainer", parts.clock),
                                   parts.queries.get("registry.stage_at"))  # fmt: skip
    parts.commands["pnl.window"] = pnl_window
    parts.lead("ledger.pnl", lambda: ledger.follow(parts.set_aside))
    parts.lead("ledger.explainer", lambda: explainer.follow(parts.set_aside))
    sync = portfolio_sync(parts, ledger)
    if sync is not None:
        parts.spawn(sync.follow(parts.set_aside))
        parts.every(parts.config.sync_interval_s, sync.cycle, duty="ledger.portfolio-sync")
    return [
        ServiceBinding.of(pb, "PnLReporterService", PnLReporterServicer(ledger), PNL_ACCESS),
        ServiceBinding.of(pb, "PostTradeExplainerService", PostTradeExplainerServicer(explainer),
                          EXPLAINER_ACCESS),
        ServiceBinding.of(pb, "PortfolioSyncService", PortfolioSyncServicer(sync), SYNC_ACCESS),
    ]  # fmt: skip


def _pause_command(parts: MeshParts) -> Command:
    pause = parts.commands.get("registry.pause")
    if pause is None:
        raise ValueError(
            "pause_on_discrepancy needs the lifecycle group (its registry) served in the same mesh"
        )
    return pause


def portfolio_sync(parts: MeshParts, ledger: PnLLedger) -> PortfolioSync | None:
    """PortfolioSync over the configured accounts, the chain and the CLOB (None without a manifest)."""
    config = parts.config
    if not config.portfolio_manifest:
        return None
    accounts, events = load_portfolio(config.portfolio_manifest)
    chain_config = PRODUCTION._config
    environment = environment_at(config.clob_url) if config.clob_url else PRODUCTION
    retry = RetryPolicy(attempts=config.clob_attempts, backoff_seconds=config.clob_backoff_seconds)
    rate_limit = RateLimit(config.clob_requests_per_second)
    try:
        threshold = int(Decimal(config.discrepancy_alert_usd) * 1_000_000)
    except InvalidOperation:
        raise ValueError(
            f"discrepancy_alert_usd must be a decimal, got {config.discrepancy_alert_usd!r}"
        ) from None

    def chain() -> ChainReader:
        return ChainReader(config.chain_rpc_url or chain_config.rpc_url,
                           config.collateral_address or chain_config.collateral_token,
                           config.conditional_tokens_address or chain_config.conditional_tokens)  # fmt: skip

    def orders(account: Account) -> OpenOrdersReader:
        return OpenOrdersReader(
            private_key(account), account.address, environment, retry=retry, rate_limit=rate_limit
        )

    return PortfolioSync(
        accounts, events, ledger, chain, orders, parts.bus, parts.engine, parts.clock,
        GovernanceReporter(parts.bus, "portfolio-sync", parts.clock), parts.alerts, threshold_micros=threshold,
        pause=_pause_command(parts) if config.pause_on_discrepancy else None,
    )  # fmt: skip
