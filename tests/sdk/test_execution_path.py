"""The shared execution path: the same strategy, guard and order code behind all three ports;
replay is byte-for-byte deterministic."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

from eth_account import Account
from polymarket import SecureClient

from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk.execution.matching import MarketRules
from polytraders.sdk.execution.path import BookUpdate, ExecutionPath, Fill, Intent, Vote
from polytraders.sdk.execution.ports import LivePort, SimulatedPort
from polytraders.sdk.report_builders import ReportBuilder, seeded_report_ids
from polytraders.sdk.tagging import OrderIntent
from tests.support.clob import CONDITION_ID, TOKEN_ID, LocalClob, local_clob, market

M = 1_000_000
CODE = "0x" + "ab" * 32
T0 = datetime(2026, 11, 24, 12, tzinfo=UTC)
THROWAWAY_KEY = "0x" + "11" * 32


@dataclass
class Momentum:
    """Buys `shares` when the best bid rose twice in a row; sells what it holds when it fell."""

    slug: str = "momentum"
    version: str = "1.0"
    shares: int = 10
    bids: list[D] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)

    def on_book(self, book: BookUpdate, position_micros: int) -> Sequence[Intent]:
        self.bids.append(book.best_bid or D(0))
        if len(self.bids) >= 3 and self.bids[-3] < self.bids[-2] < self.bids[-1] and book.best_ask:
            return [Intent(book.token_id, book.condition_id, "BUY", book.best_ask, self.shares * M, "bid_rises", "2",
                           "two rising bids in a row")]  # fmt: skip
        if len(self.bids) >= 2 and self.bids[-1] < self.bids[-2] and position_micros > 0 and book.best_bid:
            return [Intent(book.token_id, book.condition_id, "SELL", book.best_bid, position_micros, "bid_falls", "1",
                           "the bid fell: take profit or cut")]  # fmt: skip
        return []

    def on_fill(self, fill: Fill) -> None:
        self.fills.append(fill)


class MaxPosition:
    name = "max_position"

    def vote(self, intent: Intent, position_micros: int) -> Vote:
        room = 15 * M - position_micros if intent.side == "BUY" else intent.size_micros
        if room <= 0:
            return Vote(rpb.VERDICT_REJECT, 0, str(position_micros), str(15 * M), "position limit reached")
        verdict = rpb.VERDICT_APPROVE if room >= intent.size_micros else rpb.VERDICT_RESIZE
        return Vote(verdict, min(room, intent.size_micros), str(position_micros), str(15 * M))


def book(n: int, bid: str, ask: str, trade: tuple[str, int] | None = None) -> BookUpdate:
    return BookUpdate(TOKEN_ID, CONDITION_ID, T0 + timedelta(seconds=n), ((D(bid), 500 * M),), ((D(ask), 8 * M), (D("0.60"), 500 * M)),
                      (D(trade[0]), trade[1]) if trade else None)  # fmt: skip


BOOKS = [book(0, "0.40", "0.45"), book(1, "0.41", "0.45"), book(2, "0.42", "0.46"), book(3, "0.43", "0.47"),
         book(4, "0.42", "0.47"), book(5, "0.43", "0.48"), book(6, "0.44", "0.48"), book(7, "0.45", "0.49")]  # fmt: skip


def run(port, mode: int, seed: str = "run-1") -> list[rpb.Report]:
    emitted: list[rpb.Report] = []
    builder = ReportBuilder("momentum-bot", mode=mode, report_ids=seeded_report_ids(seed))
    path = ExecutionPath(Momentum(), [MaxPosition()], port, builder, emitted.append, builder_code=CODE)
    for update in BOOKS:
        path.on_book(update)
    return emitted


def digest(reports: list[rpb.Report]) -> str:
    return hashlib.sha256(b"".join(r.SerializeToString(deterministic=True) for r in reports)).hexdigest()


def test_a_replay_run_twice_is_byte_identical() -> None:
    first = run(SimulatedPort(MarketRules()), rpb.MODE_REPLAY)
    second = run(SimulatedPort(MarketRules()), rpb.MODE_REPLAY)
    assert digest(first) == digest(second)
    fills = [r.execution for r in first if r.execution.event == rpb.EXECUTION_EVENT_FILL]
    # t=2: the bid rose twice: buy 10 at the 0.46 ask, where only 8 are offered: 8 fill, 2 rest at 0.46.
    # t=3: it rose again: buy 10 at 0.47, resized by the guard to the 7 left under its 15 limit; 7 fill.
    # t=4: the bid fell: sell all 15 held at the 0.42 bid.
    assert [(f.side, f.price, f.filled_size_micros, f.liquidity) for f in fills][:3] == [
        (rpb.SIDE_BUY, "0.46", 8 * M, rpb.LIQUIDITY_TAKER), (rpb.SIDE_BUY, "0.47", 7 * M, rpb.LIQUIDITY_TAKER),
        (rpb.SIDE_SELL, "0.42", 15 * M, rpb.LIQUIDITY_TAKER),
    ]  # fmt: skip
    resized = [r.risk_vote for r in first if r.risk_vote.verdict == rpb.VERDICT_RESIZE]
    assert [(v.proposed_size_micros, v.approved_size_micros) for v in resized][0] == (10 * M, 7 * M)
    assert {r.header.mode for r in first} == {rpb.MODE_REPLAY}
    assert digest(run(SimulatedPort(MarketRules()), rpb.MODE_REPLAY, seed="run-2")) != digest(first)


@contextmanager
def live_port(order_answer: dict[str, str | bool]) -> Iterator[tuple[LivePort, LocalClob]]:
    """A LivePort on polymarket-client's SecureClient, talking to a local CLOB that answers every
    POST /order with `order_answer`."""
    with local_clob() as clob:
        market(clob)
        clob.json("POST", "/order", order_answer)
        client = SecureClient.create(private_key=THROWAWAY_KEY, wallet=Account.from_key(THROWAWAY_KEY).address,
                                     environment=clob.environment())  # fmt: skip
        try:
            yield LivePort(client), clob
        finally:
            client.close()


def test_live_paper_and_replay_decide_the_same_from_the_same_inputs() -> None:
    accepted = {"success": True, "orderID": "0x" + "cd" * 32, "status": "live", "makingAmount": "0",
                "takingAmount": "0", "errorMsg": ""}  # fmt: skip
    with live_port(accepted) as (port, clob):
        live = run(port, rpb.MODE_LIVE)
    paper = run(SimulatedPort(MarketRules()), rpb.MODE_PAPER)
    replay = run(SimulatedPort(MarketRules()), rpb.MODE_REPLAY)

    def decisions(reports: list[rpb.Report]) -> list[tuple]:
        return [(d.decision.side, d.decision.price, d.decision.size_micros, d.decision.signal_name)
                for d in reports if d.HasField("decision")]  # fmt: skip

    assert (
        decisions(live)[:1]
        == decisions(paper)[:1]
        == decisions(replay)[:1]
        == [(rpb.SIDE_BUY, "0.46", 10 * M, "bid_rises")]
    )
    assert decisions(paper) == decisions(replay)
    assert [r.header.mode for r in (live[0], paper[0], replay[0])] == [
        rpb.MODE_LIVE,
        rpb.MODE_PAPER,
        rpb.MODE_REPLAY,
    ]
    posted = [r for r in clob.requests if r.path == "/order"]
    assert len(posted) == len([r for r in live if r.execution.event == rpb.EXECUTION_EVENT_ORDER_SUBMITTED])
    tagged = [r.execution.builder_code for r in live if r.execution.event == rpb.EXECUTION_EVENT_ORDER_TAGGED]
    assert tagged and set(tagged) == {CODE}


def test_the_live_port_reports_the_clobs_refusal_as_a_rejection() -> None:
    refused = {"success": False, "orderID": "", "status": "", "makingAmount": "0", "takingAmount": "0",
               "errorMsg": "invalid nonce"}  # fmt: skip
    with live_port(refused) as (port, _):
        live = run(port, rpb.MODE_LIVE)
    events = [r.execution.event for r in live if r.HasField("execution")]
    assert rpb.EXECUTION_EVENT_ORDER_REJECTED in events and rpb.EXECUTION_EVENT_ORDER_ACCEPTED not in events
    (rejected,) = [r.execution for r in live if r.execution.event == rpb.EXECUTION_EVENT_ORDER_REJECTED][:1]
    assert "invalid" in rejected.explanation


def test_the_live_port_sends_a_market_intent_with_its_own_shares_and_the_simulated_one_refuses_it() -> None:
    """A market SELL carries shares, not a price and size: it goes to the CLOB as it is (it used to
    reach polymarket-client with shares=None and come back refused)."""
    sell = OrderIntent.market_sell(TOKEN_ID, D("5"), builder_code=CODE)
    matched = {"success": True, "orderID": "0x" + "ef" * 32, "status": "matched", "makingAmount": "5",
               "takingAmount": "2.3", "errorMsg": ""}  # fmt: skip
    with live_port(matched) as (port, clob):
        placed = port.place(sell, "sell-1")
    assert placed.refused == "", placed.refused
    (posted,) = [r.json()["order"] for r in clob.requests if r.path == "/order"]
    # the signed order: a SELL of 5 shares (maker amount in micro-shares, not pUSD), tagged with the code
    assert (posted["side"], posted["makerAmount"], posted["builder"]) == ("SELL", str(5 * M), CODE)
    refused = SimulatedPort(MarketRules()).place(sell, "sell-2")
    assert refused.fills == [] and "market intent has no price" in refused.refused


def test_both_ports_refuse_a_priced_intent_with_no_size_before_the_client_sees_it() -> None:
    unsized = OrderIntent(TOKEN_ID, "BUY", price=D("0.5"), order_type="FAK", builder_code=CODE)
    for port in (LivePort(client=None), SimulatedPort(MarketRules())):
        placed = port.place(unsized, "buy-1")
        assert (placed.fills, placed.refused) == ([], "a priced order intent needs a size: BUY at 0.5 names no shares")
