"""`gov.reports`: publish without blocking, publish and wait, subscribe."""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Iterable, Sequence
from typing import Any

from polytraders.governance.v1 import report_bus_pb2 as pb
from polytraders.governance.v1 import report_bus_pb2_grpc as pb_grpc
from polytraders.reports.v1 import reports_pb2 as rpb

from .calls import CallOptions, Metadata
from .families import Family, Mode, remote, remote_stream
from .publisher import PublisherStats, ReportPublisher


class PublisherSlot:
    """Starts the publisher on first use, so a read-only client runs no background threads (the
    client starts it at once when the outbox file exists: an earlier run may have left reports)."""

    def __init__(self, start: Callable[[], ReportPublisher]) -> None:
        self._start = start
        self._publisher: ReportPublisher | None = None
        self._lock = threading.Lock()

    def get(self) -> ReportPublisher:
        if self._publisher is None:
            with self._lock:
                if self._publisher is None:
                    self._publisher = self._start()
        return self._publisher

    def flush(self, timeout: float | None) -> bool:
        return self._publisher.flush(timeout) if self._publisher else True

    def close(self, timeout: float | None) -> bool:
        return self._publisher.close(timeout) if self._publisher else True


class ReportsFamily(Family[pb_grpc.ReportBusServiceStub, Mode]):
    stub_class = pb_grpc.ReportBusServiceStub
    idempotent = frozenset({"PublishReports"})  # by report_id

    def __init__(
        self, channel: Any, metadata: Metadata, options: CallOptions, *, publisher: PublisherSlot
    ) -> None:
        super().__init__(channel, metadata, options)
        self._slot = publisher

    @property
    def publisher(self) -> ReportPublisher:
        return self._slot.get()

    def publish(self, report: rpb.Report) -> bool:
        """Enqueue; never waits on governance (safe on an event loop). False only when shed by the overflow policy."""
        return self._slot.get().publish(report)

    @remote
    def publish_now(self, reports: Sequence[rpb.Report]) -> pb.PublishReportsResponse:
        """Publish and wait for the server's answer (retried; idempotent by report_id). Not for hot paths."""
        return self._invoke(self._rpc.PublishReports, pb.PublishReportsRequest(reports=reports))

    @remote_stream
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
    ) -> Generator[pb.SubscribeReportsResponse, None, None]:
        """Archived reports after `cursor`, then live ones; pass the last `cursor` seen to resume."""
        request = _subscription(kinds, bot_slugs, modes, epoch_from, epoch_to, cursor, live_only)
        return self._stream(self._rpc.SubscribeReports, request)

    @remote_stream
    def subscribe_batches(
        self,
        *,
        kinds: Iterable[rpb.ReportKind.ValueType] = (),
        bot_slugs: Iterable[str] = (),
        modes: Iterable[rpb.Mode.ValueType] = (),
        epoch_from: int = 0,
        epoch_to: int = 0,
        cursor: str = "",
        live_only: bool = False,
        max_reports: int = 0,
    ) -> Generator[pb.SubscribeReportBatchesResponse, None, None]:
        """`subscribe`, several reports to a message (`SubscribeReportBatchesResponse.reports`, at
        most `max_reports`, 0 meaning 500): for a reader that must keep up with thousands a second."""
        subscription = _subscription(kinds, bot_slugs, modes, epoch_from, epoch_to, cursor, live_only)
        request = pb.SubscribeReportBatchesRequest(subscription=subscription, max_reports=max_reports)
        return self._stream(self._rpc.SubscribeReportBatches, request)

    @remote
    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything published was acknowledged; False if `timeout` ran out first."""
        return self._offload(self._slot.flush, timeout)

    def stats(self) -> PublisherStats:
        return self._slot.get().stats()


def _subscription(
    kinds: Iterable[rpb.ReportKind.ValueType],
    bot_slugs: Iterable[str],
    modes: Iterable[rpb.Mode.ValueType],
    epoch_from: int,
    epoch_to: int,
    cursor: str,
    live_only: bool,
) -> pb.SubscribeReportsRequest:
    return pb.SubscribeReportsRequest(
        kinds=list(kinds), bot_slugs=list(bot_slugs), modes=list(modes), epoch_from=epoch_from,
        epoch_to=epoch_to, cursor=cursor, live_only=live_only,
    )  # fmt: skip


__all__ = ["PublisherSlot", "ReportsFamily"]
