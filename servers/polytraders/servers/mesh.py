"""The composition root: which bot groups a process serves, and how they are wired onto one server.

It sits above the groups (each in its own package) and the runtime they stand on; the runtime
imports no group. `serve`, the tests and the benchmarks start a mesh from here.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from grpc_health.v1 import health, health_pb2
from grpc_reflection.v1alpha import reflection

from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk.clock import Clock, SystemClock
from polytraders.sdk.transport import TlsOptions
from polytraders.servers import schema
from polytraders.servers.attribution.service import attribution_bindings
from polytraders.servers.audit.service import audit_bindings, audit_queries
from polytraders.servers.ledger.service import ledger_bindings
from polytraders.servers.lifecycle.group import lifecycle_bindings, lifecycle_queries
from polytraders.servers.operations.service import operations_bindings
from polytraders.servers.runtime.access_guard import AccessGuard
from polytraders.servers.runtime.alerts import Alert, AlertRouter, BusAlertSink
from polytraders.servers.runtime.archive import ReportArchive
from polytraders.servers.runtime.auth import ReloadingTokenBook
from polytraders.servers.runtime.bus import ReportBus
from polytraders.servers.runtime.bus_service import report_bus_binding
from polytraders.servers.runtime.commands import Commands
from polytraders.servers.runtime.config import ServerConfig
from polytraders.servers.runtime.credentials import Credentials
from polytraders.servers.runtime.jetstream import JetStreamLink
from polytraders.servers.runtime.leadership import Leadership
from polytraders.servers.runtime.mesh_service import MESH_SERVICE, MeshServicer, mesh_binding
from polytraders.servers.runtime.metrics import RELAY, MetricsServer, relay_state, runtime_state
from polytraders.servers.runtime.parts import MeshParts
from polytraders.servers.runtime.peers import Peers
from polytraders.servers.runtime.reporter import GovernanceReporter
from polytraders.servers.runtime.server import GovernanceServer, ServiceBinding, start_server
from polytraders.servers.runtime.set_aside import SetAside
from polytraders.servers.runtime.slo_counts import SloCounter, load_slos
from polytraders.servers.runtime.storage import make_engine
from polytraders.servers.runtime.tls import ServerTls
from polytraders.servers.runtime.tracing import client_interceptors, provider_from_env
from polytraders.servers.runtime.user_actions import UserActionRecorder

log = logging.getLogger(__name__)

T = TypeVar("T")

LEAD_PREFIX = "polytraders.governance.lead/"
"""Health answers SERVING for `LEAD_PREFIX + duty` on the process that leads that duty now
(e.g. polytraders.governance.lead/bus.relay), NOT_SERVING on a standby."""
BUS = "polytraders.governance.bus"
"""The health service that is NOT_SERVING while the report broker (NATS JetStream) is unreachable."""
FOLLOWER_PREFIX = "polytraders.governance.follower/"
"""Health of each bus follower under its duty's name (e.g. polytraders.governance.follower/ledger.pnl)
on the process that runs it: SERVING while it keeps up, NOT_SERVING once it has stopped or has
more than `follower_lag_limit` reports still to take; SERVICE_UNKNOWN where another process runs it."""
BACKGROUND_WORK = "polytraders.governance.background"
"""The health service that is NOT_SERVING once any follower or periodic loop of the process has
stopped (`grpcurl -d '{"service": "polytraders.governance.background"}' ... Health/Check`)."""


def reports_group(parts: MeshParts) -> list[ServiceBinding]:
    async def purge(arguments: Mapping[str, str], scheduled: datetime) -> str:
        return f"purged {await parts.bus.purge_expired()} reports whose retention ended"

    parts.commands["reports.purge"] = purge
    return [report_bus_binding(parts.bus, parts.set_aside, parts.metrics.reports_refused)]


# Each bot group contributes its services (and its scheduler commands); operations comes last,
# so its scheduler sees every other group's commands.
GROUPS: dict[str, Callable[[MeshParts], list[ServiceBinding]]] = {
    "reports": reports_group,
    "lifecycle": lifecycle_bindings,
    "audit": audit_bindings,
    "attribution": attribution_bindings,
    "ledger": ledger_bindings,
    "operations": operations_bindings,
}


REMOTE_QUERIES: dict[str, Callable[[Peers], dict[str, Callable[..., Awaitable[Any]]]]] = {
    "lifecycle": lifecycle_queries,
    "audit": audit_queries,
}
"""The reads a group offers others, made over gRPC when another process serves it."""


def _serving(up: bool) -> int:
    return health_pb2.HealthCheckResponse.SERVING if up else health_pb2.HealthCheckResponse.NOT_SERVING


def _link_to_broker(parts: MeshParts, server: GovernanceServer) -> None:
    """The bus across processes: relay the archive to NATS JetStream (one process leads it) and
    feed this process's bus from it; health's BUS service says whether the broker is reachable."""

    went_down = False

    async def on_state(up: bool, why: str) -> None:
        nonlocal went_down
        await server.health.set(BUS, _serving(up))
        if went_down or not up:
            await parts.alerts.send(Alert("report-bus", "bus:broker", rpb.SEVERITY_ERROR, why, resolved=up))
        went_down = not up

    link = JetStreamLink(parts.config.bus_url, parts.bus, parts.engine, on_state,
                         max_age_seconds=parts.config.bus_stream_max_age_s)  # fmt: skip
    parts.bus.on_stored.append(link.stored)  # held for the relay here, or handed to the process that leads it
    parts.metrics.state(partial(relay_state, parts.bus, link, parts.leadership))
    parts.on_stop.append(link.close)
    parts.spawn(link.connect())
    parts.lead(RELAY, link.relay)


def peer_tls(config: ServerConfig) -> TlsOptions | None:
    """How this process dials the others: TLS when their addresses are grpcs:// or a CA is given."""
    if not (config.tls_ca or (config.targets is not None and config.targets.secure)):
        return None
    mutual = bool(config.tls_client_ca)
    return TlsOptions(
        config.tls_ca or None, config.tls_cert if mutual else None, config.tls_key if mutual else None
    )


class Mesh:
    def __init__(
        self,
        parts: MeshParts,
        server: GovernanceServer,
        groups: list[str],
        tokens: ReloadingTokenBook | None = None,
        tls: ServerTls | None = None,
        metrics_server: MetricsServer | None = None,
    ) -> None:
        self.parts = parts
        self.server = server
        self.groups = groups
        self.tokens = tokens
        self.tls = tls
        self.metrics_server = metrics_server
        """Prometheus's /metrics endpoint, when the config gives a metrics_port."""

    def reload_credentials(self) -> None:
        """SIGHUP: the tokens file and the TLS certificate read again (open streams carry on)."""
        if self.tokens is not None:
            self.tokens.reload()
        if self.tls is not None:
            self.tls.reload(self.parts.clock.now())

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def address(self) -> str:
        return f"{self.parts.config.host}:{self.port}"

    @classmethod
    async def start(
        cls,
        config: ServerConfig,
        *,
        clock: Clock | None = None,
        tracer_provider: Any = None,
        credentials: Credentials | None = None,
    ) -> Mesh:
        """`tracer_provider` traces the calls (else the OTEL_* variables may turn tracing on);
        `credentials` as `serve` read them already (else read now)."""
        groups = list(config.groups) or list(GROUPS)
        unknown = [g for g in groups if g not in GROUPS]
        if unknown:
            raise ValueError(f"unknown groups {unknown}; available: {sorted(GROUPS)}")
        clock = clock or SystemClock()
        credentials = credentials or Credentials.load(config, clock.now())
        tokens, tls = credentials.tokens, credentials.tls
        engine = make_engine(config.database_url)
        try:
            await asyncio.to_thread(schema.prepare, engine, upgrade=config.upgrades_schema)
        except BaseException:
            engine.dispose()
            raise
        bus = ReportBus(
            ReportArchive(engine),
            clock,
            max_batch=config.max_batch_reports,
            subscriber_queue=config.subscriber_queue,
        )
        alerts = AlertRouter(BusAlertSink(GovernanceReporter(bus, "governance-alerts", clock)))
        user_actions = UserActionRecorder(GovernanceReporter(bus, "user-activity-ledger", clock))
        slo_counter = SloCounter(load_slos(config.slo_manifest), engine, clock)
        owned_provider = None if tracer_provider is not None else provider_from_env()
        tracer_provider = tracer_provider or owned_provider
        traced = [] if tracer_provider is None else client_interceptors(tracer_provider)
        peers = Peers(config.targets, config.mesh_token, config.command_timeout_seconds, peer_tls(config), traced)
        parts = MeshParts(
            config,
            engine,
            clock,
            bus,
            alerts,
            SetAside(engine, alerts, clock),
            user_actions,
            slo_counter,
            peers=peers,
            commands=Commands(peers),
        )
        leads: dict[str, bool] = {}
        server_of: list[GovernanceServer] = []

        async def show_lead(duty: str, held: bool) -> None:
            leads[duty] = held
            for running in server_of:
                await running.health.set(LEAD_PREFIX + duty, _serving(held))

        parts.leadership = Leadership(engine, retry_seconds=config.leader_retry_seconds, on_change=show_lead)
        await asyncio.to_thread(parts.leadership.announce)
        if bus.archive.shared:
            await bus.start_sequencer()
        for (
            group,
            queries,
        ) in REMOTE_QUERIES.items():  # reads of groups served elsewhere (a local group overrides)
            if group not in groups and peers.serve(group):
                parts.queries.update(queries(peers))
        guard = AccessGuard(
            GovernanceReporter(bus, "access-guard", clock), user_actions,
            records_per_minute=config.denied_records_per_minute,
            failures_per_minute=config.auth_failures_per_minute, monotonic=time.monotonic,
        )  # fmt: skip
        parts.on_stop.append(guard.drain)
        if tokens is not None:
            parts.every(config.tokens_reload_seconds, partial(asyncio.to_thread, tokens.reload_if_changed))
        metrics = parts.metrics
        bus.on_stored.append(metrics.count_stored)
        bus.on_commit = metrics.archive_commit.observe
        metrics.state(partial(runtime_state, bus, leads))
        bindings = [binding for group in groups for binding in GROUPS[group](parts)]
        services = [b.descriptor.full_name for b in bindings] + [
            MESH_SERVICE,
            health.SERVICE_NAME,
            reflection.SERVICE_NAME,
        ]
        leadership = parts.leadership
        served = None if config.metrics_port is None else metrics.serve(config.metrics_host, config.metrics_port)
        metrics_address = f"{config.metrics_host}:{served.port}" if served else ""
        bindings.append(mesh_binding(MeshServicer(groups, lambda: services, parts.commands, lambda: leadership.held,
                                                  clock, metrics_address)))  # fmt: skip
        try:
            server = await start_server(
                bindings, host=config.host, port=config.port, tokens=tokens, max_message_bytes=config.max_message_bytes,
                on_operator_action=parts.user_actions.record_operator_call, on_outcome=slo_counter.record_call,
                tls=tls, guard=guard, metrics=metrics if config.metrics_port is not None else None,
                tracer_provider=tracer_provider,
            )  # fmt: skip
        except BaseException:  # nothing serves: what was opened for it goes too
            if served is not None:
                served.close()
            if owned_provider is not None:
                owned_provider.shutdown()
            raise
        if owned_provider is not None:
            parts.on_stop.append(partial(asyncio.to_thread, owned_provider.shutdown))  # the last spans go out

        server_of.append(server)
        for duty, held in leads.items():
            await server.health.set(LEAD_PREFIX + duty, _serving(held))

        async def show_followers() -> None:
            lags = bus.follower_lags(await asyncio.to_thread(bus.archive.last_seq))
            for name in sorted(bus.followers):
                if name in parts.stopped_work or name in lags:
                    up = name not in parts.stopped_work and lags[name] <= config.follower_lag_limit
                    await server.health.set(FOLLOWER_PREFIX + name, _serving(up))
                else:
                    await server.health.set(
                        FOLLOWER_PREFIX + name, health_pb2.HealthCheckResponse.SERVICE_UNKNOWN
                    )

        async def show_in_health() -> None:
            await server.health.set(BACKGROUND_WORK, health_pb2.HealthCheckResponse.NOT_SERVING)
            await show_followers()

        await server.health.set(BACKGROUND_WORK, health_pb2.HealthCheckResponse.SERVING)
        parts.on_work_stopped = show_in_health
        if parts.stopped_work:
            await show_in_health()
        parts.every(config.follower_check_seconds, show_followers)
        parts.every(config.slo_flush_seconds, slo_counter.flush)
        if config.bus_url:
            _link_to_broker(parts, server)
        return cls(parts, server, groups, tokens, tls, served)

    async def stop(self) -> None:
        """Drain: NOT_SERVING, end subscriber streams, finish in-flight calls, close storage."""
        self.parts.stopping.set()
        for stop in self.parts.on_stop:
            await _logged(stop, "stopping")
        self.parts.bus.close()  # also ends the groups' own subscriptions
        if self.parts.tasks:
            await asyncio.wait(self.parts.tasks, timeout=self.parts.config.drain_seconds)
            for task in self.parts.tasks:
                task.cancel()
        await self.server.drain(self.parts.config.drain_seconds)
        await _logged(self.parts.slo_counter.flush, "the last calls' SLO counts")  # drained calls included
        await _logged(self.parts.peers.close, "closing the channels to other processes")
        if self.metrics_server is not None:
            await asyncio.to_thread(self.metrics_server.close)
        if self.parts.leadership is not None:
            self.parts.leadership.close()
        self.parts.engine.dispose()

    async def serve_until_signalled(self) -> None:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        loop.add_signal_handler(signal.SIGHUP, self.reload_credentials)
        await stopping.wait()
        log.info("draining (up to %.0fs)", self.parts.config.drain_seconds)
        await self.stop()


async def _logged(step: Callable[[], Awaitable[None]], what: str) -> None:
    """One step of a stop; a failing one is logged and the stop goes on (storage still closes)."""
    try:
        await step()
    except Exception:  # noqa: BLE001 - the rest of the stop matters more
        log.warning("%s failed while the mesh stopped", what, exc_info=True)


class MeshThread:
    """A mesh on its own event loop in a background thread: for tests, benchmarks, embedding."""

    def __init__(self, config: ServerConfig, *, clock: Clock | None = None, tracer_provider: Any = None) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="governance-mesh", daemon=True)
        self._thread.start()
        self.mesh: Mesh = self.call(Mesh.start(config, clock=clock, tracer_provider=tracer_provider))

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the mesh's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    @property
    def address(self) -> str:
        return self.mesh.address

    def stop(self) -> None:
        self.call(self.mesh.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()
