"""Paper-Trade Runner: the live market channel (a local websocket server speaking its shapes,
through polymarket-client's market stream) into the paper port; the paper gate over days."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from polytraders.governance.v1 import lifecycle_pb2 as pb
from polytraders.governance.v1 import lifecycle_pb2_grpc as pb_grpc
from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk import Governance, ManualClock
from polytraders.servers.lifecycle.paper import paper_gate
from polytraders.servers.mesh import MeshThread
from tests.conftest import start_mesh
from tests.contract.rpc import violations
from tests.sdk.test_publisher import archived
from tests.support.clob import CONDITION_ID, TOKEN_ID, local_clob
from tests.support.market_ws import book_event, market_channel

OPS = [("authorization", "Bearer dev-operator-token")]
STRATEGY = "tests.sdk.test_execution_path:Momentum"
DAY0 = datetime(2026, 10, 27, 12, tzinfo=UTC)  # the 28th day is 2026-11-23: yesterday, by the test clock


def days_of_books(first: int, count: int) -> list[dict]:
    """Two book snapshots a day from day `first`, the bid rising a cent each time (the strategy buys the rises)."""
    events = []
    for d in range(first, first + count):
        for half in range(2):
            n = 2 * d + half
            at = DAY0 + timedelta(days=d, hours=6 * half)
            bid = 20 + n % 60
            events.append(book_event(TOKEN_ID, CONDITION_ID, int(at.timestamp() * 1000),
                                     [(f"0.{bid:02d}", "500")], [(f"0.{bid + 2:02d}", "500")]))  # fmt: skip
    return events


def test_the_gate_counts_trailing_consecutive_days() -> None:
    day = lambda n: int(f"{(DAY0 + timedelta(days=n)):%Y%m%d}")  # noqa: E731
    rows = [(day(n), 1_000_000_000, 1_000_000_000 + 1_000 * (n % 3 + 1), 1_000_000_000) for n in range(13)]
    today = (DAY0 + timedelta(days=28)).date()
    assert paper_gate(rows, (DAY0 + timedelta(days=13)).date()).continuous_paper_days == 13
    assert paper_gate(rows, today).continuous_paper_days == 0  # it stopped two weeks ago: a gap
    later = rows + [
        (day(n), 1_000_000_000, 1_000_000_000 + 1_000 * (n % 3 + 1), 1_000_000_000) for n in range(14, 28)
    ]
    gate = paper_gate(later, today)
    # returns (×1e-6) 3,1,2 repeating over days 14..27: five 3s, five 1s, four 2s; mean 2,
    # sample variance 10/13, so the ratio is 2 / sqrt(10/13) = 2.2804
    assert (gate.continuous_paper_days, gate.risk_adjusted_return) == (14, "2.2804")
    assert paper_gate([], today).continuous_paper_days == 0


def _wait(stub: pb_grpc.PaperTradeServiceStub, session_id: str, events: int) -> pb.GetPaperSessionResponse:
    deadline = time.monotonic() + 30
    while (
        found := stub.GetPaperSession(pb.GetPaperSessionRequest(session_id=session_id), metadata=OPS)
    ).session.events < events:
        assert time.monotonic() < deadline, found
        time.sleep(0.05)
    return found


def test_13_days_a_gap_and_14_days_pass_the_gate_only_after_the_second_run(
    database_url: str, clock: ManualClock
) -> None:
    with market_channel() as channel, local_clob() as clob:
        channel.scripts = [days_of_books(0, 13), days_of_books(14, 14)]  # day 13 is missing
        mesh = start_mesh(database_url, clock, clob_url=clob.url, clob_market_ws_url=channel.url)
        try:
            stub = pb_grpc.PaperTradeServiceStub(grpc.insecure_channel(mesh.address))
            with Governance(mesh.address, token="dev-operator-token", bot_slug="ops") as ops:
                ops.registry.register("momentum", owner="alpha", version="1.0")
                for stage in (pb.STAGE_BACKTEST, pb.STAGE_PAPER, pb.STAGE_SHADOW):
                    ops.registry.promote("momentum", stage, "evidence")
            request = pb.StartPaperSessionRequest(
                strategy=STRATEGY, strategy_slug="momentum", token_ids=[TOKEN_ID]
            )
            first = stub.StartPaperSession(request, metadata=OPS).session
            run = _wait(stub, first.session_id, 26)
            assert [d.day for d in run.days][0] == 20261027 and len(run.days) == 13
            stub.StopPaperSession(pb.StopPaperSessionRequest(session_id=first.session_id), metadata=OPS)
            clock.set(DAY0 + timedelta(days=13))  # the morning after the first run's last day
            gate = stub.EvaluatePaperGate(pb.EvaluatePaperGateRequest(strategy_slug="momentum"), metadata=OPS)
            assert (gate.gate.continuous_paper_days, gate.passes) == (
                13,
                False,
            ) and "14 needed" in gate.explanation

            second = stub.StartPaperSession(request, metadata=OPS).session
            _wait(stub, second.session_id, 28)
            clock.set(DAY0 + timedelta(days=28))  # the morning after the second run's last day
            gate = stub.EvaluatePaperGate(pb.EvaluatePaperGateRequest(strategy_slug="momentum"), metadata=OPS)
            assert (gate.gate.continuous_paper_days, gate.passes) == (14, True), gate.explanation
            with Governance(mesh.address, token="dev-operator-token", bot_slug="ops") as ops:
                assert (
                    ops.registry.promote("momentum", pb.STAGE_LIMITED_LIVE, "paper gate passed").stage
                    == pb.STAGE_LIMITED_LIVE
                )
                listed = ops.paper.list()
                assert [(s.session_id, s.running) for s in listed] == [(second.session_id, True), (first.session_id, False)]
                assert ops.paper.list("momentum") == listed and ops.paper.list("someone-else") == []
        finally:
            mesh.stop()
    # paper: the feed was read, nothing was sent to the CLOB (no signing, no order, no key), nor to any chain
    assert [s["assets_ids"] for s in channel.subscriptions] == [[TOKEN_ID], [TOKEN_ID]]
    assert clob.requests == []
    reports = archived(database_url, "paper-momentum")
    assert reports and {r.header.mode for r in reports} == {rpb.MODE_PAPER}
    assert any(r.execution.event == rpb.EXECUTION_EVENT_FILL for r in reports)


BAD = [
    ("no strategy", {"strategy": ""}, grpc.StatusCode.INVALID_ARGUMENT, "strategy"),
    ("no slug", {"strategy_slug": ""}, grpc.StatusCode.INVALID_ARGUMENT, "strategy_slug"),
    ("no tokens", {"token_ids": []}, grpc.StatusCode.INVALID_ARGUMENT, "token_ids"),
    ("bad parameters", {"parameters_json": "[]"}, grpc.StatusCode.INVALID_ARGUMENT, "parameters_json"),
    ("unregistered", {"strategy_slug": "nobody"}, grpc.StatusCode.NOT_FOUND, None),
]


@pytest.mark.parametrize(("case", "changes", "code", "field"), BAD, ids=[b[0] for b in BAD])
def test_bad_paper_sessions_are_refused(mesh: MeshThread, case, changes, code, field) -> None:
    stub = pb_grpc.PaperTradeServiceStub(grpc.insecure_channel(mesh.address))
    fields = {"strategy": STRATEGY, "strategy_slug": "momentum", "token_ids": [TOKEN_ID], **changes}
    with pytest.raises(grpc.RpcError) as refused:
        stub.StartPaperSession(pb.StartPaperSessionRequest(**fields), metadata=OPS)
    assert refused.value.code() == code
    if field:
        assert field in violations(refused.value)
    with pytest.raises(grpc.RpcError) as missing:
        stub.GetPaperSession(pb.GetPaperSessionRequest(session_id="nope"), metadata=OPS)
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
