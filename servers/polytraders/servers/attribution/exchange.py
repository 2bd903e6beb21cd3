"""The exchange's records in our units: pUSD and share amounts as integer micro-units, exact.

polymarket-client parses the builder report's `size`, `sizeUsdc`, `fee` and `feeUsdc` and the
rebate endpoint's `rebated_fees_usdc` into Decimals of whole shares / whole pUSD; anything
finer than a micro-unit is rounded half-even.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Protocol

from polymarket.errors import PolymarketError
from polymarket.models.clob import BuilderTrade, RebatedFee

from polytraders.sdk.clock import to_micros

from .reconcile import ExchangeTrade, record_key

_MICROS = Decimal(1_000_000)

ExchangeUnavailable = PolymarketError
"""What the adapter raises once its retries are spent (or the exchange's answer made no sense)."""


class ExchangeReader(Protocol):
    """The read-only CLOB adapter (`polytraders.clients.clob.ClobReader`) as this group uses it."""

    pages: int
    retries: int

    def builder_trades(
        self, builder_code: str, *, after: int | None = None, before: int | None = None
    ) -> Iterator[BuilderTrade]: ...

    def current_rebates(self, day: str, maker_address: str) -> tuple[RebatedFee, ...]: ...

    def close(self) -> None: ...


ReaderFactory = Callable[[], ExchangeReader]


def describe(error: ExchangeUnavailable) -> str:
    status = getattr(error, "status", None)
    return f"{type(error).__name__}{f' (HTTP {status})' if status else ''}: {error}"


def micros(amount: Decimal) -> int:
    return int((amount * _MICROS).to_integral_value(ROUND_HALF_EVEN))


def exchange_trade(trade: BuilderTrade) -> ExchangeTrade:
    return ExchangeTrade(
        key=record_key(trade.id, trade.trade_type.upper()),
        condition_id=trade.condition_id.lower(),
        price=trade.price,
        size_micros=micros(trade.size),
        notional_micros=micros(trade.size_usdc),
        builder_fee_micros=micros(trade.fee_usdc),
        status=trade.status.upper(),
        matched_at_us=to_micros(trade.matched_at),
    )


def trades_in_window(
    trades: Iterable[BuilderTrade], start: datetime, end: datetime
) -> Iterator[ExchangeTrade]:
    """The exchange filters by whole seconds; keep exactly [start, end)."""
    start_us, end_us = to_micros(start), to_micros(end)
    for trade in trades:
        converted = exchange_trade(trade)
        if start_us <= converted.matched_at_us < end_us:
            yield converted


def rebates_by_market(rebates: Iterable[RebatedFee]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for rebate in rebates:
        market = rebate.condition_id.lower()
        totals[market] = totals.get(market, 0) + micros(rebate.rebated_fees_usdc)
    return totals
