"""Builder-code tagging: every order leaves with the Polytraders builder code (CLOB V2 `builder`).

No RPC on this path: `tag()` sets the code on an order intent, publishes an ExecutionReport of
the tag through the non-blocking publisher, and hands back the intent, whose `limit_kwargs()` /
`market_kwargs()` go straight into polymarket-client's `create_limit_order` / `place_limit_order`
/ `create_market_order` / `place_market_order`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, NamedTuple

from polytraders.reports.v1 import reports_pb2 as rpb

from .publisher import ReportPublisher
from .report_builders import ReportBuilder

BYTES32_ZERO = "0x" + "0" * 64
_BYTES32 = re.compile(r"0x[0-9a-fA-F]{64}")
_MICROS = Decimal(1_000_000)


class BuilderCodeError(ValueError):
    """A malformed builder code, or an order already carrying a different one."""


class BuilderCode(str):
    """A bytes32 builder code: '0x' and 64 hex digits, not all zero. Stored lowercase."""

    def __new__(cls, value: str) -> BuilderCode:
        if not isinstance(value, str) or not _BYTES32.fullmatch(value):
            raise BuilderCodeError(
                f"builder code must be a bytes32 hex string ('0x' + 64 hex digits), got {value!r:.80}"
            )
        if value.lower() == BYTES32_ZERO:
            raise BuilderCodeError("builder code must not be all zeros: that means 'no builder'")
        return super().__new__(cls, value.lower())


Side = Literal["BUY", "SELL"]


class OrderIntent(NamedTuple):
    """An order as a strategy wants it, before polymarket-client signs it (immutable).

    Limit orders have `price` and `size` (shares); market BUYs an `amount` (pUSD to spend),
    market SELLs `shares`. Amounts are Decimals, never floats.
    """

    token_id: str
    side: Side
    price: Decimal | None = None
    size: Decimal | None = None
    amount: Decimal | None = None
    shares: Decimal | None = None
    max_price: Decimal | None = None
    min_price: Decimal | None = None
    order_type: str = "GTC"
    post_only: bool = False
    expiration: int | None = None
    builder_code: str | None = None
    trace_id: str = ""

    @classmethod
    def limit(cls, token_id: str, side: Side, price: Decimal, size: Decimal, **more: Any) -> OrderIntent:
        return cls(token_id=token_id, side=side, price=Decimal(price), size=Decimal(size), **more)

    @classmethod
    def market_buy(cls, token_id: str, amount: Decimal, **more: Any) -> OrderIntent:
        return cls(token_id=token_id, side="BUY", amount=Decimal(amount), order_type="FAK", **more)

    @classmethod
    def market_sell(cls, token_id: str, shares: Decimal, **more: Any) -> OrderIntent:
        return cls(token_id=token_id, side="SELL", shares=Decimal(shares), order_type="FAK", **more)

    @property
    def is_market(self) -> bool:
        return self.price is None

    def limit_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of polymarket-client's create_limit_order / place_limit_order."""
        if self.is_market:
            raise ValueError("a market order intent has no limit_kwargs(); use market_kwargs()")
        return dict(
            token_id=self.token_id, price=self.price, size=self.size, side=self.side,
            post_only=self.post_only, expiration=self.expiration, builder_code=self.builder_code,
        )  # fmt: skip

    def market_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of polymarket-client's create_market_order / place_market_order."""
        if not self.is_market:
            raise ValueError("a limit order intent has no market_kwargs(); use limit_kwargs()")
        bounds = {"max_price": self.max_price} if self.side == "BUY" else {"min_price": self.min_price}
        quantity = {"amount": self.amount} if self.side == "BUY" else {"shares": self.shares}
        return dict(
            token_id=self.token_id, side=self.side, order_type=self.order_type,
            builder_code=self.builder_code, **quantity, **bounds,
        )  # fmt: skip


class OrderTagger:
    def __init__(
        self, code: BuilderCode, publisher: Callable[[], ReportPublisher], builder: ReportBuilder
    ) -> None:
        self.code = code
        self._publisher = publisher
        self._builder = builder

    def tag(self, order: OrderIntent) -> OrderIntent:
        """The order with our builder code; refuses an order already tagged with another code."""
        existing = (order.builder_code or "").lower()
        if existing and existing not in (BYTES32_ZERO, self.code):
            raise BuilderCodeError(
                f"order for token {order.token_id} already carries builder code {order.builder_code}, "
                f"not ours ({self.code}); refusing to overwrite it"
            )
        tagged = order if existing == self.code else order._replace(builder_code=str(self.code))
        at = self._builder.clock.now()
        self._publisher().publish_deferred(
            rpb.REPORT_KIND_EXECUTION, rpb.RETENTION_ONE_YEAR, self._tag_report, tagged, at
        )
        return tagged

    def _tag_report(self, order: OrderIntent, at: datetime) -> rpb.Report:
        """The ExecutionReport of a tag; built off the hot path by the publisher's writer thread."""
        quantity = order.size if order.size is not None else order.shares or order.amount
        price = order.price if order.price is not None else order.max_price or order.min_price
        return self._builder.execution(
            trace_id=order.trace_id,
            produced_at=at,
            event=rpb.EXECUTION_EVENT_ORDER_TAGGED,
            token_id=order.token_id,
            side=rpb.SIDE_BUY if order.side == "BUY" else rpb.SIDE_SELL,
            price="" if price is None else str(price),
            size_micros=0 if quantity is None else int((quantity * _MICROS).to_integral_value()),
            builder_code=order.builder_code,
            order_type=order.order_type,
        )
