"""What watching the mesh costs a call: the same server with Prometheus metrics on (every call timed,
/metrics served and scraped) vs off, and with OpenTelemetry tracing on (a server span opened for
every call, 1 trace in 100 sampled and exported by OTLP) vs off."""

from __future__ import annotations

import tempfile
import threading
import urllib.request

from tests.support.otlp import otlp_receiver

from .figures import Figure, best_of_interleaved
from .processes import governance, serving, started
from .report_bus import make_batches
from .transport_security import REPORTS, _ingest_rate, _unary_rate

TURNS = 8
"""Each run takes a second or two and this machine's speed drifts by a fifth within a minute:
enough turns that every side meets a fast spell (three left a 5% difference to chance)."""
INGESTED = 4 * REPORTS
"""Reports per ingest run: at this machine's ingest rate REPORTS alone lasts a fraction of a
second, shorter than the machine's own hiccups."""


class _Scraper:
    """Prometheus's side: /metrics read every second while the figure runs."""

    def __init__(self, url: str) -> None:
        self._url, self._stop = url, threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(1.0):
            urllib.request.urlopen(self._url, timeout=5).read()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def run() -> list[Figure]:
    fresh = ([b.SerializeToString() for b in make_batches(INGESTED)] for _ in range(3 * TURNS))  # made as taken
    with otlp_receiver() as receiver, tempfile.TemporaryDirectory() as scratch:  # the sampled spans go to the receiver
        tracing = {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
                   "OTEL_EXPORTER_OTLP_INSECURE": "true", "OTEL_TRACES_SAMPLER": "traceidratio",
                   "OTEL_TRACES_SAMPLER_ARG": "0.01"}  # fmt: skip
        with (
            serving(governance(f"sqlite:///{scratch}/off.db")) as off,
            started([*governance(f"sqlite:///{scratch}/metrics.db"), "--metrics-port", "0"]) as (metered, process),
            serving(governance(f"sqlite:///{scratch}/traced.db"), tracing) as traced,
        ):
            assert process.stdout is not None
            banner = iter(process.stdout.readline, "")
            scraper = _Scraper(next(line for line in banner if "/metrics" in line).split()[-1])
            try:
                unary_metrics, unary_traced, unary_off = best_of_interleaved(
                    lambda: _unary_rate(metered, None), lambda: _unary_rate(traced, None),
                    lambda: _unary_rate(off, None), repeats=TURNS,
                )  # fmt: skip
                ingest_metrics, ingest_traced, ingest_off = best_of_interleaved(
                    lambda: _ingest_rate(metered, None, next(fresh)), lambda: _ingest_rate(traced, None, next(fresh)),
                    lambda: _ingest_rate(off, None, next(fresh)), repeats=TURNS,
                )  # fmt: skip
            finally:
                scraper.close()
    return [
        Figure.ratio_at_least("unary RPC rate with Prometheus metrics on vs off", unary_metrics, "calls/s", unary_off,
                              0.95),
        Figure.ratio_at_least("PublishReports ingest with Prometheus metrics on vs off (SQLite, batches of 500)",
                              ingest_metrics, "reports/s", ingest_off, 0.95),
        Figure.ratio_at_least("unary RPC rate with tracing on (1 in 100 sampled, OTLP) vs off", unary_traced, "calls/s",
                              unary_off, 0.9),
        Figure.ratio_at_least("PublishReports ingest with tracing on (1 in 100 sampled, OTLP) vs off", ingest_traced,
                              "reports/s", ingest_off, 0.9),
    ]  # fmt: skip
