"""A duty's lock connection is used by one thread at a time, however the lead ends."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest
from sqlalchemy import Connection

from polytraders.servers.runtime import leadership
from polytraders.servers.runtime.leadership import Leadership
from polytraders.servers.runtime.storage import make_engine
from polytraders.servers.schema import prepare


@pytest.mark.postgres
def test_a_lead_cancelled_while_it_checks_its_session_closes_the_connection_after_the_check(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The mesh stopping cancels a leader while its lock session is being checked on a thread:
    the connection is closed only once that check is done with it (closing it under the check
    was a SQLAlchemy warning at every shutdown, and a driver error waiting to happen)."""
    events: list[str] = []
    alive, close = leadership._alive, leadership._close

    def slow_alive(connection: Connection) -> bool:
        events.append("check")
        time.sleep(0.3)
        answer = alive(connection)
        events.append("checked")
        return answer

    def recorded_close(connection: Connection) -> None:
        events.append("close")
        close(connection)

    monkeypatch.setattr(leadership, "_alive", slow_alive)
    monkeypatch.setattr(leadership, "_close", recorded_close)

    async def cancelled_mid_check() -> None:
        engine = make_engine(postgres_url)
        prepare(engine, upgrade=True)  # the duty's fencing tokens live in the schema
        lead = Leadership(engine, retry_seconds=0.01)
        working = asyncio.Event()

        async def work() -> None:
            working.set()
            await asyncio.Event().wait()

        task = asyncio.ensure_future(lead.lead("test.check", work))
        await working.wait()
        while "check" not in events:
            await asyncio.sleep(0.01)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        lead.close()
        engine.dispose()

    asyncio.run(cancelled_mid_check())
    assert events.count("check") == events.count("checked") > 0  # every check ran to its end
    last_checked = max(at for at, event in enumerate(events) if event == "checked")
    assert events.index("close") > last_checked
