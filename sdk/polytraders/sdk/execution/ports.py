"""The three exchange ports. Only these differ between live, paper and replay.

- `SimulatedPort` runs the matching simulator: against the live book (paper) or an archived one
  (replay). It never signs, never submits and never touches the chain.
- `LivePort` sends the order through polymarket-client to the CLOB; the CLOB reports its fills.

One difference is deliberate: a market intent (an amount or shares, no price) is placed live but
refused by the simulated port, because the matching engine can only rest or cross an order at a
price, and inventing one would be a guess at how the CLOB walks its book. Live, paper and replay
still decide and place alike, because `ExecutionPath` only ever hands a port priced intents; a
market intent reaches a port only when code outside the path calls its `place` itself.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ..tagging import OrderIntent
from .matching import MarketRules, MatchingEngine, OrderRefused, SimFill
from .path import BookUpdate, Placed

MICROS = 1_000_000


def _price_and_size(order: OrderIntent) -> tuple[Decimal, Decimal] | None:
    """A priced intent's price and size; None when it names a price but no size (nothing to place).
    Ask `order.is_market` first: a market intent has neither."""
    if order.price is None or order.size is None:
        return None
    return order.price, order.size


def _no_size(order: OrderIntent) -> str:
    return f"a priced order intent needs a size: {order.side} at {order.price} names no shares"


class SimulatedPort:
    """Paper and replay: the matching simulator, one book per token. It refuses market intents
    rather than guess a price for them (see the module docstring); the path never sends one."""

    def __init__(self, rules: MarketRules | None = None) -> None:
        self._rules = rules or MarketRules()
        self.books: dict[str, MatchingEngine] = {}

    def _engine(self, token_id: str) -> MatchingEngine:
        if token_id not in self.books:
            self.books[token_id] = MatchingEngine(self._rules)
        return self.books[token_id]

    def set_rules(self, token_id: str, rules: MarketRules) -> None:
        """The market's own tick size, minimum size and fees, as its feed announces them."""
        self._engine(token_id).rules = rules

    def observe(self, book: BookUpdate) -> list[SimFill]:
        engine = self._engine(book.token_id)
        fills = []
        if book.last_trade is not None:  # the trade first, then the book it left (see matching.py)
            fills += engine.trade(*book.last_trade)
        fills += engine.snapshot(dict(book.bids), dict(book.asks))
        return fills

    def place(self, order: OrderIntent, order_id: str) -> Placed:
        if order.is_market:
            return Placed(order_id, [], "the simulated book matches priced orders; a market intent has no price")
        priced = _price_and_size(order)
        if priced is None:
            return Placed(order_id, [], _no_size(order))
        price, size = priced
        try:
            fills = self._engine(order.token_id).submit(order_id, order.side, price, int(size * MICROS),
                                                        order_type=order.order_type, builder=bool(order.builder_code))  # fmt: skip
        except OrderRefused as refused:
            return Placed(order_id, [], str(refused))
        return Placed(order_id, fills)


class LivePort:
    """Orders to the CLOB through polymarket-client's SecureClient (its keys, its signing). GTC
    orders go as limit orders; priced FAK and FOK as market orders bounded by the intent's price,
    which is how the CLOB takes them; market intents (an amount or shares) as they are."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def observe(self, book: BookUpdate) -> list[SimFill]:
        return []  # live fills arrive from the CLOB, as the bot's execution reports

    def place(self, order: OrderIntent, order_id: str) -> Placed:
        try:
            if order.is_market:  # its amount or shares, its own bounds
                response = self._client.place_market_order(**order.market_kwargs())
            elif (priced := _price_and_size(order)) is None:
                return Placed(order_id, [], _no_size(order))
            elif order.order_type in ("FAK", "FOK"):
                response = self._client.place_market_order(**self._as_market(order, *priced).market_kwargs())
            else:
                response = self._client.place_limit_order(**order.limit_kwargs())
        except Exception as error:  # noqa: BLE001 - the CLOB's refusal is the order's outcome
            return Placed(order_id, [], f"{type(error).__name__}: {error}")
        if not getattr(response, "ok", True):  # polymarket-client returns a refusal, it does not raise one
            return Placed(order_id, [], f"{response.code}: {response.message}")
        return Placed(response.order_id, [])

    @staticmethod
    def _as_market(order: OrderIntent, price: Decimal, size: Decimal) -> OrderIntent:
        """A priced FAK/FOK as the market intent the CLOB takes: a BUY spends price × size pUSD at
        most `price` a share, a SELL sells `size` shares at least `price` a share."""
        buy = order.side == "BUY"
        return order._replace(
            price=None, size=None, amount=price * size if buy else None, shares=None if buy else size,
            max_price=price if buy else None, min_price=None if buy else price,
        )  # fmt: skip
