"""One process's Prometheus metrics: its gRPC calls, and what the mesh means.

prometheus-client keeps and serves them (`--metrics-port`). Each mesh has a registry of its own,
since tests and benchmarks run several meshes in one process. What is an event (a call, a stored
report, a booked fill, a cron firing) is counted when it happens; what is a state (follower lag,
who leads which duty, the fleet, open incidents, SLO budgets) is read from the component that
holds it when Prometheus scrapes. Labels stay bounded: a method, a status, a kind, a reason, a
follower, a duty, a layer, a severity, an objective, a task; never a report or a trade id.

The call metrics carry the names gRPC's OpenTelemetry plugin (A66) gives them, as Prometheus
writes them: grpc_server_call_started_total{grpc_method} and
grpc_server_call_duration_seconds{grpc_method,grpc_status}.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

import grpc
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from polytraders.reports.v1 import reports_pb2

from .archive import StoredBatch

if TYPE_CHECKING:
    from .bus import ReportBus
    from .jetstream import JetStreamLink
    from .leadership import Leadership

RELAY = "bus.relay"

log = logging.getLogger(__name__)

CALL_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
"""Seconds; unary calls take about a millisecond, streams and reconciliations much longer."""
LATENESS_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 300)

StateReader = Callable[[], Iterable[Metric]]


class _State(Collector):
    """The figures the components hold, read at each scrape; one that fails to read is logged and
    left out of that scrape, never the whole scrape."""

    def __init__(self) -> None:
        self.readers: list[StateReader] = []

    def collect(self) -> Iterator[Metric]:
        for read in list(self.readers):
            try:
                yield from read()
            except Exception:  # noqa: BLE001 - the other figures still go out
                log.warning("reading a metric failed", exc_info=True)

    def describe(self) -> list[Metric]:
        return []  # read at scrape time: nothing to check at registration


class MeshMetrics:
    """The registry of one mesh, and the metrics every group records into."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.calls_started = Counter("grpc_server_call_started", "RPCs this server started (gRPC A66 grpc.server.call.started).",
                                     ["grpc_method"], registry=registry)  # fmt: skip
        self.call_duration = Histogram(
            "grpc_server_call_duration_seconds",
            "Time from a call's start to its status (gRPC A66 grpc.server.call.duration).",
            ["grpc_method", "grpc_status"], buckets=CALL_BUCKETS, registry=registry,
        )  # fmt: skip
        self.reports_ingested = Counter("polytraders_reports_ingested", "Reports this process stored in the archive, by kind.",
                                        ["kind"], registry=registry)  # fmt: skip
        self.reports_refused = Counter("polytraders_reports_refused", "Reports refused at publishing, by reason.",
                                       ["reason"], registry=registry)  # fmt: skip
        self.archive_commit = Histogram("polytraders_archive_commit_seconds",
                                        "Time to store one group of published batches (one transaction).",
                                        buckets=CALL_BUCKETS, registry=registry)  # fmt: skip
        self.fills = Counter("polytraders_fills", "Fills the P&L ledger took from the bus or RecordFill, by outcome.",
                             ["outcome"], registry=registry)  # fmt: skip
        self.cron_lateness = Histogram("polytraders_cron_lateness_seconds",
                                       "How late each cron dispatch started after its scheduled moment.",
                                       ["task"], buckets=LATENESS_BUCKETS, registry=registry)  # fmt: skip
        self.cron_missed = Counter("polytraders_cron_missed", "Cron firings recorded as missed (past their deadline).",
                                   ["task"], registry=registry)  # fmt: skip
        self._state = _State()
        registry.register(self._state)
        self._calls: dict[str, tuple[Any, dict[grpc.StatusCode, Any]]] = {}

    def count_stored(self, batches: Sequence[StoredBatch]) -> None:
        """What each group commit stored, by kind (duplicates are not stored again, nor counted)."""
        for kind, count in Tally(k for batch in batches for k in batch.reports.kinds).items():
            self.reports_ingested.labels(kind_name(kind)).inc(count)

    def state(self, read: StateReader) -> None:
        """Add figures read at each scrape (the reader yields prometheus_client metric families)."""
        self._state.readers.append(read)

    def call_started(self, method: str) -> None:
        self._children(method)[0].inc()

    def call_finished(self, method: str, code: grpc.StatusCode, seconds: float) -> None:
        by_code = self._children(method)[1]
        child = by_code.get(code)
        if child is None:
            child = by_code[code] = self.call_duration.labels(method.lstrip("/"), code.name)
        child.observe(seconds)

    def _children(self, method: str) -> tuple[Any, dict[grpc.StatusCode, Any]]:
        """The labelled children of one method, kept: labels() costs more than the increment."""
        found = self._calls.get(method)
        if found is None:
            found = self._calls[method] = (self.calls_started.labels(method.lstrip("/")), {})
        return found

    def serve(self, host: str, port: int) -> MetricsServer:
        """Serve /metrics over HTTP on its own thread; port 0 picks a free one."""
        server, thread = start_http_server(port, addr=host, registry=self.registry)
        return MetricsServer(server, thread)


class MetricsServer:
    def __init__(self, server: Any, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread
        self.port: int = server.server_port

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


@cache
def kind_name(kind: int) -> str:
    """REPORT_KIND_DECISION -> decision."""
    return reports_pb2.ReportKind.Name(reports_pb2.ReportKind.ValueType(kind)).removeprefix("REPORT_KIND_").lower()


def gauge(name: str, documentation: str, labels: Sequence[str], values: Iterable[tuple[Sequence[str], float]]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=list(labels))
    for label_values, value in values:
        family.add_metric(list(label_values), value)
    return family


def runtime_state(bus: ReportBus, leads: Mapping[str, bool]) -> Iterator[Metric]:
    """What every process shows, whatever groups it serves: its streams, its followers' lag, its duties."""
    yield gauge("polytraders_live_subscribers", "Live subscriptions to this process's bus (followers and streams).",
                [], [((), bus.subscribers)])  # fmt: skip
    lags = bus.follower_lags(max(bus.last_stored, bus.delivered))
    yield gauge("polytraders_follower_lag_reports", "Reports each bus follower this process runs has still to take.",
                ["follower"], [((name,), lag) for name, lag in sorted(lags.items())])  # fmt: skip
    yield gauge("polytraders_follower_lag_seconds", "How long each bus follower this process runs has had reports waiting.",
                ["follower"], [((name,), seconds) for name, seconds in sorted(bus.follower_lag_seconds().items())])  # fmt: skip
    yield gauge("polytraders_duty_leader", "1 on the process that leads the duty (a singleton across processes), else 0.",
                ["duty"], [((duty,), float(held)) for duty, held in sorted(leads.items())])  # fmt: skip


def relay_state(bus: ReportBus, link: JetStreamLink, leadership: Leadership | None) -> Iterator[Metric]:
    """How far the broker's stream is behind the archive (on the process leading the relay), what
    this process's relay sent and from where, and whether the broker is reachable."""
    if leadership is not None and RELAY in leadership.held:
        yield gauge("polytraders_relay_lag_reports", "Reports stored in the archive but not yet handed to the broker.",
                    [], [((), max(0, max(bus.last_stored, bus.delivered) - link.relayed))])  # fmt: skip
    sent = CounterMetricFamily("polytraders_relay_reports", "Reports this process's relay sent to the broker, by "
                               "where it had them: memory (its own commits, those handed over) or the archive (read back).",
                               labels=["source"])  # fmt: skip
    for source, reports in link.sent_from.items():
        sent.add_metric([source], reports)
    yield sent
    yield gauge("polytraders_broker_up", "1 while the report broker (NATS JetStream) is reachable from this process.",
                [], [((), float(link.up))])  # fmt: skip
