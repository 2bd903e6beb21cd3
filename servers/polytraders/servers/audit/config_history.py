"""ParameterChangeAuditor: the configuration history of every bot, materialised from the bus.

Bots record edits as SEVEN_YEARS "config.change" SettlementReports (the SDK's AuditedConfig),
so the records themselves sit in the archive and the compliance ledger. This module follows
the bus from where it last stopped and keeps one row per change, indexed for "the
configuration in force at an instant" and for filtered listings.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Engine, Index, Select, String, Text, select
from sqlmodel import Field, SQLModel

from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk.clock import from_micros, to_micros
from polytraders.servers.runtime.bus import ReportBus
from polytraders.servers.runtime.errors import InvalidArgument, NotFound
from polytraders.servers.runtime.requests import page_size
from polytraders.servers.runtime.set_aside import SetAside
from polytraders.servers.runtime.storage import AnyRow, insert_checked, table_of

from .follower import follow_records

RECORD_TYPE = "config.change"


class ConfigChangeRow(SQLModel, table=True):
    __tablename__ = "config_changes"
    __table_args__ = (Index("config_changes_by_bot_time", "bot_slug", "changed_at_us"),)

    change_id: str = Field(sa_type=String(36), primary_key=True)
    bot_slug: str = Field(sa_type=String(128))
    changed_at_us: int = Field(sa_type=BigInteger)
    archive_seq: int = Field(sa_type=BigInteger)
    actor: str = Field(sa_type=String(128))
    source: str = Field(sa_type=String(32))
    reason: str = Field(sa_type=Text)
    keys_json: str = Field(sa_type=Text)
    before_json: str = Field(sa_type=Text)
    after_json: str = Field(sa_type=Text)
    snapshot_json: str = Field(sa_type=Text)


config_changes = table_of(ConfigChangeRow)

@dataclass(frozen=True)
class ConfigChange:
    change_id: str
    bot_slug: str
    changed_at: datetime
    actor: str
    source: str
    reason: str
    keys: list[str]
    before: dict[str, str]
    """JSON of each value before, by key (absent: the key did not exist)."""
    after: dict[str, str]
    snapshot_json: str

    @property
    def diff(self) -> str:
        return "\n".join(
            f"{k}: {self.before.get(k, '(absent)')} -> {self.after.get(k, '(removed)')}" for k in self.keys
        )


def _row_to_change(row: AnyRow) -> ConfigChange:
    before, after = json.loads(row.before_json), json.loads(row.after_json)
    dumps: Callable[[object], str] = lambda v: json.dumps(v, sort_keys=True, separators=(",", ":"))  # noqa: E731
    return ConfigChange(
        row.change_id, row.bot_slug, from_micros(row.changed_at_us), row.actor, row.source, row.reason,
        json.loads(row.keys_json), {k: dumps(v) for k, v in before.items()}, {k: dumps(v) for k, v in after.items()},
        row.snapshot_json,
    )  # fmt: skip


class ConfigHistory:
    def __init__(self, engine: Engine, bus: ReportBus) -> None:
        self._engine = engine
        self._bus = bus

    async def follow(self, set_aside: SetAside) -> None:
        """Materialise config changes from the bus, resuming after the last one stored; ends with the bus."""
        await follow_records(self._bus, self._engine, config_changes, RECORD_TYPE, self._insert, set_aside)

    def _insert(self, seq: int, report: rpb.Report) -> None:
        details = json.loads(report.settlement.details_json)
        produced = report.header.produced_at
        dumps: Callable[[object], str] = lambda v: json.dumps(v, sort_keys=True, separators=(",", ":"))  # noqa: E731
        with self._engine.begin() as conn:
            insert_checked(conn, config_changes, {
                "change_id": report.header.report_id, "bot_slug": report.header.bot_slug,
                "changed_at_us": produced.seconds * 1_000_000 + produced.nanos // 1000, "archive_seq": seq,
                "actor": details["actor"], "source": details["source"], "reason": details["reason"],
                "keys_json": dumps(details["keys"]), "before_json": dumps(details["before"]),
                "after_json": dumps(details["after"]), "snapshot_json": dumps(details["snapshot"]),
            })  # fmt: skip

    async def config_at(self, bot_slug: str, at: datetime) -> ConfigChange:
        if not bot_slug:
            raise InvalidArgument.field("bot_slug", "is required")
        t = config_changes
        query = (
            select(t).where(t.c.bot_slug == bot_slug, t.c.changed_at_us <= to_micros(at))
            .order_by(t.c.changed_at_us.desc(), t.c.archive_seq.desc()).limit(1)
        )  # fmt: skip
        row = await asyncio.to_thread(self._one, query)
        if row is None:
            raise NotFound(f"no configuration of {bot_slug!r} was recorded at or before {at.isoformat()}")
        return _row_to_change(row)

    async def changes(
        self, bot_slug: str, key: str, actor: str, since: datetime | None, until: datetime | None, limit: int
    ) -> list[ConfigChange]:
        if not bot_slug:
            raise InvalidArgument.field("bot_slug", "is required")
        size = page_size(limit)
        t = config_changes
        query = select(t).where(t.c.bot_slug == bot_slug)
        if actor:
            query = query.where(t.c.actor == actor)
        if since:
            query = query.where(t.c.changed_at_us >= to_micros(since))
        if until:
            query = query.where(t.c.changed_at_us < to_micros(until))
        query = query.order_by(t.c.changed_at_us.desc(), t.c.archive_seq.desc())
        rows = await asyncio.to_thread(self._all, query)
        found = [_row_to_change(r) for r in rows]
        return [c for c in found if not key or key in c.keys][:size]

    def _one(self, query: Select[*tuple[Any, ...]]) -> AnyRow | None:
        with self._engine.connect() as conn:
            return conn.execute(query).first()

    def _all(self, query: Select[*tuple[Any, ...]]) -> Sequence[AnyRow]:
        with self._engine.connect() as conn:
            return conn.execute(query).all()
