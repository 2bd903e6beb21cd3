"""The reconciliation rules on plain data: every kind, the tolerance's edge, duplicates, FAILED trades."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from polytraders.servers.attribution.reconcile import (
    ExchangeTrade,
    Kind,
    LocalFill,
    beyond,
    drift,
    reconcile_builder_trades,
)

CODE = "0x" + "ab" * 32
M = "0xmarket"


def fill(
    key: str, size: int = 10_000_000, price: str = "0.5", code: str = CODE, status: str = "CONFIRMED"
) -> LocalFill:
    return LocalFill(key, "bot-1", M, Decimal(price), size, int(size * Decimal(price)), code, status)


def trade(key: str, size: int = 10_000_000, price: str = "0.5", notional: int | None = None,
          status: str = "TRADE_STATUS_CONFIRMED") -> ExchangeTrade:  # fmt: skip
    value = int(size * Decimal(price)) if notional is None else notional
    return ExchangeTrade(key, M, Decimal(price), size, value, 0, status, 0)


def run(
    fills: list[LocalFill], trades: list[ExchangeTrade], tolerance: str = "0.001"
) -> list[tuple[Kind, str]]:
    outcome = reconcile_builder_trades(fills, trades, CODE, Decimal(tolerance))
    return [(f.kind, f.key or f.condition_id) for f in outcome.findings]


def test_agreement_finds_nothing() -> None:
    assert run([fill("a:TAKER"), fill("b:MAKER")], [trade("a:TAKER"), trade("b:MAKER")]) == []


def test_a_price_and_a_size_mismatch_on_the_same_trade() -> None:
    found = run([fill("a:TAKER"), fill("b:TAKER")], [trade("a:TAKER", price="0.51"), trade("b:TAKER", size=9_000_000)],
                tolerance="1")  # fmt: skip
    assert found == [(Kind.PRICE_MISMATCH, "a:TAKER"), (Kind.SIZE_MISMATCH, "b:TAKER")]


def test_decimal_prices_compare_by_value() -> None:
    assert run([fill("a:TAKER", price="0.50")], [trade("a:TAKER", price="0.5")]) == []


def test_our_coded_fill_the_exchange_never_attributed() -> None:
    found = run([fill("a:TAKER"), fill("b:TAKER")], [trade("a:TAKER")], tolerance="1")
    assert found == [(Kind.UNATTRIBUTED_FILL, "b:TAKER"), (Kind.ORDER_COUNT_MISMATCH, M)]


def test_an_uncoded_fill_the_exchange_attributed_anyway_is_still_missing_its_code() -> None:
    outcome = reconcile_builder_trades([fill("a:TAKER", code="")], [trade("a:TAKER")], CODE, Decimal("1"))
    kinds = [f.kind for f in outcome.findings]
    assert (
        kinds[0] is Kind.MISSING_CODE
        and "attributes it to us all the same" in outcome.findings[0].explanation
    )


def test_failed_trades_are_left_out_on_both_sides() -> None:
    assert run([fill("a:TAKER", status="FAILED")], [trade("b:TAKER", status="TRADE_STATUS_FAILED")]) == []


def test_a_repeated_exchange_record_counts_once() -> None:
    outcome = reconcile_builder_trades(
        [fill("a:TAKER")], [trade("a:TAKER"), trade("a:TAKER")], CODE, Decimal("0")
    )
    assert (outcome.findings, outcome.duplicate_trades, outcome.exchange_trades) == ([], 1, 1)


@pytest.mark.parametrize(
    ("local", "exchange", "tolerance", "flagged"),
    [
        (1_000_000, 1_005_000, "0.005", False),  # exactly at the tolerance: not beyond it
        (1_000_000, 1_005_001, "0.005", True),
        (1_000_000, 995_000, "0.005", False),
        (1_000_000, 994_999, "0.005", True),
        (0, 0, "0", False),
        (0, 1, "0.5", True),
    ],
)
def test_the_tolerance_is_exact(local: int, exchange: int, tolerance: str, flagged: bool) -> None:
    assert beyond(Fraction(Decimal(tolerance)), local, exchange) is flagged


def test_drift_is_a_six_decimal_ratio() -> None:
    assert (drift(230_000_000, 230_750_000), drift(0, 5), drift(0, 0)) == (Decimal("0.003261"), 1, 0)
