"""One process at a time for a duty that must not run twice (a bus follower, the broker relay).

On PostgreSQL a duty is held with a session-level advisory lock on a connection kept for it:
a holder that dies, or whose connection is cut, lets go with its session, and a standby takes
the duty within `retry_seconds`. A holder checks its connection as often and stops the work the
moment it cannot. On SQLite (one process) every duty is simply run, unfenced.

Between a holder's lock going and the holder noticing, it may still act. Each hold therefore
takes a fencing token (one more than the duty's last, in `duty_leases`), and work whose writes
must not come from a deposed leader checks `current_fence()` inside each write transaction: a
stale token is refused (`Deposed`), the work stops, and the process stands by.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from google.protobuf.message import Message
from sqlalchemy import BigInteger, Connection, Engine, LargeBinary, String, create_engine, select, text
from sqlalchemy.pool import NullPool
from sqlmodel import Field, SQLModel

from .storage import advisory_key, table_of, upsert

log = logging.getLogger(__name__)

Work = Callable[[], Coroutine[Any, Any, None]]
M = TypeVar("M", bound=Message)


class DutyLeaseRow(SQLModel, table=True):
    """The latest hold of each duty: its fencing token, and which process took it."""

    __tablename__ = "duty_leases"

    duty: str = Field(sa_type=String(128), primary_key=True)
    token: int = Field(sa_type=BigInteger)
    holder: str = Field(sa_type=String(256))


duty_leases = table_of(DutyLeaseRow)


class DutyResultRow(SQLModel, table=True):
    """What a duty found last (a message, serialised), so that every process answers reads of it
    alike: a standby has found nothing itself."""

    __tablename__ = "duty_results"

    name: str = Field(sa_type=String(128), primary_key=True)
    payload: bytes = Field(sa_type=LargeBinary)
    fencing_token: int | None = Field(default=None, sa_type=BigInteger)
    """The hold that wrote it."""


duty_results = table_of(DutyResultRow)


@contextlib.contextmanager
def fenced_write(engine: Engine, fence: Fence | None) -> Iterator[Connection]:
    """A write transaction that goes on only while `fence` is its duty's latest hold (any, when
    no duty is led: one process, or an operator's call)."""
    with engine.begin() as conn:
        if fence is not None:
            fence.check(conn)
        yield conn


def store_result(conn: Connection, name: str, result: Message, fence: Fence | None) -> None:
    """Inside the duty's `fenced_write`: its latest result."""
    row = {"name": name, "payload": result.SerializeToString(), "fencing_token": fence and fence.token}
    upsert(conn, duty_results, [row], ["name"])


def save_result(engine: Engine, name: str, result: Message, fence: Fence | None) -> None:
    """The duty's latest result, in a `fenced_write` of its own."""
    with fenced_write(engine, fence) as conn:
        store_result(conn, name, result, fence)


def read_result(engine: Engine, name: str, message_type: type[M]) -> M | None:
    """The duty's latest result, as whichever process held it stored it; None before the first."""
    with engine.connect() as conn:
        payload = conn.execute(select(duty_results.c.payload).where(duty_results.c.name == name)).scalar()
    return None if payload is None else message_type.FromString(payload)

_TAKE_TOKEN = text(
    "INSERT INTO duty_leases (duty, token, holder) VALUES (:duty, 1, :holder) "
    "ON CONFLICT (duty) DO UPDATE SET token = duty_leases.token + 1, holder = excluded.holder "
    "RETURNING token"
)
HOLDER = f"{socket.gethostname()}:{os.getpid()}"
"""This process, as the leases (and work it leaves behind) name it."""
_PROCESS = "polytraders.process."


class Deposed(Exception):
    """A write of a duty's work came from a hold that another has since taken over."""


@dataclass(frozen=True)
class Fence:
    """A hold of a duty, as its writes carry it."""

    duty: str
    token: int

    def check(self, conn: Connection) -> None:
        """Inside a write transaction: go on only if this is still the duty's latest hold. The lease
        row is read FOR SHARE, so a takeover committing meanwhile is waited for, then seen."""
        query = select(duty_leases.c.token, duty_leases.c.holder).where(duty_leases.c.duty == self.duty)
        latest = conn.execute(query.with_for_update(read=True)).one_or_none()
        if latest is None or latest.token != self.token:
            held_by = f"token {latest.token}, held by {latest.holder}" if latest else "no hold"
            raise Deposed(f"{self.duty}: fencing token {self.token} is stale ({held_by}); the write is refused")


_fence: contextvars.ContextVar[Fence | None] = contextvars.ContextVar("fence", default=None)


def current_fence() -> Fence | None:
    """The hold the running duty's work acts under (None outside a led duty)."""
    return _fence.get()


def process_alive(conn: Connection, holder: str) -> bool:
    """Whether the process `holder` (as HOLDER names it) still runs: it holds its own lock for its
    life (`Leadership.announce`). Inside a transaction; PostgreSQL only."""
    key = advisory_key(f"{_PROCESS}{holder}", conn)
    return not conn.exec_driver_sql(f"SELECT pg_try_advisory_xact_lock({key})").scalar_one()


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
        self._announced: Connection | None = None
        self._waiting: dict[str, tuple[Connection, int]] = {}
        """Each duty a standby waits for: the connection it tries the lock on, and the lock's key."""
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
            held = await asyncio.to_thread(self._try_hold, duty)
            if held is None:
                await asyncio.sleep(self._retry_seconds)
                continue
            connection, fence = held
            self.held.add(duty)
            log.info("leading %s with fencing token %d", duty, fence.token)
            await self._changed(duty, True)
            try:
                if await self._run_while_held(fence, work, connection):
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

    def _try_hold(self, duty: str) -> tuple[Connection, Fence] | None:
        """The duty's lock, on a connection of its own, and a new fencing token taken under it. A
        standby keeps its connection between tries (a new session a second per duty and standby
        would cost the database a backend each time)."""
        try:
            waiting = self._waiting.pop(duty, None)
            connection, key = waiting or self._connect_for(duty)
        except Exception:  # noqa: BLE001 - the database is away: try again later
            log.warning("cannot reach the database to lead %s", duty, exc_info=True)
            return None
        try:
            if connection.exec_driver_sql(f"SELECT pg_try_advisory_lock({key})").scalar_one():
                token = connection.execute(_TAKE_TOKEN, {"duty": duty, "holder": HOLDER}).scalar_one()
                connection.commit()
                return connection, Fence(duty, token)
            connection.rollback()
            self._waiting[duty] = connection, key
            return None
        except Exception:  # noqa: BLE001 - cut off meanwhile: the lock (if taken) went with the session
            log.warning("taking %s failed", duty, exc_info=True)
        _close(connection)
        return None

    def _connect_for(self, duty: str) -> tuple[Connection, int]:
        assert self._holders is not None
        connection = self._holders.connect()
        try:
            return connection, advisory_key(f"polytraders.duty.{duty}", connection)
        except BaseException:
            _close(connection)
            raise

    async def _run_while_held(self, fence: Fence, work: Work, connection: Connection) -> bool:
        """True when the work ended by itself; False when the hold was lost or the work was told
        it is deposed (the work is stopped)."""
        task = asyncio.ensure_future(_fenced(fence, work))
        try:
            while not task.done():
                done, _ = await asyncio.wait({task}, timeout=self._retry_seconds)
                if not done and not await _checked(connection):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                    return False
            try:
                task.result()
            except Deposed as deposed:
                log.warning("%s", deposed)
                return False
            return True
        finally:
            if not task.done():  # stopped from outside: the work ends before the lock goes
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task

    def announce(self) -> None:
        """Hold this process's own lock for its life (on a connection of its own), so that others
        can tell whether work it left RUNNING is still running (`process_alive`)."""
        if self._holders is None or self._announced is not None:
            return
        connection = self._holders.connect()
        connection.exec_driver_sql(f"SELECT pg_advisory_lock({advisory_key(_PROCESS + HOLDER, connection)})")
        connection.commit()
        self._announced = connection

    def close(self) -> None:
        for connection, _ in self._waiting.values():
            _close(connection)
        self._waiting.clear()
        if self._announced is not None:
            _close(self._announced)
        if self._holders is not None:
            self._holders.dispose()


async def _fenced(fence: Fence, work: Work) -> None:
    """Run the work with `fence` as its current fence (a task copies the context it starts in)."""
    _fence.set(fence)
    await work()


async def _checked(connection: Connection) -> bool:
    """`_alive` on a thread, which a cancellation waits for: the caller closes the connection next,
    and must not while the check still uses it."""
    check = asyncio.ensure_future(asyncio.to_thread(_alive, connection))
    try:
        return await asyncio.shield(check)
    except asyncio.CancelledError:
        while not check.done():  # however often it is cancelled meanwhile
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait({check})
        raise


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
