"""Reconciliations, the exchange's report as each one read it, quarantine cases and revenue reports."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Engine,
    Index,
    Integer,
    LargeBinary,
    Row,
    String,
    Text,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlmodel import Field, SQLModel

from polytraders.governance.v1 import attribution_pb2 as pb
from polytraders.sdk.clock import to_micros
from polytraders.servers.runtime.errors import FailedPrecondition, NotFound
from polytraders.servers.runtime.storage import AnyRow, table_of, upsert

from .reconcile import ExchangeTrade, Finding, Kind

_CHUNK = 5000
LISTED = 1000
"""Most records or discrepancies one message lists (the rest are counted)."""


class ReconciliationRow(SQLModel, table=True):
    __tablename__ = "attribution_reconciliations"
    __table_args__ = (Index("attribution_reconciliations_by_window", "window_start_us", "window_end_us", "finished_us"),)

    reconciliation_id: str = Field(sa_type=String(36), primary_key=True)
    window_start_us: int = Field(sa_type=BigInteger)
    window_end_us: int = Field(sa_type=BigInteger)
    finished_us: int = Field(sa_type=BigInteger)
    status: int = Field(sa_type=Integer)
    body: bytes = Field(sa_type=LargeBinary)


reconciliations = table_of(ReconciliationRow)


class ExchangeTradeRow(SQLModel, table=True):
    __tablename__ = "attribution_exchange_trades"

    reconciliation_id: str = Field(sa_type=String(36), primary_key=True)
    record_key: str = Field(sa_type=String(160), primary_key=True)
    condition_id: str = Field(sa_type=String(80))
    price: str = Field(sa_type=String(32))
    size_micros: int = Field(sa_type=BigInteger)
    notional_micros: int = Field(sa_type=BigInteger)
    builder_fee_micros: int = Field(sa_type=BigInteger)
    status: str = Field(sa_type=String(32))
    matched_at_us: int = Field(sa_type=BigInteger)


exchange_trades = table_of(ExchangeTradeRow)


class QuarantineCaseRow(SQLModel, table=True):
    __tablename__ = "attribution_quarantine_cases"
    __table_args__ = (Index("attribution_quarantine_by_opened", "opened_us"),)

    case_id: str = Field(sa_type=String(32), primary_key=True)
    kind: str = Field(sa_type=String(32))
    reconciliation_id: str = Field(sa_type=String(36))
    condition_id: str = Field(sa_type=String(80))
    explanation: str = Field(sa_type=Text)
    opened_us: int = Field(sa_type=BigInteger)
    released_us: int | None = Field(default=None, sa_type=BigInteger)
    released_by: str = Field(default="", sa_type=String(128), sa_column_kwargs={"default": ""})
    release_reason: str = Field(default="", sa_type=Text, sa_column_kwargs={"default": ""})


quarantine_cases = table_of(QuarantineCaseRow)


class QuarantinedRecordRow(SQLModel, table=True):
    __tablename__ = "attribution_quarantine_records"
    __table_args__ = (Index("attribution_quarantine_records_by_key", "record_key"),)

    case_id: str = Field(sa_type=String(32), primary_key=True)
    record_key: str = Field(sa_type=String(160), primary_key=True)


quarantine_records = table_of(QuarantinedRecordRow)


class RevenueReportRow(SQLModel, table=True):
    __tablename__ = "attribution_revenue_reports"
    __table_args__ = (Index("attribution_revenue_by_day", "day", "produced_us"),)

    report_id: str = Field(sa_type=String(36), primary_key=True)
    day: int = Field(sa_type=Integer)
    produced_us: int = Field(sa_type=BigInteger)
    body: bytes = Field(sa_type=LargeBinary)


revenue_reports = table_of(RevenueReportRow)

MARKET_LEVEL = frozenset({Kind.VOLUME_DRIFT.value, Kind.ORDER_COUNT_MISMATCH.value})
KIND_NUMBERS = {kind: pb.DiscrepancyKind.Value(f"DISCREPANCY_KIND_{kind.value}") for kind in Kind}


def case_id(finding: Finding, window_start: datetime, window_end: datetime) -> str:
    """The same discrepancy found again maps to the same case: a trade's by its record, a market's by window."""
    subject = finding.key or f"{finding.condition_id}|{to_micros(window_start)}|{to_micros(window_end)}"
    return hashlib.sha256(f"{finding.kind.value}|{subject}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Exclusion:
    record_key: str
    case_id: str
    kind: str
    reason: str


class AttributionStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def keep_exchange_trades(
        self, reconciliation_id: str, trades: Iterable[ExchangeTrade]
    ) -> Iterator[ExchangeTrade]:
        """Pass the exchange's trades through, writing them under this reconciliation in chunks."""
        chunk: list[dict[str, object]] = []

        def write() -> None:
            with self._engine.begin() as conn:
                upsert(conn, exchange_trades, chunk, ["reconciliation_id", "record_key"], replace=False)
            chunk.clear()

        for trade in trades:
            chunk.append({
                "reconciliation_id": reconciliation_id, "record_key": trade.key, "condition_id": trade.condition_id,
                "price": str(trade.price), "size_micros": trade.size_micros, "notional_micros": trade.notional_micros,
                "builder_fee_micros": trade.builder_fee_micros, "status": trade.status,
                "matched_at_us": trade.matched_at_us,
            })  # fmt: skip
            if len(chunk) >= _CHUNK:
                write()
            yield trade
        write()

    def forget_exchange_trades(self, reconciliation_id: str) -> None:
        """A failed reconciliation keeps no partial report."""
        with self._engine.begin() as conn:
            conn.execute(
                delete(exchange_trades).where(exchange_trades.c.reconciliation_id == reconciliation_id)
            )

    def exchange_trades_of(self, reconciliation_id: str) -> list[ExchangeTrade]:
        t = exchange_trades
        with self._engine.connect() as conn:
            return [
                ExchangeTrade(
                    r.record_key,
                    r.condition_id,
                    Decimal(r.price),
                    r.size_micros,
                    r.notional_micros,
                    r.builder_fee_micros,
                    r.status,
                    r.matched_at_us,
                )  # fmt: skip
                for r in conn.execute(select(t).where(t.c.reconciliation_id == reconciliation_id))
            ]

    def open_cases(
        self, reconciliation_id: str, cases: list[tuple[str, Finding]], opened: datetime
    ) -> list[str]:
        """A case per finding, returning each finding's case id. A case found again keeps its id and
        history; if it was released and the finding now holds records it did not, those go into a new
        case (named after this reconciliation), so a release never lets later records through."""
        effective: list[str] = []
        rows: list[dict[str, object]] = []
        records: list[dict[str, str]] = []
        with self._engine.begin() as conn:
            known = {
                row.case_id: row.released_us is not None
                for row in conn.execute(select(quarantine_cases.c.case_id, quarantine_cases.c.released_us)
                                        .where(quarantine_cases.c.case_id.in_([c for c, _ in cases])))
            } if cases else {}  # fmt: skip
            for case, finding in cases:
                keys = set(finding.record_keys)
                if known.get(case):  # released before
                    held = set(conn.execute(select(quarantine_records.c.record_key)
                                            .where(quarantine_records.c.case_id == case)).scalars())  # fmt: skip
                    keys -= held
                    if not keys:
                        effective.append(case)
                        continue
                    case = hashlib.sha256(f"{case}|{reconciliation_id}".encode()).hexdigest()[:32]
                effective.append(case)
                rows.append({"case_id": case, "kind": finding.kind.value, "reconciliation_id": reconciliation_id,
                             "condition_id": finding.condition_id, "explanation": finding.explanation,
                             "opened_us": to_micros(opened), "released_us": None, "released_by": "",
                             "release_reason": ""})  # fmt: skip
                records.extend({"case_id": case, "record_key": key} for key in sorted(keys))
            upsert(conn, quarantine_cases, rows, ["case_id"], replace=False)
            for start in range(0, len(records), _CHUNK):
                upsert(conn, quarantine_records, records[start : start + _CHUNK], ["case_id", "record_key"],
                       replace=False)  # fmt: skip
        return effective

    def save_reconciliation(self, result: pb.Reconciliation) -> None:
        with self._engine.begin() as conn:
            conn.execute(insert(reconciliations), {
                "reconciliation_id": result.reconciliation_id, "window_start_us": result.window_start.ToMicroseconds(),
                "window_end_us": result.window_end.ToMicroseconds(), "finished_us": result.finished_at.ToMicroseconds(),
                "status": result.status, "body": result.SerializeToString(deterministic=True),
            })  # fmt: skip

    def reconciliation(self, reconciliation_id: str) -> pb.Reconciliation:
        query = select(reconciliations.c.body).where(reconciliations.c.reconciliation_id == reconciliation_id)
        with self._engine.connect() as conn:
            body = conn.execute(query).scalar_one_or_none()
        if body is None:
            raise NotFound(f"reconciliation {reconciliation_id!r} does not exist")
        return pb.Reconciliation.FromString(body)

    def last_status(self, start: datetime, end: datetime) -> int | None:
        """How the last reconciliation of exactly this window ended, if there was one."""
        r = reconciliations
        query = (select(r.c.status).where(r.c.window_start_us == to_micros(start), r.c.window_end_us == to_micros(end))
                 .order_by(r.c.finished_us.desc()).limit(1))  # fmt: skip
        with self._engine.connect() as conn:
            return conn.execute(query).scalar_one_or_none()

    def latest_reconciliation(self, start: datetime, end: datetime) -> pb.Reconciliation | None:
        """The last successful reconciliation of exactly this window."""
        r = reconciliations
        query = (
            select(r.c.body)
            .where(r.c.window_start_us == to_micros(start), r.c.window_end_us == to_micros(end),
                   r.c.status != pb.RECONCILIATION_STATUS_FAILED)
            .order_by(r.c.finished_us.desc())
            .limit(1)
        )  # fmt: skip
        with self._engine.connect() as conn:
            body = conn.execute(query).scalar_one_or_none()
        return None if body is None else pb.Reconciliation.FromString(body)

    def _case(self, conn: Connection, row: AnyRow) -> pb.QuarantineCase:
        r = quarantine_records
        keys = conn.execute(
            select(r.c.record_key).where(r.c.case_id == row.case_id).order_by(r.c.record_key).limit(LISTED)
        ).scalars()
        count = conn.execute(
            select(func.count()).select_from(r).where(r.c.case_id == row.case_id)
        ).scalar_one()
        case = pb.QuarantineCase(
            case_id=row.case_id, kind=KIND_NUMBERS[Kind(row.kind)], reconciliation_id=row.reconciliation_id,
            condition_id=row.condition_id, explanation=row.explanation, record_keys=list(keys), record_count=count,
            released=row.released_us is not None, released_by=row.released_by, release_reason=row.release_reason,
        )  # fmt: skip
        case.opened_at.FromMicroseconds(row.opened_us)
        if row.released_us is not None:
            case.released_at.FromMicroseconds(row.released_us)
        return case

    def cases(self, include_released: bool, condition_id: str, limit: int) -> list[pb.QuarantineCase]:
        q = quarantine_cases
        query = select(q).order_by(q.c.opened_us.desc(), q.c.case_id).limit(limit)
        if not include_released:
            query = query.where(q.c.released_us.is_(None))
        if condition_id:
            query = query.where(q.c.condition_id == condition_id)
        with self._engine.connect() as conn:
            return [self._case(conn, row) for row in conn.execute(query).all()]

    def held_records(self) -> dict[str, int]:
        """Records held back from revenue now (in cases not released), by the kind of their case."""
        c, r = quarantine_cases.c, quarantine_records.c
        query = (select(c.kind, func.count()).select_from(quarantine_records.join(quarantine_cases, r.case_id == c.case_id))
                 .where(c.released_us.is_(None)).group_by(c.kind))  # fmt: skip
        with self._engine.connect() as conn:
            return {kind: count for kind, count in conn.execute(query)}

    def release(self, case: str, by: str, reason: str, at: datetime) -> pb.QuarantineCase:
        q = quarantine_cases
        with self._engine.begin() as conn:
            released = conn.execute(
                update(q)
                .where(q.c.case_id == case, q.c.released_us.is_(None))  # one release wins, however many race
                .values(released_us=to_micros(at), released_by=by, release_reason=reason)
            ).rowcount
            if not released:
                row = conn.execute(select(q).where(q.c.case_id == case)).first()
                if row is None:
                    raise NotFound(f"quarantine case {case!r} does not exist")
                raise FailedPrecondition(
                    f"quarantine case {case!r} was already released by {row.released_by}"
                )
            return self._case(conn, conn.execute(select(q).where(q.c.case_id == case)).one())

    def exclusions(self, record_keys: Iterable[str]) -> dict[str, Exclusion]:
        """Of these records, those an unreleased case holds; when several do, the trade-level case
        (it names the cause) before a market-level one."""
        wanted = sorted(set(record_keys))
        q, r = quarantine_cases, quarantine_records
        rows: list[Row[Any, Any, Any, Any]] = []
        with self._engine.connect() as conn:
            for start in range(0, len(wanted), LISTED):
                rows.extend(conn.execute(
                    select(r.c.record_key, q.c.case_id, q.c.kind, q.c.explanation)
                    .select_from(r.join(q, r.c.case_id == q.c.case_id))
                    .where(q.c.released_us.is_(None), r.c.record_key.in_(wanted[start : start + LISTED]))
                ).all())  # fmt: skip
        rows.sort(key=lambda row: (row.kind in MARKET_LEVEL, row.case_id))
        found: dict[str, Exclusion] = {}
        for row in rows:
            found.setdefault(
                row.record_key, Exclusion(row.record_key, row.case_id, row.kind, row.explanation)
            )
        return found

    def save_revenue(self, report: pb.RevenueReport) -> None:
        with self._engine.begin() as conn:
            conn.execute(insert(revenue_reports), {
                "report_id": report.report_id, "day": report.day, "produced_us": report.produced_at.ToMicroseconds(),
                "body": report.SerializeToString(deterministic=True),
            })  # fmt: skip

    def revenue_reports(self, from_day: int, to_day: int) -> list[pb.RevenueReport]:
        """The report in force (the latest) for each day in range, oldest day first."""
        t = revenue_reports
        query = (
            select(t.c.day, t.c.body)
            .where(t.c.day >= from_day, t.c.day <= to_day)
            .order_by(t.c.day, t.c.produced_us, t.c.report_id)
        )
        latest: dict[int, bytes] = {}
        with self._engine.connect() as conn:
            for day, body in conn.execute(query):
                latest[day] = body
        return [pb.RevenueReport.FromString(latest[day]) for day in sorted(latest)]
