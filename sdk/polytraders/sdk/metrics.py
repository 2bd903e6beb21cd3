"""A bot's reporting to governance as Prometheus metrics, in the bot's own registry.

    from prometheus_client import REGISTRY
    REGISTRY.register(PublisherMetrics(gov))    # one line: the bot's /metrics shows them

(one collector for every client of a process: `PublisherMetrics(gov_a, gov_b)`), and
`serve_health(slug, port, metrics_port=9100)` serves that registry beside health. Read at each scrape: what waits in the outbox (reports, bytes, the oldest one's age),
reports shed, each PublishReports call's time to acknowledgement, and whether governance answers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from itertools import accumulate
from typing import Any, Protocol

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


_FAMILIES: tuple[tuple[str, type[Any], str], ...] = (
    ("outbox_reports", GaugeMetricFamily, "Reports published but not yet acknowledged by governance."),
    ("outbox_bytes", GaugeMetricFamily, "Bytes of unacknowledged reports in the outbox file."),
    ("outbox_oldest_age_seconds", GaugeMetricFamily, "Age of the oldest report not yet acknowledged (0 when none waits)."),
    ("governance_reachable", GaugeMetricFamily, "1 unless the last call to governance failed."),
    ("reports_shed", CounterMetricFamily, "Reports shed by the outbox's overflow policy."),
    ("publish_seconds", HistogramMetricFamily, "Time from sending a PublishReports call to governance's acknowledgement."),
)
"""Each family the SDK exposes (named polytraders_sdk_<key>, labelled by bot_slug) and its help text."""


class PublisherMetrics(Collector):
    """The metrics of the publishers of one or more clients (`Governance` or `AsyncGovernance`), a
    series per bot_slug."""

    def __init__(self, *clients: _Reporting, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._clients = clients
        self._now = clock

    def describe(self) -> list[Metric]:
        """The families, so a registry refuses a second collector of the same names at once."""
        return list(self._families().values())

    def collect(self) -> Iterator[Metric]:
        families = self._families()
        for gov in self._clients:
            publisher = gov.reports.publisher
            state = publisher.outbox_state()
            slug = [gov.bot_slug]
            age = (self._now() - state.oldest_produced_at).total_seconds() if state.oldest_produced_at else 0.0
            for name, value in (("outbox_reports", state.pending), ("outbox_bytes", state.outbox_bytes),
                                ("outbox_oldest_age_seconds", max(age, 0.0)),
                                ("governance_reachable", float(state.reachable)), ("reports_shed", state.shed)):  # fmt: skip
                families[name].add_metric(slug, value)
            durations = publisher.acknowledgements
            bounds = [str(b) for b in durations.BOUNDS] + ["+Inf"]
            families["publish_seconds"].add_metric(slug, list(zip(bounds, accumulate(durations.counts), strict=True)),
                                                   durations.total)  # fmt: skip
        yield from families.values()

    @staticmethod
    def _families() -> dict[str, Any]:
        return {key: kind(f"polytraders_sdk_{key}", help_text, labels=["bot_slug"]) for key, kind, help_text in _FAMILIES}
