"""Materialising one kind of SEVEN_YEARS record from the bus, resuming where the last run stopped."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from sqlalchemy import Engine, Table, func, select

from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.servers.runtime.archive import ReportFilter
from polytraders.servers.runtime.bus import ReportBus
from polytraders.servers.runtime.set_aside import SetAside


def _last_seq(engine: Engine, table: Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.coalesce(func.max(table.c.archive_seq), 0))).scalar_one())


async def follow_records(
    bus: ReportBus,
    engine: Engine,
    table: Table,
    record_type: str,
    store: Callable[[int, rpb.Report], None],
    set_aside: SetAside,
) -> None:
    """Call `store(seq, report)` (in a thread) for each settlement of `record_type` after the last
    one `table` holds or `record_type` set aside; ends when the bus closes. A record `store`
    cannot take is set aside, and the next one is stored."""
    stored, skipped = await asyncio.gather(
        asyncio.to_thread(_last_seq, engine, table), asyncio.to_thread(set_aside.last_seq, record_type)
    )
    after_seq = max(stored, skipped)
    async for archived in bus.subscribe(
        ReportFilter(kinds=frozenset({rpb.REPORT_KIND_SETTLEMENT})), after_seq=after_seq
    ):
        report = rpb.Report.FromString(archived.payload)
        if report.settlement.record_type != record_type:
            continue
        try:
            await asyncio.to_thread(store, archived.seq, report)
        except Exception as error:  # noqa: BLE001 - kept in the archive and the ledger; listed, alerted
            await set_aside.put(record_type, archived.seq, report, error)
