"""Cron and the fleet's health sweeps across replicas: one process leads each; its SIGKILL, or its
lock session cut from outside, hands them to another. Every scheduled moment is recorded exactly
once (run, or missed with its reason), never twice; a dead bot is paged once and restarted once;
a deposed leader's late writes are refused by its fencing token."""

from __future__ import annotations

import asyncio
import json
import shlex
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import insert, select
from sqlalchemy.engine import make_url

from polytraders.governance.v1 import operations_pb2 as pb
from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.servers.operations.cron import DUTY, cron_dispatches
from polytraders.servers.operations.heartbeat import fleet_bot_states
from polytraders.servers.runtime.archive import report_archive
from polytraders.servers.runtime.leadership import Leadership, duty_leases
from polytraders.servers.runtime.storage import lock_key
from tests.servers.operations.support import Desk, desk_on
from tests.servers.operations.test_cron import Calls, manifest, runner
from tests.support.governance_process import GovernanceProcess, free_port
from tests.support.mesh_processes import leads, rows, until

pytestmark = pytest.mark.postgres
SWEEPS = "operations.health-sweep"

EVERY_SECOND = """
[[task]]
name = "tick"
cron_expression = "* * * * * *"   # croniter's sixth field: every second
target = "governance:incidents.check_rcas"
deadline_seconds = 30
"""


def _rows(url: str) -> list[tuple[int, int, int | None]]:
    """(scheduled_us, outcome, fencing_token) of every "tick" dispatch, in scheduled order."""
    d = cron_dispatches
    query = select(d.c.scheduled_us, d.c.outcome, d.c.fencing_token).where(d.c.task == "tick")
    return [tuple(row) for row in rows(url, query.order_by(d.c.scheduled_us))]


def _dispatches(url: str) -> list[tuple[int, int]]:
    return [(scheduled, outcome) for scheduled, outcome, _ in _rows(url)]


def _config(tmp_path: Path, name: str, leader_retry_seconds: float = 1.0, fleet: Path | None = None) -> str:
    manifest = tmp_path / "cron.toml"
    manifest.write_text(EVERY_SECOND)
    config = tmp_path / name
    text = f'[server]\ncron_manifest = "{manifest}"\ncron_poll_seconds = 0.2\nleader_retry_seconds = {leader_retry_seconds}\n'
    if fleet is not None:
        text += f'fleet_manifest = "{fleet}"\nheartbeat_interval_seconds = 0.2\nmissed_heartbeats_to_alert = 3\n'
    config.write_text(text)
    return str(config)


def _dead_bot(tmp_path: Path, restarted: Path) -> Path:
    """A fleet of one bot nobody answers for; its restart command leaves a line in `restarted`."""
    command = shlex.join([sys.executable, "-c", f"open({str(restarted)!r}, 'a').write('restarted\\n')"])
    fleet = tmp_path / "fleet.toml"
    fleet.write_text(
        f'[[bot]]\nslug = "dead-bot"\nclass = "strategy"\nlayer = "strategy"\n'
        f'health_target = "127.0.0.1:{free_port()}"\nrestart_command = {json.dumps(command)}\n'
    )
    return fleet


def _pages(url: str, alert_key: str) -> list[bool]:
    """Each alert of `alert_key` in the archive, in order: True for a page, False for its resolve."""
    query = select(report_archive.c.payload).where(report_archive.c.kind == rpb.REPORT_KIND_OPERATIONS)
    reports = [rpb.Report.FromString(payload).operations for (payload,) in rows(url, query.order_by(report_archive.c.seq))]
    return [r.severity == rpb.SEVERITY_PAGE for r in reports if r.alert_key == alert_key]


def _misses(url: str) -> tuple[int, int | None]:
    """The dead bot's stored count, and the fencing token of the sweep that stored it."""
    s = fleet_bot_states
    found = rows(url, select(s.c.misses, s.c.fencing_token).where(s.c.bot_slug == "dead-bot"))
    return (found[0].misses, found[0].fencing_token) if found else (0, None)


def _assert_each_moment_once(recorded: list[tuple[int, int]]) -> None:
    moments = [scheduled for scheduled, _ in recorded]
    assert len(moments) == len(set(moments)), "a scheduled moment was recorded twice"
    seconds = [m // 1_000_000 for m in moments]
    assert seconds == list(range(seconds[0], seconds[-1] + 1)), "a scheduled moment was skipped silently"
    # the last may be RUNNING: the last process was stopped with it running, and no leader came after
    # to mark it INTERRUPTED (a process that stops mid-dispatch leaves that to the next leader)
    outcomes = {outcome for _, outcome in recorded[:-1]}
    assert outcomes <= {pb.DISPATCH_OUTCOME_SUCCEEDED, pb.DISPATCH_OUTCOME_MISSED, pb.DISPATCH_OUTCOME_INTERRUPTED}
    assert recorded[-1][1] != pb.DISPATCH_OUTCOME_FAILED


def _cut_off(postgres_url: str, duty: str) -> None:
    """End, from outside, the session that holds `duty`'s advisory lock (the holder lives on)."""
    url = make_url(postgres_url)
    schema = url.query["options"].split("=", 1)[1]
    key = lock_key(f"polytraders.duty.{duty}", schema) % (1 << 64)  # pg_locks shows a bigint key as two oids
    with psycopg.connect(host=url.host, port=url.port or 5432, user=url.username, dbname=url.database,
                         autocommit=True) as conn:  # fmt: skip
        ended = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND objsubid = 1 AND classid::bigint = %s AND objid::bigint = %s",
            (key >> 32, key & 0xFFFFFFFF),
        ).fetchall()
    assert ended == [(True,)], ended


def test_the_leader_killed_hands_cron_and_the_sweeps_over_without_a_moment_or_a_page_twice(
    postgres_url: str, tmp_path: Path
) -> None:
    restarted = tmp_path / "restarted.txt"
    config = _config(tmp_path, "polytraders.toml", fleet=_dead_bot(tmp_path, restarted))
    leader = GovernanceProcess(postgres_url, None, "--config", config).start()  # first: it leads everything
    standby = None
    try:
        until(lambda: leads(leader.address, DUTY) and leads(leader.address, SWEEPS), "the first process leads")
        standby = GovernanceProcess(postgres_url, None, "--config", config).start()
        until(lambda: len(_dispatches(postgres_url)) >= 3, "the leader fires every second")
        until(lambda: restarted.exists(), "the dead bot is paged and restarted")
        killed_at_us = int(time.time() * 1_000_000)
        misses_at_kill, first_token = _misses(postgres_url)
        leader.kill()
        until(lambda: leads(standby.address, DUTY) and leads(standby.address, SWEEPS), "the standby took over")
        until(lambda: any(s > killed_at_us + 2_000_000 for s, _ in _dispatches(postgres_url)), "cron fires again")
        until(lambda: _misses(postgres_url)[1] != first_token and _misses(postgres_url)[0] >= misses_at_kill + 3,
              "the new leader sweeps on from the stored count")  # fmt: skip
    finally:
        for process in (leader, standby):
            if process is not None:
                process.stop()

    recorded = _dispatches(postgres_url)
    _assert_each_moment_once(recorded)
    ran_after_kill = [m for m, outcome in recorded if m > killed_at_us and outcome == pb.DISPATCH_OUTCOME_SUCCEEDED]
    takeover_seconds = (min(ran_after_kill) - killed_at_us) / 1_000_000
    assert takeover_seconds < 10  # from the recorded moments, not a sleep
    assert _pages(postgres_url, "health:dead-bot") == [True]  # one page, across both leaders
    assert restarted.read_text().splitlines() == ["restarted"]  # one restart


def test_a_leader_cut_off_from_the_database_is_deposed_by_its_stale_fencing_token(
    postgres_url: str, tmp_path: Path
) -> None:
    # the leader checks its lock session only every 60 s: it acts on after losing it, until a
    # write of its own is refused; the standby tries for the lead every 0.2 s
    leader = GovernanceProcess(postgres_url, None, "--config", _config(tmp_path, "slow.toml", 60)).start()
    standby = None
    try:
        until(lambda: leads(leader.address, DUTY), "the first process leads cron")
        standby = GovernanceProcess(postgres_url, None, "--config", _config(tmp_path, "fast.toml", 0.2)).start()
        until(lambda: len(_rows(postgres_url)) >= 3, "the leader fires every second")
        first_token = _rows(postgres_url)[-1][2]
        _cut_off(postgres_url, DUTY)
        cut_at = time.monotonic()
        until(lambda: leads(standby.address, DUTY), "the standby took cron over")
        until(lambda: not leads(leader.address, DUTY), "the deposed leader stood down", seconds=20)
        stood_down_after = time.monotonic() - cut_at
        until(lambda: sum(token != first_token for _, _, token in _rows(postgres_url)) >= 3, "cron fires again")
    finally:
        for process in (leader, standby):
            if process is not None:
                process.stop()

    # it stood down long before its own 60 s check: a write it tried was refused as stale
    assert stood_down_after < 20
    recorded = _rows(postgres_url)
    _assert_each_moment_once([(scheduled, outcome) for scheduled, outcome, _ in recorded])
    tokens = [token for _, _, token in recorded]
    assert set(tokens) == {first_token, first_token + 1}, tokens
    handed_over = tokens.index(first_token + 1)
    assert tokens == [first_token] * handed_over + [first_token + 1] * (len(tokens) - handed_over), (
        "a row of the deposed hold was written after the new leader's"
    )


def test_a_new_leader_interrupts_what_gone_processes_left_running_and_lets_a_live_standby_finish(
    postgres_url: str,
) -> None:
    """A TriggerNow on a standby carries no fencing token, only its process: a leader taking over
    meanwhile interrupts what earlier holds and dead processes left, not the standby's live run."""
    d = cron_dispatches
    slow = manifest(("slow", "0 0 1 1 *", "governance:slow", 60))

    def row(dispatch_id: str, token: int | None, holder: str) -> dict[str, object]:
        return {"dispatch_id": dispatch_id, "task": "slow", "scheduled_us": 1, "started_us": None, "finished_us": None,
                "outcome": pb.DISPATCH_OUTCOME_RUNNING, "detail": "", "triggered_by": "operator",
                "fencing_token": token, "holder": holder}  # fmt: skip

    async def scenario(desk: Desk) -> tuple[dict[str, int], dict[str, int], int]:
        leadership = Leadership(desk.engine, retry_seconds=0.05)
        await asyncio.to_thread(leadership.announce)  # this process lives: its manual runs are its own to end
        with desk.engine.begin() as conn:
            conn.execute(insert(duty_leases).values(duty=DUTY, token=1, holder="an-earlier-leader:1"))
            conn.execute(insert(d), [row("earlier-hold", 1, "an-earlier-leader:1"), row("gone", None, "gone-host:7")])
        calls = Calls("slow")
        calls.blocking.add("slow")
        standby = runner(desk, slow, calls)
        triggered = asyncio.get_running_loop().create_task(standby.trigger_now("slow", "operator"))
        while not calls.log:  # the standby's run has started, and blocks
            await asyncio.sleep(0.01)
        await leadership.lead(DUTY, runner(desk, slow, Calls("slow")).start)  # takes token 2, recovers, returns
        with desk.engine.connect() as conn:
            during = {r.dispatch_id: r.outcome for r in conn.execute(select(d.c.dispatch_id, d.c.outcome))}
        calls.block.set()
        mine = await triggered
        with desk.engine.connect() as conn:
            after = {r.dispatch_id: r.outcome for r in conn.execute(select(d.c.dispatch_id, d.c.outcome))}
        leadership.close()
        return during, after | {"mine": after[mine.dispatch_id]}, len(desk.alerts.sent)

    during, after, alerts = desk_on(postgres_url, datetime(2026, 12, 6, tzinfo=UTC), scenario)
    interrupted = pb.DISPATCH_OUTCOME_INTERRUPTED
    assert (during["earlier-hold"], during["gone"]) == (interrupted, interrupted)
    assert sorted(during.values()).count(pb.DISPATCH_OUTCOME_RUNNING) == 1  # the standby's, still running
    assert after["mine"] == pb.DISPATCH_OUTCOME_SUCCEEDED and alerts == 2
