"""Reconciling 1,000,000 fills against a 1,000,000-trade builder report, beside a plain dict-join.

Each side runs in a fresh process (peak RSS is that process's own). Both consume the same
generated records: our fills first (held in a dict), then the exchange's trades streamed past
them. The ceiling is the least a reconciliation can do: dict-join on the key and compare
price and size. Ours also classifies codes, tallies per market and checks drift exactly.
A thousand records differ, so the findings are real work, not an empty list.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal

from polytraders.servers.attribution.reconcile import ExchangeTrade, LocalFill, reconcile_builder_trades

from .figures import Figure

RECORDS = 1_000_000
MARKETS = 500
DIFFERING = 1_000
CODE = "0x" + "ab" * 32
PRICES = [Decimal(f"0.{n:02d}") for n in range(1, 100)]


def _fills() -> Iterator[LocalFill]:
    for n in range(RECORDS):
        price = PRICES[n % 99]
        size = 1_000_000 + n % 5000
        yield LocalFill(
            f"trade-{n}:TAKER", "bot-1", f"0xmarket{n % MARKETS}", price, size, int(price * size), CODE
        )


def _trades() -> Iterator[ExchangeTrade]:
    for n in range(RECORDS):
        price = PRICES[n % 99]
        size = 1_000_000 + n % 5000 + (1 if n % (RECORDS // DIFFERING) == 0 else 0)
        yield ExchangeTrade(f"trade-{n}:TAKER", f"0xmarket{n % MARKETS}", price, size, int(price * size), 0,
                            "CONFIRMED", 0)  # fmt: skip


def _reconcile() -> int:
    return len(reconcile_builder_trades(_fills(), _trades(), CODE, Decimal("0.001")).findings)


def _dict_join() -> int:
    local = {fill.key: fill for fill in _fills()}
    differing = 0
    for trade in _trades():
        fill = local.get(trade.key)
        if fill is None or fill.price != trade.price or fill.size_micros != trade.size_micros:
            differing += 1
    return differing


def _in_fresh_process(which: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-m", "benchmarks.attribution", which], check=True, capture_output=True,
                         text=True)  # fmt: skip
    figures: dict[str, float] = json.loads(out.stdout)
    return figures


def run() -> list[Figure]:
    ours = min((_in_fresh_process("reconcile") for _ in range(2)), key=lambda r: r["seconds"])
    join = min((_in_fresh_process("dict-join") for _ in range(2)), key=lambda r: r["seconds"])
    assert ours["findings"] >= DIFFERING and join["findings"] == DIFFERING
    return [
        Figure.against(
            "reconcile 1M fills vs 1M trades: records/s vs dict-join",
            RECORDS / ours["seconds"],
            "records/s",
            RECORDS / join["seconds"],
            "reference (no target given)",
            True,
        ),  # fmt: skip
        Figure.against(
            "reconcile 1M vs 1M: peak RSS vs dict-join",
            ours["max_rss_mb"],
            "MB",
            join["max_rss_mb"],
            "reference (no target given)",
            True,
        ),  # fmt: skip
    ]


if __name__ == "__main__":
    work = {"reconcile": _reconcile, "dict-join": _dict_join}[sys.argv[1]]
    began = time.perf_counter()
    findings = work()
    seconds = time.perf_counter() - began
    peak_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
    print(json.dumps({"seconds": seconds, "max_rss_mb": peak_kb / 1024, "findings": findings}))
