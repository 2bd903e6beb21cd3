"""The compliance ledger: tampering with the database directly is found, named, and exits the CLI non-zero."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from datetime import timedelta

import grpc
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from polytraders.governance.v1 import audit_pb2 as pb
from polytraders.governance.v1 import audit_pb2_grpc as pb_grpc
from polytraders.sdk import ManualClock
from polytraders.sdk.report_builders import ReportBuilder
from polytraders.servers.mesh import MeshThread
from polytraders.servers.runtime import ledger
from tests.clients.test_cli import CLI

AUDITOR = [("authorization", "Bearer dev-auditor-token")]


def _publish_records(mesh: MeshThread, count: int, bot: str = "demo-bot") -> list[str]:
    builder = ReportBuilder(bot)
    records = [
        builder.settlement(record_type="pnl.fill", subject=bot, realised_pnl_micros=i) for i in range(count)
    ]
    noise = [builder.operations(component="x") for _ in range(3)]  # ONE_YEAR: not in the ledger
    for start in range(0, count, 500):
        mesh.call(mesh.mesh.parts.bus.publish(records[start : start + 500] + noise[:1]))
        noise = noise[1:] + [builder.operations(component="x")]
    return [r.header.report_id for r in records]


def _verify(mesh: MeshThread, **request: object) -> pb.VerifyLedgerResponse:
    with grpc.insecure_channel(mesh.address) as channel:
        return pb_grpc.ComplianceLedgerServiceStub(channel).VerifyLedger(
            pb.VerifyLedgerRequest(**request), metadata=AUDITOR, timeout=60
        )


def _cli_verify(mesh: MeshThread) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, "audit", "verify", "--target", mesh.address, "--token", "dev-auditor-token"],
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def _sql(mesh: MeshThread, *statements: str) -> None:
    with mesh.mesh.parts.engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))


def _without_triggers(mesh: MeshThread) -> list[str]:
    """What someone with write access to the database would do first."""
    if mesh.mesh.parts.engine.dialect.name == "sqlite":
        return ["DROP TRIGGER ledger_entries_no_update", "DROP TRIGGER ledger_entries_no_delete"]
    return ["DROP TRIGGER ledger_entries_append_only ON ledger_entries"]


def _edit(seq: int, stream: str = "demo-bot") -> str:
    return f"UPDATE ledger_entries SET payload = substr(payload, 2) WHERE stream = '{stream}' AND seq = {seq}"


def _delete(where: str, stream: str = "demo-bot") -> str:
    return f"DELETE FROM ledger_entries WHERE stream = '{stream}' AND {where}"


def _swap(seq: int, stream: str = "demo-bot") -> list[str]:
    """Entries `seq` and `seq + 1` trade places."""
    moves = ((seq, -1), (seq + 1, seq), (-1, seq + 1))
    return [f"UPDATE ledger_entries SET seq = {to} WHERE stream = '{stream}' AND seq = {at}" for at, to in moves]


def _forge(column: str, last_seq: int) -> str:
    return f"UPDATE ledger_checkpoints SET {column} = substr({column}, 2) WHERE stream = 'demo-bot' AND last_seq = {last_seq}"


TAMPERING: list[tuple[str, Callable[[str], list[str]], int, int, str]] = [
    ("edit a payload", lambda s: [_edit(7, s)], 7, pb.LEDGER_PROBLEM_EDITED, "edited"),
    ("delete an entry", lambda s: [_delete("seq = 12", s)], 12, pb.LEDGER_PROBLEM_REMOVED, "removed"),
    ("swap two entries", lambda s: _swap(5, s), 5, pb.LEDGER_PROBLEM_REORDERED, "reordered"),
]


@pytest.mark.parametrize(
    ("case", "tamper", "seq", "problem", "word"), TAMPERING, ids=[t[0] for t in TAMPERING]
)
def test_tampering_is_found_at_the_exact_entry(mesh: MeshThread, case, tamper, seq, problem, word) -> None:
    ids = _publish_records(mesh, 20)
    _publish_records(mesh, 5, bot="other-bot")
    clean = _verify(mesh)
    assert (clean.ok, clean.entries_checked) == (True, 25)
    assert _cli_verify(mesh).returncode == 0

    _sql(mesh, *_without_triggers(mesh), *tamper("demo-bot"))
    broken = _verify(mesh)
    cli = _cli_verify(mesh)

    assert not broken.ok
    assert (broken.first_break.stream, broken.first_break.seq, broken.first_break.problem) == (
        "demo-bot",
        seq,
        problem,
    )
    if problem == pb.LEDGER_PROBLEM_EDITED:
        assert broken.first_break.entry_id == ids[seq - 1]
    assert cli.returncode == 1
    assert f"ledger BROKEN at stream demo-bot entry {seq} ({word})" in cli.stdout
    assert _verify(mesh, stream="other-bot").ok  # the other stream's chain is untouched


def test_the_database_refuses_to_update_or_delete_an_entry(mesh: MeshThread) -> None:
    _publish_records(mesh, 3)
    for statement in (
        "UPDATE ledger_entries SET payload = substr(payload, 2) WHERE seq = 1",
        "DELETE FROM ledger_entries",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            _sql(mesh, statement)
    assert _verify(mesh).entries_checked == 3


def test_checkpoints_let_a_verifier_start_late_and_are_themselves_verified(mesh: MeshThread) -> None:
    _publish_records(mesh, 2 * ledger.CHECKPOINT_EVERY + 10)
    full = _verify(mesh)
    recent = _verify(mesh, from_latest_checkpoint=True)
    assert (full.ok, full.entries_checked, full.checkpoints_checked) == (
        True,
        2 * ledger.CHECKPOINT_EVERY + 10,
        2,
    )
    assert (recent.ok, recent.entries_checked) == (True, 10)

    _sql(mesh, _forge("merkle_root", 1024))
    forged = _verify(mesh)
    assert (forged.first_break.problem, forged.first_break.seq) == (pb.LEDGER_PROBLEM_CHECKPOINT, 1024)


def test_cutting_the_newest_entries_is_caught_by_the_checkpoint_that_covered_them(mesh: MeshThread) -> None:
    _publish_records(mesh, 2 * ledger.CHECKPOINT_EVERY + 10)
    _sql(mesh, *_without_triggers(mesh), _delete("seq > 2000"))
    truncated = _verify(mesh)
    assert (truncated.first_break.problem, truncated.first_break.seq) == (pb.LEDGER_PROBLEM_REMOVED, 2001)


def test_an_edit_deep_in_a_long_chain_is_found_at_the_exact_entry(mesh: MeshThread) -> None:
    """Verification checks a page of entries at once: the break is still named exactly, with the
    entries and the checkpoint before it counted."""
    ids = _publish_records(mesh, 2 * ledger.CHECKPOINT_EVERY + 10)
    _sql(mesh, *_without_triggers(mesh), _edit(1500))
    broken = _verify(mesh)
    assert (broken.entries_checked, broken.checkpoints_checked) == (1499, 1)
    assert (broken.first_break.seq, broken.first_break.entry_id, broken.first_break.problem) == (
        1500,
        ids[1499],
        pb.LEDGER_PROBLEM_EDITED,
    )


def test_the_purge_never_touches_the_ledger_and_corrections_are_new_entries(
    mesh: MeshThread, clock: ManualClock
) -> None:
    builder = ReportBuilder("demo-bot")
    original = builder.settlement(record_type="pnl.fill", realised_pnl_micros=100)
    correction = builder.settlement(record_type="pnl.fill", realised_pnl_micros=90,
                                    corrects_report_id=original.header.report_id)  # fmt: skip
    mesh.call(mesh.mesh.parts.bus.publish([original, correction]))
    clock.advance(timedelta(days=365 * 8))
    assert mesh.call(mesh.mesh.parts.bus.purge_expired()) == 2  # gone from the archive after seven years ...
    with mesh.mesh.parts.engine.connect() as conn:
        rows = conn.execute(text("SELECT entry_id, corrects FROM ledger_entries ORDER BY seq")).all()
    assert [tuple(r) for r in rows] == [(original.header.report_id, ""),
                                        (correction.header.report_id, original.header.report_id)]  # fmt: skip
    assert _verify(mesh).ok  # ... but the chain that proves them stays whole


def test_only_operators_and_auditors_verify(mesh: MeshThread) -> None:
    with grpc.insecure_channel(mesh.address) as channel, pytest.raises(grpc.RpcError) as refused:
        pb_grpc.ComplianceLedgerServiceStub(channel).VerifyLedger(
            pb.VerifyLedgerRequest(), metadata=[("authorization", "Bearer dev-bot-token")], timeout=10
        )
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED


SPREAD_TAMPERING: list[tuple[str, list[str], tuple[int, int, int, str] | None]] = [
    # case, statements, (entries checked, checkpoints checked, seq, problem) of the first break
    ("whole", [], None),
    ("edit inside the second share", [_edit(1500)], (1499, 1, 1500, "edited")),
    ("delete the last entry before a cut", [_delete("seq = 1024")], (1023, 0, 1024, "removed")),
    ("delete the first entry after a cut", [_delete("seq = 1025")], (1024, 1, 1025, "removed")),
    ("swap the entries either side of a cut", _swap(1024), (1023, 0, 1024, "reordered")),
    ("forge the chain hash a share starts from", [_forge("chain_hash", 1024)], (1024, 0, 1024, "checkpoint")),
    ("forge the last checkpoint", [_forge("merkle_root", 2048)], (2048, 1, 2048, "checkpoint")),
    ("cut the newest entries", [_delete("seq > 2000")], (2000, 1, 2001, "removed")),
    ("edit the other stream, walked after", [_edit(3, "other-bot")], (2 * ledger.CHECKPOINT_EVERY + 10 + 2, 2, 3, "edited")),
]


@pytest.fixture
def workers_started(monkeypatch: pytest.MonkeyPatch) -> list[subprocess.Popen[str]]:
    """Every worker process verification starts (started for real, and kept to look at)."""
    started: list[subprocess.Popen[str]] = []
    popen = ledger.subprocess.Popen
    monkeypatch.setattr(ledger.subprocess, "Popen", lambda command, **kw: started.append(popen(command, **kw)) or started[-1])
    return started


@pytest.mark.parametrize(("case", "statements", "first_break"), SPREAD_TAMPERING, ids=[t[0] for t in SPREAD_TAMPERING])
def test_a_walk_spread_over_worker_processes_finds_what_one_walk_finds(
    mesh: MeshThread, workers_started: list[subprocess.Popen[str]], case, statements, first_break
) -> None:
    """Three workers cut the walk at the checkpoints 1024 and 2048: a break at, before or after a
    cut, or in a checkpoint a share starts from, is named as the single walk names it."""
    _publish_records(mesh, 2 * ledger.CHECKPOINT_EVERY + 10)
    _publish_records(mesh, 5, bot="other-bot")
    _sql(mesh, *_without_triggers(mesh), *statements)
    engine = mesh.mesh.parts.engine

    one_walk = ledger.verify(engine, workers=1, spread_from=0)
    spread = ledger.verify(engine, workers=3, spread_from=0)

    assert len(workers_started) == 3
    assert spread == one_walk
    if first_break is None:
        assert (spread.ok, spread.entries_checked, spread.checkpoints_checked) == (True, 2 * ledger.CHECKPOINT_EVERY + 15, 2)
    else:
        b = spread.broken
        assert (spread.entries_checked, spread.checkpoints_checked, b.seq, b.problem) == first_break


def test_a_worker_that_fails_fails_the_walk_by_its_own_words_and_no_worker_is_left(
    mesh: MeshThread, workers_started: list[subprocess.Popen[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    _publish_records(mesh, 2 * ledger.CHECKPOINT_EVERY + 10)
    monkeypatch.setattr(ledger.sys, "executable", "/bin/sh")  # `sh -m <module>`: no such file, on stderr, exit 2

    with pytest.raises(RuntimeError, match="a ledger verification worker failed: /bin/sh: .*cannot open polytraders"):
        ledger.verify(mesh.mesh.parts.engine, workers=3, spread_from=0)
    assert len(workers_started) == 3 and all(worker.poll() is not None for worker in workers_started)
