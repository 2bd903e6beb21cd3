"""The one execution path live, paper and replay share: strategy, guards, order, port, reports.

A strategy sees book updates and its own fills and returns order intents; every guard votes on
each intent (approve, reject, or resize); an approved intent becomes an order carrying the
builder code; the exchange port executes it. Only the port differs between modes: polymarket-
client against the CLOB (live), or the matching simulator against the live book (paper) or an
archived one (replay). Every step emits the report it emits live, with the mode in the header.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Protocol

from polytraders.reports.v1 import reports_pb2 as rpb

from ..report_builders import ReportBuilder
from ..tagging import OrderIntent, Side
from .matching import SimFill

SIDES = {"BUY": rpb.SIDE_BUY, "SELL": rpb.SIDE_SELL}
MICROS = Decimal(1_000_000)


@dataclass(frozen=True)
class BookUpdate:
    """One token's book after an update: levels best first, sizes in micro-shares."""

    token_id: str
    condition_id: str
    at: datetime
    bids: tuple[tuple[Decimal, int], ...]
    asks: tuple[tuple[Decimal, int], ...]
    last_trade: tuple[Decimal, int] | None = None
    """A trade by someone else that came with this update: (price, size)."""

    @property
    def best_bid(self) -> Decimal | None:
        return self.bids[0][0] if self.bids else None

    @property
    def best_ask(self) -> Decimal | None:
        return self.asks[0][0] if self.asks else None


@dataclass(frozen=True)
class Intent:
    """What a strategy wants, and why."""

    token_id: str
    condition_id: str
    side: Side
    price: Decimal
    size_micros: int
    signal_name: str = ""
    signal_value: str = ""
    explanation: str = ""
    order_type: str = "GTC"


@dataclass(frozen=True)
class Vote:
    verdict: int
    """rpb.VERDICT_APPROVE, VERDICT_REJECT or VERDICT_RESIZE."""
    approved_size_micros: int
    observed: str = ""
    limit: str = ""
    explanation: str = ""


@dataclass(frozen=True)
class Fill:
    order_id: str
    trade_id: str
    token_id: str
    condition_id: str
    side: str
    price: Decimal
    size_micros: int
    fee_micros: int
    maker: bool


class Strategy(Protocol):
    slug: str
    version: str

    def on_book(self, book: BookUpdate, position_micros: int) -> Sequence[Intent]: ...

    def on_fill(self, fill: Fill) -> None: ...

    # Optional: `on_report(report) -> Sequence[Intent]` receives other bots' reports (signals).


class Guard(Protocol):
    name: str

    def vote(self, intent: Intent, position_micros: int) -> Vote: ...


@dataclass(frozen=True)
class Placed:
    order_id: str
    fills: list[SimFill]
    refused: str = ""


class ExchangePort(Protocol):
    def observe(self, book: BookUpdate) -> list[SimFill]:
        """The book moved: fills of resting orders it caused (live: none, the CLOB reports them)."""
        ...

    def place(self, order: OrderIntent, order_id: str) -> Placed:
        """Place an order. The path only ever passes a priced one (price and size), which every
        port can place; the simulated port refuses market intents (see ports.py)."""
        ...


@dataclass
class ExecutionPath:
    strategy: Strategy
    guards: Sequence[Guard]
    port: ExchangePort
    builder: ReportBuilder
    emit: Callable[[rpb.Report], None]
    builder_code: str = ""
    positions: dict[str, int] = field(default_factory=dict)
    _orders: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    _sequence: int = 0

    def on_book(self, book: BookUpdate) -> None:
        for fill in self.port.observe(book):
            self._filled(fill, book.at)
        for intent in self.strategy.on_book(book, self.positions.get(book.token_id, 0)):
            self._decide(intent, book.at)

    def on_report(self, report: rpb.Report) -> None:
        """Another bot's report (a signal, say): passed to a strategy that has `on_report`."""
        react = getattr(self.strategy, "on_report", None)
        if react is not None:
            at = report.header.produced_at.ToDatetime(tzinfo=UTC)
            for intent in react(report) or ():
                self._decide(intent, at)

    def _decide(self, intent: Intent, at: datetime) -> None:
        self._sequence += 1
        trace = f"{self.strategy.slug}:{self._sequence}"
        decision = self.builder.decision(
            trace_id=trace, produced_at=at, strategy_slug=self.strategy.slug, strategy_version=self.strategy.version,
            action=rpb.DECISION_ACTION_PLACE_ORDER, condition_id=intent.condition_id, token_id=intent.token_id,
            side=SIDES[intent.side], price=str(intent.price), size_micros=intent.size_micros,
            signal_name=intent.signal_name, signal_value=intent.signal_value, explanation=intent.explanation,
        )  # fmt: skip
        self.emit(decision)
        size = intent.size_micros
        for guard in self.guards:
            vote = guard.vote(intent, self.positions.get(intent.token_id, 0))
            self.emit(self.builder.risk_vote(
                trace_id=trace, causation_id=decision.header.report_id, produced_at=at, guard_name=guard.name,
                verdict=vote.verdict, condition_id=intent.condition_id, token_id=intent.token_id,
                proposed_size_micros=intent.size_micros, approved_size_micros=vote.approved_size_micros,
                limit_value=vote.limit, observed_value=vote.observed, explanation=vote.explanation,
            ))  # fmt: skip
            if vote.verdict == rpb.VERDICT_REJECT:
                return
            if vote.verdict == rpb.VERDICT_RESIZE:
                size = min(size, vote.approved_size_micros)
        order = OrderIntent.limit(intent.token_id, intent.side, intent.price, Decimal(size) / MICROS,
                                  order_type=intent.order_type, trace_id=trace,
                                  builder_code=self.builder_code or None)  # fmt: skip
        common = {"trace_id": trace, "produced_at": at, "condition_id": intent.condition_id, "token_id": intent.token_id,
                  "side": SIDES[intent.side], "price": str(intent.price), "size_micros": size,
                  "builder_code": self.builder_code, "order_type": intent.order_type}  # fmt: skip
        if self.builder_code:
            self.emit(self.builder.execution(event=rpb.EXECUTION_EVENT_ORDER_TAGGED, **common))
        order_id = f"{trace}:order"
        self.emit(
            self.builder.execution(event=rpb.EXECUTION_EVENT_ORDER_SUBMITTED, order_id=order_id, **common)
        )
        placed = self.port.place(order, order_id)
        if placed.refused:
            self.emit(self.builder.execution(event=rpb.EXECUTION_EVENT_ORDER_REJECTED, order_id=order_id,
                                             explanation=placed.refused, **common))  # fmt: skip
            return
        self._orders[placed.order_id] = (trace, intent.token_id, intent.condition_id)
        self.emit(
            self.builder.execution(
                event=rpb.EXECUTION_EVENT_ORDER_ACCEPTED, order_id=placed.order_id, **common
            )
        )
        for fill in placed.fills:
            self._filled(fill, at)

    def _filled(self, sim: SimFill, at: datetime) -> None:
        trace, token, condition = self._orders[sim.order_id]
        signed = sim.size_micros if sim.side == "BUY" else -sim.size_micros
        self.positions[token] = self.positions.get(token, 0) + signed
        self.emit(self.builder.execution(
            trace_id=trace, produced_at=at, event=rpb.EXECUTION_EVENT_FILL, order_id=sim.order_id,
            trade_id=sim.trade_id, condition_id=condition, token_id=token, side=SIDES[sim.side], price=str(sim.price),
            filled_size_micros=sim.size_micros, fee_micros=sim.fee_micros, builder_code=self.builder_code,
            liquidity=rpb.LIQUIDITY_MAKER if sim.maker else rpb.LIQUIDITY_TAKER, trade_status="CONFIRMED",
        ))  # fmt: skip
        self.strategy.on_fill(Fill(sim.order_id, sim.trade_id, token, condition, sim.side, sim.price, sim.size_micros,
                                   sim.fee_micros, sim.maker))  # fmt: skip
