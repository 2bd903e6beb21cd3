"""Reports a bus follower could not take: set aside where an operator can list them, never a stop.

A follower (user activity, config history, P&L, explainer, portfolio, incidents) that meets a
report it cannot store records it here with the reason, raises an alert (an OperationsReport on
the bus, and the pager when the operations group is served) and goes on with the next report.
The report itself stays in the archive, so once the cause is mended it can be taken again.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import BigInteger, Engine, Index, String, Text, func, select
from sqlmodel import Field, SQLModel

from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk.clock import Clock, to_micros

from .alerts import Alert, AlertRouter
from .storage import insert_for, table_of

log = logging.getLogger(__name__)

REASON_CHARS = 1000
"""Most of an error's text kept as the reason (a database error can quote a whole statement)."""


class SetAsideReportRow(SQLModel, table=True):
    """One report one follower could not store; (follower, report_id) once, however often it is met."""

    __tablename__ = "follower_set_aside"
    __table_args__ = (Index("follower_set_aside_by_seq", "follower", "archive_seq"),)

    follower: str = Field(sa_type=String(64), primary_key=True)
    report_id: str = Field(sa_type=String(36), primary_key=True)
    archive_seq: int = Field(sa_type=BigInteger)
    bot_slug: str = Field(sa_type=String(128))
    reason: str = Field(sa_type=Text)
    set_aside_at_us: int = Field(sa_type=BigInteger)


set_aside_reports = table_of(SetAsideReportRow)


@dataclass(frozen=True)
class SetAsideReport:
    follower: str
    report_id: str
    archive_seq: int
    bot_slug: str
    reason: str
    set_aside_at_us: int


class SetAsidePage(NamedTuple):
    reports: list[SetAsideReport]
    next_after_seq: int
    """Where the next page starts; 0 when this page holds the last."""


class SetAside:
    """Where every follower of one mesh puts what it could not store."""

    def __init__(self, engine: Engine, alerts: AlertRouter, clock: Clock) -> None:
        self._engine = engine
        self._alerts = alerts
        self._clock = clock

    async def put(self, follower: str, seq: int, report: rpb.Report, error: BaseException) -> None:
        """Record `report` as not taken by `follower` because of `error`, and alert once for it."""
        reason = f"{type(error).__name__}: {error}"[:REASON_CHARS]
        header = report.header
        log.error("%s set report %s (seq %d) aside: %s", follower, header.report_id, seq, reason)
        first_time = await asyncio.to_thread(self._store, follower, seq, header, reason)
        if first_time:
            explanation = (f"{follower} could not store report {header.report_id} from {header.bot_slug} "
                           f"(cursor {seq}) and set it aside: {reason}")  # fmt: skip
            await self._alerts.send(Alert(follower, f"set-aside:{follower}:{header.report_id}",
                                          rpb.SEVERITY_ERROR, explanation[:REASON_CHARS]))  # fmt: skip

    def _store(self, follower: str, seq: int, header: rpb.ReportHeader, reason: str) -> bool:
        row = {"follower": follower, "report_id": header.report_id[:36], "archive_seq": seq,
               "bot_slug": header.bot_slug[:128], "reason": reason.replace("\x00", "\\x00"),
               "set_aside_at_us": to_micros(self._clock.now())}  # fmt: skip
        with self._engine.begin() as conn:
            statement = insert_for(conn, set_aside_reports).on_conflict_do_nothing()
            return conn.execute(statement.returning(set_aside_reports.c.report_id), row).first() is not None

    def last_seq(self, follower: str) -> int:
        """The cursor of the last report `follower` set aside (0 if none): where it went on from."""
        with self._engine.connect() as conn:
            query = select(func.coalesce(func.max(set_aside_reports.c.archive_seq), 0)).where(
                set_aside_reports.c.follower == follower
            )
            return int(conn.execute(query).scalar_one())

    def list(self, follower: str = "", after_seq: int = 0, limit: int = 100) -> SetAsidePage:
        """What `follower` (or any follower) set aside after archive cursor `after_seq`, oldest
        first: the rows of at most `limit` archived reports, so that a report set aside by several
        followers is never split across two pages."""
        t = set_aside_reports
        where = [t.c.archive_seq > after_seq, *([t.c.follower == follower] if follower else [])]
        seqs = select(t.c.archive_seq).where(*where).distinct().order_by(t.c.archive_seq).limit(limit + 1)
        query = (
            select(t).where(*where, t.c.archive_seq.in_(seqs.scalar_subquery())).order_by(t.c.archive_seq, t.c.follower)
        )
        with self._engine.connect() as conn:
            rows = [SetAsideReport(**row._mapping) for row in conn.execute(query)]
        listed = sorted({r.archive_seq for r in rows})
        if len(listed) <= limit:
            return SetAsidePage(rows, 0)
        last = listed[limit - 1]
        return SetAsidePage([r for r in rows if r.archive_seq <= last], last)
