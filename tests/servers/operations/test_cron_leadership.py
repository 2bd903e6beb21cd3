"""Cron across replicas: one process leads the schedule; its SIGKILL hands it to another, and every
scheduled moment is recorded exactly once (run, or missed with its reason), never twice."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import select

from polytraders.governance.v1 import operations_pb2 as pb
from polytraders.servers.operations.cron import cron_dispatches
from polytraders.servers.runtime.storage import make_engine
from tests.support.governance_process import GovernanceProcess
from tests.support.mesh_processes import leads, until

pytestmark = pytest.mark.postgres

EVERY_SECOND = """
[[task]]
name = "tick"
cron_expression = "* * * * * *"   # croniter's sixth field: every second
target = "governance:incidents.check_rcas"
deadline_seconds = 30
"""


def _dispatches(url: str) -> list[tuple[int, int]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            d = cron_dispatches
            query = select(d.c.scheduled_us, d.c.outcome).where(d.c.task == "tick").order_by(d.c.scheduled_us)
            return [(row.scheduled_us, row.outcome) for row in conn.execute(query)]
    finally:
        engine.dispose()


def test_the_cron_leader_killed_hands_the_schedule_over_and_no_moment_fires_twice_or_is_skipped(
    postgres_url: str, tmp_path: Path
) -> None:
    manifest = tmp_path / "cron.toml"
    manifest.write_text(EVERY_SECOND)
    config = tmp_path / "polytraders.toml"
    config.write_text(f'[server]\ncron_manifest = "{manifest}"\ncron_poll_seconds = 0.2\n')
    processes = GovernanceProcess.start_together(
        [GovernanceProcess(postgres_url, None, "--config", str(config)) for _ in range(2)]
    )
    try:
        duty = "operations.cron"
        until(lambda: sum(leads(p.address, duty) for p in processes) == 1, "exactly one process leads cron")
        leader, standby = sorted(processes, key=lambda p: not leads(p.address, duty))
        until(lambda: len(_dispatches(postgres_url)) >= 3, "the leader fires every second")
        killed_at_us = int(time.time() * 1_000_000)
        leader.kill()
        until(lambda: leads(standby.address, duty), "the standby took cron over")
        until(lambda: any(s > killed_at_us + 2_000_000 for s, _ in _dispatches(postgres_url)), "cron fires again")
    finally:
        for process in processes:
            process.stop()

    recorded = _dispatches(postgres_url)
    moments = [scheduled for scheduled, _ in recorded]
    assert len(moments) == len(set(moments)), "a scheduled moment was recorded twice"
    seconds = [m // 1_000_000 for m in moments]
    assert seconds == list(range(seconds[0], seconds[-1] + 1)), "a scheduled moment was skipped silently"
    outcomes = {outcome for _, outcome in recorded}
    assert outcomes <= {pb.DISPATCH_OUTCOME_SUCCEEDED, pb.DISPATCH_OUTCOME_MISSED, pb.DISPATCH_OUTCOME_INTERRUPTED}
    ran_after_kill = [m for m, outcome in recorded if m > killed_at_us and outcome == pb.DISPATCH_OUTCOME_SUCCEEDED]
    takeover_seconds = (min(ran_after_kill) - killed_at_us) / 1_000_000
    assert takeover_seconds < 10  # from the recorded moments, not a sleep
