"""The three exchange ports. Only these differ between live, paper and replay.

- `SimulatedPort` runs the matching simulator: against the live book (paper) or an archived one
  (replay). It never signs, never submits and never touches the chain.
- `LivePort` sends the order through polymarket-client to the CLOB; the CLOB reports its fills.
"""

from __future__ import annotations

from typing import Any

from ..tagging import OrderIntent
from .matching import MarketRules, MatchingEngine, OrderRefused, SimFill
from .path import BookUpdate, Placed

MICROS = 1_000_000


class SimulatedPort:
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
        if order.price is None or order.size is None:
            return Placed(order_id, [], "the simulated book matches priced orders; a market intent has no price")
        size = int(order.size * MICROS)
        try:
            fills = self._engine(order.token_id).submit(order_id, order.side, order.price, size,
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
            price, size = order.price, order.size
            if price is None or size is None:  # a market intent: its amount or shares, its own bounds
                response = self._client.place_market_order(**order.market_kwargs())
            elif order.order_type in ("FAK", "FOK"):
                bound = {"max_price": price} if order.side == "BUY" else {"min_price": price}
                quantity = {"amount": price * size} if order.side == "BUY" else {"shares": size}
                response = self._client.place_market_order(token_id=order.token_id, side=order.side, order_type=order.order_type,
                                                           builder_code=order.builder_code, **quantity, **bound)  # fmt: skip
            else:
                response = self._client.place_limit_order(**order.limit_kwargs())
        except Exception as error:  # noqa: BLE001 - the CLOB's refusal is the order's outcome
            return Placed(order_id, [], f"{type(error).__name__}: {error}")
        if not getattr(response, "ok", True):  # polymarket-client returns a refusal, it does not raise one
            return Placed(order_id, [], f"{response.code}: {response.message}")
        return Placed(response.order_id, [])
