"""The clients bots use: `Governance` (threads) and `AsyncGovernance` (asyncio).

One attribute per service family (`reports` now; later issues add `registry`, `audit`,
`attribution`, ... the same way: a family class built from a channel, the call metadata and
the call options). Every RPC has a default deadline; idempotent ones retry; errors are the
exceptions of `polytraders.sdk.errors`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from polytraders.governance.v1 import report_bus_pb2 as bus_pb
from polytraders.governance.v1 import report_bus_pb2_grpc as bus_grpc
from polytraders.reports.v1 import reports_pb2 as rpb

from .calls import AsyncStreamCall, AsyncUnaryCall, CallOptions, Metadata, StreamCall, UnaryCall
from .clock import Clock
from .experiments import ExperimentsFamily
from .publisher import PublisherConfig, PublisherStats, ReportPublisher
from .registry import RegistryFamily
from .report_builders import ReportBuilder
from .tagging import BuilderCode, OrderIntent, OrderTagger

# Reconnect quickly after an outage: the default backoff grows to two minutes.
CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2000),
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
    ("grpc.max_send_message_length", 16 * 1024 * 1024),
]


def _target_for(target: str | Mapping[str, str], family: str) -> str:
    """One target for every family, or a mapping of family → target with an optional "default"."""
    if isinstance(target, str):
        return target
    try:
        return target.get(family) or target["default"]
    except KeyError:
        raise ValueError(f"no target for {family!r} and no 'default' in {dict(target)}") from None


def _subscription(
    kinds: Iterable[rpb.ReportKind.ValueType],
    bot_slugs: Iterable[str],
    modes: Iterable[rpb.Mode.ValueType],
    epoch_from: int,
    epoch_to: int,
    cursor: str,
    live_only: bool,
) -> bus_pb.SubscribeReportsRequest:
    return bus_pb.SubscribeReportsRequest(
        kinds=list(kinds),
        bot_slugs=list(bot_slugs),
        modes=list(modes),
        epoch_from=epoch_from,
        epoch_to=epoch_to,
        cursor=cursor,
        live_only=live_only,
    )


class ReportsClient:
    """`gov.reports`: publish without blocking, publish and wait, subscribe."""

    def __init__(
        self,
        channel: grpc.Channel,
        metadata: Metadata,
        options: CallOptions,
        builder: ReportBuilder,
        publisher_config: PublisherConfig,
    ) -> None:
        stub = bus_grpc.ReportBusServiceStub(channel)
        self._publish_now = UnaryCall[bus_pb.PublishReportsRequest, bus_pb.PublishReportsResponse](
            stub.PublishReports, metadata, options, idempotent=True
        )
        self._subscribe = StreamCall[bus_pb.SubscribeReportsRequest, bus_pb.SubscribeReportsResponse](
            stub.SubscribeReports, metadata
        )
        self._make_publisher = lambda: ReportPublisher(channel, metadata, builder, publisher_config)
        self._publisher: ReportPublisher | None = None
        self._lock = threading.Lock()

    @property
    def publisher(self) -> ReportPublisher:
        """Started on first use, so a read-only client runs no background threads."""
        if self._publisher is None:
            with self._lock:
                if self._publisher is None:
                    self._publisher = self._make_publisher()
        return self._publisher

    def publish(self, report: rpb.Report) -> bool:
        """Enqueue; never waits on governance. False only when shed by the outbox's overflow policy."""
        return self.publisher.publish(report)

    def publish_now(
        self, reports: Sequence[rpb.Report], *, timeout: float | None = None
    ) -> bus_pb.PublishReportsResponse:
        """Publish and wait for the server's answer (retried; idempotent by report_id). Not for hot paths."""
        return self._publish_now(bus_pb.PublishReportsRequest(reports=reports), timeout=timeout)

    def subscribe(
        self,
        *,
        kinds: Iterable[rpb.ReportKind.ValueType] = (),
        bot_slugs: Iterable[str] = (),
        modes: Iterable[rpb.Mode.ValueType] = (),
        epoch_from: int = 0,
        epoch_to: int = 0,
        cursor: str = "",
        live_only: bool = False,
    ) -> Iterator[bus_pb.SubscribeReportsResponse]:
        """Archived reports after `cursor`, then live ones; pass the last `cursor` seen to resume."""
        request = _subscription(kinds, bot_slugs, modes, epoch_from, epoch_to, cursor, live_only)
        return self._subscribe(request)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything published was acknowledged; False if `timeout` ran out first."""
        return self._publisher.flush(timeout) if self._publisher else True

    def stats(self) -> PublisherStats:
        return self.publisher.stats()

    def close(self, timeout: float | None = None) -> bool:
        return self._publisher.close(timeout) if self._publisher else True


class AsyncReportsClient:
    """`gov.reports` for asyncio; `publish()` is the same non-blocking outbox publisher."""

    def __init__(
        self, channel: grpc.aio.Channel, metadata: Metadata, options: CallOptions, sync: ReportsClient
    ) -> None:
        stub = bus_grpc.ReportBusServiceStub(channel)
        self._publish_now = AsyncUnaryCall[bus_pb.PublishReportsRequest, bus_pb.PublishReportsResponse](
            stub.PublishReports, metadata, options, idempotent=True
        )
        self._subscribe = AsyncStreamCall[bus_pb.SubscribeReportsRequest, bus_pb.SubscribeReportsResponse](
            stub.SubscribeReports, metadata
        )
        self._sync = sync

    def publish(self, report: rpb.Report) -> bool:
        """Enqueue; never awaits governance (safe to call from the event loop)."""
        return self._sync.publish(report)

    async def publish_now(
        self, reports: Sequence[rpb.Report], *, timeout: float | None = None
    ) -> bus_pb.PublishReportsResponse:
        return await self._publish_now(bus_pb.PublishReportsRequest(reports=reports), timeout=timeout)

    def subscribe(
        self,
        *,
        kinds: Iterable[rpb.ReportKind.ValueType] = (),
        bot_slugs: Iterable[str] = (),
        modes: Iterable[rpb.Mode.ValueType] = (),
        epoch_from: int = 0,
        epoch_to: int = 0,
        cursor: str = "",
        live_only: bool = False,
    ) -> AsyncIterator[bus_pb.SubscribeReportsResponse]:
        request = _subscription(kinds, bot_slugs, modes, epoch_from, epoch_to, cursor, live_only)
        return self._subscribe(request)

    async def flush(self, timeout: float | None = None) -> bool:
        return await asyncio.to_thread(self._sync.flush, timeout)


class Governance:
    """Everything a bot needs from governance, over blocking gRPC (safe to share between threads).

    >>> gov = Governance("127.0.0.1:50051", token="dev-bot-token", bot_slug="demo-bot")
    >>> gov.reports.publish(gov.builder.operations(component="demo", explanation="started"))
    """

    def __init__(
        self,
        target: str | Mapping[str, str],
        *,
        token: str,
        bot_slug: str,
        bot_class: str = "strategy",
        mode: rpb.Mode.ValueType = rpb.MODE_LIVE,
        builder_code: str | None = None,
        call_options: CallOptions | None = None,
        publisher: PublisherConfig | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.bot_slug = bot_slug
        self.builder = ReportBuilder(bot_slug, bot_class=bot_class, mode=mode, clock=clock)
        """Builds every kind of report with the header filled in."""
        self._metadata = (("authorization", f"Bearer {token}"),)
        self._options = call_options or CallOptions()
        self._target = target
        self._channels: dict[str, grpc.Channel] = {}
        self.reports = ReportsClient(
            self._channel("reports"),
            self._metadata,
            self._options,
            self.builder,
            publisher or PublisherConfig(),
        )
        self.registry = RegistryFamily(self._channel("registry"), self._metadata, self._options, aio=False)
        """StrategyRegistry: stages, live-cap checks, watch; operator verbs for operator tokens."""
        self.experiments = ExperimentsFamily(
            self._channel("experiments"), self._metadata, self._options, aio=False
        )
        """ExperimentTracker: A/B experiments with an always-valid sequential test."""
        self._tagger = (
            OrderTagger(BuilderCode(builder_code), lambda: self.reports.publisher, self.builder)
            if builder_code
            else None
        )

    def _channel(self, family: str) -> grpc.Channel:
        target = _target_for(self._target, family)
        if target not in self._channels:
            self._channels[target] = grpc.insecure_channel(target, options=CHANNEL_OPTIONS)
        return self._channels[target]

    def tag_order(self, order: OrderIntent) -> OrderIntent:
        """Put the configured builder code on an order intent (no RPC) and publish the tag report."""
        if self._tagger is None:
            raise ValueError("Governance was built without builder_code; pass builder_code='0x…' (bytes32)")
        return self._tagger.tag(order)

    def check_health(self, family: str = "reports", *, timeout: float | None = None) -> bool:
        """True when that family's server answers SERVING."""
        stub = health_pb2_grpc.HealthStub(self._channel(family))
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=timeout or self._options.timeout)
        except grpc.RpcError:
            return False
        return reply.status == health_pb2.HealthCheckResponse.SERVING

    def close(self, timeout: float | None = None) -> bool:
        """Deliver what is pending within `timeout`, keep the rest in the outbox, close channels."""
        delivered = self.reports.close(timeout)
        for channel in self._channels.values():
            channel.close()
        return delivered

    def __enter__(self) -> Governance:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncGovernance:
    """The asyncio twin of `Governance`; `await gov.close()` when done (or `async with`)."""

    def __init__(
        self,
        target: str | Mapping[str, str],
        *,
        token: str,
        bot_slug: str,
        bot_class: str = "strategy",
        mode: rpb.Mode.ValueType = rpb.MODE_LIVE,
        builder_code: str | None = None,
        call_options: CallOptions | None = None,
        publisher: PublisherConfig | None = None,
        clock: Clock | None = None,
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
        )
        self.bot_slug = bot_slug
        self.builder = self._blocking.builder
        self._options = self._blocking._options
        self._channels: dict[str, grpc.aio.Channel] = {}
        self.reports = AsyncReportsClient(
            self._channel("reports"), self._blocking._metadata, self._options, self._blocking.reports
        )
        self.registry = RegistryFamily(
            self._channel("registry"), self._blocking._metadata, self._options, aio=True
        )

    def _channel(self, family: str) -> grpc.aio.Channel:
        target = _target_for(self._blocking._target, family)
        if target not in self._channels:
            self._channels[target] = grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS)
        return self._channels[target]

    def tag_order(self, order: OrderIntent) -> OrderIntent:
        return self._blocking.tag_order(order)

    async def check_health(self, family: str = "reports", *, timeout: float | None = None) -> bool:
        stub = health_pb2_grpc.HealthStub(self._channel(family))
        try:
            reply = await stub.Check(
                health_pb2.HealthCheckRequest(), timeout=timeout or self._options.timeout
            )
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
