"""Backtester: archived book snapshots through the very execution path bots trade with.

The input is the archive's ObservationReports carrying book levels for the chosen tokens, read
page by page in bus order (memory does not grow with history). The strategy is imported by path
and runs in an ExecutionPath behind the replay port (the matching simulator). Report ids are
seeded from the inputs' digest and every timestamp comes from the replayed books, so the same
inputs give a byte-identical report stream; the run records both digests. Emitted reports go to
the bus (mode REPLAY, under the run's own bot slug, ONE_YEAR). Figures are computed as the run
goes: P&L (realised plus marked at the mid), fees, Sharpe and Sortino of the per-update equity
changes (not annualised), maximum drawdown, fill ratio, per market; plus an equity-curve PNG and
an HTML page.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import html
import importlib
import inspect
import json
import struct
import zlib
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import BigInteger, Engine, LargeBinary, String, select
from sqlmodel import Field, SQLModel

from polytraders.governance.v1 import lifecycle_pb2 as pb
from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk.clock import Clock, from_micros, to_micros, to_timestamp
from polytraders.sdk.execution.matching import FeeSchedule, MarketRules
from polytraders.sdk.execution.path import BookUpdate, ExecutionPath, Strategy
from polytraders.sdk.execution.ports import SimulatedPort
from polytraders.sdk.report_builders import ReportBuilder, new_report_id, seeded_report_ids
from polytraders.servers.runtime.archive import ReportFilter
from polytraders.servers.runtime.auth import Principal
from polytraders.servers.runtime.bus import ReportBus
from polytraders.servers.runtime.errors import FailedPrecondition, FieldViolation, InvalidArgument, NotFound
from polytraders.servers.runtime.reporter import GovernanceReporter
from polytraders.servers.runtime.requests import page_size
from polytraders.servers.runtime.storage import table_of

from .registry import StrategyRegistry

_PAGE = 2000
_CURVE_POINTS = 1200
_PUBLISH_BATCH = 500


class BacktestRow(SQLModel, table=True):
    __tablename__ = "backtests"

    backtest_id: str = Field(sa_type=String(36), primary_key=True)
    ran_us: int = Field(sa_type=BigInteger)
    body: bytes = Field(sa_type=LargeBinary)


backtests = table_of(BacktestRow)

_decimal = lru_cache(maxsize=4096)(Decimal)
"""Prices sit on a tick grid, so a replay parses the same few strings millions of times."""


def _produced_at(report: rpb.Report) -> datetime:
    """The header's instant, without Timestamp.ToDatetime (a tenth of a replayed event's time)."""
    stamp = report.header.produced_at
    return from_micros(stamp.seconds * 1_000_000 + stamp.nanos // 1000)


def _levels(levels: Sequence[rpb.BookLevel]) -> tuple[tuple[Decimal, int], ...]:
    return tuple([(_decimal(level.price), level.size_micros) for level in levels])


def book_update(report: rpb.Report) -> BookUpdate:
    o = report.observation
    trade = (_decimal(o.last_trade_price), o.last_trade_size_micros) if o.last_trade_size_micros else None
    return BookUpdate(o.token_id, o.condition_id, _produced_at(report),
                      _levels(o.bids), _levels(o.asks), trade)  # fmt: skip


def is_book(report: rpb.Report, tokens: frozenset[str]) -> bool:
    o = report.observation
    return report.HasField("observation") and o.token_id in tokens and o.source.startswith("clob.book")


class BookReplay:
    """Each token's book as the archive tells it: "clob.book" observations are whole snapshots,
    "clob.book.delta" ones carry changed levels only (size 0 removes a level)."""

    def __init__(self) -> None:
        self._books: dict[str, tuple[dict[Decimal, int], dict[Decimal, int]]] = {}

    def apply(self, report: rpb.Report) -> BookUpdate:
        o = report.observation
        bids, asks = self._books.setdefault(o.token_id, ({}, {}))
        if not o.source.endswith(".delta"):
            bids.clear()
            asks.clear()
        for levels, side in ((o.bids, bids), (o.asks, asks)):
            for level in levels:
                price = _price(level.price)
                if price is None:
                    continue  # not a price on a CLOB book: left out, as the exchange never shows one
                if level.size_micros > 0:
                    side[price] = level.size_micros
                else:
                    side.pop(price, None)
        last = _price(o.last_trade_price)
        trade = (
            (last, o.last_trade_size_micros) if last is not None and o.last_trade_size_micros > 0 else None
        )
        return BookUpdate(o.token_id, o.condition_id, _produced_at(report),
                          tuple(sorted(bids.items(), reverse=True)), tuple(sorted(asks.items())), trade)  # fmt: skip


def _price(text: str) -> Decimal | None:
    try:
        price = Decimal(text)
    except ArithmeticError:
        return None
    return price if price.is_finite() and 0 < price < 1 else None


def market_rules(request: pb.StartBacktestRequest) -> MarketRules:
    try:
        fees = FeeSchedule(Decimal(request.fee_rate or "0"), Decimal(request.fee_exponent or "1"))
        rules = MarketRules(Decimal(request.tick_size or "0.01"), request.min_size_micros or 5_000_000, fees)
    except ArithmeticError:
        raise InvalidArgument.field(
            "fee_rate", "fee rate, exponent and tick size must be decimal strings"
        ) from None
    if not (0 <= fees.rate < 1 and 0 < rules.tick_size < 1 and rules.min_size_micros > 0):
        raise InvalidArgument.field(
            "fee_rate", "fee rate in [0, 1), tick size in (0, 1), a positive minimum size"
        )
    return rules


def strategy_code_digest(path: str) -> str:
    """sha256 of the strategy module's source ("" when it has none to read)."""
    module = importlib.import_module(path.partition(":")[0])
    try:
        return hashlib.sha256(inspect.getsource(module).encode()).hexdigest()
    except (OSError, TypeError):
        return ""


def load_strategy(path: str, parameters: dict[str, object], packages: Sequence[str]) -> Strategy:
    """The strategy object; only from the configured packages (`strategy_packages`): an import path
    from a request must not reach anything else on the server."""
    module, _, name = path.partition(":")
    if not any(module == p or module.startswith(f"{p}.") for p in packages):
        raise InvalidArgument.field(
            "strategy", f"{module!r} is not in the strategy packages {list(packages)}"
        )
    try:
        strategy: Strategy = getattr(importlib.import_module(module), name)(**parameters)
        return strategy
    except (ImportError, AttributeError, ValueError) as error:
        raise InvalidArgument.field("strategy", f"cannot load {path!r}: {error}") from None
    except TypeError as error:
        raise InvalidArgument.field(
            "parameters_json", f"{path} does not take these parameters: {error}"
        ) from None


@dataclass
class _Figures:
    """Running figures: cash, positions, marks, equity statistics, a decimated curve."""

    cash: int = 0
    fees: int = 0
    ordered: int = 0
    filled: int = 0
    fills: int = 0
    events: int = 0
    positions: dict[str, int] = field(default_factory=dict)
    marks: dict[str, Decimal] = field(default_factory=dict)
    market_of: dict[str, str] = field(default_factory=dict)
    market_cash: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    previous: int = 0
    n: int = 0
    # Sums of the per-update equity changes, in integer micro-units: exact, and cheap per event.
    change_sum: int = 0
    change_squares: int = 0
    loss_squares: int = 0
    peak: int = 0
    drawdown: int = 0
    curve: list[int] = field(default_factory=list)
    step: int = 1

    def report(self, report: rpb.Report) -> None:
        e = report.execution
        if e.event == rpb.EXECUTION_EVENT_ORDER_ACCEPTED:
            self.ordered += e.size_micros
        elif e.event == rpb.EXECUTION_EVENT_FILL:
            amount = int(Decimal(e.price) * e.filled_size_micros)
            signed = amount if e.side == rpb.SIDE_SELL else -amount
            self.cash += signed - e.fee_micros
            self.market_cash[e.condition_id] += signed - e.fee_micros
            self.fees += e.fee_micros
            self.filled += e.filled_size_micros
            self.fills += 1
            delta = e.filled_size_micros if e.side == rpb.SIDE_BUY else -e.filled_size_micros
            self.positions[e.token_id] = self.positions.get(e.token_id, 0) + delta
            self.market_of[e.token_id] = e.condition_id

    def book(self, update: BookUpdate) -> None:
        self.events += 1
        if update.best_bid is not None and update.best_ask is not None:
            self.marks[update.token_id] = (update.best_bid + update.best_ask) / 2
        equity = self.equity()
        change = equity - self.previous
        self.previous = equity
        self.n += 1
        self.change_sum += change
        self.change_squares += change * change
        if change < 0:
            self.loss_squares += change * change
        if equity > self.peak:
            self.peak = equity
        elif self.peak - equity > self.drawdown:
            self.drawdown = self.peak - equity
        if self.events % self.step == 0:
            self.curve.append(equity)
            if len(self.curve) >= _CURVE_POINTS:  # keep it bounded: every other point, twice the step
                self.curve, self.step = self.curve[::2], self.step * 2

    def marked(self, token: str) -> int:
        return int(self.marks.get(token, Decimal(0)) * self.positions.get(token, 0))

    def equity(self) -> int:
        return self.cash + sum(self.marked(token) for token in self.positions)

    def result(self) -> pb.BacktestResult:
        n, total = self.n, self.change_sum
        mean = Decimal(total) / n if n else Decimal(0)
        variance = Decimal(self.change_squares * n - total * total) / (n * (n - 1)) if n > 1 else Decimal(0)
        downside = Decimal(self.loss_squares) / n if n else Decimal(0)
        sharpe = mean / variance.sqrt() if variance > 0 else Decimal(0)
        sortino = mean / downside.sqrt() if downside > 0 else Decimal(0)
        per_market = defaultdict(int, self.market_cash)
        for token in self.positions:
            per_market[self.market_of[token]] += self.marked(token)
        return pb.BacktestResult(
            pnl_micros=self.equity(), fee_micros=self.fees, sharpe=f"{sharpe:.4f}", sortino=f"{sortino:.4f}",
            max_drawdown_micros=self.drawdown, fill_ratio=f"{Decimal(self.filled) / self.ordered:.4f}" if self.ordered else "0",
            events=self.events, fills=self.fills, per_market=[f"{m}={p}" for m, p in sorted(per_market.items())],
        )  # fmt: skip


def equity_png(curve: Sequence[int], width: int = 600, height: int = 200) -> bytes:
    """The equity curve as a grayscale PNG (a black line on white), written by hand: zlib and struct."""
    pixels = [[255] * width for _ in range(height)]
    if curve:
        low, high = min(curve), max(curve)
        span = (high - low) or 1
        for x in range(width):
            value = curve[min(len(curve) - 1, x * len(curve) // width)]
            y = height - 1 - (value - low) * (height - 1) // span
            for dy in (-1, 0, 1):
                pixels[max(0, min(height - 1, y + dy))][x] = 0
    raw = b"".join(b"\x00" + bytes(row) for row in pixels)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def report_html(run: pb.Backtest) -> str:
    rows = "".join(f"<tr><th>{html.escape(name)}</th><td>{html.escape(str(a))}</td><td>{html.escape(str(b))}</td></tr>"
                   for name, a, b in _figures(run))  # fmt: skip
    image = base64.b64encode(run.equity_png).decode()
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>Backtest {run.backtest_id}</title></head><body>"
            f"<h1>Backtest {html.escape(run.backtest_id)}</h1><p>{html.escape(run.request.strategy)} over "
            f"{', '.join(map(html.escape, run.request.token_ids))}; inputs {run.input_digest[:16]}…, outputs "
            f"{run.output_digest[:16]}…</p><table><tr><th></th><th>A</th><th>B</th></tr>{rows}</table>"
            f"<img alt='equity curve' src='data:image/png;base64,{image}'></body></html>")  # fmt: skip


def _figures(run: pb.Backtest) -> list[tuple[str, object, object]]:
    a, b = run.result, run.result_b
    has_b = bool(run.request.parameters_b_json)
    return [(name, getattr(a, attr), getattr(b, attr) if has_b else "-") for name, attr in (
        ("P&L (micro-pUSD)", "pnl_micros"), ("fees", "fee_micros"), ("Sharpe", "sharpe"), ("Sortino", "sortino"),
        ("max drawdown", "max_drawdown_micros"), ("fill ratio", "fill_ratio"), ("book updates", "events"),
        ("fills", "fills"))]  # fmt: skip


@dataclass(frozen=True)
class SimulationParts:
    """What the backtester and the paper runner share."""

    engine: Engine
    bus: ReportBus
    clock: Clock
    registry: StrategyRegistry
    packages: Sequence[str]
    """The strategy packages (`strategy_packages`) a request may import from."""
    builder_code: str = ""
    """Tagged on every simulated order, as live (empty: not configured, nothing tagged)."""


class Backtester:
    def __init__(
        self,
        parts: SimulationParts,
        reporter: GovernanceReporter,
        queries: Mapping[str, Callable[..., Awaitable[Any]]],
    ) -> None:
        self._engine, self._bus, self._clock, self._registry = (
            parts.engine,
            parts.bus,
            parts.clock,
            parts.registry,
        )
        self._packages, self._builder_code = parts.packages, parts.builder_code
        self._reporter = reporter
        self._queries = queries
        """The mesh's cross-group reads ("audit.config_at"), looked up when a run needs one."""

    def _inputs(self, request: pb.StartBacktestRequest, ceiling: int) -> Iterator[rpb.Report]:
        """The window's book observations of the tokens and the signal bots' reports, in bus order, up
        to the archive's `ceiling` seq (fixed when the run starts: every pass reads the same data)."""
        start, end = request.window_start.ToDatetime(tzinfo=UTC), request.window_end.ToDatetime(tzinfo=UTC)
        tokens, signals = frozenset(request.token_ids), frozenset(request.signal_bot_slugs)
        kinds = frozenset() if signals else frozenset({rpb.REPORT_KIND_OBSERVATION})
        window = ReportFilter(kinds=kinds, epoch_from=int(f"{start:%Y%m%d}"), epoch_to=int(f"{end:%Y%m%d}"))
        start_us, end_us, after = to_micros(start), to_micros(end), 0
        while True:
            page = self._bus.archive.read_after(after, window, _PAGE)
            for archived in page:
                if archived.seq > ceiling:
                    return
                report = rpb.Report.FromString(archived.payload)
                if not start_us <= report.header.produced_at.ToMicroseconds() < end_us:
                    continue
                if is_book(report, tokens) or report.header.bot_slug in signals:
                    yield report
            if len(page) < _PAGE:
                return
            after = page[-1].seq

    def _inputs_digest(self, request: pb.StartBacktestRequest, ceiling: int) -> str:
        digest = hashlib.sha256()
        for report in self._inputs(request, ceiling):
            digest.update(report.SerializeToString(deterministic=True))
        return digest.hexdigest()

    def _replay(self, request: pb.StartBacktestRequest, parameters: dict[str, object], seed: str, slug: str,
                ceiling: int, loop: asyncio.AbstractEventLoop) -> tuple[_Figures, str]:  # fmt: skip
        """One pass over the inputs with one parameter set, publishing its reports as it goes."""
        strategy = load_strategy(request.strategy, parameters, self._packages)
        figures, digest = _Figures(), hashlib.sha256()
        batch: list[rpb.Report] = []

        def publish() -> None:
            asyncio.run_coroutine_threadsafe(self._bus.publish(list(batch)), loop).result()
            batch.clear()

        def emit(report: rpb.Report) -> None:
            digest.update(report.SerializeToString(deterministic=True))
            figures.report(report)
            batch.append(report)
            if len(batch) >= _PUBLISH_BATCH:
                publish()

        builder = ReportBuilder(
            slug, bot_class="backtest", mode=rpb.MODE_REPLAY, report_ids=seeded_report_ids(seed)
        )
        path = ExecutionPath(strategy, getattr(strategy, "guards", ()), SimulatedPort(market_rules(request)), builder,
                             emit, builder_code=self._builder_code)  # fmt: skip
        books, tokens = BookReplay(), frozenset(request.token_ids)
        for n, report in enumerate(self._inputs(request, ceiling)):
            try:
                if is_book(report, tokens):
                    update = books.apply(report)
                    path.on_book(update)
                    figures.book(update)
                else:
                    path.on_report(report)
            except (ArithmeticError, ValueError, TypeError, KeyError, AttributeError) as error:
                raise FailedPrecondition(f"the strategy failed on input {n} ({report.header.report_id}): "
                                         f"{type(error).__name__}: {error}") from None  # fmt: skip
        if batch:
            publish()
        return figures, digest.hexdigest()

    async def start(self, request: pb.StartBacktestRequest, actor: Principal) -> pb.Backtest:
        violations = []
        if not request.strategy or ":" not in request.strategy:
            violations.append(FieldViolation("strategy", "is required, as package.module:ClassName"))
        if not request.token_ids:
            violations.append(FieldViolation("token_ids", "at least one token is replayed"))
        if not request.HasField("window_start") or not request.HasField("window_end"):
            violations.append(FieldViolation("window_end", "the window needs both ends"))
        elif request.window_end.ToMicroseconds() <= request.window_start.ToMicroseconds():
            violations.append(FieldViolation("window_end", "must be after window_start"))
        parameters = [_parameters(request.parameters_json, "parameters_json")]
        if request.parameters_b_json:
            parameters.append(_parameters(request.parameters_b_json, "parameters_b_json"))
        if violations:
            raise InvalidArgument(violations)
        if request.parameters_from_bot:
            parameters[0] = await self._audited_parameters(request)
        for params in parameters:  # the class and its parameters, checked before any work
            load_strategy(request.strategy, params, self._packages)
        market_rules(request)
        if request.strategy_slug:
            await self._registry.get(request.strategy_slug)  # NOT_FOUND before any work
        ceiling = await asyncio.to_thread(self._bus.archive.last_seq)
        input_digest = await asyncio.to_thread(self._inputs_digest, request, ceiling)
        run = pb.Backtest(backtest_id=new_report_id(), request=request, input_digest=input_digest,
                          ran_at=to_timestamp(self._clock.now()))  # fmt: skip
        results = []
        code = strategy_code_digest(request.strategy)
        loop = asyncio.get_running_loop()
        for params in parameters:
            # everything the reports depend on: the inputs, the strategy's code and its parameters;
            # an identical run repeats its reports exactly, a changed one cannot reuse their ids
            seed = hashlib.sha256(f"{input_digest}|{request.strategy}|{code}|{json.dumps(params, sort_keys=True)}"
                                  f"|{market_rules(request)}".encode()).hexdigest()  # fmt: skip
            slug = f"backtest-{seed[:16]}"
            run.bot_slug = run.bot_slug or slug
            results.append(await asyncio.to_thread(self._replay, request, params, seed, slug, ceiling, loop))
        (figures, run.output_digest), rest = results[0], results[1:]
        run.result.CopyFrom(figures.result())
        if rest:
            run.result_b.CopyFrom(rest[0][0].result())
            run.output_digest_b = rest[0][1]
        run.equity_png = equity_png(figures.curve)
        run.html = report_html(run)
        await asyncio.to_thread(self._save, run)
        r = run.result
        await self._reporter.operations(
            "backtester", "backtest.run", rpb.COMPONENT_STATUS_HEALTHY, rpb.SEVERITY_INFO,
            f"backtest {run.backtest_id} of {request.strategy} over {r.events} book updates: {r.fills} fills, "
            f"P&L {r.pnl_micros} micro-pUSD, inputs {run.input_digest[:16]}, outputs {run.output_digest[:16]}",
            {"backtest_id": run.backtest_id, "input_digest": run.input_digest, "output_digest": run.output_digest,
             "bot_slug": run.bot_slug, "events": str(r.events), "fills": str(r.fills), "pnl_micros": str(r.pnl_micros)},
        )  # fmt: skip
        if request.strategy_slug:
            await self._registry.link_artefact(request.strategy_slug,
                                               pb.Artefact(kind=pb.ARTEFACT_KIND_BACKTEST_RUN, ref=run.backtest_id), actor)  # fmt: skip
        return run

    async def _audited_parameters(self, request: pb.StartBacktestRequest) -> dict[str, object]:
        """The bot's configuration in force at `parameters_at`, from the audit group's history."""
        config_at = self._queries.get("audit.config_at")
        if config_at is None:
            raise FailedPrecondition("parameters_from_bot needs the audit group served in this mesh")
        if not request.HasField("parameters_at"):
            raise InvalidArgument.field("parameters_at", "is required with parameters_from_bot")
        change = await config_at(request.parameters_from_bot, request.parameters_at.ToDatetime(tzinfo=UTC))
        parameters: dict[str, object] = json.loads(change.snapshot_json)
        return parameters

    def _save(self, run: pb.Backtest) -> None:
        with self._engine.begin() as conn:
            conn.execute(backtests.insert(), {"backtest_id": run.backtest_id, "ran_us": run.ran_at.ToMicroseconds(),
                                              "body": run.SerializeToString(deterministic=True)})  # fmt: skip

    async def get(self, backtest_id: str) -> pb.Backtest:
        if not backtest_id:
            raise InvalidArgument.field("backtest_id", "is required")

        def fetch() -> bytes | None:
            with self._engine.connect() as conn:
                return conn.execute(
                    select(backtests.c.body).where(backtests.c.backtest_id == backtest_id)
                ).scalar()

        body = await asyncio.to_thread(fetch)
        if body is None:
            raise NotFound(f"no backtest {backtest_id!r}")
        return pb.Backtest.FromString(body)

    async def list(self, limit: int) -> list[pb.Backtest]:
        query = (
            select(backtests.c.body)
            .order_by(backtests.c.ran_us.desc(), backtests.c.backtest_id.desc())
            .limit(page_size(limit))
        )

        def fetch() -> list[pb.Backtest]:
            with self._engine.connect() as conn:
                runs = [pb.Backtest.FromString(body) for body in conn.execute(query).scalars()]
            for run in runs:
                run.ClearField("equity_png")
                run.ClearField("html")
            return runs

        return await asyncio.to_thread(fetch)

    async def reports(self, backtest_id: str) -> AsyncIterator[rpb.Report]:
        """The run's reports (parameters A), from the archive, in order."""
        slug = (await self.get(backtest_id)).bot_slug
        after = 0
        while True:
            page = await asyncio.to_thread(self._bus.archive.read_after, after,
                                           ReportFilter(bot_slugs=frozenset({slug}), modes=frozenset({rpb.MODE_REPLAY})), _PAGE)  # fmt: skip
            for archived in page:
                yield rpb.Report.FromString(archived.payload)
            if len(page) < _PAGE:
                return
            after = page[-1].seq


def _parameters(text: str, field_name: str) -> dict[str, object]:
    try:
        parameters = json.loads(text or "{}")
    except ValueError:
        parameters = None
    if not isinstance(parameters, dict):
        raise InvalidArgument.field(field_name, "must be a JSON object")
    return parameters
