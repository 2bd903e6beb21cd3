"""Backtester over gRPC: archived books replayed through the execution path, deterministic, A/B,
figures, an equity curve and an HTML page, linked in the registry."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import grpc
import pytest

from polytraders.governance.v1 import lifecycle_pb2 as pb
from polytraders.governance.v1 import lifecycle_pb2_grpc as pb_grpc
from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk import Governance, ReportBuilder
from polytraders.sdk.clock import to_timestamp
from polytraders.sdk.execution.path import BookUpdate, Intent
from polytraders.servers.mesh import MeshThread
from tests.conftest import start_mesh
from tests.contract.rpc import violations
from tests.sdk.test_execution_path import BOOKS, T0, MaxPosition, Momentum
from tests.support.clob import TOKEN_ID

OPS = [("authorization", "Bearer dev-operator-token")]
STRATEGY = "tests.sdk.test_execution_path:Momentum"


def _snapshots(mesh: MeshThread, token: str, books: list[BookUpdate]) -> None:
    feed = ReportBuilder("clob-book-feed-1", bot_class="data")
    observations = [feed.observation(
        produced_at=book.at, condition_id=book.condition_id, token_id=token, source="clob.book",
        best_bid=str(book.best_bid), best_ask=str(book.best_ask),
        bids=[rpb.BookLevel(price=str(p), size_micros=s) for p, s in book.bids],
        asks=[rpb.BookLevel(price=str(p), size_micros=s) for p, s in book.asks],
    ) for book in books]  # fmt: skip
    with Governance(mesh.address, token="dev-operator-token", bot_slug="ops") as ops:
        ops.reports.publish_now(observations)


def _archive_books(mesh: MeshThread) -> None:
    _snapshots(mesh, TOKEN_ID, BOOKS)
    with Governance(mesh.address, token="dev-operator-token", bot_slug="ops") as ops:
        ops.registry.register("momentum", owner="alpha", version="1.0")


def _request(**changes: object) -> pb.StartBacktestRequest:
    fields = {"strategy": STRATEGY, "parameters_json": "{}", "strategy_slug": "momentum", "token_ids": [TOKEN_ID],
              "window_start": to_timestamp(T0), "window_end": to_timestamp(BOOKS[-1].at.replace(minute=1))}  # fmt: skip
    return pb.StartBacktestRequest(**{**fields, **changes})


def test_a_backtest_is_deterministic_and_compares_two_parameter_sets(mesh: MeshThread) -> None:
    _archive_books(mesh)
    stub = pb_grpc.BacktesterServiceStub(grpc.insecure_channel(mesh.address))
    first = stub.StartBacktest(_request(parameters_b_json=json.dumps({"shares": 5})), metadata=OPS).backtest
    second = stub.StartBacktest(_request(parameters_b_json=json.dumps({"shares": 5})), metadata=OPS).backtest
    assert (first.input_digest, first.output_digest) == (second.input_digest, second.output_digest)
    assert first.backtest_id != second.backtest_id
    assert (first.result.events, first.result_b.events) == (len(BOOKS), len(BOOKS))
    assert first.result.fills > 0 and first.result != first.result_b  # 10 shares a signal against 5
    assert first.result.max_drawdown_micros >= 0
    assert first.equity_png.startswith(b"\x89PNG\r\n\x1a\n") and "<img alt='equity curve'" in first.html

    reports = [r.report for r in stub.StreamBacktestReports(pb.StreamBacktestReportsRequest(backtest_id=first.backtest_id),
                                                            metadata=OPS)]  # fmt: skip
    assert reports and {r.header.mode for r in reports} == {rpb.MODE_REPLAY}
    fills = [r for r in reports if r.execution.event == rpb.EXECUTION_EVENT_FILL]
    assert len(fills) == first.result.fills
    listed = stub.ListBacktests(pb.ListBacktestsRequest(), metadata=OPS).backtests
    assert [b.backtest_id for b in listed] == [second.backtest_id, first.backtest_id] and not listed[
        0
    ].equity_png
    with Governance(mesh.address, token="dev-operator-token", bot_slug="ops") as ops:
        artefacts = [a.ref for a in ops.registry.get("momentum").artefacts]
    assert artefacts == [first.backtest_id, second.backtest_id]


BAD = [
    ("no strategy", {"strategy": ""}, grpc.StatusCode.INVALID_ARGUMENT, "strategy"),
    ("no such strategy", {"strategy": "tests.nowhere:Nothing"}, grpc.StatusCode.INVALID_ARGUMENT, "strategy"),
    (
        "outside the strategy packages",
        {"strategy": "os:system"},
        grpc.StatusCode.INVALID_ARGUMENT,
        "strategy",
    ),
    ("fee rate", {"fee_rate": "abc"}, grpc.StatusCode.INVALID_ARGUMENT, "fee_rate"),
    (
        "parameters not an object",
        {"parameters_json": "[1]"},
        grpc.StatusCode.INVALID_ARGUMENT,
        "parameters_json",
    ),
    (
        "unknown parameter",
        {"parameters_json": '{"colour": "red"}'},
        grpc.StatusCode.INVALID_ARGUMENT,
        "parameters_json",
    ),
    ("no tokens", {"token_ids": []}, grpc.StatusCode.INVALID_ARGUMENT, "token_ids"),
    (
        "backwards",
        {"window_end": to_timestamp(T0.replace(year=2020))},
        grpc.StatusCode.INVALID_ARGUMENT,
        "window_end",
    ),
    ("unregistered slug", {"strategy_slug": "nobody"}, grpc.StatusCode.NOT_FOUND, None),
]


@pytest.mark.parametrize(("case", "changes", "code", "field"), BAD, ids=[b[0] for b in BAD])
def test_bad_backtests_are_refused_and_nothing_is_run(mesh: MeshThread, case, changes, code, field) -> None:
    _archive_books(mesh)
    stub = pb_grpc.BacktesterServiceStub(grpc.insecure_channel(mesh.address))
    with pytest.raises(grpc.RpcError) as refused:
        stub.StartBacktest(_request(**changes), metadata=OPS)
    assert refused.value.code() == code
    if field:
        assert field in violations(refused.value)
    assert stub.ListBacktests(pb.ListBacktestsRequest(), metadata=OPS).backtests == []
    with pytest.raises(grpc.RpcError) as bot:
        stub.StartBacktest(_request(), metadata=[("authorization", "Bearer dev-bot-token")])
    assert bot.value.code() == grpc.StatusCode.PERMISSION_DENIED


@dataclass
class SignalFollower:
    """Buys `shares` at the ask whenever signal-bot says go."""

    slug: str = "follower"
    version: str = "1"
    shares: int = 5
    ask: Decimal | None = None
    token: str = ""

    def on_book(self, book: BookUpdate, position_micros: int) -> list[Intent]:
        self.ask, self.token = book.best_ask, book.token_id
        return []

    def on_fill(self, fill: object) -> None:
        pass

    def on_report(self, report: rpb.Report) -> list[Intent]:
        if report.observation.metrics.get("go") == "1" and self.ask is not None:
            return [
                Intent(self.token, BOOKS[0].condition_id, "BUY", self.ask, self.shares * 1_000_000, "go", "1")
            ]
        return []


def _deltas(mesh: MeshThread, token: str) -> None:
    """The same books as BOOKS for another token: one snapshot, then only the levels that changed."""
    feed = ReportBuilder("clob-book-feed-2", bot_class="data")
    reports, previous = [], None
    for book in BOOKS:
        levels = {"bids": dict(book.bids), "asks": dict(book.asks)}
        if previous is None:
            changed, source = levels, "clob.book"
        else:
            changed = {side: {p: levels[side].get(p, 0) for p in set(levels[side]) | set(previous[side])
                              if levels[side].get(p, 0) != previous[side].get(p, 0)} for side in levels}  # fmt: skip
            source = "clob.book.delta"
        reports.append(feed.observation(produced_at=book.at, condition_id=book.condition_id, token_id=token,
                                        source=source, **{side: [rpb.BookLevel(price=str(p), size_micros=s)
                                                                 for p, s in sorted(changed[side].items())]
                                                          for side in ("bids", "asks")}))  # fmt: skip
        previous = levels
    with Governance(mesh.address, token="dev-operator-token", bot_slug="ops") as ops:
        ops.reports.publish_now(reports)


def test_deltas_signals_and_audited_parameters(mesh: MeshThread) -> None:
    _archive_books(mesh)
    _deltas(mesh, "2002")
    stub = pb_grpc.BacktesterServiceStub(grpc.insecure_channel(mesh.address))
    snapshots = stub.StartBacktest(_request(strategy_slug=""), metadata=OPS).backtest
    deltas = stub.StartBacktest(_request(strategy_slug="", token_ids=["2002"]), metadata=OPS).backtest
    assert (deltas.result.fills, deltas.result.pnl_micros) == (
        snapshots.result.fills,
        snapshots.result.pnl_micros,
    )
    taxed = stub.StartBacktest(_request(strategy_slug="", fee_rate="0.02"), metadata=OPS).backtest
    assert taxed.result.fills == snapshots.result.fills and taxed.result.fee_micros > 0  # CLOB V2 taker fees
    assert taxed.result.pnl_micros == snapshots.result.pnl_micros - taxed.result.fee_micros

    # inputs replay in bus order: three books, the signal, the rest
    signal = ReportBuilder("signal-bot", bot_class="signal").observation(
        produced_at=BOOKS[2].at + timedelta(seconds=0.5), source="signal.go", metrics={"go": "1"})  # fmt: skip
    _snapshots(mesh, "4004", BOOKS[:3])
    with Governance(mesh.address, token="dev-operator-token", bot_slug="ops") as ops:
        ops.reports.publish_now([signal])
    _snapshots(mesh, "4004", BOOKS[3:])
    followed = stub.StartBacktest(_request(strategy="tests.servers.lifecycle.test_backtest:SignalFollower", strategy_slug="",
                                           token_ids=["4004"], signal_bot_slugs=["signal-bot"]), metadata=OPS).backtest  # fmt: skip
    fills = [r.report.execution for r in stub.StreamBacktestReports(
        pb.StreamBacktestReportsRequest(backtest_id=followed.backtest_id), metadata=OPS)
        if r.report.execution.event == rpb.EXECUTION_EVENT_FILL]  # fmt: skip
    assert [(f.price, f.filled_size_micros) for f in fills] == [
        ("0.46", 5_000_000)
    ]  # the ask after the 3rd book

    with Governance(mesh.address, token="dev-bot-token", bot_slug="demo-bot") as bot:
        config = bot.config({"shares": 3})
        assert bot.reports.flush(timeout=10)
    at = to_timestamp(datetime.now(UTC) + timedelta(days=1))
    deadline = time.monotonic() + 20
    while True:
        try:
            audited = stub.StartBacktest(_request(strategy_slug="", parameters_from_bot="demo-bot", parameters_at=at),
                                         metadata=OPS).backtest  # fmt: skip
            break
        except grpc.RpcError as error:  # the configuration reaches the audit history through the bus
            assert error.code() == grpc.StatusCode.NOT_FOUND and time.monotonic() < deadline
            time.sleep(0.05)
    buys = [
        r.report.decision.size_micros
        for r in stub.StreamBacktestReports(
            pb.StreamBacktestReportsRequest(backtest_id=audited.backtest_id), metadata=OPS
        )
        if r.report.HasField("decision")
    ]
    assert buys[0] == 3_000_000 and dict(config) == {"shares": 3}


@dataclass
class GuardedMomentum(Momentum):
    """Momentum with its position guard: the backtester runs a strategy's guards, as live."""

    guards: tuple = (MaxPosition(),)


def test_a_backtest_runs_the_strategys_guards_and_tags_its_orders(database_url: str, clock) -> None:
    mesh = start_mesh(database_url, clock, builder_code="0x" + "ab" * 32)
    try:
        _archive_books(mesh)
        stub = pb_grpc.BacktesterServiceStub(grpc.insecure_channel(mesh.address))
        run = stub.StartBacktest(_request(strategy="tests.servers.lifecycle.test_backtest:GuardedMomentum"),
                                 metadata=OPS).backtest  # fmt: skip
        reports = [r.report for r in stub.StreamBacktestReports(pb.StreamBacktestReportsRequest(backtest_id=run.backtest_id),
                                                                metadata=OPS)]  # fmt: skip
    finally:
        mesh.stop()
    votes = [r.risk_vote for r in reports if r.HasField("risk_vote")]
    assert votes and {v.guard_name for v in votes} == {"max_position"}
    assert any(v.verdict == rpb.VERDICT_RESIZE for v in votes)
    tags = [
        r.execution.builder_code for r in reports if r.execution.event == rpb.EXECUTION_EVENT_ORDER_TAGGED
    ]
    assert tags and set(tags) == {"0x" + "ab" * 32}


def test_sharpe_and_sortino_are_those_of_the_per_update_equity_changes() -> None:
    """Checked against the textbook formulas over the same changes (sample standard deviation;
    downside deviation over every update, gains counting as zero)."""
    from statistics import mean, stdev

    from polytraders.servers.lifecycle.backtest import _Figures

    equities = [0, 1_500_000, 1_200_000, 2_900_000, 2_900_000, 2_100_000, 4_000_000, 3_750_000]
    figures = _Figures()
    for equity in equities:
        figures.cash = equity  # no positions: equity is the cash
        figures.book(BookUpdate(TOKEN_ID, "0xc", T0, (), ()))
    changes = [Decimal(b - a) for a, b in zip([0, *equities], equities, strict=False)]
    downside = (sum(min(c, Decimal(0)) ** 2 for c in changes) / len(changes)).sqrt()
    result = figures.result()
    assert result.sharpe == f"{mean(changes) / stdev(changes):.4f}"
    assert result.sortino == f"{mean(changes) / downside:.4f}"
    assert result.max_drawdown_micros == 800_000
