"""A real Prometheus server (Debian's `prometheus`) scraping given targets every half second,
and its HTTP query API."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from tests.support.governance_process import free_port

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


class Prometheus:
    def __init__(self, address: str) -> None:
        self.address = address

    def query(self, expression: str) -> list[tuple[dict[str, str], float]]:
        """An instant query: each series' labels and value."""
        url = f"http://{self.address}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
        with urllib.request.urlopen(url, timeout=5) as answer:
            body = json.load(answer)
        assert body["status"] == "success", body
        return [(r["metric"], float(r["value"][1])) for r in body["data"]["result"]]

    def value(self, expression: str) -> float | None:
        found = self.query(expression)
        return found[0][1] if found else None

    def wait_for(self, expression: str, holds: Callable[[float | None], bool], seconds: float = 30) -> float | None:
        """The expression's value once `holds` says so (a scrape comes every half second)."""
        deadline = time.monotonic() + seconds
        while True:
            found = self.value(expression)
            if holds(found):
                return found
            assert time.monotonic() < deadline, f"{expression} stayed at {found}"
            time.sleep(0.2)


@contextmanager
def prometheus(targets: Sequence[str], workdir: Path) -> Iterator[Prometheus]:
    """Prometheus on a free loopback port, scraping `targets` (host:port of /metrics) as job "governance"."""
    config = workdir / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 500ms\n  evaluation_interval: 500ms\n"
        "scrape_configs:\n  - job_name: governance\n    static_configs:\n"
        f"      - targets: {json.dumps(list(targets))}\n"
    )
    address = f"127.0.0.1:{free_port()}"
    process = subprocess.Popen(
        [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={workdir / 'tsdb'}",
         f"--web.listen-address={address}", "--log.level=warn"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        server = Prometheus(address)
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://{address}/-/ready", timeout=1).close()
                break
            except OSError:
                assert process.poll() is None, "prometheus exited"
                assert time.monotonic() < deadline, "prometheus did not become ready"
                time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        process.wait(30)
