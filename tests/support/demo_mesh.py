"""A served mesh with the demo fleet's data in it: what the operator CLI and the console read."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from polytraders.clients.demo.fleet import DemoFleet
from polytraders.governance.v1 import operations_pb2 as opb
from tests.support.governance_process import GovernanceProcess, free_port
from tests.support.mesh_processes import until


@dataclass
class DemoMesh:
    address: str
    fleet: DemoFleet
    process: GovernanceProcess

    @property
    def quiet_bot(self) -> str:
        return next(b.slug for b in self.fleet.bots if b.quiet)


@contextmanager
def demo_mesh(
    workdir: Path, *, bots: int = 12, rounds: int = 9, env: dict[str, str] | None = None
) -> Iterator[DemoMesh]:
    """A `serve` process on SQLite (with `env` besides) whose heartbeat polls the demo bots; `rounds`
    ticks of the demo fleet driven through it, every fill booked and the quiet bot paged before it yields."""
    address = f"127.0.0.1:{free_port()}"
    fleet = DemoFleet(address, "dev-operator-token", bots=bots, health_port=0, outbox_dir=workdir / "outboxes")
    manifest = workdir / "fleet.toml"
    manifest.write_text(fleet.manifest())
    settings = {"POLYTRADERS_FLEET_MANIFEST": str(manifest), "POLYTRADERS_HEARTBEAT_INTERVAL_SECONDS": "0.2",
                "POLYTRADERS_MISSED_HEARTBEATS_TO_ALERT": "2", **(env or {})}  # fmt: skip
    process = GovernanceProcess(f"sqlite:///{workdir / 'governance.sqlite'}", int(address.rsplit(":", 1)[1]),
                                env=settings)  # fmt: skip
    try:
        process.start()
        fleet.plan(rounds)
        for _ in range(rounds):
            fleet.round()
        for bot in fleet.bots:
            assert bot.gov.reports.flush(timeout=30), f"{bot.slug} could not deliver its reports"
        operator = fleet.operator
        until(lambda: operator.pnl.get().total.fills == fleet.fills, "P&L booked every demo fill")
        quiet = next(b.slug for b in fleet.bots if b.quiet)

        def paged() -> bool:
            bots = {b.bot_slug: b for b in operator.fleet.health().bots}
            return bots[quiet].status == opb.BOT_STATUS_UNREACHABLE and bots[quiet].alerting

        until(paged, "the heartbeat paged the quiet bot")
        operator.cron.trigger("slo-evaluate")  # at once, not at the next minute
        yield DemoMesh(address, fleet, process)
    finally:
        fleet.close()
        process.stop()
