"""PostTradeExplainer over gRPC: a full chain explained in plain English, a missing link said (not
invented) and completed by a correction when it arrives."""

from __future__ import annotations

import time
from collections.abc import Callable

import grpc
import pytest

from polytraders.governance.v1 import ledger_pb2 as pb
from polytraders.governance.v1 import ledger_pb2_grpc as pb_grpc
from polytraders.governance.v1 import lifecycle_pb2 as lpb
from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk import Governance, ManualClock, ReportBuilder
from polytraders.servers.mesh import MeshThread
from tests.contract.rpc import violations
from tests.sdk.test_publisher import archived

OPS = [("authorization", "Bearer dev-operator-token")]
MARKET, TOKEN = "0x" + "aa" * 32, "1001"


def _explainer(mesh: MeshThread) -> pb_grpc.PostTradeExplainerServiceStub:
    return pb_grpc.PostTradeExplainerServiceStub(grpc.insecure_channel(mesh.address))


def _until(
    read: Callable[[], list[pb.Explanation]], done: Callable[[list[pb.Explanation]], bool]
) -> list[pb.Explanation]:
    deadline = time.monotonic() + 20
    while not done(found := read()):
        assert time.monotonic() < deadline, found
        time.sleep(0.05)
    return found


def _chain(trace: str, clock: ManualClock) -> dict[str, rpb.Report]:
    strategy = ReportBuilder("momentum-1", clock=clock)
    guard = ReportBuilder("risk-guard", bot_class="risk", clock=clock)
    execution = ReportBuilder("exec-1", bot_class="execution", clock=clock)
    decision = strategy.decision(
        trace_id=trace, strategy_slug="momentum", strategy_version="2.1", action=rpb.DECISION_ACTION_PLACE_ORDER,
        condition_id=MARKET, token_id=TOKEN, side=rpb.SIDE_BUY, price="0.43", size_micros=25_000_000,
        signal_name="momentum_1h", signal_value="0.031",
        explanation="1h momentum above its 0.02 threshold; size is 1 % of the strategy's capital",
    )  # fmt: skip
    votes = [
        guard.risk_vote(trace_id=trace, causation_id=decision.header.report_id, guard_name="max_position_per_market",
                        verdict=rpb.VERDICT_APPROVE, observed_value="120", limit_value="500"),
        guard.risk_vote(trace_id=trace, causation_id=decision.header.report_id, guard_name="max_notional_per_order",
                        verdict=rpb.VERDICT_RESIZE, observed_value="10.75", limit_value="8.60",
                        approved_size_micros=20_000_000),
    ]  # fmt: skip
    fill = execution.execution(
        trace_id=trace, event=rpb.EXECUTION_EVENT_FILL, order_id="0xorder", trade_id="trade-7", condition_id=MARKET,
        token_id=TOKEN, side=rpb.SIDE_BUY, price="0.43", filled_size_micros=20_000_000, fee_micros=86_000,
        rebate_micros=0, liquidity=rpb.LIQUIDITY_TAKER, builder_code="0x" + "ab" * 32,
    )  # fmt: skip
    return {"decision": decision, "votes": votes, "fill": fill}


def test_a_fill_explained_from_its_decision_votes_and_execution(
    mesh: MeshThread, clock: ManualClock, database_url: str
) -> None:
    with Governance(mesh.address, token="dev-operator-token", bot_slug="ops") as ops:
        ops.registry.register("momentum", owner="alpha", version="2.1")
        ops.registry.promote("momentum", lpb.STAGE_BACKTEST, "specified")
        chain = _chain("trace-full", clock)
        ops.reports.publish_now([chain["decision"], *chain["votes"], chain["fill"]])
    explainer = _explainer(mesh)
    (found,) = _until(lambda: list(explainer.ListExplanations(pb.ListExplanationsRequest(trace_id="trace-full"),
                                                              metadata=OPS).explanations), bool)  # fmt: skip
    text = found.text
    assert "exec-1 bought 20 shares of token 1001" in text and "at 0.43 as taker" in text
    assert "Strategy momentum v2.1 at stage BACKTEST decided it on signal momentum_1h = 0.031" in text
    assert (
        "1h momentum above its 0.02 threshold" in text
        and "It asked for 25 shares at 0.43; 20 filled." in text
    )
    assert "max_position_per_market approved (120 against a limit of 500)" in text
    assert "max_notional_per_order resized (10.75 against a limit of 8.60) to 20 shares" in text
    assert "set by the exchange at match time, was 0.086000 pUSD; no rebate" in text
    assert list(found.missing) == []
    (record,) = [r for r in archived(database_url, "post-trade-explainer") if r.HasField("settlement")]
    assert (record.settlement.record_type, record.header.retention) == (
        "explain.fill",
        rpb.RETENTION_SEVEN_YEARS,
    )
    assert record.settlement.explanation == text
    assert (
        explainer.Explain(pb.ExplainRequest(fill_report_id=found.fill_report_id), metadata=OPS).explanation
        == found
    )


def test_a_missing_link_is_said_and_a_late_one_corrects_the_explanation(
    mesh: MeshThread, clock: ManualClock
) -> None:
    chain = _chain("trace-late", clock)
    with Governance(mesh.address, token="dev-operator-token", bot_slug="ops") as ops:
        ops.reports.publish_now([chain["fill"]])
        explainer = _explainer(mesh)
        listed = lambda: list(explainer.ListExplanations(pb.ListExplanationsRequest(trace_id="trace-late"),  # noqa: E731
                                                         metadata=OPS).explanations)  # fmt: skip
        (first,) = _until(listed, bool)
        assert list(first.missing) == ["decision", "risk votes"]
        assert "No DecisionReport with trace trace-late reached governance" in first.text
        assert (
            "which checks ran is not known" in first.text and "momentum" not in first.text
        )  # nothing invented
        ops.reports.publish_now([chain["decision"]])
        (second,) = _until(listed, lambda found: bool(found) and found[0].report_id != first.report_id)
    assert second.corrects_report_id == first.report_id
    assert list(second.missing) == ["risk votes"]
    assert "the registry has no record of this strategy" in second.text  # momentum was never registered here


BAD = [
    ("no fill id", lambda s: s.Explain(pb.ExplainRequest(), metadata=OPS), grpc.StatusCode.INVALID_ARGUMENT, "fill_report_id"),
    ("unknown fill", lambda s: s.Explain(pb.ExplainRequest(fill_report_id="nope"), metadata=OPS), grpc.StatusCode.NOT_FOUND, None),
    ("limit", lambda s: s.ListExplanations(pb.ListExplanationsRequest(limit=5000), metadata=OPS),
     grpc.StatusCode.INVALID_ARGUMENT, "limit"),
    ("bot reads another bot", lambda s: s.ListExplanations(pb.ListExplanationsRequest(bot_slug="exec-1"),
                                                           metadata=[("authorization", "Bearer dev-bot-token")]),
     grpc.StatusCode.PERMISSION_DENIED, None),
]  # fmt: skip


@pytest.mark.parametrize(("case", "call", "code", "field"), BAD, ids=[b[0] for b in BAD])
def test_bad_explainer_requests(mesh: MeshThread, case, call, code, field) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        call(_explainer(mesh))
    assert refused.value.code() == code
    if field:
        assert field in violations(refused.value)
