"""Replay speed: archived book events through the whole backtest path (decode, book update,
execution path with the replay port, running figures) with a strategy that never trades, beside a
bare loop that only decodes the same events; and peak memory at 1M and 10M events (it must stay
flat: the replay streams). Each run has a process of its own."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk.execution.path import BookUpdate, ExecutionPath, Fill, Intent
from polytraders.sdk.execution.ports import SimulatedPort
from polytraders.sdk.report_builders import ReportBuilder, seeded_report_ids
from polytraders.servers.lifecycle.backtest import _Figures, book_update

from .figures import Figure

SPEED_EVENTS = 200_000
VARIANTS = 1_000


class _Idle:
    slug, version = "idle", "1"

    def on_book(self, book: BookUpdate, position_micros: int) -> tuple[Intent, ...]:
        return ()

    def on_fill(self, fill: Fill) -> None:
        pass


def _events(count: int) -> Iterator[bytes]:
    """`count` serialized book snapshots (a thousand distinct ones, cycled: generated as they are read)."""
    feed, t0 = ReportBuilder("clob-book-feed"), datetime(2026, 11, 24, tzinfo=UTC)
    variants = [feed.observation(
        produced_at=t0 + timedelta(milliseconds=n), token_id="1", condition_id="0xc", source="clob.book",
        bids=[rpb.BookLevel(price=f"0.{40 + n % 5}", size_micros=(100 + n % 7) * 1_000_000)],
        asks=[rpb.BookLevel(price=f"0.{50 + n % 5}", size_micros=(100 + n % 11) * 1_000_000)],
    ).SerializeToString() for n in range(VARIANTS)]  # fmt: skip
    for n in range(count):
        yield variants[n % VARIANTS]


def _replay(count: int) -> float:
    builder = ReportBuilder("bench", mode=rpb.MODE_REPLAY, report_ids=seeded_report_ids("bench"))
    path, figures = ExecutionPath(_Idle(), [], SimulatedPort(), builder, lambda report: None), _Figures()
    began = time.perf_counter()
    for payload in _events(count):
        update = book_update(rpb.Report.FromString(payload))
        path.on_book(update)
        figures.book(update)
    return count / (time.perf_counter() - began)


def _decode_only(count: int) -> float:
    began = time.perf_counter()
    for payload in _events(count):
        rpb.Report.FromString(payload)
    return count / (time.perf_counter() - began)


def _in_fresh_process(count: int, decode_only: bool = False) -> dict[str, float]:
    """Events/s and peak RSS of one run in a process of its own, so no earlier benchmark's heap
    (a million reconciled records, say) is on the collector's path."""
    command = [sys.executable, "-m", "benchmarks.replay", str(count)] + (["decode"] if decode_only else [])
    figures: dict[str, float] = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
    return figures


def run() -> list[Figure]:
    ours = max(_in_fresh_process(SPEED_EVENTS)["events_per_s"] for _ in range(2))
    bare = max(_in_fresh_process(SPEED_EVENTS, decode_only=True)["events_per_s"] for _ in range(2))
    small, big = _in_fresh_process(1_000_000)["max_rss_mb"], _in_fresh_process(10_000_000)["max_rss_mb"]
    return [
        Figure.against("replay: book events/s through the whole path vs decode only", ours, "events/s", bare,
                       "value >= 100,000 events/s", ours >= 100_000),
        Figure.against("replay peak RSS at 10M vs at 1M events", big, "MB", small, "ratio <= 1.2 (flat)", big / small <= 1.2),
    ]  # fmt: skip


if __name__ == "__main__":
    rate = (_decode_only if sys.argv[2:] == ["decode"] else _replay)(int(sys.argv[1]))
    peak_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
    print(json.dumps({"events_per_s": rate, "max_rss_mb": peak_kb / 1024}))
