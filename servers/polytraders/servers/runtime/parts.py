"""What a bot group is built from: the shared ground every group of a process stands on.

Groups receive a `MeshParts` and add their services, commands, queries and background work to
it; the composition root (`polytraders.servers.mesh`) builds it and decides which groups a
process serves. Nothing here knows any group.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk.clock import Clock

from .alerts import Alert, AlertRouter
from .bus import ReportBus, following
from .commands import Commands
from .config import ServerConfig
from .leadership import Deposed, Leadership
from .metrics import MeshMetrics
from .peers import Peers
from .set_aside import SetAside
from .slo_counts import SloCounter
from .user_actions import UserActionRecorder

log = logging.getLogger(__name__)


@dataclass
class MeshParts:
    """What a bot group is built from."""

    config: ServerConfig
    engine: Engine
    clock: Clock
    bus: ReportBus
    alerts: AlertRouter
    """Where groups raise alerts (OperationsReports on the bus; the operations group adds the pager)."""
    set_aside: SetAside
    """Where bus followers put a report they could not store, and go on."""
    user_actions: UserActionRecorder
    """Where every user action is recorded (on the bus): every operator call that changes something
    goes there from the interceptor, in every process, whatever groups it serves."""
    slo_counter: SloCounter
    """Every unary call this process serves, counted for the SLOs (whichever group evaluates them)."""
    metrics: MeshMetrics = field(default_factory=MeshMetrics)
    """This process's Prometheus metrics: groups count their events and add their state here."""
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    peers: Peers = field(default_factory=Peers)
    """The processes serving the groups this one does not (the service map's)."""
    commands: Commands = field(default_factory=Commands)
    """Governance operations cron and other groups may run, by name; each group adds its own, and
    the service map reaches the rest."""
    queries: dict[str, Callable[..., Awaitable[Any]]] = field(default_factory=dict)
    """Reads one group offers another, by name (e.g. "registry.stage_at" for the explainer)."""
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    on_stop: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    """What a group must do when the mesh stops (end its streams, close its channels)."""

    leadership: Leadership | None = None
    """Who runs each duty that must run once across processes (followers, the broker relay)."""
    stopped_work: list[str] = field(default_factory=list)
    """Background work that ended before the mesh stopped; health's BACKGROUND_WORK is then NOT_SERVING."""
    on_work_stopped: Callable[[], Awaitable[None]] | None = None

    def spawn(self, work: Coroutine[Any, Any, None], *, name: str = "") -> None:
        """Run a group's background work (e.g. following the bus) for the life of the mesh; work
        that ends early (a follower that stopped) is alerted and shown in health, never silent."""
        name = name or getattr(work, "__qualname__", repr(work))
        self.tasks.append(asyncio.get_running_loop().create_task(self._watched(work, name)))

    def lead(self, duty: str, work: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run `work()` in whichever one process of those sharing the database holds `duty`."""
        assert self.leadership is not None
        leadership = self.leadership

        async def until_stopped() -> None:
            following.set(duty)  # the bus names this duty's subscriptions after it (their lag goes in health)
            leading = asyncio.ensure_future(leadership.lead(duty, work))
            stopped = asyncio.ensure_future(self.stopping.wait())
            await asyncio.wait({leading, stopped}, return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
            if not leading.done():  # the mesh is stopping: a standby or a relay has no end of its own
                leading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await leading

        self.spawn(until_stopped(), name=duty)

    async def _watched(self, work: Coroutine[Any, Any, None], name: str) -> None:
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - said in the log, the alert and health
            log.exception("background work %s stopped", name)
            reason = f"{type(error).__name__}: {error}"
        else:
            reason = "it returned"
        if self.stopping.is_set():
            return
        self.stopped_work.append(name)
        await self.alerts.send(Alert("governance", f"stopped:{name}", rpb.SEVERITY_PAGE,
                                     f"background work {name} stopped before the mesh did: {reason}"[:1000]))  # fmt: skip
        if self.on_work_stopped is not None:
            await self.on_work_stopped()

    def every(self, seconds: float, work: Callable[[], Awaitable[Any]], *, duty: str = "") -> None:
        """Run `work` now and then every `seconds` until the mesh stops; a failing round is logged.
        With a `duty`, only the process leading it runs the rounds (a singleton across processes)."""

        async def rounds() -> None:
            while not self.stopping.is_set():
                try:
                    await work()
                except Deposed:
                    raise  # another process leads the duty now: Leadership stands this one by
                except Exception:  # noqa: BLE001 - one bad round must not end the loop
                    log.exception("periodic %s failed", getattr(work, "__qualname__", work))
                try:
                    await asyncio.wait_for(self.stopping.wait(), seconds)
                except TimeoutError:
                    pass

        if duty:
            self.lead(duty, rounds)
        else:
            self.spawn(rounds())
