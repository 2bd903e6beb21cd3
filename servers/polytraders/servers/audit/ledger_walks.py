"""Walks of the compliance ledger, asked for by a caller (VerifyLedger) or by cron (the daily
`ledger-verify` task). A clean walk of every stream is kept in the database, so every process,
a restarted one included, shows when it last happened (what alerting watches)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp
from prometheus_client.core import Metric
from sqlalchemy import Engine

from polytraders.sdk.clock import Clock, to_timestamp
from polytraders.servers.runtime import ledger
from polytraders.servers.runtime.errors import FailedPrecondition
from polytraders.servers.runtime.leadership import read_result, save_result
from polytraders.servers.runtime.metrics import gauge

LAST_CLEAN_WALK = "audit.ledger-verified"


class LedgerWalks:
    def __init__(self, engine: Engine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock

    async def verify(self, stream: str = "", *, from_checkpoint: bool = False) -> ledger.Verification:
        started = self._clock.now()
        result = await asyncio.to_thread(ledger.verify, self._engine, stream, from_checkpoint)
        if result.ok and not stream:
            await asyncio.to_thread(save_result, self._engine, LAST_CLEAN_WALK, to_timestamp(started), None)
        return result

    async def scheduled(self, arguments: Mapping[str, str], scheduled: datetime) -> str:
        """The cron command: every stream from its latest checkpoint; a break fails the dispatch (and alerts)."""
        found = await self.verify(from_checkpoint=True)
        if found.broken is not None:
            b = found.broken
            raise FailedPrecondition(f"compliance ledger BROKEN at stream {b.stream} entry {b.seq}: {b.explanation}")
        return f"ledger ok: {found.entries_checked} entries, {found.checkpoints_checked} checkpoints verified"

    def state(self) -> Iterator[Metric]:
        walked = read_result(self._engine, LAST_CLEAN_WALK, Timestamp)
        yield gauge("polytraders_ledger_verified_timestamp_seconds",
                    "When a walk of every stream of the compliance ledger last found it whole (Unix time; 0: never).",
                    [], [((), walked.ToMicroseconds() / 1_000_000 if walked else 0.0)])  # fmt: skip
