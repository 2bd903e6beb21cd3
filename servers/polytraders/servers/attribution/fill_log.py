"""The fill log: every live fill of every bot, with the builder code its order carried.

It is materialised from the archive on demand (before every read), so a fill published a
moment ago is in the log when the next reconciliation or listing runs. Fills come from
execution bots' FILL ExecutionReports; when a fill report names no builder code, the code of
the SDK's tag report for the same trace and token is used (`code_source` says which). A
later report of the same trade side (e.g. MATCHED, then CONFIRMED) replaces the earlier one.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Engine,
    Index,
    Select,
    String,
    and_,
    func,
    literal,
    select,
)
from sqlmodel import Field, SQLModel

from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk.clock import from_micros, to_micros
from polytraders.servers.runtime.archive import ReportArchive, ReportFilter
from polytraders.servers.runtime.storage import AnyRow, table_of, upsert

from .reconcile import LocalFill, record_key

log = logging.getLogger(__name__)
_PAGE = 5000
LIQUIDITY = {rpb.LIQUIDITY_MAKER: "MAKER", rpb.LIQUIDITY_TAKER: "TAKER"}
SIDES = {rpb.SIDE_BUY: "BUY", rpb.SIDE_SELL: "SELL"}


class FillRow(SQLModel, table=True):
    __tablename__ = "attribution_fills"
    __table_args__ = (Index("attribution_fills_by_time", "matched_at_us"), Index("attribution_fills_by_bot_time", "bot_slug", "matched_at_us"))

    record_key: str = Field(sa_type=String(160), primary_key=True)
    report_id: str = Field(sa_type=String(36))
    archive_seq: int = Field(sa_type=BigInteger)
    bot_slug: str = Field(sa_type=String(128))
    trace_id: str = Field(sa_type=String(128))
    trade_id: str = Field(sa_type=String(128))
    liquidity: str = Field(sa_type=String(8))
    order_id: str = Field(sa_type=String(128))
    condition_id: str = Field(sa_type=String(80))
    token_id: str = Field(sa_type=String(80))
    side: str = Field(sa_type=String(4))
    price: str = Field(sa_type=String(32))
    size_micros: int = Field(sa_type=BigInteger)
    notional_micros: int = Field(sa_type=BigInteger)
    fee_micros: int = Field(sa_type=BigInteger)
    rebate_micros: int = Field(sa_type=BigInteger)
    builder_code: str = Field(sa_type=String(66))
    matched_at_us: int = Field(sa_type=BigInteger)
    trade_status: str = Field(sa_type=String(32))


fills = table_of(FillRow)


class OrderTagRow(SQLModel, table=True):
    __tablename__ = "attribution_tags"

    trace_id: str = Field(sa_type=String(128), primary_key=True)
    token_id: str = Field(sa_type=String(80), primary_key=True)
    builder_code: str = Field(sa_type=String(66))
    archive_seq: int = Field(sa_type=BigInteger)


tags = table_of(OrderTagRow)

def notional_micros(price: Decimal, size_micros: int) -> int:
    """price × size in pUSD micro-units, rounded half-even (prices have at most 4 decimals on the CLOB)."""
    return int((price * size_micros).to_integral_value(ROUND_HALF_EVEN))


@dataclass(frozen=True)
class FillRecord:
    """A fill as the log holds it, its builder code resolved."""

    report_id: str
    bot_slug: str
    trade_id: str
    liquidity: str
    order_id: str
    condition_id: str
    token_id: str
    side: str
    price: Decimal
    size_micros: int
    notional_micros: int
    fee_micros: int
    rebate_micros: int
    builder_code: str
    code_source: str
    matched_at: datetime
    trade_status: str

    @property
    def key(self) -> str:
        return record_key(self.trade_id, self.liquidity)

    def for_reconciliation(self) -> LocalFill:
        return LocalFill(self.key, self.bot_slug, self.condition_id, self.price, self.size_micros,
                         self.notional_micros, self.builder_code, self.trade_status)  # fmt: skip


_WIDTHS = {
    "trade_id": 128,
    "order_id": 128,
    "condition_id": 80,
    "token_id": 80,
    "builder_code": 66,
    "trade_status": 32,
}


def _fill_row(seq: int, report: rpb.Report) -> dict[str, Any] | None:
    """The log's row for a FILL report, or None when the report cannot be a fill on the CLOB."""
    e = report.execution
    if not e.trade_id or e.liquidity not in LIQUIDITY:
        return None  # not reconcilable: the exchange keys every record by trade and side
    if (
        any(len(getattr(e, name)) > width for name, width in _WIDTHS.items())
        or len(report.header.trace_id) > 128
    ):
        return None
    try:
        price = Decimal(e.price)
    except (ArithmeticError, ValueError):
        return None
    size = e.filled_size_micros or e.size_micros
    if not price.is_finite() or not 0 < price <= 1 or len(str(price)) > 32 or not 0 < size < 2**62:
        return None
    matched = e.matched_at if e.HasField("matched_at") else report.header.produced_at
    return {
        "record_key": record_key(e.trade_id, LIQUIDITY[e.liquidity]), "report_id": report.header.report_id,
        "archive_seq": seq, "bot_slug": report.header.bot_slug, "trace_id": report.header.trace_id,
        "trade_id": e.trade_id, "liquidity": LIQUIDITY[e.liquidity], "order_id": e.order_id,
        "condition_id": e.condition_id.lower(), "token_id": e.token_id, "side": SIDES.get(e.side, ""),
        "price": str(price), "size_micros": size, "notional_micros": notional_micros(price, size),
        "fee_micros": e.fee_micros, "rebate_micros": e.rebate_micros, "builder_code": e.builder_code.lower(),
        "matched_at_us": matched.seconds * 1_000_000 + matched.nanos // 1000,
        "trade_status": e.trade_status.upper() or "MATCHED",
    }  # fmt: skip


class FillLog:
    def __init__(self, engine: Engine, archive: ReportArchive) -> None:
        self._engine = engine
        self._archive = archive
        self._lock = asyncio.Lock()

    async def catch_up(self) -> int:
        """Read every live ExecutionReport archived since the last call; returns how many were fills."""
        async with self._lock:
            return await asyncio.to_thread(self._catch_up)

    def _catch_up(self) -> int:
        report_filter = ReportFilter(
            kinds=frozenset({rpb.REPORT_KIND_EXECUTION}), modes=frozenset({rpb.MODE_LIVE})
        )
        with self._engine.connect() as conn:
            after = max(
                conn.execute(select(func.coalesce(func.max(table.c.archive_seq), 0))).scalar_one()
                for table in (fills, tags)
            )
        stored = 0
        while True:
            page = self._archive.read_after(after, report_filter, _PAGE)
            fill_rows: dict[str, dict[str, Any]] = {}
            tag_rows: dict[tuple[str, str], dict[str, object]] = {}
            for archived in page:
                report = rpb.Report.FromString(archived.payload)
                event = report.execution.event
                if event == rpb.EXECUTION_EVENT_FILL:
                    row = _fill_row(archived.seq, report)
                    if row is None:
                        log.warning("fill report %s from %s is not a CLOB fill (trade id, side, price in (0, 1], "
                                    "size); left out of the fill log", report.header.report_id, report.header.bot_slug)  # fmt: skip
                    else:
                        fill_rows[row["record_key"]] = row
                elif (
                    event == rpb.EXECUTION_EVENT_ORDER_TAGGED
                    and report.header.trace_id
                    and len(report.header.trace_id) <= 128
                    and len(report.execution.token_id) <= 80
                    and len(report.execution.builder_code) <= 66
                ):
                    e = report.execution
                    tag_rows[(report.header.trace_id, e.token_id)] = {
                        "trace_id": report.header.trace_id, "token_id": e.token_id,
                        "builder_code": e.builder_code.lower(), "archive_seq": archived.seq,
                    }  # fmt: skip
            with self._engine.begin() as conn:
                upsert(conn, fills, list(fill_rows.values()), ["record_key"])
                upsert(conn, tags, list(tag_rows.values()), ["trace_id", "token_id"])
            stored += len(fill_rows)
            if len(page) < _PAGE:
                return stored
            after = page[-1].seq

    def _query(self) -> Select[*tuple[Any, ...]]:
        """Fills with the tag's code where the fill report named none."""
        resolved = func.coalesce(func.nullif(fills.c.builder_code, ""), tags.c.builder_code, literal(""))
        return select(fills, resolved.label("resolved_code"), tags.c.builder_code.label("tag_code")).select_from(
            fills.outerjoin(tags, and_(fills.c.trace_id == tags.c.trace_id, fills.c.token_id == tags.c.token_id,
                                       fills.c.trace_id != "")))  # fmt: skip

    @staticmethod
    def _record(row: AnyRow) -> FillRecord:
        if row.builder_code:
            source = "fill"
        else:
            source = "tag" if row.tag_code else ""
        return FillRecord(
            row.report_id, row.bot_slug, row.trade_id, row.liquidity, row.order_id, row.condition_id, row.token_id,
            row.side, Decimal(row.price), row.size_micros, row.notional_micros, row.fee_micros, row.rebate_micros,
            row.resolved_code, source, from_micros(row.matched_at_us), row.trade_status,
        )  # fmt: skip

    def window(self, start: datetime, end: datetime) -> list[FillRecord]:
        """Live fills matched in [start, end)."""
        query = self._query().where(
            fills.c.matched_at_us >= to_micros(start), fills.c.matched_at_us < to_micros(end)
        )
        with self._engine.connect() as conn:
            return [self._record(row) for row in conn.execute(query)]

    def list(
        self, bot_slug: str, condition_id: str, since: datetime | None, until: datetime | None, limit: int
    ) -> list[FillRecord]:
        query = self._query()
        if bot_slug:
            query = query.where(fills.c.bot_slug == bot_slug)
        if condition_id:
            query = query.where(fills.c.condition_id == condition_id)
        if since:
            query = query.where(fills.c.matched_at_us >= to_micros(since))
        if until:
            query = query.where(fills.c.matched_at_us < to_micros(until))
        query = query.order_by(fills.c.matched_at_us.desc(), fills.c.archive_seq.desc()).limit(limit)
        with self._engine.connect() as conn:
            return [self._record(row) for row in conn.execute(query)]
