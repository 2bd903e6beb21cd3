"""UserActivityLedger: every user-initiated action, per user and per session, kept seven years.

Actions are SEVEN_YEARS "user.action" SettlementReports (so they enter the compliance ledger),
recorded either explicitly (RecordUserAction, sessions) or by the server itself for every
operator call that changes something (`runtime/user_actions.py`, the interceptor's one hook, in
every process whatever groups it serves).
They are materialised from the bus into a table indexed by user and time.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Engine, Index, String, Text, select
from sqlmodel import Field, SQLModel

from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk.clock import from_micros, to_micros
from polytraders.sdk.config import canonical_json
from polytraders.sdk.report_builders import new_report_id
from polytraders.servers.runtime.bus import ReportBus
from polytraders.servers.runtime.errors import InvalidArgument
from polytraders.servers.runtime.requests import page_size
from polytraders.servers.runtime.set_aside import SetAside
from polytraders.servers.runtime.storage import insert_checked, table_of
from polytraders.servers.runtime.user_actions import RECORD_TYPE, UserActionRecorder

from .follower import follow_records


class UserActionRow(SQLModel, table=True):
    __tablename__ = "user_actions"
    __table_args__ = (Index("user_actions_by_user_time", "user_name", "at_us"), Index("user_actions_by_session", "session_id"))

    action_id: str = Field(sa_type=String(36), primary_key=True)
    user_name: str = Field(sa_type=String(128))
    session_id: str = Field(sa_type=String(64))
    action: str = Field(sa_type=String(128))
    target: str = Field(sa_type=String(256))
    at_us: int = Field(sa_type=BigInteger)
    archive_seq: int = Field(sa_type=BigInteger)
    details_json: str = Field(sa_type=Text)


user_actions = table_of(UserActionRow)

@dataclass(frozen=True)
class UserAction:
    action_id: str
    user: str
    session_id: str
    action: str
    target: str
    at: datetime
    details_json: str


class UserActivity:
    def __init__(self, engine: Engine, bus: ReportBus, recorder: UserActionRecorder) -> None:
        self._engine = engine
        self._bus = bus
        self._recorder = recorder

    async def record(self, user: str, session_id: str, action: str, target: str, details: Any) -> str:
        return await self._recorder.record(user, session_id, action, target, details)

    async def record_reported(
        self, user: str, session_id: str, action: str, target: str, details_json: str
    ) -> str:
        """An action a console reports itself; its details must be a JSON object."""
        try:
            details = json.loads(details_json or "{}")
        except ValueError:
            details = None
        if not isinstance(details, dict):
            raise InvalidArgument.field("details_json", "must be a JSON object")
        return await self.record(user, session_id, action, target, details)

    async def start_session(self, user: str, description: str) -> str:
        session_id = new_report_id()
        await self.record(user, session_id, "session.start", "", {"description": description})
        return session_id

    async def end_session(self, user: str, session_id: str) -> None:
        if not session_id:
            raise InvalidArgument.field("session_id", "is required")
        await self.record(user, session_id, "session.end", "", {})

    async def follow(self, set_aside: SetAside) -> None:
        """Materialise user actions from the bus, resuming after the last one stored; ends with the bus."""
        await follow_records(self._bus, self._engine, user_actions, RECORD_TYPE, self._insert, set_aside)

    def _insert(self, seq: int, report: rpb.Report) -> None:
        record = json.loads(report.settlement.details_json)
        produced = report.header.produced_at
        with self._engine.begin() as conn:
            insert_checked(conn, user_actions, {
                "action_id": report.header.report_id, "user_name": record["user"], "session_id": record["session_id"],
                "action": record["action"], "target": record["target"], "archive_seq": seq,
                "at_us": produced.seconds * 1_000_000 + produced.nanos // 1000,
                "details_json": canonical_json(record["details"]),
            })  # fmt: skip

    async def list(
        self,
        user: str,
        session_id: str,
        action: str,
        since: datetime | None,
        until: datetime | None,
        limit: int,
    ) -> list[UserAction]:
        t = user_actions
        query = select(t)
        for column, value in ((t.c.user_name, user), (t.c.session_id, session_id), (t.c.action, action)):
            if value:
                query = query.where(column == value)
        if since:
            query = query.where(t.c.at_us >= to_micros(since))
        if until:
            query = query.where(t.c.at_us < to_micros(until))
        query = query.order_by(t.c.at_us.desc(), t.c.archive_seq.desc()).limit(page_size(limit))

        def fetch() -> list[UserAction]:
            with self._engine.connect() as conn:
                return [UserAction(r.action_id, r.user_name, r.session_id, r.action, r.target, from_micros(r.at_us),
                                   r.details_json) for r in conn.execute(query)]  # fmt: skip

        return await asyncio.to_thread(fetch)
