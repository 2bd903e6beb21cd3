"""HealthHeartbeat: every bot's grpc.health.v1 endpoint, polled concurrently, paged after N misses.

The fleet is data (a TOML manifest the operator edits). A sweep probes every bot at once, each
with its own deadline, so one dead host costs one deadline, not one per bot. After
`missed_heartbeats_to_alert` misses in a row a bot is paged (once) and, when it has one, its
restart command runs in the background; its first SERVING answer resolves the page.

Sweeps are a duty one process leads. Each bot's count (misses, paged or not) is stored, under the
sweep's fencing token, before anything is paged or restarted; a process that takes the sweeps
over (or restarts) goes on from the stored counts, so a dead bot is paged once and restarted
once however often the lead changes hands, and a deposed leader pages nobody. The fleet each
sweep saw is stored with the counts; every other process shows it when the sweep's report
reaches its bus, so reads and watch streams answer alike on every replica.
"""

from __future__ import annotations

import asyncio
import logging
import shlex
import time
import tomllib
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2
from sqlalchemy import BigInteger, Boolean, Engine, Integer, String, Text, select
from sqlmodel import Field, SQLModel

from polytraders.governance.v1 import operations_pb2 as pb
from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk.clock import Clock, from_micros, to_micros, to_timestamp
from polytraders.sdk.health import health_check
from polytraders.servers.runtime.alerts import Alert, AlertSink
from polytraders.servers.runtime.archive import ReportFilter
from polytraders.servers.runtime.bus import ReportBus
from polytraders.servers.runtime.errors import InvalidArgument
from polytraders.servers.runtime.leadership import (
    Fence,
    current_fence,
    fenced_write,
    read_result,
    store_result,
)
from polytraders.servers.runtime.reporter import GovernanceReporter
from polytraders.servers.runtime.storage import table_of, upsert

log = logging.getLogger(__name__)
COMPONENT = "health-heartbeat"
SWEEP = "health.sweep"
"""The component of each sweep's OperationsReport."""
FLEET_HEALTH = "operations.fleet-health"
"""The duty result: the fleet as the last sweep saw it."""


class FleetBotStateRow(SQLModel, table=True):
    """Each bot's heartbeat count as the last sweep left it (what a new sweep leader goes on from)."""

    __tablename__ = "fleet_bot_states"

    bot_slug: str = Field(sa_type=String(128), primary_key=True)
    status: int = Field(sa_type=Integer)
    misses: int = Field(sa_type=Integer)
    alerting: bool = Field(sa_type=Boolean)
    last_serving_us: int | None = Field(default=None, sa_type=BigInteger)
    detail: str = Field(sa_type=Text)
    restarts: int | None = Field(default=None, sa_type=Integer)
    fencing_token: int | None = Field(default=None, sa_type=BigInteger)
    """The sweep hold that wrote it (see `Leadership`)."""


fleet_bot_states = table_of(FleetBotStateRow)


@dataclass(frozen=True)
class FleetBot:
    slug: str
    bot_class: str
    layer: str
    target: str
    """host:port of the bot's grpc.health.v1 endpoint."""
    restart_command: tuple[str, ...] = ()


def load_fleet(path: str | Path) -> list[FleetBot]:
    """`[[bot]]` tables: slug, class, layer, health_target, and optionally restart_command."""
    data = tomllib.loads(Path(path).read_text())
    fleet, seen = [], set()
    for i, entry in enumerate(data.get("bot", [])):
        try:
            bot = FleetBot(entry["slug"], entry["class"], entry["layer"], entry["health_target"],
                           tuple(shlex.split(entry.get("restart_command", ""))))  # fmt: skip
        except KeyError as missing:
            raise ValueError(f"{path}: [[bot]] #{i} has no {missing}") from None
        if bot.slug in seen:
            raise ValueError(f"{path}: bot {bot.slug!r} is listed twice")
        seen.add(bot.slug)
        fleet.append(bot)
    return fleet


@dataclass
class _BotState:
    bot: FleetBot
    status: pb.BotStatus.ValueType = pb.BOT_STATUS_UNKNOWN
    misses: int = 0
    last_serving: datetime | None = None
    alerting: bool = False
    detail: str = ""
    restarts: int = 0

    def stored(self) -> tuple[int, int, bool, str, int]:
        """What a change of is stored (the last SERVING time rides along, not on its own)."""
        return self.status, self.misses, self.alerting, self.detail, self.restarts

    def row(self, token: int | None) -> dict[str, object]:
        return {"bot_slug": self.bot.slug, "status": self.status, "misses": self.misses, "alerting": self.alerting,
                "last_serving_us": to_micros(self.last_serving) if self.last_serving else None,
                "detail": self.detail[:2000], "restarts": self.restarts, "fencing_token": token}  # fmt: skip

    def message(self) -> pb.BotHealth:
        health = pb.BotHealth(
            bot_slug=self.bot.slug, bot_class=self.bot.bot_class, layer=self.bot.layer, target=self.bot.target,
            status=self.status, consecutive_misses=self.misses, alerting=self.alerting, detail=self.detail,
            restarts=self.restarts,
        )  # fmt: skip
        if self.last_serving:
            health.last_serving_at.CopyFrom(to_timestamp(self.last_serving))
        return health


class HealthHeartbeat:
    def __init__(
        self,
        fleet: Sequence[FleetBot],
        engine: Engine,
        clock: Clock,
        alerts: AlertSink,
        reporter: GovernanceReporter,
        *,
        misses_to_alert: int = 3,
        probe_deadline_seconds: float = 0.5,
    ) -> None:
        self._states = {bot.slug: _BotState(bot) for bot in fleet}
        self._engine = engine
        self._restored: tuple[Fence | None] | None = None
        """The hold the in-memory counts were last read from the table under."""
        self._clock = clock
        self._alerts = alerts
        self._reporter = reporter
        self._misses_to_alert = misses_to_alert
        self._deadline = probe_deadline_seconds
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._restarts: set[asyncio.Task[None]] = set()
        self._watchers: set[asyncio.Queue[pb.FleetHealth | None]] = set()
        self._sweeps = 0
        self._last = pb.FleetHealth()
        self._sweeping = asyncio.Lock()
        self._closed = False

    async def _probe(self, bot: FleetBot) -> tuple[pb.BotStatus.ValueType, str]:
        channel = self._channels.get(bot.target)
        if channel is None:
            channel = self._channels[bot.target] = grpc.aio.insecure_channel(bot.target)
        try:
            reply = await health_check(channel)(
                health_pb2.HealthCheckRequest(), timeout=self._deadline
            )
        except grpc.aio.AioRpcError as error:
            # a fresh channel next time: a failed one sits in reconnect backoff past the next sweeps
            stale = self._channels.pop(bot.target, None)
            if stale is not None:
                await stale.close()
            return pb.BOT_STATUS_UNREACHABLE, f"{error.code().name}: {error.details()}"
        if reply.status == health_pb2.HealthCheckResponse.SERVING:
            return pb.BOT_STATUS_SERVING, ""
        return pb.BOT_STATUS_NOT_SERVING, health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)

    async def sweep(self) -> pb.FleetHealth:
        """Probe every bot once; store the counts; then page, restart and resolve as they say;
        report the fleet. Under a stale fencing token nothing is stored, paged or restarted."""
        async with self._sweeping:
            began = time.perf_counter()
            now = self._clock.now()
            fence = current_fence()
            if self._restored != (fence,):  # a new hold (or a failed sweep): go on from the table
                await asyncio.to_thread(self._restore)
                self._restored = (fence,)
            states = list(self._states.values())
            found = await asyncio.gather(*(self._probe(s.bot) for s in states))
            alerts: list[Alert] = []
            restarts: list[FleetBot] = []
            changed: list[_BotState] = []
            for state, (status, detail) in zip(states, found, strict=True):
                before = state.stored()
                self._judge(state, status, detail, now, alerts, restarts)
                if state.stored() != before:
                    changed.append(state)
            fleet = self._snapshot(self._sweeps + 1, now, int((time.perf_counter() - began) * 1_000_000))
            try:
                await asyncio.to_thread(self._store, changed, fleet, fence)
            except BaseException:
                self._restored = None  # the counts in memory went further than the table: read it again
                raise
            for alert in alerts:
                await self._alerts.send(alert)
            for bot in restarts:
                task = asyncio.get_running_loop().create_task(self._restart(bot))
                self._restarts.add(task)
                task.add_done_callback(self._restarts.discard)
            self._sweeps = fleet.sweep
        self._show(fleet)
        await self._report(fleet)
        return fleet

    @property
    def last(self) -> pb.FleetHealth:
        """The fleet as the last sweep this process swept or read back saw it."""
        return self._last

    def _show(self, fleet: pb.FleetHealth) -> None:
        """Make `fleet` what reads answer and what watchers get next, unless a later sweep is
        shown already (read back meanwhile, or swept by a newer leader)."""
        if fleet.sweep <= self._last.sweep:
            return
        self._last = fleet
        for queue in self._watchers:
            _offer_latest(queue, fleet)

    async def follow_sweeps(self, bus: ReportBus) -> None:
        """Sweeps led by another process, live: each one's report brings the fleet it stored to
        this process's reads and watchers (a standby sweeps nothing itself)."""
        sweeps = ReportFilter(kinds=frozenset({rpb.REPORT_KIND_OPERATIONS}), bot_slugs=frozenset({COMPONENT}))

        async def show_stored() -> None:
            try:
                await self._show_stored()
            except Exception:  # noqa: BLE001 - the follower goes on: the next sweep's report reads it again
                log.warning("reading the last sweep failed", exc_info=True)

        async with aclosing(bus.subscribe(sweeps, live_only=True)) as reports:
            await show_stored()  # what was swept before this process listened
            async for archived in reports:
                if rpb.Report.FromString(archived.payload).operations.component == SWEEP:
                    await show_stored()

    async def _show_stored(self) -> None:
        stored = await asyncio.to_thread(read_result, self._engine, FLEET_HEALTH, pb.FleetHealth)
        if stored is not None:
            self._show(stored)

    def _restore(self) -> None:
        with self._engine.connect() as conn:
            rows = conn.execute(select(fleet_bot_states)).all()
        for row in rows:
            state = self._states.get(row.bot_slug)
            if state is not None:
                state.status, state.misses, state.alerting, state.detail = row.status, row.misses, row.alerting, row.detail
                state.restarts = row.restarts or 0
                state.last_serving = from_micros(row.last_serving_us) if row.last_serving_us is not None else None
        stored = read_result(self._engine, FLEET_HEALTH, pb.FleetHealth)
        self._sweeps = max(self._sweeps, stored.sweep if stored else 0)  # sweeps count on across holders

    def _store(self, changed: list[_BotState], fleet: pb.FleetHealth, fence: Fence | None) -> None:
        token = None if fence is None else fence.token
        with fenced_write(self._engine, fence) as conn:
            if changed:
                upsert(conn, fleet_bot_states, [s.row(token) for s in changed], ["bot_slug"])
            store_result(conn, FLEET_HEALTH, fleet, fence)

    def _judge(
        self,
        state: _BotState,
        status: pb.BotStatus.ValueType,
        detail: str,
        now: datetime,
        alerts: list[Alert],
        restarts: list[FleetBot],
    ) -> None:
        """Count one probe's answer; add the page or the resolve it calls for, and the restart."""
        state.status, state.detail = status, detail
        key = f"health:{state.bot.slug}"
        if status == pb.BOT_STATUS_SERVING:
            state.misses, state.last_serving = 0, now
            if state.alerting:
                state.alerting = False
                alerts.append(Alert(COMPONENT, key, rpb.SEVERITY_INFO, f"{state.bot.slug} answers SERVING again",
                                    resolved=True))  # fmt: skip
            return
        state.misses += 1
        if state.misses >= self._misses_to_alert and not state.alerting:
            state.alerting = True
            seen = state.last_serving.isoformat() if state.last_serving else "never since governance started"
            alerts.append(Alert(
                COMPONENT, key, rpb.SEVERITY_PAGE,
                f"{state.bot.slug} ({state.bot.layer}) missed {state.misses} heartbeats in a row at {state.bot.target}: "
                f"{detail}; last SERVING {seen}"
                + ("; restarting it" if state.bot.restart_command else ""),
                {"bot_slug": state.bot.slug, "layer": state.bot.layer, "misses": str(state.misses)},
            ))  # fmt: skip
            if state.bot.restart_command:
                state.restarts += 1
                restarts.append(state.bot)

    async def _restart(self, bot: FleetBot) -> None:
        try:
            process = await asyncio.create_subprocess_exec(
                *bot.restart_command, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
            )
            _, stderr = await process.communicate()
            outcome, status = f"exited {process.returncode}", rpb.COMPONENT_STATUS_DEGRADED
            if process.returncode:
                outcome += f": {stderr.decode(errors='replace')[-500:]}"
        except OSError as error:
            outcome, status = f"could not start: {error}", rpb.COMPONENT_STATUS_DOWN
        await self._reporter.operations(
            f"bot:{bot.slug}", "health.restart", status, rpb.SEVERITY_WARNING,
            f"restart command for {bot.slug} ({shlex.join(bot.restart_command)}) {outcome}", {"bot_slug": bot.slug},
        )  # fmt: skip

    async def restarts_finished(self) -> None:
        if self._restarts:
            await asyncio.gather(*self._restarts)

    def _snapshot(self, sweep: int, now: datetime, duration_us: int) -> pb.FleetHealth:
        fleet = pb.FleetHealth(sweep=sweep, swept_at=to_timestamp(now), duration_micros=duration_us)
        layers: dict[str, pb.LayerHealth] = {}
        for state in self._states.values():
            fleet.bots.append(state.message())
            layer = layers.setdefault(state.bot.layer, pb.LayerHealth(layer=state.bot.layer))
            layer.bots += 1
            layer.serving += state.status == pb.BOT_STATUS_SERVING
            layer.alerting += state.alerting
        fleet.layers.extend(layers[name] for name in sorted(layers))
        return fleet

    async def _report(self, fleet: pb.FleetHealth) -> None:
        serving = sum(layer.serving for layer in fleet.layers)
        alerting = sum(layer.alerting for layer in fleet.layers)
        status = rpb.COMPONENT_STATUS_HEALTHY if serving == len(fleet.bots) else rpb.COMPONENT_STATUS_DEGRADED
        metrics = {"bots": str(len(fleet.bots)), "serving": str(serving), "alerting": str(alerting),
                   "sweep": str(fleet.sweep), "duration_micros": str(fleet.duration_micros)}  # fmt: skip
        for layer in fleet.layers:
            metrics[f"layer.{layer.layer}.serving"] = f"{layer.serving}/{layer.bots}"
        by_layer = ", ".join(f"{layer.layer} {layer.serving}/{layer.bots}" for layer in fleet.layers)
        await self._reporter.operations(
            SWEEP, SWEEP, status,
            rpb.SEVERITY_INFO if status == rpb.COMPONENT_STATUS_HEALTHY else rpb.SEVERITY_WARNING,
            f"sweep {fleet.sweep}: {serving} of {len(fleet.bots)} bots SERVING ({by_layer}); {alerting} paged", metrics,
        )  # fmt: skip

    async def fleet(self, layer: str = "") -> pb.FleetHealth:
        """The last sweep's fleet, whichever process swept (read through on a shared database)."""
        if self._engine.dialect.name == "postgresql":
            await self._show_stored()
        return _only_layer(self._last, layer)

    async def watch(self, layer: str = "") -> AsyncIterator[pb.FleetHealth]:
        """The last sweep, then every sweep, until the heartbeat stops."""
        if self._closed:
            return
        queue: asyncio.Queue[pb.FleetHealth | None] = asyncio.Queue(
            maxsize=1
        )  # a slow reader gets the latest
        self._watchers.add(queue)
        try:
            yield _only_layer(self._last, layer)
            while (fleet := await queue.get()) is not None:
                yield _only_layer(fleet, layer)
        finally:
            self._watchers.discard(queue)

    async def close(self) -> None:
        """End every watch stream and close the probe channels (the mesh is stopping)."""
        self._closed = True
        for queue in self._watchers:
            _offer_latest(queue, None)
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()

    @property
    def layers(self) -> set[str]:
        return {s.bot.layer for s in self._states.values()}


def _offer_latest(queue: asyncio.Queue[pb.FleetHealth | None], item: pb.FleetHealth | None) -> None:
    """Replace what a watcher has not read yet: it needs the fleet as it is, not every sweep it missed."""
    if queue.full():
        queue.get_nowait()
    queue.put_nowait(item)


def _only_layer(fleet: pb.FleetHealth, layer: str) -> pb.FleetHealth:
    if not layer:
        return fleet
    chosen = pb.FleetHealth(sweep=fleet.sweep, swept_at=fleet.swept_at, duration_micros=fleet.duration_micros)
    chosen.bots.extend(b for b in fleet.bots if b.layer == layer)
    chosen.layers.extend(entry for entry in fleet.layers if entry.layer == layer)
    return chosen


def check_layer(heartbeat: HealthHeartbeat, layer: str) -> str:
    if layer and layer not in heartbeat.layers:
        raise InvalidArgument.field(
            "layer", f"no bot of the fleet is in layer {layer!r}; layers: {sorted(heartbeat.layers)}"
        )
    return layer
