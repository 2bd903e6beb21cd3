"""The clients bots use: `Governance` (threads) and `AsyncGovernance` (asyncio).

One attribute per service family (`reports` now; later issues add `registry`, `audit`,
`attribution`, ... the same way: a family class built from a channel, the call metadata and
the call options). Every RPC has a default deadline; idempotent ones retry; errors are the
exceptions of `polytraders.sdk.errors`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any, Generic

import grpc
from grpc_health.v1 import health_pb2

from polytraders.reports.v1 import reports_pb2 as rpb

from . import tracing
from .activity import ActivityFamily
from .attribution import AttributionFamily, RevenueFamily
from .audit import ConfigAuditFamily, LedgerFamily
from .calls import CallOptions, Metadata
from .clock import Clock
from .config import AuditedConfig
from .experiments import ExperimentsFamily
from .families import Asyncio, Blocking, Family, Mode
from .health import health_check
from .incidents import IncidentsFamily
from .mesh import MeshFamily
from .operations import CronFamily, FleetHealthFamily, SlosFamily
from .paper import BacktestsFamily, PaperFamily
from .pnl import ExplanationsFamily, PnlFamily, PortfolioFamily
from .publisher import PublisherConfig, ReportPublisher
from .registry import RegistryFamily
from .report_builders import ReportBuilder
from .reports import PublisherSlot, ReportsFamily
from .service_map import ServiceMap
from .tagging import BuilderCode, OrderIntent, OrderTagger
from .transport import TlsOptions, dial, dial_aio, resolve, split_scheme

# Reconnect quickly after an outage: the default backoff grows to two minutes.
CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2000),
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
    ("grpc.max_send_message_length", 16 * 1024 * 1024),
]


Target = str | Mapping[str, str] | ServiceMap
"""One address for every family; a mapping of family → address with an optional "default"; or
a `ServiceMap` (group → replicas, balanced over with health checking)."""


def _route(target: Target, family: str) -> tuple[str, list[tuple[str, Any]], bool]:
    """The gRPC target a family's channel dials, the channel options it needs, and whether it
    was written grpcs:// (TLS)."""
    if isinstance(target, ServiceMap):
        return target.channel_target(family), CHANNEL_OPTIONS + target.channel_options(family), target.secure
    if isinstance(target, str):
        address, secure = split_scheme(target)
        return address, CHANNEL_OPTIONS, secure
    found = target.get(family) or target.get("default")
    if found is None and family == "mesh" and target:  # every process serves MeshService
        found = next(iter(target.values()))
    if found is None:
        raise ValueError(f"no target for {family!r} and no 'default' in {dict(target)}")
    address, secure = split_scheme(found)
    return address, CHANNEL_OPTIONS, secure


class _Families(Generic[Mode]):
    """The service families both clients carry, each on the channel of the group that serves it."""

    reports: ReportsFamily[Mode]
    """The report bus: `publish()` never blocks; `publish_now()`, `subscribe()`, `flush()`."""

    registry: RegistryFamily[Mode]
    """StrategyRegistry: stages, live-cap checks, watch; operator verbs for operator tokens."""
    experiments: ExperimentsFamily[Mode]
    """ExperimentTracker: A/B experiments with an always-valid sequential test."""
    paper: PaperFamily[Mode]
    """Paper-Trade Runner: sessions and the paper gate."""
    backtests: BacktestsFamily[Mode]
    """Backtester: runs and their reports."""
    audit: ConfigAuditFamily[Mode]
    """ParameterChangeAuditor: the configuration in force at an instant, and every change."""
    ledger: LedgerFamily[Mode]
    """The compliance ledger (operators and auditors)."""
    activity: ActivityFamily[Mode]
    """UserActivityLedger: sessions and user actions (operators record, auditors read)."""
    attribution: AttributionFamily[Mode]
    """BuilderAttribution: the fill log, reconciliation against the exchange, quarantine."""
    revenue: RevenueFamily[Mode]
    """AttributionRevenueReporter: daily builder-fee and rebate revenue reports."""
    pnl: PnlFamily[Mode]
    """PnLReporter: P&L by bot, market and builder over any window; positions."""
    explanations: ExplanationsFamily[Mode]
    """PostTradeExplainer: every fill in plain English."""
    portfolio: PortfolioFamily[Mode]
    """PortfolioSync: governance's book reconciled against the CLOB and the chain."""
    incidents: IncidentsFamily[Mode]
    """IncidentCommander: a guard or monitor declares; anyone reads; operators run the response."""
    cron: CronFamily[Mode]
    """CronRunner: the schedule, past dispatches, a task fired now (operators)."""
    fleet: FleetHealthFamily[Mode]
    """HealthHeartbeat: every bot's state as the last sweep saw it."""
    slos: SlosFamily[Mode]
    """SLAMonitor: objectives, error budgets and burn rates."""
    mesh: MeshFamily[Mode]
    """MeshService: what the answering process serves and leads; operators run group commands."""


# attribute → (family class, the service-map family its channel is routed by)
_FAMILY_ROUTES: dict[str, tuple[type[Family[Any, Any]], str]] = {
    "registry": (RegistryFamily, "registry"),
    "experiments": (ExperimentsFamily, "experiments"),
    "paper": (PaperFamily, "paper"),
    "backtests": (BacktestsFamily, "backtests"),
    "audit": (ConfigAuditFamily, "audit"),
    "ledger": (LedgerFamily, "audit"),
    "activity": (ActivityFamily, "audit"),
    "attribution": (AttributionFamily, "attribution"),
    "revenue": (RevenueFamily, "attribution"),
    "pnl": (PnlFamily, "pnl"),
    "explanations": (ExplanationsFamily, "explanations"),
    "portfolio": (PortfolioFamily, "portfolio"),
    "incidents": (IncidentsFamily, "incidents"),
    "cron": (CronFamily, "cron"),
    "fleet": (FleetHealthFamily, "fleet"),
    "slos": (SlosFamily, "slos"),
    "mesh": (MeshFamily, "mesh"),
}


def _attach_families(
    client: _Families[Any],
    channel: Callable[[str], Any],
    metadata: Metadata,
    options: CallOptions,
) -> None:
    for attribute, (family, route) in _FAMILY_ROUTES.items():
        setattr(client, attribute, family(channel(route), metadata, options))


class Governance(_Families[Blocking]):
    """Everything a bot needs from governance, over blocking gRPC (safe to share between threads).

    >>> gov = Governance("127.0.0.1:50051", token="dev-bot-token", bot_slug="demo-bot")
    >>> gov.reports.publish(gov.builder.operations(component="demo", explanation="started"))
    """

    def __init__(
        self,
        target: Target,
        *,
        token: str,
        bot_slug: str,
        bot_class: str = "strategy",
        mode: rpb.Mode.ValueType = rpb.MODE_LIVE,
        builder_code: str | None = None,
        call_options: CallOptions | None = None,
        publisher: PublisherConfig | None = None,
        clock: Clock | None = None,
        session_id: str | None = None,
        tls: TlsOptions | None = None,
        tracer_provider: Any = None,
    ) -> None:
        self.bot_slug = bot_slug
        self.builder = ReportBuilder(bot_slug, bot_class=bot_class, mode=mode, clock=clock)
        """Builds every kind of report with the header filled in."""
        self._tracing = tracer_provider is not None or tracing.enabled()
        """Trace context on every call, and the current span's trace id on reports built without one
        (`tracer_provider`, else OpenTelemetry's global one when the OTEL_* variables turn it on)."""
        self._tracer_provider = tracer_provider
        if self._tracing:
            self.builder.current_trace_id = tracing.current_trace_id
        self._metadata: tuple[tuple[str, str], ...] = (("authorization", f"Bearer {token}"),)
        if session_id:  # operator tools: every action of this client is filed under the session
            self._metadata += (("x-polytraders-session", session_id),)
        self._options = call_options or CallOptions()
        self._target = target
        self._tls = tls
        self._channels: dict[str, grpc.Channel] = {}
        publisher = publisher or PublisherConfig()
        self._publisher = PublisherSlot(
            lambda: ReportPublisher(self._channel("reports"), self._metadata, self.builder, publisher)
        )
        if publisher.path_for(bot_slug).exists():
            self._publisher.get()  # what an earlier run left goes out now, not at the next publish()
        self.reports = ReportsFamily(
            self._channel("reports"), self._metadata, self._options, publisher=self._publisher
        )
        _attach_families(self, self._channel, self._metadata, self._options)
        self._tagger = (
            OrderTagger(BuilderCode(builder_code), self._publisher.get, self.builder)
            if builder_code
            else None
        )

    def _channel(self, family: str) -> grpc.Channel:
        target, options, secure = _route(self._target, family)
        if target not in self._channels:
            channel = dial(target, options, resolve(self._tls, secure))
            self._channels[target] = (
                tracing.traced(channel, self._tracer_provider) if self._tracing else channel
            )
        return self._channels[target]

    def config(self, initial: Mapping[str, Any], *, actor: str | None = None) -> AuditedConfig:
        """This bot's configuration, every edit recorded (fail-open: edits apply even when governance is down)."""
        return AuditedConfig(
            initial, builder=self.builder, publish=self.reports.publish, actor=actor or self.bot_slug
        )

    def tag_order(self, order: OrderIntent) -> OrderIntent:
        """Put the configured builder code on an order intent (no RPC) and publish the tag report."""
        if self._tagger is None:
            raise ValueError("Governance was built without builder_code; pass builder_code='0x…' (bytes32)")
        return self._tagger.tag(order)

    def check_health(self, family: str = "reports", *, timeout: float | None = None) -> bool:
        """True when that family's server answers SERVING."""
        check = health_check(self._channel(family))
        try:
            reply = check(health_pb2.HealthCheckRequest(), timeout=timeout or self._options.timeout)
        except grpc.RpcError:
            return False
        return reply.status == health_pb2.HealthCheckResponse.SERVING

    def close(self, timeout: float | None = None) -> bool:
        """Deliver what is pending within `timeout`, keep the rest in the outbox, close channels."""
        delivered = self._publisher.close(timeout)
        for channel in self._channels.values():
            channel.close()
        return delivered

    def __enter__(self) -> Governance:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncGovernance(_Families[Asyncio]):
    """The asyncio twin of `Governance`; `await gov.close()` when done (or `async with`)."""

    def __init__(
        self,
        target: Target,
        *,
        token: str,
        bot_slug: str,
        bot_class: str = "strategy",
        mode: rpb.Mode.ValueType = rpb.MODE_LIVE,
        builder_code: str | None = None,
        call_options: CallOptions | None = None,
        publisher: PublisherConfig | None = None,
        clock: Clock | None = None,
        tls: TlsOptions | None = None,
        tracer_provider: Any = None,
    ) -> None:
        self._blocking = Governance(
            target,
            token=token,
            bot_slug=bot_slug,
            bot_class=bot_class,
            mode=mode,
            builder_code=builder_code,
            call_options=call_options,
            publisher=publisher,
            clock=clock,
            tls=tls,
            tracer_provider=tracer_provider,
        )
        self.bot_slug = bot_slug
        self.builder = self._blocking.builder
        self._options = self._blocking._options
        self._channels: dict[str, grpc.aio.Channel] = {}
        self.reports = ReportsFamily(self._channel("reports"), self._blocking._metadata, self._options,
                                     publisher=self._blocking._publisher)  # fmt: skip
        _attach_families(self, self._channel, self._blocking._metadata, self._options)

    def _channel(self, family: str) -> grpc.aio.Channel:
        blocking = self._blocking
        target, options, secure = _route(blocking._target, family)
        if target not in self._channels:
            interceptors = tracing.aio_interceptors(blocking._tracer_provider) if blocking._tracing else []
            self._channels[target] = dial_aio(target, options, resolve(blocking._tls, secure), interceptors)
        return self._channels[target]

    def config(self, initial: Mapping[str, Any], *, actor: str | None = None) -> AuditedConfig:
        return self._blocking.config(initial, actor=actor)

    def tag_order(self, order: OrderIntent) -> OrderIntent:
        return self._blocking.tag_order(order)

    async def check_health(self, family: str = "reports", *, timeout: float | None = None) -> bool:
        check = health_check(self._channel(family))
        try:
            reply = await check(health_pb2.HealthCheckRequest(), timeout=timeout or self._options.timeout)
        except grpc.RpcError:
            return False
        return reply.status == health_pb2.HealthCheckResponse.SERVING

    async def close(self, timeout: float | None = None) -> bool:
        delivered = await asyncio.to_thread(self._blocking.close, timeout)
        for channel in self._channels.values():
            await channel.close()
        return delivered

    async def __aenter__(self) -> AsyncGovernance:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
