"""The matching simulator, every fill computed by hand: walking the book, partial fills, FAK/FOK,
the tick grid and minimum size, queue position, crossing updates, CLOB V2 taker fees."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from polytraders.sdk.execution.matching import (
    BUY,
    SELL,
    FeeSchedule,
    MarketRules,
    MatchingEngine,
    OrderRefused,
)

M = 1_000_000  # micro-units per share
FEES = FeeSchedule(rate=D("0.02"), exponent=D(1), builder_taker_rate=D("0.001"))


def engine() -> MatchingEngine:
    book = MatchingEngine(MarketRules(tick_size=D("0.01"), min_size_micros=5 * M, fees=FEES))
    book.snapshot(bids={D("0.48"): 300 * M, D("0.47"): 100 * M},
                  asks={D("0.50"): 100 * M, D("0.51"): 50 * M, D("0.53"): 200 * M})  # fmt: skip
    return book


def test_a_marketable_buy_walks_the_book_at_its_prices_and_rests_the_rest() -> None:
    book = engine()
    fills = book.submit("o1", BUY, D("0.52"), 180 * M, builder=True)
    assert [(f.price, f.size_micros, f.maker) for f in fills] == [
        (D("0.50"), 100 * M, False),
        (D("0.51"), 50 * M, False),
    ]
    # taker fees: 100 × 0.02 × (0.50 × 0.50) = 0.50, plus the builder's 0.1 % of 50.00 notional = 0.05
    #             50 × 0.02 × (0.51 × 0.49) = 0.2499, plus 0.1 % of 25.50 = 0.0255
    assert [f.fee_micros for f in fills] == [550_000, 275_400]
    assert book.asks == {D("0.53"): 200 * M}
    assert (book.resting["o1"].left, book.resting["o1"].ahead) == (30 * M, 0)


def test_fak_cancels_its_remainder_and_fok_fills_whole_or_not_at_all() -> None:
    book = engine()
    fak = book.submit("o1", SELL, D("0.47"), 450 * M, order_type="FAK")
    assert [(f.price, f.size_micros) for f in fak] == [(D("0.48"), 300 * M), (D("0.47"), 100 * M)]
    assert book.resting == {} and book.bids == {}
    with pytest.raises(OrderRefused, match="FOK"):
        book.submit("o2", BUY, D("0.51"), 151 * M, order_type="FOK")
    assert book.asks[D("0.50")] == 100 * M  # the refused FOK took nothing
    assert [f.size_micros for f in book.submit("o3", BUY, D("0.51"), 150 * M, order_type="FOK")] == [
        100 * M,
        50 * M,
    ]


@pytest.mark.parametrize(("price", "size", "message"), [
    (D("0.505"), 10 * M, "tick grid"), (D("1.00"), 10 * M, "tick grid"), (D("0.40"), 4 * M, "minimum"),
])  # fmt: skip
def test_the_tick_grid_and_minimum_size_are_the_clobs(price: D, size: int, message: str) -> None:
    with pytest.raises(OrderRefused, match=message):
        engine().submit("o1", BUY, price, size)


def test_a_resting_order_waits_behind_the_queue_ahead_of_it() -> None:
    book = engine()
    assert book.submit("o1", BUY, D("0.48"), 100 * M) == []
    assert book.resting["o1"].ahead == 300 * M  # behind the 300 already bid at 0.48
    assert book.trade(D("0.48"), 200 * M) == []  # the queue ahead trades first
    book.snapshot(bids={D("0.48"): 100 * M, D("0.47"): 100 * M}, asks=dict(book.asks))  # 200 left the front
    assert book.resting["o1"].ahead == 100 * M
    (partial,) = book.trade(D("0.48"), 130 * M)  # 100 ahead of us, then 30 of ours
    assert (partial.size_micros, partial.price, partial.maker, partial.fee_micros) == (
        30 * M,
        D("0.48"),
        True,
        0,
    )
    (rest,) = book.trade(D("0.47"), 500 * M)  # a trade through our price fills us outright
    assert rest.size_micros == 70 * M and "o1" not in book.resting


def test_a_book_update_that_crosses_a_resting_order_fills_it() -> None:
    book = engine()
    book.submit("o1", SELL, D("0.55"), 40 * M)
    fills = book.snapshot(
        bids={**book.bids, D("0.56"): 25 * M}, asks=dict(book.asks)
    )  # someone bids above our offer
    assert [(f.price, f.size_micros, f.maker) for f in fills] == [(D("0.55"), 25 * M, True)]
    assert book.resting["o1"].left == 15 * M and D("0.56") not in book.bids


def test_resting_orders_fill_best_price_first_then_first_placed() -> None:
    book = engine()
    book.submit("a-best-price", BUY, D("0.49"), 10 * M)
    book.submit("b-earlier-worse", BUY, D("0.48"), 10 * M)  # behind the 300 at 0.48
    book.submit("c-same-price-later", BUY, D("0.49"), 10 * M)
    fills = book.trade(D("0.47"), 25 * M)  # through both prices
    assert [(f.order_id, f.size_micros) for f in fills] == [("a-best-price", 10 * M), ("c-same-price-later", 10 * M),
                                                           ("b-earlier-worse", 5 * M)]  # fmt: skip
