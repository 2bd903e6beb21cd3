"""PortfolioSync against a py-evm chain (over JSON-RPC) and the local CLOB (open orders over L2 auth):
clean, a neg-risk conversion that is no discrepancy, pUSD moved outside the bot (paused through the
registry), a forgotten open order below the threshold (alerted, not paused), and the RPC down."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from polytraders.governance.v1 import ledger_pb2 as pb
from polytraders.governance.v1 import ledger_pb2_grpc as pb_grpc
from polytraders.governance.v1 import lifecycle_pb2 as lpb
from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk import Governance, ManualClock, ReportBuilder
from polytraders.servers.mesh import MeshThread
from tests.conftest import start_mesh
from tests.sdk.test_publisher import archived
from tests.support.chain import LocalChain, local_chain
from tests.support.clob import LocalClob, local_clob, market

OPS = [("authorization", "Bearer dev-operator-token")]
MARKET, YES, NO = "0x" + "aa" * 32, "1001", "1002"
EVENT = [("2001", "2002"), ("3001", "3002"), ("4001", "4002")]  # (YES, NO) of outcomes A, B, C
KEY_ENV = "POLYTRADERS_TEST_MM1_KEY"


@dataclass
class Desk:
    chain: LocalChain
    clob: LocalClob
    mesh: MeshThread
    bot: str
    minter: str
    open_orders: list[dict]

    def sync(self) -> pb.SyncCycle:
        stub = pb_grpc.PortfolioSyncServiceStub(grpc.insecure_channel(self.mesh.address))
        return stub.SyncNow(pb.SyncNowRequest(), metadata=OPS).cycle


def order(order_id: str, size: str, price: str) -> dict:
    return {"id": order_id, "status": "LIVE", "market": MARKET, "asset_id": YES, "side": "BUY", "price": price,
            "original_size": size, "size_matched": "0", "outcome": "Yes", "owner": "local-key",
            "maker_address": "0x" + "00" * 20, "order_type": "GTC", "expiration": "0", "created_at": 1_795_000_000,
            "associate_trades": []}  # fmt: skip


@pytest.fixture
def desk(
    database_url: str, clock: ManualClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Desk]:
    with local_chain() as chain, local_clob() as clob:
        address, key = chain.account(1)
        minter = chain.web3.eth.accounts[0]
        monkeypatch.setenv(KEY_ENV, key)
        chain.send(
            chain.pusd.functions.mint(address, 1_000_000_000), minter
        )  # 1,000 pUSD before governance starts
        market(clob)
        open_orders: list[dict] = []
        clob.routes[("GET", "/data/orders")] = lambda query: (
            200,
            {"data": list(open_orders), "next_cursor": "LTE="},
        )
        outcomes = ", ".join(f'{{yes = "{y}", no = "{n}"}}' for y, n in EVENT)
        manifest = tmp_path / "portfolio.toml"
        manifest.write_text(
            f'[[account]]\nbot_slug = "mm-1"\nstrategy_slug = "mm-strategy"\naddress = "{address}"\n'
            f'private_key_env = "{KEY_ENV}"\n\n[[neg_risk_event]]\nevent_id = "election"\noutcomes = [{outcomes}]\n'
        )
        mesh = start_mesh(database_url, clock, portfolio_manifest=str(manifest), sync_interval_s=3600.0,
                          chain_rpc_url=chain.url, collateral_address=chain.pusd.address,
                          conditional_tokens_address=chain.tokens.address, clob_url=clob.url,
                          clob_backoff_seconds=0.0, clob_requests_per_second=0.0, discrepancy_alert_usd="50")  # fmt: skip
        try:
            yield Desk(chain, clob, mesh, address, minter, open_orders)
        finally:
            mesh.stop()


def _trade(bot: str, clock: ManualClock) -> list[rpb.Report]:
    """mm-1's order for 100 YES at 0.40 is accepted and fills (fee 0.20); it also buys 10 NO-A at 0.70."""
    builder = ReportBuilder(bot, bot_class="execution", clock=clock)
    common = {"condition_id": MARKET, "token_id": YES, "side": rpb.SIDE_BUY, "price": "0.40"}
    return [
        builder.execution(event=rpb.EXECUTION_EVENT_ORDER_ACCEPTED, order_id="0xo1", size_micros=100_000_000, **common),
        builder.execution(event=rpb.EXECUTION_EVENT_FILL, order_id="0xo1", trade_id="t1", filled_size_micros=100_000_000,
                          fee_micros=200_000, liquidity=rpb.LIQUIDITY_TAKER, **common),
        builder.execution(event=rpb.EXECUTION_EVENT_FILL, order_id="0xo2", trade_id="t2", condition_id="0x" + "a1" * 32,
                          token_id=EVENT[0][1], side=rpb.SIDE_BUY, price="0.70", filled_size_micros=10_000_000,
                          liquidity=rpb.LIQUIDITY_TAKER),
    ]  # fmt: skip


def _positions(desk: Desk, count: int) -> None:
    stub = pb_grpc.PnLReporterServiceStub(grpc.insecure_channel(desk.mesh.address))
    deadline = time.monotonic() + 20
    while len(stub.ListPositions(pb.ListPositionsRequest(bot_slug="mm-1"), metadata=OPS).positions) < count:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_portfolio_sync_cycles(desk: Desk, clock: ManualClock, database_url: str) -> None:
    chain, mint = desk.chain, desk.minter
    with Governance(desk.mesh.address, token="dev-operator-token", bot_slug="ops") as ops:
        ops.registry.register("mm-strategy", owner="alpha", version="1")
        for stage in (lpb.STAGE_BACKTEST, lpb.STAGE_PAPER, lpb.STAGE_SHADOW):
            ops.registry.promote("mm-strategy", stage, "evidence")
        ops.registry.link_artefact("mm-strategy", lpb.Artefact(kind=lpb.ARTEFACT_KIND_PAPER_GATE, ref="p",
                                   paper_gate=lpb.PaperGate(continuous_paper_days=20, risk_adjusted_return="0.5")))  # fmt: skip
        ops.registry.promote("mm-strategy", lpb.STAGE_LIMITED_LIVE, "gate passed")
        baseline = desk.sync()  # pUSD baseline: 1,000
        assert baseline.ok and list(baseline.discrepancies) == []

        # the trades settle on chain: 47.20 pUSD leaves, 100 YES arrive; NO-A was converted through the
        # NegRiskAdapter into YES-B and YES-C (the same exposure), so those are what the chain holds
        ops.reports.publish_now(_trade("mm-1", clock))
        _positions(desk, 2)
        chain.send(chain.pusd.functions.transfer(mint, 47_200_000), desk.bot)  # 40.00 + 0.20 fee + 7.00
        chain.send(chain.tokens.functions.mint(desk.bot, int(YES), 100_000_000), mint)
        for yes in (EVENT[1][0], EVENT[2][0]):
            chain.send(chain.tokens.functions.mint(desk.bot, int(yes), 10_000_000), mint)
        clean = desk.sync()
        assert clean.ok and list(clean.discrepancies) == [], clean.discrepancies

        # 100 pUSD leave the wallet outside any fill: above the 50 pUSD threshold, so the strategy pauses
        chain.send(chain.pusd.functions.transfer(mint, 100_000_000), desk.bot)
        moved = desk.sync()
        (gap,) = moved.discrepancies
        assert (gap.subject, gap.expected, gap.actual, gap.value_micros, gap.above_threshold) == (
            "collateral", "952800000", "852800000", 100_000_000, True)  # fmt: skip
        assert list(moved.paused_strategies) == ["mm-strategy"]
        paused = ops.registry.get("mm-strategy")
        assert (paused.stage, paused.history[-1].pause_source) == (
            lpb.STAGE_PAUSED,
            lpb.PAUSE_SOURCE_PORTFOLIO_SYNC,
        )
        assert "moved outside the bot" in paused.history[-1].reason
        ops.registry.resume("mm-strategy", "transfer explained: treasury sweep")

        # an order on the CLOB the bot never reported, worth 5 pUSD: alerted, below the threshold, not paused
        desk.open_orders.append(order("0xforgotten", "10", "0.5"))
        forgot = desk.sync()
        (orphan,) = forgot.discrepancies
        assert (orphan.subject, orphan.ref, orphan.value_micros, orphan.above_threshold) == (
            "open_order", "0xforgotten", 5_000_000, False)  # fmt: skip
        assert (
            list(forgot.paused_strategies) == []
            and ops.registry.get("mm-strategy").stage == lpb.STAGE_LIMITED_LIVE
        )
        desk.open_orders.clear()

        # the RPC node goes down: the cycle fails, nothing is read as zero, nothing paused
        chain.go_down()
        down = desk.sync()
        assert not down.ok and "ConnectionError" in down.failure and list(down.discrepancies) == []
        assert ops.registry.get("mm-strategy").stage == lpb.STAGE_LIMITED_LIVE

    headers = [r.headers for r in desk.clob.requests if r.path == "/data/orders"]
    assert headers and all({"POLY_ADDRESS", "POLY_API_KEY", "POLY_PASSPHRASE", "POLY_SIGNATURE", "POLY_TIMESTAMP"}
                           <= {h.upper() for h in hs} for hs in headers)  # fmt: skip
    assert not [r for r in desk.clob.requests if r.method in ("POST", "DELETE") and r.path != "/auth/api-key"]
    health = [r.operations for r in archived(database_url, "portfolio-sync") if r.HasField("operations")]
    assert health[-1].status == rpb.COMPONENT_STATUS_DOWN and "FAILED" in health[-1].explanation
    alerts = [
        (r.operations.alert_key, r.operations.severity) for r in archived(database_url, "governance-alerts")
    ]
    assert ("portfolio:mm-1", rpb.SEVERITY_ERROR) in alerts and (
        "portfolio:mm-1",
        rpb.SEVERITY_WARNING,
    ) in alerts
    assert alerts[-1] == ("portfolio:sync", rpb.SEVERITY_ERROR)
    deltas = [r.settlement for r in archived(database_url, "portfolio-sync") if r.HasField("settlement")]
    assert {d.record_type for d in deltas} == {"portfolio.sync"} and len(deltas) == 5  # with the one at start
