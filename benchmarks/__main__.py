"""Run every benchmark module and write benchmarks/results.json."""

from __future__ import annotations

import logging

from . import (
    attribution,
    bus_processes,
    ledger,
    lifecycle,
    observability,
    operations,
    pnl,
    replay,
    report_bus,
    sdk,
    takeover,
    transport_security,
)
from .figures import write

MODULES = [
    report_bus, bus_processes, sdk, lifecycle, transport_security, observability, ledger, attribution, operations, takeover,
    pnl, replay,
]


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("polytraders.access").setLevel(logging.WARNING)
    figures = []
    for module in MODULES:
        figures.extend(module.run())
    write(figures)


if __name__ == "__main__":
    main()
