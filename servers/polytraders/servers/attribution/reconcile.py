"""Reconciling our fill log with the exchange's builder-trades report: plain data in, findings out.

A record is one side of one trade, keyed "<trade_id>:<MAKER|TAKER>" on both sides. Our fills
are held in a dict; the exchange's report streams past it once, so memory is one side of the
join plus the set of exchange keys already seen (a page served twice counts once). FAILED
trades are reversed money and are left out on both sides.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from fractions import Fraction


class Kind(Enum):
    MISSING_CODE = "MISSING_CODE"
    UNATTRIBUTED_FILL = "UNATTRIBUTED_FILL"
    UNKNOWN_TRADE = "UNKNOWN_TRADE"
    VOLUME_DRIFT = "VOLUME_DRIFT"
    ORDER_COUNT_MISMATCH = "ORDER_COUNT_MISMATCH"
    PRICE_MISMATCH = "PRICE_MISMATCH"
    SIZE_MISMATCH = "SIZE_MISMATCH"
    STATUS_MISMATCH = "STATUS_MISMATCH"


def record_key(trade_id: str, liquidity: str) -> str:
    return f"{trade_id}:{liquidity}"


def is_failed(status: str) -> bool:
    return status.upper().endswith("FAILED")


@dataclass(frozen=True, slots=True)
class LocalFill:
    key: str
    bot_slug: str
    condition_id: str
    price: Decimal
    size_micros: int
    notional_micros: int
    builder_code: str
    status: str = "CONFIRMED"


@dataclass(frozen=True, slots=True)
class ExchangeTrade:
    key: str
    condition_id: str
    price: Decimal
    size_micros: int
    notional_micros: int
    builder_fee_micros: int
    status: str
    matched_at_us: int


@dataclass(frozen=True)
class Finding:
    kind: Kind
    condition_id: str
    explanation: str
    record_keys: tuple[str, ...]
    """The records this finding sets aside: a trade-level kind its record; a count mismatch the
    market's records found on one side only; a volume drift, which no record explains, every
    record of the market (or of the window)."""
    key: str = ""
    bot_slug: str = ""
    local_value: str = ""
    exchange_value: str = ""


@dataclass
class _Market:
    local_volume: int = 0
    exchange_volume: int = 0
    local_count: int = 0
    exchange_count: int = 0
    keys: list[str] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)
    """Records on one side only: what a count mismatch consists of."""


@dataclass(frozen=True)
class Outcome:
    findings: list[Finding]
    local_fills: int
    exchange_trades: int
    duplicate_trades: int
    local_volume_micros: int
    exchange_volume_micros: int

    @property
    def volume_drift(self) -> Decimal:
        return drift(self.local_volume_micros, self.exchange_volume_micros)


def drift(local: int, exchange: int) -> Decimal:
    """|exchange − local| / local, to 6 decimals; 1 when we logged nothing and the exchange did."""
    if local == 0:
        return Decimal(1 if exchange else 0)
    return (Decimal(abs(exchange - local)) / Decimal(local)).quantize(Decimal("0.000001"))


def beyond(tolerance: Fraction, local: int, exchange: int) -> bool:
    """Exact: |exchange − local| > tolerance × local, in integers."""
    return abs(exchange - local) * tolerance.denominator > tolerance.numerator * local


def reconcile_builder_trades(
    fills: Iterable[LocalFill], trades: Iterable[ExchangeTrade], builder_code: str, tolerance: Decimal
) -> Outcome:
    """Findings of one window: trade-level first, then per market (by condition id), then the total."""
    tolerance_ratio = Fraction(tolerance)
    local: dict[str, LocalFill] = {fill.key: fill for fill in fills}
    markets: defaultdict[str, _Market] = defaultdict(_Market)
    findings: list[Finding] = []
    seen: set[str] = set()
    duplicates = 0
    for trade in trades:
        key = trade.key
        if key in seen:
            duplicates += 1
            continue
        fill = local.get(key)
        if fill is not None:
            key = fill.key  # keep our copy of the key string: the exchange's can be freed
        seen.add(key)
        if fill is not None and is_failed(trade.status) != is_failed(fill.status):
            # reversed money on one side only: the record is held, and counted on neither side
            findings.append(Finding(
                Kind.STATUS_MISMATCH, trade.condition_id,
                f"trade {key}: {fill.bot_slug} logged it {fill.status}, the exchange reports {trade.status}",
                (key,), key, fill.bot_slug, fill.status, trade.status,
            ))  # fmt: skip
            del local[key]
            continue
        if is_failed(trade.status):
            continue
        market = markets[trade.condition_id]
        market.exchange_volume += trade.notional_micros
        market.exchange_count += 1
        market.keys.append(key)
        if fill is None:
            market.unmatched.append(key)
            findings.append(Finding(
                Kind.UNKNOWN_TRADE, trade.condition_id,
                f"the exchange attributes trade {key} ({trade.size_micros} micro-shares at {trade.price}) "
                "to our builder code, but no bot of ours logged that fill",
                (key,), key, exchange_value=f"{trade.size_micros}@{trade.price}",
            ))  # fmt: skip
            continue
        if fill.price != trade.price:
            findings.append(Finding(
                Kind.PRICE_MISMATCH, trade.condition_id,
                f"trade {key}: {fill.bot_slug} logged price {fill.price}, the exchange reports {trade.price}",
                (key,), key, fill.bot_slug, str(fill.price), str(trade.price),
            ))  # fmt: skip
        if fill.size_micros != trade.size_micros:
            findings.append(Finding(
                Kind.SIZE_MISMATCH, trade.condition_id,
                f"trade {key}: {fill.bot_slug} logged {fill.size_micros} micro-shares, "
                f"the exchange reports {trade.size_micros}",
                (key,), key, fill.bot_slug, str(fill.size_micros), str(trade.size_micros),
            ))  # fmt: skip
    for fill in local.values():
        if is_failed(fill.status):
            continue
        if fill.builder_code != builder_code:
            carried = (
                f"carried builder code {fill.builder_code}"
                if fill.builder_code
                else "carried no builder code"
            )
            attributed = (
                "; the exchange attributes it to us all the same"
                if fill.key in seen
                else "; the exchange did not attribute it, so its builder fee is lost"
            )
            findings.append(Finding(
                Kind.MISSING_CODE, fill.condition_id, f"{fill.bot_slug}'s fill {fill.key} {carried}{attributed}",
                (fill.key,), fill.key, fill.bot_slug, fill.builder_code,
            ))  # fmt: skip
            if fill.key not in seen:
                continue  # neither side counts it; if the exchange did, so do we (no drift for nothing)
        market = markets[fill.condition_id]
        market.local_volume += fill.notional_micros
        market.local_count += 1
        if fill.key not in seen and fill.builder_code == builder_code:
            market.keys.append(fill.key)
            market.unmatched.append(fill.key)
            findings.append(Finding(
                Kind.UNATTRIBUTED_FILL, fill.condition_id,
                f"{fill.bot_slug}'s fill {fill.key} carried our builder code, but the exchange's "
                "builder report does not list it",
                (fill.key,), fill.key, fill.bot_slug, f"{fill.size_micros}@{fill.price}",
            ))  # fmt: skip
    total_local = total_exchange = 0
    for condition_id in sorted(markets):
        market = markets[condition_id]
        total_local += market.local_volume
        total_exchange += market.exchange_volume
        if beyond(tolerance_ratio, market.local_volume, market.exchange_volume):
            findings.append(Finding(
                Kind.VOLUME_DRIFT, condition_id,
                f"market {condition_id}: our fills show {market.local_volume} micro-pUSD of attributed notional, "
                f"the exchange {market.exchange_volume} (drift {drift(market.local_volume, market.exchange_volume)}, "
                f"tolerance {tolerance})",
                tuple(market.keys), local_value=str(market.local_volume), exchange_value=str(market.exchange_volume),
            ))  # fmt: skip
        if market.local_count != market.exchange_count:
            findings.append(Finding(
                Kind.ORDER_COUNT_MISMATCH, condition_id,
                f"market {condition_id}: {market.local_count} attributed fills in our log, "
                f"{market.exchange_count} in the exchange's report",
                tuple(market.unmatched), local_value=str(market.local_count), exchange_value=str(market.exchange_count),
            ))  # fmt: skip
    if beyond(tolerance_ratio, total_local, total_exchange):
        findings.append(Finding(
            Kind.VOLUME_DRIFT, "",
            f"the window's attributed notional is {total_local} micro-pUSD in our fills and {total_exchange} at "
            f"the exchange (drift {drift(total_local, total_exchange)}, tolerance {tolerance})",
            tuple(k for m in markets.values() for k in m.keys),
            local_value=str(total_local), exchange_value=str(total_exchange),
        ))  # fmt: skip
    counted = sum(1 for fill in local.values() if not is_failed(fill.status))
    return Outcome(findings, counted, len(seen), duplicates, total_local, total_exchange)
