"""The P&L ledger: a journal of every fill and settlement, the positions it leaves, and its reports.

Fills arrive from the bus (live FILL ExecutionReports, followed from a stored cursor, so a restart
resumes without a gap) or through RecordFill; both are idempotent by report_id. Each booking
writes its journal entry, the position and its SEVEN_YEARS SettlementReport (`pnl.fill`,
`pnl.resolution`, `pnl.conversion`) in one transaction, then publishes the report; one the bus
never took (a crash in between) is published when the ledger next starts. GetPnl sums journal entries, so every group adds up to the total.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections import Counter as Tally
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from typing import Any, Final, TypedDict, cast

import prometheus_client
from sqlalchemy import (
    BigInteger,
    Boolean,
    Engine,
    Index,
    LargeBinary,
    String,
    bindparam,
    case,
    delete,
    func,
    select,
    union_all,
)
from sqlmodel import Field, SQLModel

from polytraders.governance.v1 import ledger_pb2 as pb
from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk.clock import Clock, from_micros, to_micros, to_timestamp
from polytraders.servers.runtime.alerts import Alert, AlertRouter
from polytraders.servers.runtime.archive import ReportFilter
from polytraders.servers.runtime.bus import ReportBus
from polytraders.servers.runtime.errors import FailedPrecondition, FieldViolation, InvalidArgument
from polytraders.servers.runtime.reporter import GovernanceReporter
from polytraders.servers.runtime.request_limits import MAX_MICROS, PRICE
from polytraders.servers.runtime.set_aside import SetAside
from polytraders.servers.runtime.storage import AnyRow, insert_rows, table_of, upsert

from .pnl import Holding, buy, convert, maker_rebate, mark_of, notional, sell, settle, six_places

log = logging.getLogger(__name__)

FOLLOWER = "pnl-reporter"


class PnlEntryRow(SQLModel, table=True):
    __tablename__ = "pnl_entries"
    __table_args__ = (Index("pnl_entries_by_time", "at_us"),)

    entry_id: str = Field(sa_type=String(64), primary_key=True)
    kind: str = Field(sa_type=String(16))
    bot_slug: str = Field(sa_type=String(128))
    condition_id: str = Field(sa_type=String(80))
    token_id: str = Field(sa_type=String(80))
    builder_code: str = Field(sa_type=String(66))
    side: str = Field(sa_type=String(8))
    price: str = Field(sa_type=String(32))
    size_micros: int = Field(sa_type=BigInteger)
    notional_micros: int = Field(sa_type=BigInteger)
    fee_micros: int = Field(sa_type=BigInteger)
    rebate_micros: int = Field(sa_type=BigInteger)
    realised_micros: int = Field(sa_type=BigInteger)
    at_us: int = Field(sa_type=BigInteger)


pnl_entries = table_of(PnlEntryRow)


class UnpublishedPnlReportRow(SQLModel, table=True):
    __tablename__ = "pnl_unpublished"

    # The reports of a booking, written in its transaction and deleted once on the bus; what a
    # crash (or a bus failure) left here is published when the ledger starts.
    report_id: str = Field(sa_type=String(36), primary_key=True)
    booked_at_us: int = Field(sa_type=BigInteger)
    payload: bytes = Field(sa_type=LargeBinary)


pnl_unpublished = table_of(UnpublishedPnlReportRow)


class PnlPositionRow(SQLModel, table=True):
    __tablename__ = "pnl_positions"

    bot_slug: str = Field(sa_type=String(128), primary_key=True)
    token_id: str = Field(sa_type=String(80), primary_key=True)
    condition_id: str = Field(sa_type=String(80))
    size_micros: int = Field(sa_type=BigInteger)
    cost_micros: int = Field(sa_type=BigInteger)
    realised_micros: int = Field(sa_type=BigInteger)
    resolved: bool = Field(sa_type=Boolean)


pnl_positions = table_of(PnlPositionRow)


class PnlMarkRow(SQLModel, table=True):
    __tablename__ = "pnl_marks"

    token_id: str = Field(sa_type=String(80), primary_key=True)
    mark: str = Field(sa_type=String(32))


pnl_marks = table_of(PnlMarkRow)


class PnlTradeRow(SQLModel, table=True):
    __tablename__ = "pnl_trades"

    # One fill (a bot's side of one exchange trade) through its life: MATCHED, MINED, CONFIRMED,
    # RETRYING, FAILED. What is booked for it so far: its fee and rebate after adjustments.
    trade_key: str = Field(sa_type=String(64), primary_key=True)
    bot_slug: str = Field(sa_type=String(128))
    token_id: str = Field(sa_type=String(80))
    status: str = Field(sa_type=String(32))
    fee_micros: int = Field(sa_type=BigInteger)
    rebate_micros: int = Field(sa_type=BigInteger)
    booked: bool = Field(sa_type=Boolean)
    """False for a trade whose first word was FAILED: nothing was ever booked."""
    booked_order: int = Field(sa_type=BigInteger)
    """The order fills were booked in, which a reversal replays."""


pnl_trades = table_of(PnlTradeRow)


class PnlSumRow(SQLModel, table=True):
    __tablename__ = "pnl_sums"

    # The journal summed per group over each UTC day, hour and five minutes, kept in every
    # booking's transaction: GetPnl adds whole days, then whole hours and five-minute spans at a
    # window's ends, and reads journal entries only for the part-spans at its very edges.
    span_us: int = Field(sa_type=BigInteger, primary_key=True)
    """A day, an hour or five minutes, in microseconds."""
    start_us: int = Field(sa_type=BigInteger, primary_key=True)
    bot_slug: str = Field(sa_type=String(128), primary_key=True)
    condition_id: str = Field(sa_type=String(80), primary_key=True)
    builder_code: str = Field(sa_type=String(66), primary_key=True)
    realised_micros: int = Field(sa_type=BigInteger)
    fee_micros: int = Field(sa_type=BigInteger)
    rebate_micros: int = Field(sa_type=BigInteger)
    fills: int = Field(sa_type=BigInteger)
    notional_micros: int = Field(sa_type=BigInteger)
    adjustment_micros: int = Field(sa_type=BigInteger)


pnl_sums = table_of(PnlSumRow)
FIVE_MINUTES_US, HOUR_US, DAY_US = 300_000_000, 3_600_000_000, 86_400_000_000
SPANS = (DAY_US, HOUR_US, FIVE_MINUTES_US)
"""Coarsest first: how GetPnl cuts a window. Five minutes is the finest: at a busy bot's rate a
part-hour at a window's edge is thousands of journal entries, a part of five minutes a few hundred."""
SUMS = ("realised_micros", "fee_micros", "rebate_micros", "fills", "notional_micros", "adjustment_micros")
GROUPS: Final = ("bot_slug", "condition_id", "builder_code")
SUM_KEY = ("span_us", "start_us", *GROUPS)
SumKey = tuple[int, *tuple[str, ...]]
"""A span's start, then its group (GROUPS' values)."""


class Entry(TypedDict):
    """A journal entry, as pnl_entries stores it."""

    entry_id: str
    kind: str
    bot_slug: str
    condition_id: str
    token_id: str
    builder_code: str
    side: str
    price: str
    size_micros: int
    notional_micros: int
    fee_micros: int
    rebate_micros: int
    realised_micros: int
    at_us: int


class Trade(TypedDict):
    """A fill's life so far, as pnl_trades stores it."""

    trade_key: str
    bot_slug: str
    token_id: str
    status: str
    fee_micros: int
    rebate_micros: int
    booked: bool
    booked_order: int


def _entry_sums(entries: Any) -> list[Any]:
    """What journal entries add to each of SUMS, as SQL over the `entries` table."""
    c = entries.c
    return [
        func.coalesce(func.sum(c.realised_micros), 0), func.coalesce(func.sum(c.fee_micros), 0),
        func.coalesce(func.sum(c.rebate_micros), 0),
        func.coalesce(func.sum(case((c.kind == "fill", 1), (c.kind == "reversal", -1), else_=0)), 0),
        func.coalesce(func.sum(case((c.kind.in_(TRADES_COUNTED), c.notional_micros), else_=0)), 0),
        func.coalesce(func.sum(case((c.kind.in_(ADJUSTMENTS), c.rebate_micros - c.fee_micros), else_=0)), 0),
    ]  # fmt: skip


def summed(entries: Sequence[Entry]) -> list[dict[str, object]]:
    """Fresh journal entries summed per group and span: the pnl_sums rows to add. The entries are
    summed once, into the finest span; each coarser span adds up the finer one's few rows."""
    finest = SPANS[-1]
    level: dict[SumKey, list[int]] = {}
    for e in entries:
        kind, fee, rebate = e["kind"], int(e["fee_micros"]), int(e["rebate_micros"])
        adds = (int(e["realised_micros"]), fee, rebate, TRADES_COUNTED.get(str(kind), 0),
                int(e["notional_micros"]) if kind in TRADES_COUNTED else 0,
                rebate - fee if kind in ADJUSTMENTS else 0)  # fmt: skip
        _add(level, (int(e["at_us"]) // finest * finest, *(e[g] for g in GROUPS)), adds)
    rows: list[dict[str, object]] = []
    for span in reversed(SPANS):
        if span != finest:
            finer, level = level, {}
            for (start, *group), sums in finer.items():
                _add(level, (start // span * span, *group), sums)
        rows += ({"span_us": span, "start_us": start, **dict(zip(GROUPS, group, strict=True)),
                  **dict(zip(SUMS, sums, strict=True))} for (start, *group), sums in level.items())  # fmt: skip
    return rows


def _add(sums: dict[SumKey, list[int]], key: SumKey, adds: Sequence[int]) -> None:
    found = sums.get(key)
    if found is None:
        sums[key] = list(adds)
    else:
        for i, add in enumerate(adds):
            found[i] += add


Piece = tuple[int | None, int | None, int | None]


def _piece_query(columns: tuple[str, ...], piece: int, from_journal: bool, bounded_below: bool, bounded_above: bool) -> Any:
    """The sums of one piece of a window, grouped by `columns`; its bounds are bound parameters
    named after the piece (`span_<piece>`, `low_<piece>`, `high_<piece>`)."""
    if from_journal:  # a partial hour: the journal itself
        table, at = pnl_entries, pnl_entries.c.at_us
        sums = _entry_sums(table)
    else:
        table, at = pnl_sums, pnl_sums.c.start_us
        sums = [func.coalesce(func.sum(table.c[n]), 0) for n in SUMS]
    query = select(*(table.c[c] for c in columns), *(s.label(n) for s, n in zip(sums, SUMS, strict=True)),
                   func.count().label("entries"))  # fmt: skip
    if not from_journal:
        query = query.where(table.c.span_us == bindparam(f"span_{piece}"))
    if bounded_below:
        query = query.where(at >= bindparam(f"low_{piece}"))
    if bounded_above:
        query = query.where(at < bindparam(f"high_{piece}"))
    return query.group_by(*(table.c[c] for c in columns))


@cache
def _window_query(columns: tuple[str, ...], shapes: tuple[tuple[bool, bool, bool], ...]) -> Any:
    """A window's sums by `columns`: its pieces added up by the database in one statement (one
    round trip, one row per group), built once per shape of window so each GetPnl only binds its bounds."""
    pieces = union_all(*(_piece_query(columns, i, *shape) for i, shape in enumerate(shapes))).subquery()
    return select(*(pieces.c[c] for c in columns), *(func.sum(pieces.c[n]) for n in (*SUMS, "entries"))).group_by(
        *(pieces.c[c] for c in columns)
    )


def _window_bounds(pieces: list[Piece]) -> dict[str, int]:
    """The bound parameters of `_window_query` for these pieces."""
    bounds: dict[str, int] = {}
    for i, (span, low, high) in enumerate(pieces):
        bounds |= {f"{name}_{i}": value for name, value in (("span", span), ("low", low), ("high", high))
                   if value is not None}  # fmt: skip
    return bounds


def window_pieces(low: int | None, high: int | None, spans: tuple[int, ...] = SPANS) -> list[Piece]:
    """[low, high) (None: unbounded) cut into (span, start, end): whole days, whole finer spans at
    the ends, and (span None) the part-spans at the very edges, which only the journal holds."""
    for i, span in enumerate(spans):
        first = None if low is None else -(-low // span) * span
        last = None if high is None else high // span * span
        if first is not None and last is not None and first >= last:
            continue  # no whole span of this size inside: the next finer one
        pieces: list[Piece] = [(span, first, last)]
        if low is not None and first is not None and low < first:
            pieces += window_pieces(low, first, spans[i + 1 :])
        if high is not None and last is not None and last < high:
            pieces += window_pieces(last, high, spans[i + 1 :])
        return pieces
    return [(None, low, high)]


class PnlRejectedFillRow(SQLModel, table=True):
    __tablename__ = "pnl_rejected_fills"
    __table_args__ = (Index("pnl_rejected_fills_by_time", "rejected_at_us"),)

    # A FILL from the bus the ledger could not book (an oversell, a price off the grid...): kept
    # with the reason, so an operator can list what the books are missing.
    report_id: str = Field(sa_type=String(36), primary_key=True)
    bot_slug: str = Field(sa_type=String(128))
    trade_id: str = Field(sa_type=String(128))
    field_path: str = Field(sa_type=String(256))
    reason: str = Field(sa_type=String(1024))
    rejected_at_us: int = Field(sa_type=BigInteger)


pnl_rejected_fills = table_of(PnlRejectedFillRow)


class FollowerCursorRow(SQLModel, table=True):
    __tablename__ = "ledger_cursor"

    follower: str = Field(sa_type=String(32), primary_key=True)
    seq: int = Field(sa_type=BigInteger)


ledger_cursor = table_of(FollowerCursorRow)

# Built once: building a statement cost more than running it for a batch of a few fills.
_TRADES_BY_KEY = select(pnl_trades).where(pnl_trades.c.trade_key.in_(bindparam("keys", expanding=True)))
_ENTRIES_STORED = select(pnl_entries.c.entry_id).where(pnl_entries.c.entry_id.in_(bindparam("ids", expanding=True)))
_FORGET_PUBLISHED = delete(pnl_unpublished).where(pnl_unpublished.c.report_id.in_(bindparam("ids", expanding=True)))

SIDES = {rpb.SIDE_BUY: "BUY", rpb.SIDE_SELL: "SELL"}
DIMENSIONS = {pb.PNL_DIMENSION_BOT: "bot_slug", pb.PNL_DIMENSION_MARKET: "condition_id",
              pb.PNL_DIMENSION_BUILDER: "builder_code"}  # fmt: skip


@dataclass(frozen=True)
class RebateShares:
    default: Decimal
    by_market: Mapping[str, Decimal]

    def of(self, condition_id: str) -> Decimal:
        return self.by_market.get(condition_id, self.default)


@dataclass(frozen=True)
class Booked:
    holding: Holding
    realised: int
    entry: Entry


def _fill_violations(report: rpb.Report) -> list[FieldViolation]:
    where = "report.execution"
    e = report.execution
    problems = []
    if not report.HasField("execution") or e.event != rpb.EXECUTION_EVENT_FILL:
        return [FieldViolation(f"{where}.event", "must be a FILL ExecutionReport")]
    if not report.header.report_id:
        problems.append(FieldViolation("report.header.report_id", "is required"))
    if not report.header.bot_slug:
        problems.append(FieldViolation("report.header.bot_slug", "is required"))
    if e.side not in SIDES:
        problems.append(FieldViolation(f"{where}.side", "must be BUY or SELL"))
    if not e.token_id or not e.condition_id:
        problems.append(FieldViolation(f"{where}.token_id", "token and condition ids are required"))
    try:
        price = Decimal(e.price)
        if not price.is_finite() or PRICE.problem(e.price):
            raise ValueError
    except (ArithmeticError, ValueError):
        problems.append(FieldViolation(f"{where}.price", "must be a decimal string"))
    else:
        problems += _grid_violations(e, price)
    if not 0 < e.filled_size_micros <= MAX_MICROS:
        problems.append(FieldViolation(f"{where}.filled_size_micros",
                                       f"must be positive (how much this fill filled), at most {MAX_MICROS}"))  # fmt: skip
    if not (0 <= e.fee_micros <= MAX_MICROS and 0 <= e.rebate_micros <= MAX_MICROS):
        problems.append(FieldViolation(f"{where}.fee_micros",
                                       f"fees and rebates are never negative, at most {MAX_MICROS}"))  # fmt: skip
    if report.header.mode != rpb.MODE_LIVE:
        problems.append(
            FieldViolation(
                "report.header.mode", "only LIVE fills move pUSD; paper and replay keep their own books"
            )
        )
    if not e.trade_id:
        problems.append(FieldViolation(f"{where}.trade_id", "is required: a fill is the exchange's trade, keyed by "
                                                            "its id from MATCHED to CONFIRMED or FAILED"))  # fmt: skip
    if trade_status(e) not in STATUSES:
        problems.append(FieldViolation(f"{where}.trade_status", f"must be one of {', '.join(STATUSES)}"))
    if e.rebate_micros and e.liquidity != rpb.LIQUIDITY_MAKER:
        problems.append(FieldViolation(f"{where}.rebate_micros", "only a MAKER fill earns a rebate"))
    taker_fee = e.metrics.get("taker_fee_micros", "0")
    if not (taker_fee.isascii() and taker_fee.isdigit() and len(taker_fee) <= 19
            and int(taker_fee) <= MAX_MICROS):  # fmt: skip
        problems.append(FieldViolation(f"{where}.metrics",
                                       f"taker_fee_micros must be a non-negative integer, at most {MAX_MICROS}"))  # fmt: skip
    for name, width in _WIDTHS.items():
        owner = report.header if name in ("bot_slug", "report_id") else e
        if len(getattr(owner, name)) > width:
            problems.append(FieldViolation(f"{where}.{name}", f"is longer than {width} characters"))
    return problems


FINEST_TICK = Decimal("0.0001")
"""The CLOB's finest tick size (markets trade on 0.1, 0.01, 0.005, 0.0025, 0.001 or 0.0001)."""
STATUSES = ("MATCHED", "MINED", "CONFIRMED", "RETRYING", "FAILED")
FAILED = "FAILED"


def trade_status(e: rpb.ExecutionReport) -> str:
    """The exchange's status without REST's TRADE_STATUS_ prefix; a fill that names none was MATCHED."""
    status = e.trade_status.upper().removeprefix("TRADE_STATUS_")
    return "MATCHED" if status in ("", "MATCHED_NOT_BROADCASTED") else status


def _grid_violations(e: rpb.ExecutionReport, price: Decimal) -> list[FieldViolation]:
    """A price on its market's grid: the tick the fill reports (metrics tick_size), else the finest."""
    where = "report.execution"
    try:
        tick = Decimal(e.metrics.get("tick_size") or FINEST_TICK)
        if not (tick.is_finite() and 0 < tick < 1):
            raise ValueError
    except (ArithmeticError, ValueError):
        return [FieldViolation(f"{where}.metrics", "tick_size must be a decimal in (0, 1)")]
    if not (tick <= price <= 1 - tick) or price % tick:
        return [FieldViolation(f"{where}.price", f"must lie in [{tick}, {1 - tick}] on the market's grid of {tick}")]
    return []


def normalised(report: rpb.Report) -> rpb.Report:
    """Hex identifiers in one case, once, at the edge: the same market is the same key everywhere."""
    copy = rpb.Report()
    copy.CopyFrom(report)
    e = copy.execution
    e.condition_id, e.builder_code = e.condition_id.lower(), e.builder_code.lower()
    if e.token_id[:2].lower() == "0x":
        e.token_id = e.token_id.lower()
    return copy


_WIDTHS = {"price": 32, "builder_code": 66, "token_id": 80, "condition_id": 80, "trade_id": 128, "order_id": 128,
           "bot_slug": 128, "report_id": 36}  # fmt: skip


def fill_entry_id(report: rpb.Report) -> str:
    """One key per bot, trade, side and order: every status of the same fill is the same trade."""
    e = report.execution
    return journal_key(f"fill:{report.header.bot_slug}:{e.trade_id}:{e.liquidity}:{e.order_id}")


_URL_NAMESPACE = uuid.NAMESPACE_URL.bytes


def journal_key(name: str) -> str:
    """A journal entry's id: `str(uuid.uuid5(uuid.NAMESPACE_URL, name))`, written from the SHA-1
    digest, without building the UUID object that `uuid.uuid5` builds only to print it."""
    h = hashlib.sha1(_URL_NAMESPACE + name.encode(), usedforsecurity=False).hexdigest()
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:32]}"


TRADES_COUNTED = {"fill": 1, "reversal": -1}
ADJUSTMENTS = frozenset({"adjustment", "rebate_payout"})
BATCH = 2000
"""The most fills booked in one transaction."""
RANK = {"MATCHED": 0, "MINED": 1, "RETRYING": 1, "CONFIRMED": 2, FAILED: 3}
"""How far along its life a status is: a redelivered earlier status changes nothing."""


@dataclass
class Change:
    """What one fill report does to the books: entries (with the holdings they leave), the
    trade's new state, and the reports that say so."""

    kind: str = ""
    booked: list[Booked] = field(default_factory=list)
    trades: list[Trade] = field(default_factory=list)
    explanation: str = ""


@dataclass
class Taken:
    """One fill report's part of a batch: what it left, and (once committed) its report."""

    holding: Holding
    booked: Booked | None
    kind: str
    fill: rpb.Report = field(default_factory=rpb.Report)
    why: str = ""
    report_id: str = ""

    @property
    def new(self) -> bool:
        """Whether this report booked something (not a redelivery or a status that changes nothing)."""
        return self.booked is not None and bool(self.report_id)

    def response(self, position: pb.Position) -> pb.RecordFillResponse:
        if self.booked is None or not self.report_id:
            return pb.RecordFillResponse(booked=False, position=position)
        return pb.RecordFillResponse(position=position, realised_pnl_micros=self.booked.realised,
                                     settlement_report_id=self.report_id, booked=True)  # fmt: skip


Outcome = Taken | Exception


@dataclass
class Pending:
    """A batch not yet committed: its entries, the trades' and holdings' new state, marks."""

    next_order: int
    booked: list[Booked] = field(default_factory=list)
    by_entry: dict[str, Taken] = field(default_factory=dict)
    trades: dict[str, Trade] = field(default_factory=dict)
    holdings: dict[tuple[str, str], Holding] = field(default_factory=dict)
    marks: dict[str, Decimal] = field(default_factory=dict)
    rejected: list[dict[str, object]] = field(default_factory=list)

    def holding(self, key: tuple[str, str], stored: Mapping[tuple[str, str], Holding]) -> Holding | None:
        return self.holdings.get(key) or stored.get(key)

    def take(self, fill: rpb.Report, change: Change, stored: Mapping[tuple[str, str], Holding]) -> Taken:
        for trade in change.trades:
            self.trades[str(trade["trade_key"])] = trade
        e = fill.execution
        key = (fill.header.bot_slug, e.token_id)
        taken = Taken(Holding(fill.header.bot_slug, e.condition_id, e.token_id), None, change.kind, fill, change.explanation)
        for booked in change.booked:
            self.booked.append(booked)
            self.holdings[key] = booked.holding
            self.by_entry[str(booked.entry["entry_id"])] = taken
            taken.booked = booked
            if change.kind == "fill":
                self.next_order += 1
        taken.holding = self.holding(key, stored) or taken.holding
        return taken

    def clear(self) -> None:
        self.booked, self.by_entry, self.trades, self.holdings, self.marks, self.rejected = [], {}, {}, {}, {}, []


class PnLLedger:
    def __init__(
        self,
        engine: Engine,
        bus: ReportBus,
        clock: Clock,
        reporter: GovernanceReporter,
        shares: RebateShares,
        alerts: AlertRouter | None = None,
        fills: prometheus_client.Counter | None = None,
    ) -> None:
        self._alerts = alerts
        self._fills = fills
        """Fills taken, by outcome (booked, duplicate, refused): a Prometheus counter."""
        self._engine = engine
        self._bus = bus
        self._clock = clock
        self._reporter = reporter
        self._shares = shares
        self._lock = asyncio.Lock()
        self._holdings: dict[tuple[str, str], Holding] | None = None
        self._marks: dict[str, Decimal] = {}
        self._next_order = 1
        self._waiting: list[tuple[rpb.Report, asyncio.Future[pb.RecordFillResponse]]] = []
        self._booking: asyncio.Future[None] | None = None

    def _load(self) -> None:
        with self._engine.connect() as conn:
            self._holdings = {
                (r.bot_slug, r.token_id): Holding(
                    r.bot_slug,
                    r.condition_id,
                    r.token_id,
                    r.size_micros,
                    r.cost_micros,
                    r.realised_micros,
                    r.resolved,
                )  # fmt: skip
                for r in conn.execute(select(pnl_positions))
            }
            self._marks = {r.token_id: Decimal(r.mark) for r in conn.execute(select(pnl_marks))}
            self._next_order = (conn.execute(select(func.max(pnl_trades.c.booked_order))).scalar() or 0) + 1

    async def _ready(self) -> dict[tuple[str, str], Holding]:
        if self._holdings is None:
            await asyncio.to_thread(self._load)
            with self._engine.connect() as conn:
                leftovers = conn.execute(
                    select(pnl_unpublished.c.payload).order_by(pnl_unpublished.c.booked_at_us)
                ).scalars()
                await self._publish_booked([rpb.Report.FromString(payload) for payload in leftovers])
        return self._loaded

    @property
    def _loaded(self) -> dict[tuple[str, str], Holding]:
        """The holdings, which `_ready` reads before anything is booked."""
        assert self._holdings is not None
        return self._holdings

    async def _publish_booked(self, reports: Sequence[rpb.Report]) -> None:
        """Put a booking's reports on the bus, then forget them (a retry after a crash is a duplicate)."""
        if not reports:
            return
        await self._bus.publish(reports)

        def forget() -> None:
            with self._engine.begin() as conn:
                ids = [r.header.report_id for r in reports]
                conn.execute(_FORGET_PUBLISHED, {"ids": ids})

        await asyncio.to_thread(forget)

    def _book(self, report: rpb.Report, trade_key: str, pending: Pending) -> Booked:
        """The journal entry and new holding of a fill's first status; raises and changes nothing."""
        e, header = report.execution, report.header
        key = (header.bot_slug, e.token_id)
        holding = pending.holding(key, self._loaded) or Holding(header.bot_slug, e.condition_id, e.token_id)
        price, size = Decimal(e.price), e.filled_size_micros
        if holding.resolved:
            raise InvalidArgument.field("report.execution.token_id", f"token {e.token_id} already resolved")
        if e.side == rpb.SIDE_BUY:
            holding, realised = buy(holding, price, size)
        else:
            holding, realised = sell(holding, price, size, "report.execution.filled_size_micros")
        matched = e.matched_at if e.HasField("matched_at") else header.produced_at
        entry: Entry = {
            "entry_id": trade_key, "kind": "fill", "bot_slug": header.bot_slug, "condition_id": e.condition_id,
            "token_id": e.token_id, "builder_code": e.builder_code, "side": SIDES[e.side], "price": str(price),
            "size_micros": size, "notional_micros": notional(price, size), "fee_micros": e.fee_micros,
            "rebate_micros": self._rebate(e), "realised_micros": realised, "at_us": matched.ToMicroseconds(),
        }  # fmt: skip
        return Booked(holding, realised, entry)

    def _rebate(self, e: rpb.ExecutionReport) -> int:
        taker_fee = int(e.metrics.get("taker_fee_micros", "0") or 0)
        return maker_rebate(e.rebate_micros, e.liquidity == rpb.LIQUIDITY_MAKER, taker_fee, self._shares.of(e.condition_id))

    def _trades(self, keys: set[str]) -> dict[str, Trade]:
        with self._engine.connect() as conn:
            rows = conn.execute(_TRADES_BY_KEY, {"keys": list(keys)}).mappings()
            return {row["trade_key"]: cast(Trade, dict(row)) for row in rows}  # pnl_trades' columns

    def _first_status(self, report: rpb.Report, key: str, status: str, pending: Pending) -> Change:
        e = report.execution
        trade: Trade = {"trade_key": key, "bot_slug": report.header.bot_slug, "token_id": e.token_id, "status": status,
                 "fee_micros": 0, "rebate_micros": 0, "booked": status != FAILED, "booked_order": pending.next_order}  # fmt: skip
        if status == FAILED:  # failed before it was ever booked: remembered, so no later word books it
            return Change(trades=[trade])
        booked = self._book(report, key, pending)
        trade.update(
            {"fee_micros": booked.entry["fee_micros"], "rebate_micros": booked.entry["rebate_micros"]}
        )
        return Change("fill", [booked], [trade])

    def _later_status(self, report: rpb.Report, trade: Trade, status: str, pending: Pending) -> Change:
        """A later word on a booked trade: a changed fee or rebate is adjusted, FAILED reverses it,
        a redelivery or an earlier status changes nothing."""
        if trade["status"] == FAILED or RANK[status] < RANK[str(trade["status"])]:
            return Change()
        if status == FAILED:
            return self._reversal(report, trade) if trade["booked"] else Change()
        e = report.execution
        fee, rebate = e.fee_micros, self._rebate(e)
        updated: Trade = {**trade, "status": status, "fee_micros": fee, "rebate_micros": rebate}
        if (fee, rebate) == (trade["fee_micros"], trade["rebate_micros"]):
            return Change(trades=[updated]) if status != trade["status"] else Change()
        holding = pending.holding((report.header.bot_slug, e.token_id), self._loaded)
        assert holding is not None  # a booked trade's holding
        fee_delta, rebate_delta = fee - int(trade["fee_micros"]), rebate - int(trade["rebate_micros"])
        entry: Entry = {
            "entry_id": journal_key(f"adjust:{trade['trade_key']}:{status}:{fee}:{rebate}"),
            "kind": "adjustment", "bot_slug": holding.bot_slug, "condition_id": holding.condition_id,
            "token_id": holding.token_id, "builder_code": e.builder_code, "side": SIDES[e.side], "price": e.price,
            "size_micros": 0, "notional_micros": 0, "fee_micros": fee_delta, "rebate_micros": rebate_delta,
            "realised_micros": 0, "at_us": to_micros(self._clock.now()),
        }  # fmt: skip
        why = (f"trade {e.trade_id} is {status}: its fee is now {six_places(fee)} pUSD and its rebate "
               f"{six_places(rebate)} (booked {six_places(int(trade['fee_micros']))} and "
               f"{six_places(int(trade['rebate_micros']))})")  # fmt: skip
        return Change("adjustment", [Booked(holding, 0, entry)], [updated], why)

    def _reversal(self, report: rpb.Report, trade: Trade) -> Change:
        """A FAILED trade never happened: the holding is what the bot's other fills of the token
        leave, replayed in booking order, and everything the trade booked is taken back."""
        e, bot = report.execution, report.header.bot_slug
        with self._engine.connect() as conn:
            kinds = set(conn.execute(select(pnl_entries.c.kind).where(
                pnl_entries.c.bot_slug == bot, pnl_entries.c.token_id == e.token_id)).scalars())  # fmt: skip
            if kinds - {"fill", "adjustment", "reversal"}:
                raise FailedPrecondition(
                    f"report.execution.trade_status: trade {e.trade_id} FAILED after {bot}'s position in token "
                    f"{e.token_id} was resolved or converted; an operator must correct the books"
                )
            rows = conn.execute(
                select(pnl_entries, pnl_trades.c.status)
                .join(pnl_trades, pnl_trades.c.trade_key == pnl_entries.c.entry_id)
                .where(pnl_entries.c.bot_slug == bot, pnl_entries.c.token_id == e.token_id)
                .order_by(pnl_trades.c.booked_order)
            ).mappings().all()
        original = next(r for r in rows if r["entry_id"] == trade["trade_key"])
        held = self._loaded[(bot, e.token_id)]
        replayed = Holding(bot, held.condition_id, e.token_id)
        for row in rows:
            if row["entry_id"] == trade["trade_key"] or row["status"] == FAILED:
                continue
            price, size = Decimal(row["price"]), row["size_micros"]
            try:
                replayed = (buy(replayed, price, size) if row["side"] == "BUY" else
                            sell(replayed, price, size, "report.execution.filled_size_micros"))[0]  # fmt: skip
            except InvalidArgument:
                raise FailedPrecondition(
                    f"report.execution.trade_status: without trade {e.trade_id}, {bot} would have sold token "
                    f"{e.token_id} it never held; an operator must correct the books"
                ) from None
        realised = replayed.realised_micros - held.realised_micros
        entry: Entry = {
            "entry_id": journal_key(f"reverse:{trade['trade_key']}"), "kind": "reversal",
            "bot_slug": bot, "condition_id": held.condition_id, "token_id": e.token_id,
            "builder_code": original["builder_code"], "side": original["side"], "price": original["price"],
            "size_micros": original["size_micros"], "notional_micros": -original["notional_micros"],
            "fee_micros": -int(trade["fee_micros"]), "rebate_micros": -int(trade["rebate_micros"]),
            "realised_micros": realised, "at_us": to_micros(self._clock.now()),
        }  # fmt: skip
        why = (f"trade {e.trade_id} FAILED on chain: its {str(original['side']).lower()} of "
               f"{six_places(original['size_micros'])} at {original['price']} is reversed with its fee and rebate")
        return Change("reversal", [Booked(replayed, realised, entry)], [{**trade, "status": FAILED}], why)

    def _commit(
        self,
        booked: Sequence[Booked],
        cursor: int | None,
        reports_of: Callable[[list[Booked]], list[rpb.Report]] = lambda fresh: [],
        trades: Sequence[Mapping[str, object]] = (),
        marks: Mapping[str, Decimal] | None = None,
        rejected: Sequence[Mapping[str, object]] = (),
    ) -> tuple[list[Booked], list[rpb.Report]]:
        """Journal entries, positions, the trades' state, marks, refused fills, their reports (to
        publish) and the bus cursor in one transaction; returns what was new and its reports."""
        with self._engine.begin() as conn:
            if marks:
                upsert(conn, pnl_marks, [{"token_id": t, "mark": str(m)} for t, m in marks.items()], ["token_id"])
            if rejected:
                upsert(conn, pnl_rejected_fills, list(rejected), ["report_id"], replace=False)
            ids = [b.entry["entry_id"] for b in booked]
            known = set(conn.execute(_ENTRIES_STORED, {"ids": ids}).scalars())
            fresh = [b for b in booked if b.entry["entry_id"] not in known]
            reports = reports_of(fresh) if fresh else []
            if fresh:
                insert_rows(conn, pnl_entries, [b.entry for b in fresh])
                upsert(conn, pnl_sums, summed([b.entry for b in fresh]), SUM_KEY, add=SUMS)
                last = {(b.holding.bot_slug, b.holding.token_id): b.holding for b in fresh}  # one row per position
                upsert(conn, pnl_positions, [_position_row(h) for h in last.values()], ["bot_slug", "token_id"])
            if reports:
                at = to_micros(self._clock.now())
                insert_rows(conn, pnl_unpublished, [
                    {"report_id": r.header.report_id, "booked_at_us": at, "payload": r.SerializeToString(deterministic=True)}
                    for r in reports
                ])  # fmt: skip
            if trades and (fresh or not booked):
                upsert(conn, pnl_trades, list(trades), ["trade_key"])
            if cursor is not None:
                upsert(conn, ledger_cursor, [{"follower": "pnl", "seq": cursor}], ["follower"])
        return fresh, reports

    async def record_fill(self, report: rpb.Report) -> pb.RecordFillResponse:
        """Any status of a fill: the first books it, later ones adjust or reverse it, a
        redelivery changes nothing. Calls that arrive together are booked together (one
        transaction, one publish), each answered as if alone."""
        future: asyncio.Future[pb.RecordFillResponse] = asyncio.get_running_loop().create_future()
        self._waiting.append((report, future))
        if self._booking is None or self._booking.done():
            self._booking = asyncio.ensure_future(self._book_waiting())
        return await future

    async def _book_waiting(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[:BATCH], self._waiting[BATCH:]
            try:
                outcomes = await self.book([report for report, _ in batch])
            except Exception as error:  # noqa: BLE001 - every caller of the batch hears of it
                outcomes = [error] * len(batch)
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if future.done():
                    continue
                if isinstance(outcome, BaseException):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome.response(self.position(outcome.holding)))

    async def book(
        self, reports: Sequence[rpb.Report], cursor: int | None = None, *, keep_refused: bool = False
    ) -> list[Outcome]:
        """Book fills (and take the marks of observations) in order, in one transaction with the
        bus `cursor`; what each report did, or the refusal that booked nothing of it (with
        `keep_refused`, also stored in that transaction for ListRejectedFills)."""
        async with self._lock:
            await self._ready()
            outcomes, reports_out = await asyncio.to_thread(self._book_batch, reports, cursor, keep_refused)
        await self._publish_booked(reports_out)
        if self._fills is not None:
            taken = Tally("refused" if isinstance(o, BaseException) else "booked" if o.new else "duplicate"
                          for r, o in zip(reports, outcomes, strict=True) if r.HasField("execution"))  # fmt: skip
            for outcome, count in taken.items():
                self._fills.labels(outcome).inc(count)
        return outcomes

    def _book_batch(
        self, reports: Sequence[rpb.Report], cursor: int | None, keep_refused: bool = False
    ) -> tuple[list[Any], list[rpb.Report]]:
        outcomes: list[Any] = [None] * len(reports)
        fills: list[tuple[int, rpb.Report]] = []
        pending = Pending(self._next_order)
        for i, report in enumerate(reports):
            if report.HasField("observation"):
                o = report.observation
                try:
                    self._marks[o.token_id] = pending.marks[o.token_id] = mark_of(o.best_bid, o.best_ask, o.last_trade_price)
                except InvalidArgument as error:
                    outcomes[i] = error
                continue
            problems = _fill_violations(report)
            if problems:
                outcomes[i] = InvalidArgument(problems)
                if keep_refused:
                    pending.rejected.append(self._rejection(report, outcomes[i]))
            else:
                fills.append((i, normalised(report)))
        keys = {i: fill_entry_id(report) for i, report in fills}
        stored = self._trades(set(keys.values()))
        published: list[rpb.Report] = []
        for i, report in fills:
            key, status = keys[i], trade_status(report.execution)
            trade = pending.trades.get(key) or stored.get(key)
            try:
                if trade is None:
                    change = self._first_status(report, key, status, pending)
                else:
                    if status == FAILED and trade["booked"] and trade["status"] != FAILED:
                        published += self._flush(pending, None)  # a reversal replays what is stored
                    change = self._later_status(report, trade, status, pending)
            except (InvalidArgument, FailedPrecondition) as error:
                outcomes[i] = error
                if keep_refused:
                    pending.rejected.append(self._rejection(report, error))
                continue
            outcomes[i] = pending.take(report, change, self._loaded)
        published += self._flush(pending, cursor)
        for i, outcome in enumerate(outcomes):
            if outcome is None:  # an observation
                outcomes[i] = Taken(Holding("", "", ""), None, "")
        return outcomes, published

    def _flush(self, pending: Pending, cursor: int | None) -> list[rpb.Report]:
        """Commit what `pending` holds; its holdings become the ledger's."""
        made: dict[str, rpb.Report] = {}

        def reports_of(fresh: list[Booked]) -> list[rpb.Report]:
            for booked in fresh:
                taken = pending.by_entry[str(booked.entry["entry_id"])]
                made[str(booked.entry["entry_id"])] = self._fill_report(booked, taken.fill, taken.kind, taken.why)
            return list(made.values())

        fresh, reports = self._commit(pending.booked, cursor, reports_of, list(pending.trades.values()),
                                      pending.marks, pending.rejected)  # fmt: skip
        self._loaded.update(pending.holdings)
        self._next_order = pending.next_order
        for entry_id, taken in pending.by_entry.items():
            taken.report_id = made[entry_id].header.report_id if entry_id in made else ""
        pending.clear()
        return reports

    def _fill_report(self, booked: Booked, fill: rpb.Report, kind: str = "fill", why: str = "") -> rpb.Report:
        """`pnl.fill`, `pnl.adjustment` or `pnl.reversal`: the cash it moved and the position it left."""
        e, holding = booked.entry, booked.holding
        fee, rebate, size = int(e["fee_micros"]), int(e["rebate_micros"]), int(e["size_micros"])
        amount = int(e["notional_micros"])
        cash = (amount if e["side"] == "SELL" else -amount) - fee + rebate
        mark = self._marks.get(holding.token_id)
        average = (
            (Decimal(holding.cost_micros) / holding.size_micros).quantize(Decimal("0.000001"))
            if holding.size_micros
            else Decimal(0)
        )
        what = why or (f"{holding.bot_slug} {str(e['side']).lower()}s {six_places(size)} of token "
                       f"{holding.token_id} at {e['price']}")  # fmt: skip
        explanation = (f"{what}: realised {six_places(booked.realised)} pUSD, fee {six_places(fee)}, "
                       f"rebate {six_places(rebate)}, cash {six_places(cash)}; now holds "
                       f"{six_places(holding.size_micros)} at an average cost of {average}")  # fmt: skip
        return self._reporter.builder.settlement(
            trace_id=fill.header.trace_id, causation_id=fill.header.report_id, record_type=f"pnl.{kind}",
            subject=holding.bot_slug, condition_id=holding.condition_id, token_id=holding.token_id,
            realised_pnl_micros=booked.realised, unrealised_pnl_micros=holding.unrealised(mark), gross_fee_micros=fee,
            rebate_micros=rebate, position_micros=holding.size_micros, cash_delta_micros=cash, explanation=explanation,
            metrics={"average_cost": str(average), "builder_code": str(e["builder_code"]), "mark": str(mark or "")},
        )  # fmt: skip

    async def record_mark(self, token_id: str, best_bid: str, best_ask: str, last_trade: str) -> Decimal:
        if not token_id:
            raise InvalidArgument.field("token_id", "is required")
        mark = mark_of(best_bid, best_ask, last_trade)
        async with self._lock:
            await self._ready()
            self._marks[token_id] = mark
            await asyncio.to_thread(self._save_mark, token_id, mark)
        return mark

    def _save_mark(self, token_id: str, mark: Decimal) -> None:
        with self._engine.begin() as conn:
            upsert(conn, pnl_marks, [{"token_id": token_id, "mark": str(mark)}], ["token_id"])

    async def record_resolution(
        self, condition_id: str, winner: str, tokens: Sequence[str]
    ) -> list[pb.Position]:
        violations = []
        if not condition_id:
            violations.append(FieldViolation("condition_id", "is required"))
        if not winner or winner not in tokens:
            violations.append(FieldViolation("winning_token_id", "must be one of token_ids"))
        if violations:
            raise InvalidArgument(violations)
        at = to_micros(self._clock.now())
        async with self._lock:
            holdings = await self._ready()
            settled = []
            for _, holding in sorted(holdings.items()):
                if holding.token_id in tokens and not holding.resolved:
                    payout = Decimal(1 if holding.token_id == winner else 0)
                    after, realised = settle(holding, payout)
                    entry: Entry = {"entry_id": journal_key(f"resolution:{condition_id}:{holding.bot_slug}:{holding.token_id}"),
                             "kind": "resolution", "bot_slug": holding.bot_slug, "condition_id": holding.condition_id,
                             "token_id": holding.token_id, "builder_code": "", "side": "SETTLE", "price": str(payout),
                             "size_micros": holding.size_micros, "notional_micros": notional(payout, holding.size_micros),
                             "fee_micros": 0, "rebate_micros": 0, "realised_micros": realised, "at_us": at}  # fmt: skip
                    settled.append(Booked(after, realised, entry))
            fresh, reports = await asyncio.to_thread(
                self._commit,
                settled,
                None,
                lambda fresh: [self._resolution_report(condition_id, winner, b) for b in fresh],
            )
            for booked in fresh:
                holdings[(booked.holding.bot_slug, booked.holding.token_id)] = booked.holding
        await self._publish_booked(reports)
        return [self.position(b.holding) for b in fresh]

    def _resolution_report(self, condition_id: str, winner: str, booked: Booked) -> rpb.Report:
        h = booked.holding
        return self._reporter.builder.settlement(
            record_type="pnl.resolution", subject=h.bot_slug,
            explanation=f"market {condition_id} resolved ({winner} pays 1): {h.bot_slug}'s {six_places(int(booked.entry['size_micros']))} "
                        f"of {h.token_id} settled at {booked.entry['price']}, realising {six_places(booked.realised)} pUSD",
            condition_id=condition_id, token_id=h.token_id, realised_pnl_micros=booked.realised,
            position_micros=0, cash_delta_micros=int(booked.entry["notional_micros"]),
        )  # fmt: skip

    async def record_conversion(self, request: pb.RecordConversionRequest) -> pb.RecordConversionResponse:
        violations = []
        if not request.bot_slug:
            violations.append(FieldViolation("bot_slug", "is required"))
        if not request.conversion_id:
            violations.append(
                FieldViolation("conversion_id", "is required (the conversion's transaction hash)")
            )
        if not request.from_no_token_ids:
            violations.append(FieldViolation("from_no_token_ids", "at least one NO token is converted"))
        if not request.to_yes or any(not (t.condition_id and t.token_id) for t in request.to_yes):
            violations.append(
                FieldViolation("to_yes", "every YES token received needs its condition and token id")
            )
        if request.amount_micros <= 0:
            violations.append(FieldViolation("amount_micros", "must be positive"))
        tokens = [*request.from_no_token_ids, *(t.token_id for t in request.to_yes)]
        if len(set(tokens)) != len(tokens):
            violations.append(
                FieldViolation("to_yes", "every token given and received must be a different one")
            )
        if violations:
            raise InvalidArgument(violations)
        at = to_micros(self._clock.now())
        touched = [
            (request.bot_slug, t) for t in [*request.from_no_token_ids, *(y.token_id for y in request.to_yes)]
        ]
        async with self._lock:
            holdings = await self._ready()
            already = await asyncio.to_thread(
                lambda: [self._booked(_conversion_entry(request.conversion_id, token)) for _, token in touched]
            )
            if any(already):  # a retry: it books nothing, and must name the tokens it booked
                if not all(already):
                    raise InvalidArgument.field("conversion_id", "was booked before with other tokens")
                return pb.RecordConversionResponse(positions=[self.position(holdings[k]) for k in touched])
            given = []
            for token in request.from_no_token_ids:
                holding = holdings.get((request.bot_slug, token))
                if holding is None:
                    raise InvalidArgument.field(
                        "from_no_token_ids", f"{request.bot_slug} holds no token {token}"
                    )
                given.append(holding)
            received = [holdings.get((request.bot_slug, t.token_id)) or Holding(request.bot_slug, t.condition_id, t.token_id)
                        for t in request.to_yes]  # fmt: skip
            after_given, after_received, realised, cash = convert(given, received, request.amount_micros)
            entries = []
            for i, holding in enumerate([*after_given, *after_received]):
                entries.append(Booked(holding, realised if i == 0 else 0, {
                    "entry_id": _conversion_entry(request.conversion_id, holding.token_id),
                    "kind": "conversion", "bot_slug": holding.bot_slug, "condition_id": holding.condition_id,
                    "token_id": holding.token_id, "builder_code": "", "side": "CONVERT", "price": "",
                    "size_micros": request.amount_micros, "notional_micros": 0, "fee_micros": 0, "rebate_micros": 0,
                    "realised_micros": realised if i == 0 else 0, "at_us": at,
                }))  # fmt: skip
            fresh, reports = await asyncio.to_thread(
                self._commit, entries, None, lambda _: [self._reporter.builder.settlement(
                    record_type="pnl.conversion", subject=request.bot_slug,
                    explanation=f"{request.bot_slug} converted {six_places(request.amount_micros)} of NO "
                                f"{', '.join(request.from_no_token_ids)} into YES {', '.join(t.token_id for t in request.to_yes)} and "
                                f"{six_places(cash)} pUSD; the cost carries over (realised {six_places(realised)})",
                    realised_pnl_micros=realised, cash_delta_micros=cash,
                )]
            )  # fmt: skip
            for booked in fresh:
                holdings[(booked.holding.bot_slug, booked.holding.token_id)] = booked.holding
        await self._publish_booked(reports)
        return pb.RecordConversionResponse(positions=[self.position(holdings[k]) for k in touched],
                                           realised_pnl_micros=realised if fresh else 0)  # fmt: skip

    def _booked(self, entry_id: str) -> bool:
        with self._engine.connect() as conn:
            return (
                conn.execute(select(pnl_entries.c.entry_id).where(pnl_entries.c.entry_id == entry_id)).first()
                is not None
            )

    def position(self, holding: Holding) -> pb.Position:
        mark = self._marks.get(holding.token_id)
        return pb.Position(bot_slug=holding.bot_slug, condition_id=holding.condition_id, token_id=holding.token_id,
                           size_micros=holding.size_micros, cost_micros=holding.cost_micros,
                           realised_pnl_micros=holding.realised_micros, unrealised_pnl_micros=holding.unrealised(mark),
                           mark="" if mark is None or holding.resolved else str(mark), resolved=holding.resolved)  # fmt: skip

    async def positions(self, bot_slug: str, include_closed: bool) -> list[pb.Position]:
        holdings = await self._ready()
        return [self.position(h) for _, h in sorted(holdings.items())
                if (not bot_slug or h.bot_slug == bot_slug) and (include_closed or h.size_micros)]  # fmt: skip

    async def pnl(
        self, group_by: Sequence[pb.PnlDimension.ValueType], since: datetime | None, until: datetime | None
    ) -> pb.GetPnlResponse:
        unknown = [d for d in group_by if d not in DIMENSIONS]
        if unknown:
            raise InvalidArgument.field("group_by", f"unknown dimensions {unknown}")
        columns = [DIMENSIONS[d] for d in dict.fromkeys(group_by)]
        start = to_micros(since) if since else None
        end = to_micros(until) if until else None

        def fetch() -> list[Any]:
            pieces = window_pieces(start, end)
            query = _window_query(tuple(columns), tuple((span is None, low is not None, high is not None)
                                                        for span, low, high in pieces))  # fmt: skip
            with self._engine.connect() as conn:
                return list(conn.execute(query, _window_bounds(pieces)))

        rows: dict[tuple[str, ...], pb.PnlRow] = defaultdict(pb.PnlRow)
        total = pb.PnlRow()
        for found in await asyncio.to_thread(fetch):
            group, sums = tuple(found[: len(columns)]), found[len(columns) :]
            if not sums[-1]:  # summed over nothing: no group
                continue
            realised, fee, rebate, fills, notional_sum, adjustment = (int(v) for v in sums[:-1])
            for row in (rows[group], total):
                row.realised_pnl_micros += realised
                row.gross_fee_micros += fee
                row.rebate_micros += rebate
                row.fills += fills
                row.notional_micros += notional_sum
                row.adjustment_micros += adjustment
        if until is None:  # marked to market as of now
            for holding in (await self._ready()).values():
                unrealised = holding.unrealised(self._marks.get(holding.token_id))
                if unrealised:
                    at = {"bot_slug": holding.bot_slug, "condition_id": holding.condition_id, "builder_code": ""}
                    for row in (rows[tuple(at[c] for c in columns)], total):
                        row.unrealised_pnl_micros += unrealised
        response = pb.GetPnlResponse()
        for group in sorted(rows):
            row = rows[group]
            for column, value in zip(columns, group, strict=True):
                setattr(row, column, value)
            response.rows.append(_net(row))
        response.total.CopyFrom(_net(total))
        return response

    async def record_rebate_payout(self, request: pb.RecordRebatePayoutRequest) -> pb.RecordRebatePayoutResponse:
        """Book paid − accrued for one bot, market and UTC day, dated the day's last microsecond so
        the day's window holds it; a repeat of the same payout books nothing."""
        violations = []
        if not request.bot_slug:
            violations.append(FieldViolation("bot_slug", "is required"))
        if not request.condition_id:
            violations.append(FieldViolation("condition_id", "is required"))
        try:
            day = datetime.strptime(str(request.day), "%Y%m%d").replace(tzinfo=UTC)
        except ValueError:
            violations.append(FieldViolation("day", "must be a UTC day as YYYYMMDD"))
        if request.amount_micros < 0:
            violations.append(FieldViolation("amount_micros", "a payout is never negative"))
        if violations:
            raise InvalidArgument(violations)
        market = request.condition_id.lower()
        start = to_micros(day)
        end = start + 86_400_000_000 - 1
        bot, paid = request.bot_slug, request.amount_micros

        def accrued() -> tuple[int, int]:
            with self._engine.connect() as conn:
                sums = conn.execute(
                    select(pnl_entries.c.kind, func.sum(pnl_entries.c.rebate_micros))
                    .where(pnl_entries.c.bot_slug == bot, pnl_entries.c.condition_id == market,
                           pnl_entries.c.at_us.between(start, end))
                    .group_by(pnl_entries.c.kind)
                ).all()  # fmt: skip
            by_kind = {kind: int(amount or 0) for kind, amount in sums}
            paid_before = by_kind.pop("rebate_payout", 0)
            return sum(by_kind.values()), paid_before

        async with self._lock:
            await self._ready()
            earned, adjusted = await asyncio.to_thread(accrued)
            adjustment = paid - earned - adjusted
            if not adjustment:
                return pb.RecordRebatePayoutResponse(accrued_micros=earned, paid_micros=paid)
            entry: Entry = {
                "entry_id": journal_key(f"payout:{bot}:{market}:{request.day}:{paid}:{adjusted}"),
                "kind": "rebate_payout", "bot_slug": bot, "condition_id": market, "token_id": "", "builder_code": "",
                "side": "PAYOUT", "price": "", "size_micros": 0, "notional_micros": 0, "fee_micros": 0,
                "rebate_micros": adjustment, "realised_micros": 0, "at_us": end,
            }  # fmt: skip
            booked = Booked(Holding(bot, market, ""), 0, entry)
            fresh, reports = await asyncio.to_thread(self._commit, [booked], None, lambda _: [self._reporter.builder.settlement(
                record_type="pnl.rebate_payout", subject=bot, condition_id=market, rebate_micros=adjustment,
                cash_delta_micros=adjustment,
                explanation=f"{bot}'s maker rebates in {market} on {request.day}: paid {six_places(paid)} pUSD "
                            f"against {six_places(earned + adjusted)} booked; {six_places(adjustment)} adjusted",
            )])  # fmt: skip
        await self._publish_booked(reports)
        return pb.RecordRebatePayoutResponse(accrued_micros=earned, paid_micros=paid,
                                             adjustment_micros=adjustment if fresh else 0,
                                             settlement_report_id=reports[0].header.report_id if reports else "")  # fmt: skip

    def _rejection(self, report: rpb.Report, error: InvalidArgument | FailedPrecondition) -> dict[str, object]:
        """A refused fill as ListRejectedFills keeps it."""
        field_path = error.violations[0].field if isinstance(error, InvalidArgument) else "report.execution.trade_status"
        return {"report_id": report.header.report_id, "bot_slug": report.header.bot_slug,
                "trade_id": report.execution.trade_id[:128], "field_path": field_path[:256], "reason": str(error)[:1024],
                "rejected_at_us": to_micros(self._clock.now())}  # fmt: skip

    async def _alert_refused(self, report: rpb.Report, error: Exception) -> None:
        explanation = (f"fill {report.header.report_id} of {report.header.bot_slug} (trade {report.execution.trade_id}) "
                       f"not booked: {error}")  # fmt: skip
        if self._alerts is None:
            log.warning("%s", explanation)
            return
        await self._alerts.send(Alert("pnl-reporter", f"pnl:rejected:{report.header.report_id}", rpb.SEVERITY_ERROR,
                                      explanation))  # fmt: skip

    async def rejected(self, bot_slug: str, limit: int) -> list[pb.RejectedFill]:
        query = select(pnl_rejected_fills).order_by(pnl_rejected_fills.c.rejected_at_us.desc()).limit(limit)
        if bot_slug:
            query = query.where(pnl_rejected_fills.c.bot_slug == bot_slug)

        def fetch() -> Sequence[AnyRow]:
            with self._engine.connect() as conn:
                return conn.execute(query).all()

        return [pb.RejectedFill(report_id=r.report_id, bot_slug=r.bot_slug, trade_id=r.trade_id, field=r.field_path,
                                reason=r.reason, rejected_at=to_timestamp(from_micros(r.rejected_at_us)))
                for r in await asyncio.to_thread(fetch)]  # fmt: skip

    async def follow(self, set_aside: SetAside) -> None:
        """Book every live FILL ExecutionReport and take every observation's mark, from the stored
        cursor, a page of the bus at a time (one transaction each, the cursor in it); a fill the
        books refuse is kept and alerted, and a report that fails for any other reason is set aside."""
        with self._engine.connect() as conn:
            after = (
                conn.execute(select(ledger_cursor.c.seq).where(ledger_cursor.c.follower == "pnl")).scalar()
                or 0
            )
        kinds = frozenset({rpb.REPORT_KIND_EXECUTION, rpb.REPORT_KIND_OBSERVATION})
        async for page in self._bus.subscribe_batches(ReportFilter(kinds=kinds, modes=frozenset({rpb.MODE_LIVE})),
                                                      after_seq=after, max_reports=BATCH):  # fmt: skip
            taken = [(a.seq, rpb.Report.FromString(a.payload)) for a in page]
            taken = [(seq, r) for seq, r in taken
                     if r.HasField("observation") or r.execution.event == rpb.EXECUTION_EVENT_FILL]  # fmt: skip
            outcomes: Sequence[Outcome | None]
            try:
                outcomes = await self.book([r for _, r in taken], page[-1].seq, keep_refused=True)
            except Exception:  # noqa: BLE001 - one report must not stop the books of every other bot
                log.warning("a page of %d reports did not book; booking them one at a time", len(taken), exc_info=True)
                outcomes = []
                for seq, report in taken:
                    try:
                        outcomes += await self.book([report], seq, keep_refused=True)
                    except Exception as error:  # noqa: BLE001
                        await set_aside.put(FOLLOWER, seq, report, error)
                        outcomes.append(None)
                await asyncio.to_thread(self._commit, [], page[-1].seq)
            for (_, report), outcome in zip(taken, outcomes, strict=True):
                if isinstance(outcome, InvalidArgument | FailedPrecondition):
                    if report.HasField("observation"):
                        log.warning("observation %s gives no mark: %s", report.header.report_id, outcome)
                    else:
                        await self._alert_refused(report, outcome)


def _conversion_entry(conversion_id: str, token_id: str) -> str:
    return journal_key(f"conversion:{conversion_id}:{token_id}")


def _net(row: pb.PnlRow) -> pb.PnlRow:
    row.net_fee_micros = row.gross_fee_micros - row.rebate_micros
    row.net_pnl_micros = row.realised_pnl_micros - row.net_fee_micros
    row.total_pnl_micros = row.net_pnl_micros + row.unrealised_pnl_micros
    return row


def _position_row(holding: Holding) -> dict[str, object]:
    return {"bot_slug": holding.bot_slug, "token_id": holding.token_id, "condition_id": holding.condition_id,
            "size_micros": holding.size_micros, "cost_micros": holding.cost_micros,
            "realised_micros": holding.realised_micros, "resolved": holding.resolved}  # fmt: skip
