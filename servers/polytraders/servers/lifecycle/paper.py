"""Paper-Trade Runner: a strategy on the live market feed, through the paper port.

The feed is Polymarket's market websocket channel, read with polymarket-client's keyless public
client (book snapshots, price changes, last trades); the strategy runs in the SDK's ExecutionPath
behind the simulated port, so its fills are simulated against the current book and nothing is
signed, submitted or sent to the chain. Every report goes to the bus in mode PAPER under the
strategy's own paper slug. The paper account (capital plus P&L at the mid) is closed per UTC day,
and the days make the promotion gate: continuous days up to the last one (a missing day resets the
count), and their risk-adjusted return (mean daily return over its standard deviation). The gate
is linked in the registry, where LIMITED_LIVE checks it against `min_paper_days`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypedDict

from polymarket import AsyncPublicClient, Environment
from polymarket.models.clob.market_events import (
    MarketBookEvent,
    MarketLastTradePriceEvent,
    MarketPriceChangeEvent,
)
from polymarket.streams import MarketSpec
from sqlalchemy import BigInteger, Integer, String, select
from sqlmodel import Field, SQLModel

from polytraders.governance.v1 import lifecycle_pb2 as pb
from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk.execution.matching import MarketRules
from polytraders.sdk.execution.path import BookUpdate, ExecutionPath
from polytraders.sdk.execution.ports import SimulatedPort
from polytraders.sdk.report_builders import ReportBuilder, new_report_id
from polytraders.servers.runtime.archive import ReportFilter
from polytraders.servers.runtime.auth import Principal
from polytraders.servers.runtime.errors import FailedPrecondition, FieldViolation, InvalidArgument, NotFound
from polytraders.servers.runtime.storage import table_of, upsert

from .backtest import SimulationParts, _Figures, _parameters, load_strategy
from .registry import GateRules, paper_gate_passes

log = logging.getLogger(__name__)
MICROS = Decimal(1_000_000)
DEFAULT_CAPITAL = 1_000_000_000


class PaperDayRow(SQLModel, table=True):
    __tablename__ = "paper_days"

    strategy_slug: str = Field(sa_type=String(128), primary_key=True)
    day: int = Field(sa_type=Integer, primary_key=True)
    equity_start_micros: int = Field(sa_type=BigInteger)
    equity_end_micros: int = Field(sa_type=BigInteger)
    capital_micros: int = Field(sa_type=BigInteger)


paper_days = table_of(PaperDayRow)


class _DayValues(TypedDict):
    """A paper_days row as a session keeps it until its day ends."""

    strategy_slug: str
    day: int
    equity_start_micros: int
    equity_end_micros: int
    capital_micros: int


def paper_gate(days: list[tuple[int, int, int, int]], today: date) -> pb.PaperGate:
    """From (day, equity at start, at end, capital) rows, oldest first: the trailing run of
    consecutive calendar days, if it reaches yesterday or today (paper trading that stopped earlier
    is a gap too), and the mean over standard deviation of their returns."""
    run: list[tuple[int, int, int, int]] = []
    for row in days:
        if run and _date(row[0]) != _date(run[-1][0]) + timedelta(days=1):
            run = []
        run.append(row)
    if run and _date(run[-1][0]) < today - timedelta(days=1):
        run = []
    returns = [Decimal(end - start) / Decimal(capital) for _, start, end, capital in run]
    ratio = Decimal(0)
    if len(returns) > 1:
        mean = sum(returns, Decimal(0)) / len(returns)
        variance = sum(((r - mean) ** 2 for r in returns), Decimal(0)) / (len(returns) - 1)
        ratio = mean / variance.sqrt() if variance else (Decimal(1) if mean > 0 else Decimal(0))
    return pb.PaperGate(continuous_paper_days=len(run), risk_adjusted_return=f"{ratio:.4f}")


def _date(day: int) -> date:
    return date(day // 10000, day // 100 % 100, day % 100)


@dataclass
class _Book:
    condition_id: str = ""
    bids: dict[Decimal, int] = field(default_factory=dict)
    asks: dict[Decimal, int] = field(default_factory=dict)

    def update(self, token_id: str, at: datetime, trade: tuple[Decimal, int] | None = None) -> BookUpdate:
        return BookUpdate(token_id, self.condition_id, at, tuple(sorted(self.bids.items(), reverse=True)),
                          tuple(sorted(self.asks.items())), trade)  # fmt: skip


def _micros(size: Decimal) -> int:
    return int(size * MICROS)


@dataclass
class _Session:
    message: pb.PaperSession
    capital: int
    task: asyncio.Task[None] | None = None
    figures: _Figures = field(default_factory=_Figures)
    day: int = 0
    day_start: int = 0
    equity: int | None = None
    """Paper equity after the last update (None before the first)."""
    signal_bots: tuple[str, ...] = ()
    current: _DayValues | None = None
    """Today's row of the paper account, written when the day ends (or the session stops)."""


class PaperTrader:
    def __init__(
        self, parts: SimulationParts, rules: GateRules, environment: Callable[[], Environment]
    ) -> None:
        self._engine, self._bus, self._clock, self._registry = (
            parts.engine,
            parts.bus,
            parts.clock,
            parts.registry,
        )
        self._packages, self._builder_code = parts.packages, parts.builder_code
        self._rules = rules
        self._environment = environment
        self._sessions: dict[str, _Session] = {}

    async def start(self, request: pb.StartPaperSessionRequest) -> pb.PaperSession:
        violations = []
        if ":" not in request.strategy:
            violations.append(FieldViolation("strategy", "is required, as package.module:ClassName"))
        if not request.strategy_slug:
            violations.append(FieldViolation("strategy_slug", "is required: the paper days count for it"))
        if not request.token_ids:
            violations.append(FieldViolation("token_ids", "at least one token is traded"))
        if request.capital_micros < 0:
            violations.append(FieldViolation("capital_micros", "must not be negative"))
        if violations:
            raise InvalidArgument(violations)
        strategy = load_strategy(
            request.strategy, _parameters(request.parameters_json, "parameters_json"), self._packages
        )
        await self._registry.get(request.strategy_slug)
        if any(
            s.message.running and s.message.strategy_slug == request.strategy_slug
            for s in self._sessions.values()
        ):
            raise FailedPrecondition(
                f"{request.strategy_slug} already has a running paper session: one account per strategy"
            )
        session = _Session(pb.PaperSession(session_id=new_report_id(), strategy_slug=request.strategy_slug,
                                           strategy=request.strategy, parameters_json=request.parameters_json,
                                           token_ids=request.token_ids, running=True),
                           request.capital_micros or DEFAULT_CAPITAL, signal_bots=tuple(request.signal_bot_slugs))  # fmt: skip
        self._sessions[session.message.session_id] = session
        session.task = asyncio.get_running_loop().create_task(self._follow(session, strategy))
        return session.message

    async def _follow(self, session: _Session, strategy: Any) -> None:
        """Read the market channel until stopped; each book update goes through the paper path."""
        message = session.message
        pending: list[rpb.Report] = []
        builder = ReportBuilder(f"paper-{message.strategy_slug}"[:128], bot_class="paper", mode=rpb.MODE_PAPER,
                                clock=self._clock)  # fmt: skip
        port = SimulatedPort(MarketRules())
        path = ExecutionPath(strategy, getattr(strategy, "guards", ()), port, builder,
                             pending.append, builder_code=self._builder_code)  # fmt: skip
        books: dict[str, _Book] = {}
        client = AsyncPublicClient(self._environment())
        signals = asyncio.get_running_loop().create_task(self._signals(session, path, pending))
        try:
            handle = await client.subscribe(MarketSpec(asset_ids=list(message.token_ids)))
            try:
                async for event in handle:
                    if (
                        isinstance(event, MarketBookEvent)
                        and event.payload.tick_size
                        and event.payload.min_order_size
                    ):
                        port.set_rules(event.payload.asset_id, MarketRules(
                            event.payload.tick_size, _micros(event.payload.min_order_size)))  # fmt: skip
                    for update in self._updates(event, books):
                        path.on_book(update)
                        await self._flush(session, pending)  # the fills first: the day's equity includes them
                        session.figures.book(update)
                        finished = self._account(session, update.at)
                        if finished is not None:
                            await asyncio.to_thread(self._save_day, finished)
            finally:
                await handle.close()
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - the session says why it stopped
            log.exception("paper session %s stopped", message.session_id)
            message.failure = f"{type(error).__name__}: {error}"
        finally:
            message.running = False
            signals.cancel()
            await asyncio.gather(signals, return_exceptions=True)
            if session.current is not None:
                await asyncio.to_thread(self._save_day, session.current)
            await client.close()

    async def _signals(self, session: _Session, path: ExecutionPath, pending: list[rpb.Report]) -> None:
        """The signal bots' live reports on the bus, to the strategy's `on_report`."""
        slugs = frozenset(session.signal_bots)
        if not slugs:
            return
        async for archived in self._bus.subscribe(ReportFilter(bot_slugs=slugs), live_only=True):
            path.on_report(rpb.Report.FromString(archived.payload))
            await self._flush(session, pending)

    async def _flush(self, session: _Session, pending: list[rpb.Report]) -> None:
        for report in pending:
            session.figures.report(report)
        if pending:
            batch = list(pending)
            pending.clear()
            await self._bus.publish(batch)

    def _updates(self, event: Any, books: dict[str, _Book]) -> list[BookUpdate]:
        now = self._clock.now()
        if isinstance(event, MarketBookEvent):
            p = event.payload
            book = books.setdefault(p.asset_id, _Book())
            book.condition_id = p.condition_id
            book.bids = {level.price: _micros(level.size) for level in p.bids if level.size > 0}
            book.asks = {level.price: _micros(level.size) for level in p.asks if level.size > 0}
            return [book.update(p.asset_id, (p.timestamp or now).astimezone(UTC))]
        if isinstance(event, MarketPriceChangeEvent):
            updates = []
            for change in event.payload.price_changes:
                book = books.setdefault(change.asset_id, _Book(event.payload.condition_id))
                side = book.bids if change.side == "BUY" else book.asks
                if change.size > 0:
                    side[change.price] = _micros(change.size)
                else:
                    side.pop(change.price, None)
                updates.append(book.update(change.asset_id, (event.payload.timestamp or now).astimezone(UTC)))
            return updates
        if isinstance(event, MarketLastTradePriceEvent) and (size := event.payload.size):
            trade = event.payload
            book = books.setdefault(trade.asset_id, _Book(trade.condition_id))
            at = (trade.timestamp or now).astimezone(UTC)
            return [book.update(trade.asset_id, at, (trade.price, _micros(size)))]
        return []

    def _account(self, session: _Session, at: datetime) -> _DayValues | None:
        """The paper account after an update: today's row, and the day it just finished, if any."""
        day = int(f"{at:%Y%m%d}")
        equity = session.capital + session.figures.equity()
        finished = None
        if day != session.day:  # a new day starts where the last update left the account
            finished = session.current
            session.day, session.day_start = (
                day,
                session.capital if session.equity is None else session.equity,
            )
        session.equity = equity
        message = session.message
        message.events, message.fills, message.equity_micros = (
            session.figures.events,
            session.figures.fills,
            equity,
        )
        session.current = {"strategy_slug": message.strategy_slug, "day": day, "equity_start_micros": session.day_start,
                           "equity_end_micros": equity, "capital_micros": session.capital}  # fmt: skip
        return finished

    def _save_day(self, row: _DayValues) -> None:
        with self._engine.begin() as conn:
            upsert(conn, paper_days, [row], ["strategy_slug", "day"])

    def _session(self, session_id: str) -> _Session:
        if not session_id:
            raise InvalidArgument.field("session_id", "is required")
        session = self._sessions.get(session_id)
        if session is None:
            raise NotFound(f"no paper session {session_id!r} in this process")
        return session

    async def stop(self, session_id: str) -> pb.PaperSession:
        session = self._session(session_id)
        if session.task is not None:
            session.task.cancel()
            await asyncio.gather(session.task, return_exceptions=True)
        session.message.running = False
        return session.message

    async def stop_all(self) -> None:
        for session_id in list(self._sessions):
            await self.stop(session_id)

    def _days(self, slug: str) -> list[tuple[int, int, int, int]]:
        d = paper_days
        query = select(d.c.day, d.c.equity_start_micros, d.c.equity_end_micros, d.c.capital_micros)
        with self._engine.connect() as conn:
            return [
                tuple(row) for row in conn.execute(query.where(d.c.strategy_slug == slug).order_by(d.c.day))
            ]

    async def _all_days(self, slug: str) -> list[tuple[int, int, int, int]]:
        """The strategy's written days, and today's row of its running session (not written yet)."""
        days = await asyncio.to_thread(self._days, slug)
        for session in self._sessions.values():
            row = session.current
            if session.message.running and session.message.strategy_slug == slug and row is not None:
                today = (
                    row["day"],
                    row["equity_start_micros"],
                    row["equity_end_micros"],
                    row["capital_micros"],
                )
                days = [d for d in days if d[0] != today[0]] + [today]
        return days

    def sessions(self, strategy_slug: str = "") -> list[pb.PaperSession]:
        """This process's sessions (started in it, running or stopped), newest first."""
        return [s.message for s in reversed(self._sessions.values())
                if not strategy_slug or s.message.strategy_slug == strategy_slug]  # fmt: skip

    async def get(self, session_id: str) -> tuple[pb.PaperSession, list[pb.PaperDay]]:
        session = self._session(session_id)
        days = await self._all_days(session.message.strategy_slug)
        return session.message, [
            pb.PaperDay(day=d, equity_start_micros=s, equity_end_micros=e) for d, s, e, _ in days
        ]

    async def evaluate_gate(self, slug: str, actor: Principal) -> pb.EvaluatePaperGateResponse:
        if not slug:
            raise InvalidArgument.field("strategy_slug", "is required")
        await self._registry.get(slug)
        gate = paper_gate(await self._all_days(slug), self._clock.now().date())
        strategy = await self._registry.link_artefact(
            slug, pb.Artefact(kind=pb.ARTEFACT_KIND_PAPER_GATE, ref=f"paper-gate-{gate.continuous_paper_days}d",
                              paper_gate=gate), actor)  # fmt: skip
        passes, why = paper_gate_passes(strategy, self._rules)
        return pb.EvaluatePaperGateResponse(gate=gate, passes=passes, explanation=why)
