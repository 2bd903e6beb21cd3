"""One process at a time for a duty that must not run twice (a bus follower, the broker relay).

On PostgreSQL a duty is held with a session-level advisory lock on a connection kept for it:
a holder that dies, or whose connection is cut, lets go with its session, and a standby takes
the duty within `retry_seconds`. A holder checks its connection as often and stops the work the
moment it cannot, so two processes never do the duty for longer than that. On SQLite (one
process) every duty is simply run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.pool import NullPool

from .storage import advisory_key

log = logging.getLogger(__name__)

Work = Callable[[], Coroutine[Any, Any, None]]


class Leadership:
    """Leads duties for one process; each held duty has a connection of its own (not the pool's)."""

    def __init__(
        self,
        engine: Engine,
        *,
        retry_seconds: float = 1.0,
        on_change: Callable[[str, bool], Awaitable[None]] | None = None,
    ) -> None:
        self._shared = engine.dialect.name == "postgresql"
        self._on_change = on_change
        self._holders = create_engine(engine.url, poolclass=NullPool) if self._shared else None
        self._retry_seconds = retry_seconds
        self.held: set[str] = set()
        """The duties this process holds now."""

    async def lead(self, duty: str, work: Work) -> None:
        """Run `work()` whenever this process holds `duty`, until it returns or this is cancelled."""
        if self._holders is None:
            self.held.add(duty)
            await self._changed(duty, True)
            await work()
            return
        await self._changed(duty, False)
        while True:
            connection = await asyncio.to_thread(self._try_hold, duty)
            if connection is None:
                await asyncio.sleep(self._retry_seconds)
                continue
            self.held.add(duty)
            log.info("leading %s", duty)
            await self._changed(duty, True)
            try:
                if await self._run_while_held(duty, work, connection):
                    return
            finally:
                self.held.discard(duty)
                await asyncio.to_thread(_close, connection)
                await self._changed(duty, False)
            log.warning("lost the lead of %s; standing by", duty)

    async def _changed(self, duty: str, held: bool) -> None:
        if self._on_change is not None:
            with contextlib.suppress(Exception):
                await self._on_change(duty, held)

    def _try_hold(self, duty: str) -> Connection | None:
        assert self._holders is not None
        try:
            connection = self._holders.connect()
        except Exception:  # noqa: BLE001 - the database is away: try again later
            log.warning("cannot reach the database to lead %s", duty, exc_info=True)
            return None
        key = advisory_key(f"polytraders.duty.{duty}", connection)
        if connection.exec_driver_sql(f"SELECT pg_try_advisory_lock({key})").scalar_one():
            connection.commit()
            return connection
        _close(connection)
        return None

    async def _run_while_held(self, duty: str, work: Work, connection: Connection) -> bool:
        """True when the work ended by itself; False when the hold was lost (the work is stopped)."""
        task = asyncio.get_running_loop().create_task(work())
        try:
            while not task.done():
                done, _ = await asyncio.wait({task}, timeout=self._retry_seconds)
                if not done and not await asyncio.to_thread(_alive, connection):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                    return False
            task.result()
            return True
        finally:
            if not task.done():
                task.cancel()

    def close(self) -> None:
        if self._holders is not None:
            self._holders.dispose()


def _alive(connection: Connection) -> bool:
    try:
        connection.exec_driver_sql("SELECT 1").scalar_one()
        connection.commit()
        return True
    except Exception:  # noqa: BLE001 - a cut session is exactly what this looks for
        return False


def _close(connection: Connection) -> None:
    with contextlib.suppress(Exception):
        connection.close()
