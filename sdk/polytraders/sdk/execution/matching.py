"""The matching simulator behind the paper and replay ports: a CLOB V2 book, our orders, our fills.

- Marketable orders walk the book level by level at the book's own prices, up to their limit.
  GTC remainders rest; FAK remainders are cancelled; FOK fills whole or not at all.
- Prices must sit on the market's tick grid and sizes reach its minimum, as on the CLOB.
- Queue position: an order that rests at a price joins the back of that level; the size already
  there is ahead of it. A level shrinking in a book update is taken from the front of the queue
  (traders ahead of us filled or cancelling), so our place improves. A trade at our price fills
  whatever of it exceeds the queue ahead (the feed sends a trade before the book update it
  causes, so a trade never moves our place itself); a trade through our price, or a book update
  that crosses it, fills us outright.
- Fees as in CLOB V2: set at match time, paid by the taker: shares × rate × (p × (1 − p))^exponent,
  plus the builder's flat share of notional when the order carries a builder code. Makers pay
  nothing here (rebates are the exchange's business, paid later).

Amounts are integer micro-units (shares and pUSD), prices Decimals; nothing here is a float.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from itertools import count

BUY, SELL = "BUY", "SELL"


class OrderRefused(ValueError):
    """What the CLOB would refuse: off the tick grid, under the minimum size, a FOK it cannot fill."""


def half_even(value: Decimal) -> int:
    return int(value.to_integral_value(ROUND_HALF_EVEN))


@dataclass(frozen=True)
class FeeSchedule:
    rate: Decimal = Decimal(0)
    exponent: Decimal = Decimal(1)
    builder_taker_rate: Decimal = Decimal(0)

    def taker_fee(self, price: Decimal, size_micros: int, builder: bool) -> int:
        platform = Decimal(size_micros) * self.rate * (price * (1 - price)) ** self.exponent
        return half_even(platform + (price * size_micros * self.builder_taker_rate if builder else 0))


@dataclass(frozen=True)
class MarketRules:
    tick_size: Decimal = Decimal("0.01")
    min_size_micros: int = 5_000_000
    fees: FeeSchedule = FeeSchedule()

    def check(self, price: Decimal, size_micros: int) -> None:
        if price <= 0 or price >= 1 or price % self.tick_size:
            raise OrderRefused(f"price {price} is not on the {self.tick_size} tick grid inside (0, 1)")
        if size_micros < self.min_size_micros:
            raise OrderRefused(
                f"size {size_micros} is under the market's minimum of {self.min_size_micros} micro-shares"
            )


@dataclass(frozen=True)
class SimFill:
    order_id: str
    trade_id: str
    side: str
    price: Decimal
    size_micros: int
    fee_micros: int
    maker: bool


@dataclass
class _Resting:
    order_id: str
    side: str
    price: Decimal
    size: int
    builder: bool
    ahead: int
    placed: int
    filled: int = 0

    @property
    def left(self) -> int:
        return self.size - self.filled


@dataclass
class MatchingEngine:
    """One token's book (other traders' liquidity) and our orders in it."""

    rules: MarketRules = field(default_factory=MarketRules)
    bids: dict[Decimal, int] = field(default_factory=dict)
    asks: dict[Decimal, int] = field(default_factory=dict)
    resting: dict[str, _Resting] = field(default_factory=dict)
    _trades: Iterator[int] = field(default_factory=lambda: count(1))
    _placed: Iterator[int] = field(default_factory=lambda: count(1))

    # -- the book ---------------------------------------------------------------------------------

    def snapshot(self, bids: Mapping[Decimal, int], asks: Mapping[Decimal, int]) -> list[SimFill]:
        """The book as it is now. Where a level shrank, the front of its queue left, so our orders
        resting there move up by that much; then any order the new book crosses fills."""
        before = {BUY: self.bids, SELL: self.asks}
        self.bids, self.asks = (
            {p: s for p, s in bids.items() if s > 0},
            {p: s for p, s in asks.items() if s > 0},
        )
        if not self.resting:
            return []
        for order in self.resting.values():
            shrank = before[order.side].get(order.price, 0) - self._level(order.side, order.price)
            if shrank > 0:
                order.ahead = max(0, order.ahead - shrank)
        return self._crossed()

    def trade(self, price: Decimal, size_micros: int) -> list[SimFill]:
        """Someone else traded `size` at `price`. At our price the queue ahead of us trades first (the
        book update that follows a trade moves our place; the trade itself does not); a trade through
        our price fills us outright."""
        fills = []
        for order in self._priority():
            if size_micros <= 0:
                break
            through = price < order.price if order.side == BUY else price > order.price
            if not through and price != order.price:
                continue
            reaching = size_micros if through else max(0, size_micros - order.ahead)
            filled = min(order.left, reaching)
            if filled:
                size_micros -= filled
                fills.append(self._fill(order, order.price, filled))
        return fills

    def _level(self, side: str, price: Decimal) -> int:
        return (self.bids if side == BUY else self.asks).get(price, 0)

    def _priority(self) -> list[_Resting]:
        """Our resting orders best price first, then first placed first (price-time priority)."""
        return sorted(self.resting.values(), key=lambda o: (-o.price if o.side == BUY else o.price, o.placed))

    def _crossed(self) -> list[SimFill]:
        """Our resting orders that the book now crosses fill against the crossing levels."""
        fills = []
        for order in self._priority():
            opposite = self.asks if order.side == BUY else self.bids
            for price in sorted(opposite, reverse=order.side == SELL):
                if order.left == 0 or (price > order.price if order.side == BUY else price < order.price):
                    break
                take = min(order.left, opposite[price])
                opposite[price] -= take
                if not opposite[price]:
                    del opposite[price]
                fills.append(self._fill(order, order.price, take))
        return fills

    # -- our orders -------------------------------------------------------------------------------

    def submit(self, order_id: str, side: str, price: Decimal, size_micros: int, *, order_type: str = "GTC",
               builder: bool = False) -> list[SimFill]:  # fmt: skip
        """Place an order: it takes what it can at the book's prices, then rests, is cancelled (FAK)
        or, for a FOK that cannot fill whole, is refused."""
        self.rules.check(price, size_micros)
        opposite = self.asks if side == BUY else self.bids
        crossing = sorted(
            (p for p in opposite if (p <= price if side == BUY else p >= price)), reverse=side == SELL
        )
        if order_type == "FOK" and sum(opposite[p] for p in crossing) < size_micros:
            raise OrderRefused(
                f"FOK order {order_id} cannot fill {size_micros} micro-shares at {price} or better"
            )
        fills, left = [], size_micros
        for level in crossing:
            take = min(left, opposite[level])
            opposite[level] -= take
            if not opposite[level]:
                del opposite[level]
            left -= take
            fills.append(SimFill(order_id, f"sim-{next(self._trades)}", side, level, take,
                                 self.rules.fees.taker_fee(level, take, builder), maker=False))  # fmt: skip
            if not left:
                break
        if left and order_type == "GTC":
            self.resting[order_id] = _Resting(order_id, side, price, size_micros, builder, ahead=self._level(side, price),
                                              placed=next(self._placed), filled=size_micros - left)  # fmt: skip
        return fills

    def cancel(self, order_id: str) -> bool:
        return self.resting.pop(order_id, None) is not None

    def _fill(self, order: _Resting, price: Decimal, size: int) -> SimFill:
        order.filled += size
        if order.left == 0:
            del self.resting[order.order_id]
        return SimFill(order.order_id, f"sim-{next(self._trades)}", order.side, price, size, 0, maker=True)
