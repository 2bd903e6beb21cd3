"""PnLReporter's arithmetic: average cost per (bot, token), exact in micro-units.

- A BUY adds its notional (price × size, rounded half-even to the micro-pUSD) to the cost.
- A SELL removes the held cost in proportion (rounded half-even; the last sale removes all that
  is left, so no dust remains) and realises proceeds − removed cost. Outcome tokens cannot be
  shorted: selling more than is held is refused.
- Fees are the match event's (operator-set at match time in CLOB V2), never the order's; they
  are kept beside the position, not in its cost. A maker fill's rebate is what its report says,
  or else the market's configured share of the taker fee its match generated.
- Unrealised = size × mark − cost; the mark is the book's mid, or the last trade when the book
  is one-sided. A resolution settles a position at 1 or 0 pUSD a token: realised = payout − cost.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import ROUND_HALF_EVEN, Decimal

from polytraders.servers.runtime.errors import FieldViolation, InvalidArgument


def half_even(value: Decimal) -> int:
    return int(value.to_integral_value(ROUND_HALF_EVEN))


def six_places(micros: int) -> str:
    """Micro-units (of pUSD or of shares) as a decimal with all six places ("-1.250000", "0.000000"):
    exact, and quicker than a Decimal."""
    whole, fraction = divmod(abs(micros), 1_000_000)
    return f"{'-' if micros < 0 else ''}{whole}.{fraction:06d}"


def notional(price: Decimal, size_micros: int) -> int:
    return half_even(price * size_micros)


@dataclass(frozen=True)
class Holding:
    """One (bot, token) position."""

    bot_slug: str
    condition_id: str
    token_id: str
    size_micros: int = 0
    cost_micros: int = 0
    realised_micros: int = 0
    resolved: bool = False

    def unrealised(self, mark: Decimal | None) -> int:
        if mark is None or self.resolved:
            return 0
        return notional(mark, self.size_micros) - self.cost_micros


def buy(holding: Holding, price: Decimal, size_micros: int) -> tuple[Holding, int]:
    h = holding  # built directly: dataclasses.replace costs more than the rest of a booking's arithmetic
    return Holding(h.bot_slug, h.condition_id, h.token_id, h.size_micros + size_micros,
                   h.cost_micros + notional(price, size_micros), h.realised_micros, h.resolved), 0  # fmt: skip


def sell(holding: Holding, price: Decimal, size_micros: int, field: str) -> tuple[Holding, int]:
    if size_micros > holding.size_micros:
        raise InvalidArgument.field(
            field,
            f"sells {size_micros} micro-shares of token {holding.token_id} but {holding.bot_slug} holds "
            f"{holding.size_micros}: outcome tokens cannot be shorted",
        )
    if size_micros == holding.size_micros:
        removed = holding.cost_micros
    else:
        removed = half_even(Decimal(holding.cost_micros) * size_micros / holding.size_micros)
    realised = notional(price, size_micros) - removed
    h = holding
    return Holding(h.bot_slug, h.condition_id, h.token_id, h.size_micros - size_micros, h.cost_micros - removed,
                   h.realised_micros + realised, h.resolved), realised  # fmt: skip


def settle(holding: Holding, payout: Decimal) -> tuple[Holding, int]:
    """The market resolved: every token pays `payout` (1 or 0) and the position closes."""
    realised = notional(payout, holding.size_micros) - holding.cost_micros
    return replace(holding, size_micros=0, cost_micros=0, realised_micros=holding.realised_micros + realised,
                   resolved=True), realised  # fmt: skip


def convert(
    given: list[Holding], received: list[Holding], amount_micros: int
) -> tuple[list[Holding], list[Holding], int, int]:
    """A neg-risk conversion: `amount` of every NO in `given` becomes `amount` of every YES in
    `received` and (len(given) − 1) × amount pUSD. The exposure is the same in both forms, so the
    NO tokens' cost carries over to the YES tokens, less the pUSD received; only pUSD beyond that
    cost is realised. Returns the new holdings, the realised amount and the pUSD received."""
    removed = 0
    after_given = []
    for holding in given:
        if amount_micros > holding.size_micros:
            raise InvalidArgument.field("amount_micros", f"converts {amount_micros} of token {holding.token_id} but "
                                        f"{holding.bot_slug} holds {holding.size_micros}")  # fmt: skip
        share = holding.cost_micros if amount_micros == holding.size_micros else half_even(
            Decimal(holding.cost_micros) * amount_micros / holding.size_micros)  # fmt: skip
        removed += share
        after_given.append(replace(holding, size_micros=holding.size_micros - amount_micros,
                                   cost_micros=holding.cost_micros - share))  # fmt: skip
    cash = (len(given) - 1) * amount_micros
    realised = max(0, cash - removed)
    carried = removed - cash + realised
    each, rest = divmod(carried, len(received))
    after_received = [replace(h, size_micros=h.size_micros + amount_micros, cost_micros=h.cost_micros + each + (rest if i == 0 else 0))
                      for i, h in enumerate(received)]  # fmt: skip
    if realised:
        after_given[0] = replace(after_given[0], realised_micros=after_given[0].realised_micros + realised)
    return after_given, after_received, realised, cash


def mark_of(best_bid: str, best_ask: str, last_trade: str) -> Decimal:
    """The mid of a two-sided book; the last trade when one side is empty."""
    try:
        bid = Decimal(best_bid) if best_bid else None
        ask = Decimal(best_ask) if best_ask else None
        last = Decimal(last_trade) if last_trade else None
    except ArithmeticError:
        raise InvalidArgument.field("best_bid", "prices must be decimal strings") from None
    for price, name in ((bid, "best_bid"), (ask, "best_ask"), (last, "last_trade_price")):
        if price is not None and not (price.is_finite() and 0 <= price <= 1):
            raise InvalidArgument.field(name, "must lie between 0 and 1")
    if bid is not None and ask is not None:
        if bid > ask:
            raise InvalidArgument(
                [FieldViolation("best_bid", "is above best_ask: a crossed book has no mid")]
            )
        return (bid + ask) / 2
    if last is None:
        raise InvalidArgument.field("last_trade_price", "is required when one side of the book is empty")
    return last


def maker_rebate(reported: int, liquidity_maker: bool, taker_fee_micros: int, share: Decimal) -> int:
    """A maker fill's rebate: as reported, or the market's share of the taker fee its match generated."""
    if reported or not liquidity_maker:
        return reported
    return half_even(share * taker_fee_micros)
