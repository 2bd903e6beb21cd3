"""A bot's reporting to governance as Prometheus metrics, in the bot's own registry.

    from prometheus_client import REGISTRY
    REGISTRY.register(PublisherMetrics(gov))    # one line: the bot's /metrics shows them

or `serve_health(slug, port, metrics_port=9100, metrics=PublisherMetrics(gov))` serves them beside
health. Read at each scrape: what waits in the outbox (reports, bytes, the oldest one's age),
reports shed, each PublishReports call's time to acknowledgement, and whether governance answers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from itertools import accumulate
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from .publisher import ReportPublisher


class _Reporting(Protocol):
    bot_slug: str

    @property
    def reports(self) -> _Publishing: ...


class _Publishing(Protocol):
    @property
    def publisher(self) -> ReportPublisher: ...


class PublisherMetrics(Collector):
    """The metrics of one client's publisher (`Governance` or `AsyncGovernance`), labelled with its bot_slug."""

    def __init__(self, gov: _Reporting, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._gov = gov
        self._now = clock

    def describe(self) -> list[Metric]:
        return []  # read at scrape time

    def collect(self) -> Iterator[Metric]:
        publisher = self._gov.reports.publisher
        state = publisher.outbox_state()
        slug = [self._gov.bot_slug]

        def gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
            family = GaugeMetricFamily(name, documentation, labels=["bot_slug"])
            family.add_metric(slug, value)
            return family

        yield gauge("polytraders_sdk_outbox_reports", "Reports published but not yet acknowledged by governance.",
                    state.pending)  # fmt: skip
        yield gauge("polytraders_sdk_outbox_bytes", "Bytes of unacknowledged reports in the outbox file.", state.outbox_bytes)
        age = (self._now() - state.oldest_produced_at).total_seconds() if state.oldest_produced_at else 0.0
        yield gauge("polytraders_sdk_outbox_oldest_age_seconds",
                    "Age of the oldest report not yet acknowledged (0 when none waits).", max(age, 0.0))  # fmt: skip
        yield gauge("polytraders_sdk_governance_reachable", "1 unless the last call to governance failed.",
                    float(state.reachable))  # fmt: skip
        shed = CounterMetricFamily("polytraders_sdk_reports_shed", "Reports shed by the outbox's overflow policy.",
                                   labels=["bot_slug"])  # fmt: skip
        shed.add_metric(slug, state.shed)
        yield shed
        durations = publisher.acknowledgements
        counts = list(durations.counts)
        bounds = [str(b) for b in durations.BOUNDS] + ["+Inf"]
        calls = HistogramMetricFamily("polytraders_sdk_publish_seconds",
                                      "Time from sending a PublishReports call to governance's acknowledgement.",
                                      labels=["bot_slug"])  # fmt: skip
        calls.add_metric(slug, list(zip(bounds, accumulate(counts), strict=True)), durations.total)
        yield calls
