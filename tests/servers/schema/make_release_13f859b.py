"""Make the fixtures of `test_upgrade_from_release.py`: a database written by the last release made
without Alembic (13f859b), with real data in every table, and the answers that release gave.

It must run with the OLD release's code (and its tests package, whose fake CLOB, fake market
channel and test strategy it drives) ahead of this tree's on the path; from the repository root:

    mkdir -p /tmp/release-13f859b && git archive 13f859b | tar -x -C /tmp/release-13f859b
    PYTHONPATH=/tmp/release-13f859b:/tmp/release-13f859b/sdk:/tmp/release-13f859b/servers:/tmp/release-13f859b/clients \\
        .venv/bin/python tests/servers/schema/make_release_13f859b.py [--postgres-url URL]

(`--postgres-url` defaults to POLYTRADERS_TEST_POSTGRES_URL or the test database; pg_dump must be
on the PATH.) For each backend it:

1. starts the old mesh in process on a fresh database and drives every group through its real
   RPCs and the bus, with a ManualClock that only moves when told to (so cron fires on its real
   schedule): the registry's whole lifecycle, experiments and samples, configuration edits and
   user sessions, reports of every kind and mode (FILLs with builder codes and decision/vote
   trace chains, tag reports), P&L bookings, marks, a resolution and a conversion, a day of
   attribution against a local CLOB (reconciliations, quarantine, a release, revenue and its
   correction, a FAILED run), incidents from declaration to closed RCA, a backtest, a paper
   session over three days with its gate, and cron minutes (dispatched, missed, failed, triggered);
2. writes the database as the fixture: `sqlite.db.gz`, or `postgresql.sql.gz` (pg_dump --inserts
   of the schema, its name replaced by `__SCHEMA__`);
3. loads that fixture afresh, starts the old mesh on it at the last instant of step 1 with the
   settings the test uses, checks the restart changed no row, and records every table's rows and
   the answers of the read RPCs (then of the calls that act on a started mesh: a booking left
   unpublished by a crash goes out, a paper gate is evaluated) into `<backend>.json.gz`.

Every fixture is gzipped (without a timestamp, so an unchanged fixture keeps its bytes): the four
files come to a few hundred KB instead of about two MB; `zcat` shows them (the JSON holds one
table row, or one call with its answer, per line; a blob longer than 64 bytes, a serialised report
say, is recorded by its sha256, which the database's bytes must match).

Two things are not what a default deployment would write, both on purpose:
- report ids (UUIDv7) are made from the ManualClock and a counter instead of the system clock and
  randomness, so they do not depend on when the script runs. Two runs still differ a little: the
  P&L ledger and the explainer both answer a published fill on their own tasks, and the order
  their reports reach the bus in (hence which report gets which id and seq) is not fixed;
- the compliance ledger checkpoints every 16 entries of a stream instead of every 1,024 (the
  module constant `CHECKPOINT_EVERY` of the old release, set before the mesh starts), so checkpoint
  rows exist in a fixture of a few hundred reports; the rows are those of the release's own code.
Every table is filled by the release's own code through RPCs and the bus; pnl_unpublished holds
the booking whose report a simulated crash kept off the bus (the bus fails once, as in the old
release's own test of that case).
"""

# ruff: noqa: E402 - the old release is checked for before its modules are imported
from __future__ import annotations

import argparse
import gzip
import itertools
import json
import logging
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing, contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "release_13f859b"
sys.path.insert(0, str(HERE))  # release_replay, shared with the test

import grpc
import psycopg
import release_replay as replay
import uuid_utils
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

try:
    from polytraders.servers.runtime import storage as old_storage
except ImportError:  # pragma: no cover - guidance only
    raise SystemExit("run with the old release on PYTHONPATH; see this script's docstring") from None
if not hasattr(old_storage, "create_schema") or Path(old_storage.__file__).is_relative_to(HERE.parents[2]):
    raise SystemExit(
        f"{old_storage.__file__} is this tree's code: put the 13f859b release first on PYTHONPATH "
        "(see this script's docstring)"
    )

import tests  # the old release's tests package: its strategies, fake CLOB and channel
from polytraders.governance.v1 import attribution_pb2 as atpb
from polytraders.governance.v1 import (
    attribution_pb2_grpc,
    audit_pb2_grpc,
    ledger_pb2_grpc,
    lifecycle_pb2_grpc,
    operations_pb2_grpc,
    report_bus_pb2_grpc,
)
from polytraders.governance.v1 import audit_pb2 as aupb
from polytraders.governance.v1 import ledger_pb2 as lepb
from polytraders.governance.v1 import lifecycle_pb2 as lipb
from polytraders.governance.v1 import operations_pb2 as oppb
from polytraders.governance.v1 import report_bus_pb2 as bupb
from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk.clock import ManualClock, to_timestamp
from polytraders.sdk.config import AuditedConfig
from polytraders.sdk.report_builders import ReportBuilder
from polytraders.servers.ledger import book as old_book
from polytraders.servers.runtime import ledger as old_ledger
from polytraders.servers.runtime.config import ServerConfig
from polytraders.servers.runtime.mesh import MeshThread
from polytraders.servers.runtime.storage import metadata as old_metadata
from tests.support.clob import (
    CONDITION_ID,
    TOKEN_ID,
    builder_trade,
    local_clob,
    serve_builder_trades,
)
from tests.support.market_ws import book_event, market_channel

RELEASE = Path(tests.__file__).resolve().parents[1]
DEV_TOKENS = RELEASE / "config" / "dev-tokens.toml"
POSTGRES_URL = os.environ.get(
    "POLYTRADERS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
SCHEMA_PLACEHOLDER = "__SCHEMA__"

# The story's clock: a few minutes either side of 01:00 UTC on 24 November 2026, the day after the
# attribution day; cron fires on its real schedule as the clock is moved.
T0 = datetime(2026, 11, 24, 0, 57, 30, tzinfo=UTC)
T_END = datetime(2026, 11, 24, 1, 4, 20, tzinfo=UTC)
DAY = datetime(2026, 11, 23, tzinfo=UTC)
REVENUE_DAY = 20261123
CODE = "0x" + "ab" * 32
MARKET_A, MARKET_B = "0x" + "a1" * 32, "0x" + "b2" * 32
MARKET_Y, MARKET_O, MARKET_C = "0x" + "aa" * 32, "0x" + "bb" * 32, "0x" + "cc" * 32
MAKER = "0x" + "5a" * 20
STRATEGY = "tests.sdk.test_execution_path:Momentum"
TOKENS = {**replay.TOKENS, "risk": "dev-risk-officer-token"}
S = lipb.Stage

log = logging.getLogger("make_release_13f859b")


# -- deterministic ids and the old release's settings -----------------------------------------


class ClockIds:
    """UUIDv7 made of the ManualClock's millisecond and a counter: time-ordered, and the same each run."""

    def __init__(self, clock: ManualClock) -> None:
        self._clock = clock
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def __call__(self) -> uuid.UUID:
        with self._lock:
            n = next(self._counter)
        ms = int(self._clock.now().timestamp() * 1000)
        value = (ms << 80) | (0x7 << 76) | ((n >> 62) & 0xFFF) << 64 | (0b10 << 62) | (n & ((1 << 62) - 1))
        return uuid.UUID(int=value)


def mesh_config(database_url: str, **settings: Any) -> ServerConfig:
    """tests/conftest.py's start_mesh of the old release: every group, the dev tokens, the test strategies."""
    return ServerConfig(port=0, database_url=database_url, tokens_file=str(DEV_TOKENS), drain_seconds=2,
                        strategy_packages=("tests",), **settings)  # fmt: skip


# -- talking to the mesh ----------------------------------------------------------------------------

STUBS = {
    "ReportBusService": report_bus_pb2_grpc.ReportBusServiceStub,
    "StrategyRegistryService": lifecycle_pb2_grpc.StrategyRegistryServiceStub,
    "ExperimentTrackerService": lifecycle_pb2_grpc.ExperimentTrackerServiceStub,
    "BacktesterService": lifecycle_pb2_grpc.BacktesterServiceStub,
    "PaperTradeService": lifecycle_pb2_grpc.PaperTradeServiceStub,
    "ComplianceLedgerService": audit_pb2_grpc.ComplianceLedgerServiceStub,
    "ParameterChangeAuditService": audit_pb2_grpc.ParameterChangeAuditServiceStub,
    "UserActivityLedgerService": audit_pb2_grpc.UserActivityLedgerServiceStub,
    "BuilderAttributionService": attribution_pb2_grpc.BuilderAttributionServiceStub,
    "AttributionRevenueService": attribution_pb2_grpc.AttributionRevenueServiceStub,
    "PnLReporterService": ledger_pb2_grpc.PnLReporterServiceStub,
    "PostTradeExplainerService": ledger_pb2_grpc.PostTradeExplainerServiceStub,
    "CronRunnerService": operations_pb2_grpc.CronRunnerServiceStub,
    "IncidentCommanderService": operations_pb2_grpc.IncidentCommanderServiceStub,
}


class Client:
    def __init__(self, address: str) -> None:
        self.channel = grpc.insecure_channel(address)
        self._stubs = {name: stub(self.channel) for name, stub in STUBS.items()}

    def __call__(self, service: str, method: str, request: Any, *, token: str = "operator", session: str = "") -> Any:
        metadata = [("authorization", f"Bearer {TOKENS[token]}")]
        if session:
            metadata.append(("x-polytraders-session", session))
        return getattr(self._stubs[service], method)(request, metadata=metadata, timeout=120)

    def publish(self, reports: list[rpb.Report], *, token: str = "operator") -> bupb.PublishReportsResponse:
        return self("ReportBusService", "PublishReports", bupb.PublishReportsRequest(reports=reports), token=token)

    def close(self) -> None:
        self.channel.close()


def until(read: Callable[[], Any], done: Callable[[Any], bool], what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while not done(found := read()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: {found}")
        time.sleep(0.05)
    return found


def stamp(moment: datetime) -> Timestamp:
    return to_timestamp(moment)


TABLES = sorted(old_metadata.tables)


# -- the story --------------------------------------------------------------------------------------


class Story:
    def __init__(self, mesh: MeshThread, clock: ManualClock, database_url: str, clob: Any) -> None:
        self.mesh = mesh
        self.clock = clock
        self.c = Client(mesh.address)
        self.clob = clob
        self.engine = create_engine(old_storage.normalise_url(database_url))

    def settle(self) -> None:
        replay.settle(self.engine, TABLES)

    def builder(self, slug: str, bot_class: str = "strategy", mode: int = rpb.MODE_LIVE,
                clock: ManualClock | None = None) -> ReportBuilder:  # fmt: skip
        return ReportBuilder(slug, bot_class=bot_class, mode=mode, clock=clock or self.clock)

    def advance_to(self, moment: datetime) -> None:
        """Move the clock; cron dispatches (or records as missed) what fell due, on its own loop."""
        self.clock.set(moment)
        self.settle()

    # registry ---------------------------------------------------------------------------------

    def registry(self) -> None:
        c = self.c
        session = c("UserActivityLedgerService", "StartSession",
                    aupb.StartSessionRequest(description="desk review: new strategies")).session_id  # fmt: skip

        def reg(method: str, token: str = "operator", **fields: Any) -> lipb.Strategy:
            request = getattr(lipb, f"{method}Request")(**fields)
            return c("StrategyRegistryService", method, request, token=token, session=session).strategy

        def walk(slug: str, *stages: int) -> None:
            for stage in stages:
                reg("PromoteStrategy", slug=slug, to_stage=stage, reason=f"evidence for {S.Name(stage)}")

        def gate(days: int, ratio: str) -> lipb.Artefact:
            return lipb.Artefact(kind=lipb.ARTEFACT_KIND_PAPER_GATE, ref=f"paper-run-{days}d",
                                 paper_gate=lipb.PaperGate(continuous_paper_days=days, risk_adjusted_return=ratio))  # fmt: skip

        reg("RegisterStrategy", slug="momentum", owner="alpha-team", version="1.0.0", authority=["dev-operator"],
            reason="1h momentum on crypto markets")  # fmt: skip
        walk("momentum", S.STAGE_BACKTEST, S.STAGE_PAPER)
        reg("PromoteStrategy", slug="momentum", to_stage=S.STAGE_SHADOW, reason="paper looked fine",
            stage_metadata={"feed": "clob-ws-shadow-1"})  # fmt: skip
        reg("LinkArtefact", slug="momentum", artefact=gate(20, "0.8"))
        reg("PromoteStrategy", slug="momentum", to_stage=S.STAGE_LIMITED_LIVE, reason="gate passed")
        reg("SetLiveCap", slug="momentum", reason="tight at first",
            live_cap=lipb.LiveCap(stage=S.STAGE_LIMITED_LIVE, max_notional_micros=100_000_000, max_position_micros=250_000_000))  # fmt: skip
        reg("RecordDriftSignal", slug="momentum",
            signal=lipb.DriftSignal(experiment_id="exp-1", explanation="variant worse", open=True))  # fmt: skip
        reg("RecordDriftSignal", slug="momentum", signal=lipb.DriftSignal(experiment_id="exp-1", open=False))
        reg("PromoteStrategy", slug="momentum", to_stage=S.STAGE_GENERAL_LIVE, reason="clean in limited live")
        reg("SetLiveCap", slug="momentum", reason="general live",
            live_cap=lipb.LiveCap(stage=S.STAGE_GENERAL_LIVE, max_notional_micros=500_000_000, max_position_micros=2_000_000_000))  # fmt: skip

        reg("RegisterStrategy", slug="meanrev", owner="beta", version="2", authority=["dev-operator"])
        walk("meanrev", S.STAGE_BACKTEST)
        reg("PauseStrategy", token="risk", slug="meanrev", source=lipb.PAUSE_SOURCE_PORTFOLIO_SYNC,
            reason="position mismatch 1,200 pUSD")  # fmt: skip
        reg("ResumeStrategy", slug="meanrev", reason="balances reconciled")

        reg("RegisterStrategy", slug="mm-crypto-1", owner="mm-desk", version="3.2.1")
        walk("mm-crypto-1", S.STAGE_BACKTEST)

        reg("RegisterStrategy", slug="trend", owner="alpha-team", version="0.9", reason="paper candidate")
        walk("trend", S.STAGE_BACKTEST, S.STAGE_PAPER)
        for slug in ("control", "variant"):
            reg("RegisterStrategy", slug=slug, owner="alpha", version="1")
        reg("RegisterStrategy", slug="old-idea", owner="gamma", version="0.1")
        reg("PromoteStrategy", slug="old-idea", to_stage=S.STAGE_RETIRED, reason="superseded by momentum")
        c("UserActivityLedgerService", "EndSession", aupb.EndSessionRequest(session_id=session))
        c("UserActivityLedgerService", "RecordUserAction", aupb.RecordUserActionRequest(
            action="console.export", target="strategies", details_json='{"format": "csv", "rows": 7}'))  # fmt: skip
        for notional in (1, 100_000_000, 100_000_001):
            c("StrategyRegistryService", "CheckLiveCap", lipb.CheckLiveCapRequest(
                slug="momentum", order_notional_micros=notional), token="bot")  # fmt: skip

    # experiments -----------------------------------------------------------------------------

    def experiments(self) -> None:
        c = self.c

        def samples(effect_sd: float, count: int, seed: int, start: datetime) -> list[lipb.MatchedSample]:
            rng = random.Random(seed)
            found = []
            for hour in range(count):
                control = rng.gauss(0, 1_000_000)
                variant = control + rng.gauss(effect_sd * 400_000, 400_000)
                window = start + timedelta(hours=hour)
                found.append(lipb.MatchedSample(
                    condition_id=MARKET_Y, window_start=stamp(window), window_end=stamp(window + timedelta(hours=1)),
                    control_value=str(int(control)), variant_value=str(int(variant))))  # fmt: skip
            return found

        for experiment_id, pause in (("variant-vs-control", True), ("null-check", False)):
            c("ExperimentTrackerService", "CreateExperiment", lipb.CreateExperimentRequest(experiment=lipb.Experiment(
                experiment_id=experiment_id, control_slug="control", variant_slug="variant",
                mode=lipb.EXPERIMENT_MODE_SHADOW, metric="pnl_micros_per_hour", minimum_detectable_effect="0.5",
                alpha="0.05", pause_variant_on_drift=pause)))  # fmt: skip
        strong = samples(-1.5, 18, seed=7, start=datetime(2026, 11, 20, tzinfo=UTC))
        for batch in (strong[:6], strong[6:12], strong[12:], strong[10:13]):  # the last one repeats samples
            c("ExperimentTrackerService", "RecordSamples",
              lipb.RecordSamplesRequest(experiment_id="variant-vs-control", samples=batch))  # fmt: skip
        c("ExperimentTrackerService", "RecordSamples", lipb.RecordSamplesRequest(
            experiment_id="null-check", samples=samples(0.0, 4, seed=11, start=datetime(2026, 11, 22, tzinfo=UTC))))  # fmt: skip

    # configuration history -------------------------------------------------------------------

    def configuration(self) -> None:
        bot_clock = ManualClock(datetime(2026, 11, 20, 9, tzinfo=UTC))
        config = AuditedConfig({"max_size": 10, "threshold": "0.02", "markets": [MARKET_Y]},
                               builder=self.builder("demo-bot", clock=bot_clock),
                               publish=lambda r: self.c.publish([r], token="bot"), actor="demo-bot")  # fmt: skip
        bot_clock.advance(timedelta(hours=1))
        config.edit({"max_size": 20, "edge_bps": 15}, actor="ops-alice", reason="widen", source="operator-cli")
        bot_clock.advance(timedelta(days=1))
        del config["edge_bps"]
        bot_clock.advance(timedelta(hours=5, minutes=30))
        config["markets"] = [MARKET_Y, MARKET_O]
        bot_clock.advance(timedelta(days=1))
        config.edit({"threshold": "0.025", "cooldown_s": 30, "notes": {"why": "fewer false signals"}},
                    actor="ops-bob", reason="quieter", source="rpc")  # fmt: skip
        exec_clock = ManualClock(datetime(2026, 11, 21, 14, 5, tzinfo=UTC))
        executor = AuditedConfig({"slippage_bps": 5, "venues": ["clob"]},
                                 builder=self.builder("exec-1", bot_class="execution", clock=exec_clock),
                                 publish=lambda r: self.c.publish([r]), actor="exec-1")  # fmt: skip
        exec_clock.advance(timedelta(hours=20))
        executor.edit({"slippage_bps": 8}, actor="ops-alice", reason="thin books overnight", source="operator-cli")

    # reports, fills, trace chains --------------------------------------------------------------

    def book_feed(self) -> None:
        """Book snapshots as a data bot publishes them: the backtest's input, and marks for P&L."""
        feed = self.builder("clob-book-feed-1", bot_class="data")
        bids = ["0.40", "0.41", "0.42", "0.41", "0.42", "0.43"]  # momentum buys at the 3rd and 6th, sells at the 4th
        asks = ["0.45", "0.45", "0.46", "0.46", "0.47", "0.48"]
        observations = []
        for n, (bid, ask) in enumerate(zip(bids, asks, strict=True)):
            observations.append(feed.observation(
                produced_at=DAY + timedelta(hours=12, seconds=n), condition_id=CONDITION_ID, token_id=TOKEN_ID,
                source="clob.book", best_bid=bid, best_ask=ask,
                bids=[rpb.BookLevel(price=bid, size_micros=500_000_000)],
                asks=[rpb.BookLevel(price=ask, size_micros=8_000_000), rpb.BookLevel(price="0.60", size_micros=500_000_000)],
            ))  # fmt: skip
        self.c.publish(observations)

    def trace_chains(self) -> None:
        strategy, guard = self.builder("momentum-1"), self.builder("risk-guard", bot_class="risk")
        execution = self.builder("exec-1", bot_class="execution")
        matched = stamp(T0 - timedelta(minutes=10))

        def decision(trace: str) -> rpb.Report:
            return strategy.decision(
                trace_id=trace, strategy_slug="momentum", strategy_version="1.0.0", action=rpb.DECISION_ACTION_PLACE_ORDER,
                condition_id=MARKET_Y, token_id="1001", side=rpb.SIDE_BUY, price="0.43", size_micros=25_000_000,
                signal_name="momentum_1h", signal_value="0.031",
                explanation="1h momentum above its 0.02 threshold; size is 1 % of the strategy's capital",
            )  # fmt: skip

        full = decision("trace-full")
        votes = [
            guard.risk_vote(trace_id="trace-full", causation_id=full.header.report_id, guard_name="max_position_per_market",
                            verdict=rpb.VERDICT_APPROVE, observed_value="120", limit_value="500"),
            guard.risk_vote(trace_id="trace-full", causation_id=full.header.report_id, guard_name="max_notional_per_order",
                            verdict=rpb.VERDICT_RESIZE, observed_value="10.75", limit_value="8.60",
                            approved_size_micros=20_000_000),
        ]  # fmt: skip
        tag = execution.execution(trace_id="trace-full", event=rpb.EXECUTION_EVENT_ORDER_TAGGED, token_id="1001",
                                  side=rpb.SIDE_BUY, price="0.43", size_micros=20_000_000, builder_code=CODE)  # fmt: skip
        submitted = execution.execution(trace_id="trace-full", event=rpb.EXECUTION_EVENT_ORDER_SUBMITTED, order_id="0xorder-7",
                                        condition_id=MARKET_Y, token_id="1001", side=rpb.SIDE_BUY, price="0.43",
                                        size_micros=20_000_000, builder_code=CODE)  # fmt: skip
        fill = execution.execution(
            trace_id="trace-full", event=rpb.EXECUTION_EVENT_FILL, order_id="0xorder-7", trade_id="trade-7",
            condition_id=MARKET_Y, token_id="1001", side=rpb.SIDE_BUY, price="0.43", filled_size_micros=20_000_000,
            fee_micros=86_000, liquidity=rpb.LIQUIDITY_TAKER, builder_code=CODE, trade_status="MATCHED", matched_at=matched,
        )  # fmt: skip
        self.c.publish([full, *votes, tag, submitted, fill])
        # a fill whose decision reaches governance only later: explained without it, then corrected
        late = decision("trace-late")
        early_fill = execution.execution(
            trace_id="trace-late", event=rpb.EXECUTION_EVENT_FILL, order_id="0xorder-8", trade_id="trade-8",
            condition_id=MARKET_Y, token_id="1001", side=rpb.SIDE_BUY, price="0.44", filled_size_micros=5_000_000,
            fee_micros=22_000, rebate_micros=1_100, liquidity=rpb.LIQUIDITY_MAKER, builder_code=CODE,
            trade_status="CONFIRMED", matched_at=stamp(T0 - timedelta(minutes=8)),
        )  # fmt: skip
        self.c.publish([early_fill])
        self.settle()
        self.c.publish([late, guard.risk_vote(trace_id="trace-late", causation_id=late.header.report_id,
                                              guard_name="max_position_per_market", verdict=rpb.VERDICT_APPROVE,
                                              observed_value="20", limit_value="500")])  # fmt: skip
        # a shadow decision, a paper-mode fill from another desk, a bot's heartbeat and its own record
        shadow = self.builder("variant", mode=rpb.MODE_SHADOW).decision(
            trace_id="trace-shadow", strategy_slug="variant", strategy_version="1", action=rpb.DECISION_ACTION_HOLD,
            explanation="shadow run: would hold")  # fmt: skip
        paper_fill = self.builder("paper-desk", bot_class="execution", mode=rpb.MODE_PAPER).execution(
            event=rpb.EXECUTION_EVENT_FILL, trade_id="paper-1", condition_id=MARKET_Y, token_id="1001",
            side=rpb.SIDE_BUY, price="0.42", filled_size_micros=1_000_000, liquidity=rpb.LIQUIDITY_TAKER)  # fmt: skip
        self.c.publish([shadow, paper_fill])
        demo = self.builder("demo-bot")
        self.c.publish([
            demo.operations(component="demo", event="started", status=rpb.COMPONENT_STATUS_HEALTHY,
                            severity=rpb.SEVERITY_INFO, explanation="demo-bot up", metrics={"version": "1.4.2"}),
            demo.settlement(record_type="bot.attestation", subject="demo-bot",
                            explanation="demo-bot attests its configuration at start", details_json='{"ok": true}'),
        ], token="bot")  # fmt: skip

    # P&L ---------------------------------------------------------------------------------------

    def fill(self, bot: str, token: str, side: int, price: str, shares: str, *, market: str = MARKET_Y, fee: int = 0,
             maker: bool = False, taker_fee: int = 0, minute: int = 10, trade: str = "") -> rpb.Report:  # fmt: skip
        size = int(Decimal(shares) * 1_000_000)
        return self.builder(bot, bot_class="execution").execution(
            event=rpb.EXECUTION_EVENT_FILL, trade_id=trade or f"t-{bot}-{token}-{minute}", order_id=f"o-{bot}-{minute}",
            condition_id=market, token_id=token, side=side, price=price, filled_size_micros=size, fee_micros=fee,
            liquidity=rpb.LIQUIDITY_MAKER if maker else rpb.LIQUIDITY_TAKER, builder_code=CODE,
            matched_at=stamp(datetime(2026, 11, 24, 0, minute, tzinfo=UTC)), trade_status="CONFIRMED",
            metrics={"taker_fee_micros": str(taker_fee)} if taker_fee else {},
        )  # fmt: skip

    def pnl(self) -> None:
        def book(report: rpb.Report) -> lepb.RecordFillResponse:
            return self.c("PnLReporterService", "RecordFill", lepb.RecordFillRequest(report=report))

        buy, sell = rpb.SIDE_BUY, rpb.SIDE_SELL
        book(self.fill("mm-1", "1001", buy, "0.40", "100", fee=500_000, minute=10))
        book(self.fill("mm-1", "1001", buy, "0.46", "50", fee=230_000, minute=11))
        book(self.fill("mm-1", "1001", sell, "0.50", "60", maker=True, taker_fee=1_000_000, minute=12))
        again = self.fill("mm-1", "1001", sell, "0.50", "60", maker=True, taker_fee=1_000_000, minute=12)
        again.execution.trade_status = "MATCHED"  # a later status of the same fill: booked once
        book(again)
        book(self.fill("mm-1", "1002", buy, "0.55", "40", fee=100_000, minute=13))
        for token, bid, ask in (("1001", "0.51", "0.53"), ("1002", "0.46", "0.48")):
            self.c("PnLReporterService", "RecordMark", lepb.RecordMarkRequest(token_id=token, best_bid=bid, best_ask=ask))
        book(self.fill("mm-2", "2001", buy, "0.30", "30", market=MARKET_O, minute=14))
        book(self.fill("mm-2", "2002", buy, "0.65", "10", market=MARKET_O, minute=14))
        self.c("PnLReporterService", "RecordResolution", lepb.RecordResolutionRequest(
            condition_id=MARKET_O, winning_token_id="2001", token_ids=["2001", "2002"]))  # fmt: skip
        for market, token, price in ((MARKET_A, "no-a", "0.70"), (MARKET_B, "no-b", "0.80")):
            book(self.fill("arb-1", token, buy, price, "10", market=market, minute=15))
        self.c("PnLReporterService", "RecordConversion", lepb.RecordConversionRequest(
            bot_slug="arb-1", from_no_token_ids=["no-a", "no-b"], amount_micros=10_000_000,
            to_yes=[lepb.OutcomeToken(condition_id=MARKET_C, token_id="yes-c")], conversion_id="0x" + "99" * 32))  # fmt: skip

    def crash_between_booking_and_publishing(self) -> None:
        """A booking whose report never reached the bus: it waits in pnl_unpublished for the next start."""
        self.settle()
        original = old_book.PnLLedger._publish_booked

        async def bus_went_away(ledger: Any, reports: Any) -> None:
            raise ConnectionError("the bus went away")

        old_book.PnLLedger._publish_booked = bus_went_away
        try:
            self.c("PnLReporterService", "RecordFill",
                   lepb.RecordFillRequest(report=self.fill("mm-3", "1001", rpb.SIDE_BUY, "0.45", "10", minute=16)))  # fmt: skip
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.INTERNAL, error
        else:
            raise AssertionError("the booking should have failed to publish")
        finally:
            old_book.PnLLedger._publish_booked = original

    # attribution -------------------------------------------------------------------------------

    def day_fills(self) -> None:
        """A trading day on the exchange and in our fill log (t-1 names its code only in its tag report)."""
        trades = [  # trade, market, token, size, price, hour, liquidity, bot, code, fee (exchange), rebate
            ("t-1", MARKET_A, "101", "200", "0.5", 1, "TAKER", "exec-bot-1", "", "0.2", 0),
            ("t-2", MARKET_A, "101", "100", "0.5", 2, "MAKER", "exec-bot-1", CODE, "0.05", 12_500),
            ("t-3", MARKET_B, "102", "100", "0.4", 3, "TAKER", "exec-bot-1", CODE, "0.08", 0),
            ("t-4", MARKET_B, "102", "100", "0.4", 23.999, "TAKER", "exec-bot-1", CODE, "0.08", 0),
            ("t-5", MARKET_A, "101", "40", "0.5", 6, "TAKER", "exec-bot-2", "", None, 0),  # no code: not on the exchange
            ("t-9", MARKET_A, "101", "10", "0.5", 8, "TAKER", None, CODE, "0.005", 0),  # not ours
        ]
        rows, reports = [], []
        for trade_id, market, token, size, price, hour, liquidity, bot, code, fee, rebate in trades:
            at = DAY + timedelta(hours=hour)
            if fee is not None:
                rows.append(builder_trade(trade_id, market, size, price, int(at.timestamp()), builder=CODE,
                                          trade_type=liquidity, fee_usdc=fee, asset_id=token))  # fmt: skip
            if bot is not None:
                micros = int(Decimal(size) * 1_000_000)
                trace = f"trace-{trade_id}" if trade_id == "t-1" else ""
                reports.append(self.builder(bot, bot_class="execution").execution(
                    trace_id=trace, event=rpb.EXECUTION_EVENT_FILL, order_id=f"order-{trade_id}", trade_id=trade_id,
                    condition_id=market, token_id=token, side=rpb.SIDE_BUY, price=price, size_micros=micros,
                    filled_size_micros=micros, builder_code=code, rebate_micros=rebate,
                    liquidity=rpb.LIQUIDITY_MAKER if liquidity == "MAKER" else rpb.LIQUIDITY_TAKER,
                    trade_status="CONFIRMED", matched_at=stamp(at)))  # fmt: skip
        serve_builder_trades(self.clob, rows)
        self.rows = rows

        def rebates(query: dict[str, list[str]]) -> tuple[int, Any]:
            found = [{"date": "2026-11-23", "condition_id": m, "asset_address": "0x" + "c0" * 20,
                      "maker_address": MAKER, "rebated_fees_usdc": amount}
                     for m, amount in ((MARKET_A, "0.0125"), (MARKET_B, "0.003"))]  # fmt: skip
            return 200, [r for r in found if r["date"] == query["date"][0] and r["maker_address"] == query["maker_address"][0]]

        self.clob.routes[("GET", "/rebates/current")] = rebates
        self.c.publish(reports)
        tag = self.builder("demo-bot").execution(trace_id="trace-t-1", event=rpb.EXECUTION_EVENT_ORDER_TAGGED,
                                                 token_id="101", side=rpb.SIDE_BUY, price="0.5", size_micros=200_000_000,
                                                 builder_code=CODE, order_type="GTC")  # fmt: skip
        self.c.publish([tag], token="bot")

    def attribution(self) -> None:
        c = self.c
        c("BuilderAttributionService", "ListFills", atpb.ListFillsRequest(limit=1000), token="auditor")
        c("AttributionRevenueService", "ReportRevenue", atpb.ReportRevenueRequest(day=REVENUE_DAY))
        stranger = [case for case in c("BuilderAttributionService", "ListQuarantine", atpb.ListQuarantineRequest()).cases
                    if "t-9:TAKER" in case.record_keys and case.kind == atpb.DISCREPANCY_KIND_UNKNOWN_TRADE]  # fmt: skip
        c("BuilderAttributionService", "ReleaseQuarantine", atpb.ReleaseQuarantineRequest(
            case_id=stranger[0].case_id, reason="t-9 was a manual trade from the desk console"))  # fmt: skip
        c("AttributionRevenueService", "ReportRevenue", atpb.ReportRevenueRequest(day=REVENUE_DAY))  # the correction
        c("BuilderAttributionService", "Reconcile", atpb.ReconcileRequest(
            window_start=stamp(DAY), window_end=stamp(DAY + timedelta(days=1))))  # fmt: skip
        serve_builder_trades(self.clob, self.rows, failures=[503] * 5)  # the exchange is down for a while
        c("BuilderAttributionService", "Reconcile", atpb.ReconcileRequest(
            window_start=stamp(DAY - timedelta(days=1)), window_end=stamp(DAY)))  # fmt: skip
        serve_builder_trades(self.clob, self.rows)

    # incidents ---------------------------------------------------------------------------------

    def incidents(self) -> None:
        c = self.c

        def commander(method: str, token: str = "operator", **fields: Any) -> oppb.Incident:
            request = getattr(oppb, f"{method}Request")(**fields)
            return c("IncidentCommanderService", method, request, token=token).incident

        sev1 = commander("DeclareIncident", title="pUSD balance mismatch on three bots",
                         severity=oppb.INCIDENT_SEVERITY_SEV1, description="PortfolioSync saw 4,000 pUSD missing")  # fmt: skip
        flatten_id = next(e.report_id for e in sev1.timeline if e.action == "auto.flatten_request")
        ack = self.builder("demo-bot", bot_class="execution").operations(
            causation_id=flatten_id, component="flattener", event="flatten.done", explanation="closed 12 positions, 0 left")  # fmt: skip
        self.c.publish([ack], token="bot")
        until(lambda: commander("GetIncident", token="auditor", incident_id=sev1.incident_id),
              lambda i: any(e.action == "flatten.ack" for e in i.timeline), "flatten acknowledgement")  # fmt: skip
        commander("AssignRole", incident_id=sev1.incident_id, role="commander", holder="alice")
        commander("AddNote", incident_id=sev1.incident_id, note="root cause suspected: stale RPC node")
        commander("ResolveIncident", incident_id=sev1.incident_id, resolution="RPC node replaced; balances match")
        commander("OpenPostmortem", incident_id=sev1.incident_id, rca_owner="bob",
                  rca_due_at=stamp(T0 + timedelta(seconds=90)))  # fmt: skip
        self.sev1 = sev1.incident_id
        for slug in ("momentum", "trend"):
            strategy = c("StrategyRegistryService", "GetStrategy", lipb.GetStrategyRequest(slug=slug)).strategy
            if strategy.stage == S.STAGE_PAUSED:
                c("StrategyRegistryService", "ResumeStrategy",
                  lipb.ResumeStrategyRequest(slug=slug, reason="incident resolved"))  # fmt: skip
        minor = commander("DeclareIncident", token="bot", title="stale book on one market",
                          severity=oppb.INCIDENT_SEVERITY_SEV3, description="no book update for 90 s")  # fmt: skip
        commander("AddNote", incident_id=minor.incident_id, note="watching; feed reconnecting")
        major = commander("DeclareIncident", title="report bus latency above 1 s", severity=oppb.INCIDENT_SEVERITY_SEV2)
        commander("ResolveIncident", incident_id=major.incident_id, resolution="writer thread unblocked")

    def close_rca(self) -> None:
        self.c("IncidentCommanderService", "CloseRca", oppb.CloseRcaRequest(
            incident_id=self.sev1, summary="RCA: single RPC provider; follow-up: two providers, quorum reads"))  # fmt: skip

    # backtest and paper ------------------------------------------------------------------------

    def backtest(self) -> None:
        self.c("BacktesterService", "StartBacktest", lipb.StartBacktestRequest(
            strategy=STRATEGY, parameters_json="{}", parameters_b_json=json.dumps({"shares": 5}), strategy_slug="momentum",
            token_ids=[TOKEN_ID], window_start=stamp(DAY + timedelta(hours=12)),
            window_end=stamp(DAY + timedelta(hours=12, minutes=1))))  # fmt: skip

    def paper(self, channel: Any) -> None:
        c = self.c
        session = c("PaperTradeService", "StartPaperSession", lipb.StartPaperSessionRequest(
            strategy=STRATEGY, strategy_slug="trend", token_ids=[TOKEN_ID])).session  # fmt: skip
        until(lambda: c("PaperTradeService", "GetPaperSession", lipb.GetPaperSessionRequest(session_id=session.session_id)),
              lambda found: found.session.events >= len(PAPER_EVENTS), "paper session")  # fmt: skip
        c("PaperTradeService", "StopPaperSession", lipb.StopPaperSessionRequest(session_id=session.session_id))
        self.settle()
        gate = c("PaperTradeService", "EvaluatePaperGate", lipb.EvaluatePaperGateRequest(strategy_slug="trend"))
        log.info("paper gate: %s", gate)
        c("StrategyRegistryService", "PromoteStrategy",
          lipb.PromoteStrategyRequest(slug="trend", to_stage=S.STAGE_SHADOW, reason="three days on paper"))  # fmt: skip
        if gate.passes:
            c("StrategyRegistryService", "PromoteStrategy",
              lipb.PromoteStrategyRequest(slug="trend", to_stage=S.STAGE_LIMITED_LIVE, reason="paper gate passed"))  # fmt: skip

    # cron --------------------------------------------------------------------------------------

    def trigger(self, task: str) -> oppb.Dispatch:
        return self.c("CronRunnerService", "TriggerNow", oppb.TriggerNowRequest(task=task)).dispatch


def paper_events() -> list[dict[str, Any]]:
    """Two book snapshots a day on 21-23 November, the bid rising a cent each time."""
    events = []
    for n in range(6):
        at = datetime(2026, 11, 21, 8, tzinfo=UTC) + timedelta(days=n // 2, hours=6 * (n % 2))
        bid = 30 + n
        events.append(book_event(TOKEN_ID, CONDITION_ID, int(at.timestamp() * 1000),
                                 [(f"0.{bid:02d}", "500")], [(f"0.{bid + 2:02d}", "500")]))  # fmt: skip
    return events


PAPER_EVENTS = paper_events()


def write_history(database_url: str) -> None:
    """Step 1: the old release, started on an empty database, does a day's work through its RPCs."""
    clock = ManualClock(T0)
    uuid_utils.uuid7 = ClockIds(clock)
    old_ledger.CHECKPOINT_EVERY = 16
    with ExitStack() as stack:
        channel = stack.enter_context(market_channel())
        channel.scripts = [PAPER_EVENTS]
        clob = stack.enter_context(local_clob())
        config = mesh_config(
            database_url, builder_code=CODE, clob_url=clob.url, clob_market_ws_url=channel.url,
            clob_backoff_seconds=0.0, clob_requests_per_second=0.0, clob_attempts=5, maker_addresses=(MAKER,),
            builder_taker_fee_bps=10, builder_maker_fee_bps=5, volume_drift_tolerance="0.5",
            maker_rebate_shares=(f"{MARKET_Y}=0.25",), min_paper_days=3, require_positive_risk_adj=False,
            min_limited_live_days=0, cron_poll_seconds=0.05, incident_declarers=("demo-bot",),
        )  # fmt: skip
        mesh = MeshThread(config, clock=clock)
        stack.callback(mesh.stop)
        story = Story(mesh, clock, database_url, clob)
        stack.callback(story.engine.dispose)
        stack.callback(story.c.close)
        story.registry()
        story.experiments()
        story.configuration()
        story.book_feed()
        story.trace_chains()
        story.pnl()
        story.day_fills()
        story.settle()
        story.attribution()
        story.backtest()
        story.paper(channel)
        story.incidents()
        story.settle()
        story.trigger("pnl-window")  # the hour before the scheduled moment: 23:00 to midnight
        story.trigger("retention-purge")  # nothing has expired yet
        story.advance_to(datetime(2026, 11, 24, 0, 58, 30, tzinfo=UTC))  # slo-evaluate, each minute
        story.advance_to(datetime(2026, 11, 24, 0, 59, 30, tzinfo=UTC))
        story.trigger("attribution-reconcile")  # yesterday, again, by hand
        story.clob.routes[("GET", "/rebates/current")] = lambda query: (500, {"error": "unavailable"})
        story.trigger("attribution-revenue")  # FAILED: the rebates cannot be read
        story.advance_to(datetime(2026, 11, 24, 1, 0, 30, tzinfo=UTC))  # hourly: pnl-window, overdue RCAs
        story.close_rca()
        story.crash_between_booking_and_publishing()
        story.advance_to(datetime(2026, 11, 24, 1, 3, 55, tzinfo=UTC))  # two firings superseded, one too late
        story.advance_to(T_END)
        story.c("BuilderAttributionService", "ListFills", atpb.ListFillsRequest(limit=1000), token="auditor")
        story.settle()


# -- fixtures ---------------------------------------------------------------------------------------


def table_rows(database_url: str) -> dict[str, Any]:
    engine = create_engine(old_storage.normalise_url(database_url))
    try:
        with engine.connect() as connection:
            found = {}
            for name in TABLES:
                table = old_metadata.tables[name]
                columns = [column.name for column in table.columns]
                key = [column.name for column in table.primary_key]
                found[name] = {"columns": columns, "key": key,
                               "rows": replay.table_rows(connection, table, columns, key)}  # fmt: skip
            return found
    finally:
        engine.dispose()


def write_gzip(path: Path, data: bytes) -> None:
    """Compressed without a timestamp or name, so the same content gives the same bytes."""
    with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", filename="", mtime=0, compresslevel=9) as out:
        out.write(data)


def dump_sqlite(path: Path, fixture: Path) -> None:
    """The database as one compact file (VACUUM INTO reads through the WAL), gzipped."""
    with tempfile.TemporaryDirectory() as scratch:
        compact = Path(scratch) / "compact.db"
        with closing(sqlite3.connect(path)) as connection:
            connection.execute("VACUUM INTO ?", (str(compact),))
        with closing(sqlite3.connect(compact)) as connection:  # small pages: most of its b-trees hold a few rows
            connection.execute("PRAGMA journal_mode=DELETE")
            connection.execute("PRAGMA page_size=1024")
            connection.execute("VACUUM")
        write_gzip(fixture, compact.read_bytes())


def dump_postgresql(url: str, schema: str, fixture: Path) -> None:
    parsed = make_url(url)
    dump = subprocess.run(
        ["pg_dump", "--inserts", "--no-owner", "--no-privileges", f"--schema={schema}", "-h", parsed.host or "127.0.0.1",
         "-p", str(parsed.port or 5432), "-U", parsed.username or "postgres", parsed.database or "test"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    kept = []
    for line in dump.splitlines():
        if line.startswith("\\"):  # psql meta-commands (\restrict, \unrestrict): not SQL
            continue
        if line.startswith(f"CREATE SCHEMA {schema};"):  # the test makes its own schema
            continue
        kept.append(line.replace(schema, SCHEMA_PLACEHOLDER))
    write_gzip(fixture, ("\n".join(kept) + "\n").encode())


def load_postgresql(url: str, schema: str, fixture: Path) -> None:
    parsed = make_url(url)
    sql = gzip.decompress(fixture.read_bytes()).decode().replace(f"{SCHEMA_PLACEHOLDER}.", f'"{schema}".')
    with psycopg.connect(host=parsed.host, port=parsed.port or 5432, user=parsed.username,
                         dbname=parsed.database, autocommit=True) as connection:  # fmt: skip
        connection.execute(sql)


@contextmanager
def postgres_schema(base: str, prefix: str) -> Iterator[tuple[str, str]]:
    parsed = make_url(base)
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    conninfo = dict(host=parsed.host, port=parsed.port or 5432, user=parsed.username, dbname=parsed.database)
    with psycopg.connect(**conninfo, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield schema, parsed.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False
        )
    finally:
        with psycopg.connect(**conninfo, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


def answer_calls(tables: dict[str, Any]) -> list[dict[str, Any]]:
    """The questions asked of the upgraded mesh, built from what the database holds."""

    def column(table: str, name: str) -> list[Any]:
        index = tables[table]["columns"].index(name)
        return [row[index] for row in tables[table]["rows"]]

    call = replay.call
    archive = tables["report_archive"]
    kinds, slugs = column("report_archive", "kind"), column("report_archive", "bot_slug")
    settlements_of_demo = sum(1 for k, s in zip(kinds, slugs, strict=True) if k == rpb.REPORT_KIND_SETTLEMENT and s == "demo-bot")
    calls = [
        call("ReportBusService", "SubscribeReports", {}, take=len(archive["rows"]), compact="report",
             note="the whole archive, from its start until caught up"),
        call("ReportBusService", "SubscribeReports", {"kinds": ["REPORT_KIND_SETTLEMENT"]}, token="bot",
             take=settlements_of_demo, compact="report", note="a bot sees only its own reports"),
        call("ComplianceLedgerService", "VerifyLedger", {}),
        call("ComplianceLedgerService", "VerifyLedger", {"from_latest_checkpoint": True}),
        call("ComplianceLedgerService", "VerifyLedger", {"stream": "strategy-registry"}),
        call("StrategyRegistryService", "ListStrategies", {}),
        call("StrategyRegistryService", "ListStrategies", {"stages": ["STAGE_LIMITED_LIVE", "STAGE_GENERAL_LIVE"]}),
        *[call("StrategyRegistryService", "GetStrategy", {"slug": slug}) for slug in column("strategies", "slug")],
        call("StrategyRegistryService", "CheckLiveCap", {"slug": "momentum", "order_notional_micros": "100000000",
                                                         "position_micros": "1900000000", "position_change_micros": "200000000"},
             token="bot"),  # fmt: skip
        call("StrategyRegistryService", "WatchStrategies", {}, take=len(tables["strategies"]["rows"]),
             note="the current state of every strategy"),
        call("ExperimentTrackerService", "ListExperiments", {}),
        *[call("ExperimentTrackerService", "GetExperiment", {"experiment_id": e}) for e in column("experiments", "experiment_id")],
        call("BacktesterService", "ListBacktests", {}),
        *[call("BacktesterService", "GetBacktest", {"backtest_id": b}) for b in column("backtests", "backtest_id")],
        *[call("BacktesterService", "StreamBacktestReports", {"backtest_id": b}, take=10_000, compact="report")
          for b in column("backtests", "backtest_id")],
        call("ParameterChangeAuditService", "ListChanges", {"bot_slug": "demo-bot", "limit": 1000}),
        call("ParameterChangeAuditService", "ListChanges", {"bot_slug": "demo-bot", "key": "edge_bps"}),
        call("ParameterChangeAuditService", "ListChanges", {"bot_slug": "exec-1"}, token="operator"),
        *[call("ParameterChangeAuditService", "GetConfigAt", {"bot_slug": "demo-bot", "at": at}, token="bot")
          for at in ("2026-11-20T08:59:59Z", "2026-11-20T09:00:00Z", "2026-11-21T12:00:00Z", "2026-11-22T23:59:59Z",
                     "2026-11-24T01:04:20Z")],
        call("UserActivityLedgerService", "ListUserActions", {"limit": 1000}),
        call("UserActivityLedgerService", "ListUserActions", {"user": "risk-officer"}),
        call("UserActivityLedgerService", "ListUserActions", {"action": "PromoteStrategy", "limit": 1000}),
        *[call("UserActivityLedgerService", "ListUserActions", {"session_id": s})
          for s in sorted({s for s in column("user_actions", "session_id") if s})],
        call("PnLReporterService", "GetPnl", {}),
        call("PnLReporterService", "GetPnl", {"group_by": ["PNL_DIMENSION_BOT"]}),
        call("PnLReporterService", "GetPnl", {"group_by": ["PNL_DIMENSION_BOT", "PNL_DIMENSION_MARKET"]}),
        call("PnLReporterService", "GetPnl", {"group_by": ["PNL_DIMENSION_BUILDER"], "since": "2026-11-24T00:00:00Z",
                                              "until": "2026-11-24T01:00:00Z"}),  # fmt: skip
        call("PostTradeExplainerService", "ListExplanations", {"limit": 1000}),
        call("PostTradeExplainerService", "ListExplanations", {"incomplete_only": True}),
        *[call("PostTradeExplainerService", "Explain", {"fill_report_id": f})
          for f in sorted(set(column("explainer_explanations", "fill_report_id")))],
        *[call("BuilderAttributionService", "GetReconciliation", {"reconciliation_id": r})
          for r in column("attribution_reconciliations", "reconciliation_id")],
        call("BuilderAttributionService", "ListFills", {"limit": 1000}),
        call("BuilderAttributionService", "ListFills", {"bot_slug": "exec-bot-1", "condition_id": MARKET_A}),
        call("BuilderAttributionService", "ListQuarantine", {"include_released": True}),
        call("BuilderAttributionService", "ListQuarantine", {}),
        call("AttributionRevenueService", "GetRevenueReport", {"day": REVENUE_DAY}),
        call("AttributionRevenueService", "ListRevenueReports", {"from_day": 20261101, "to_day": 20261130}),
        call("CronRunnerService", "ListSchedule", {}),
        call("CronRunnerService", "ListDispatches", {"limit": 1000}),
        call("CronRunnerService", "ListDispatches", {"task": "slo-evaluate"}),
        call("IncidentCommanderService", "ListIncidents", {}),
        call("IncidentCommanderService", "ListIncidents", {"states": ["INCIDENT_STATE_OPEN"]}),
        *[call("IncidentCommanderService", "GetIncident", {"incident_id": i}) for i in column("incidents", "incident_id")],
        call("IncidentCommanderService", "ListOverdueRcas", {}),
        # Acting on the started mesh (after every read above): the booking a crash kept off the bus
        # is published by the P&L ledger's first use, and a paper gate is evaluated and linked.
        call("PnLReporterService", "ListPositions", {"include_closed": True}, note="publishes pnl_unpublished"),
        call("PnLReporterService", "ListPositions", {"bot_slug": "mm-1"}),
        call("ReportBusService", "SubscribeReports", {"cursor": str(archive["rows"][-1][0])}, take=1, compact="report",
             note="the booking's report, published on this start"),
        call("ComplianceLedgerService", "VerifyLedger", {}),
        call("PaperTradeService", "EvaluatePaperGate", {"strategy_slug": "trend"}, token="operator"),
    ]
    return calls


def answers(database_url: str, tables: dict[str, Any]) -> list[dict[str, Any]]:
    """Step 3: the old release restarted on its database, as the test starts the new one."""
    replay.load_protos()
    clock = ManualClock(T_END)
    mesh = MeshThread(mesh_config(database_url), clock=clock)
    engine = create_engine(old_storage.normalise_url(database_url))
    try:
        replay.settle(engine, TABLES)
        if table_rows(database_url) != tables:
            raise AssertionError("restarting the old release on its own database changed rows")
        recorded = []
        with grpc.insecure_channel(mesh.address) as channel:
            for entry in answer_calls(tables):
                answer = replay.ask(channel, entry)
                if entry.get("note", "").startswith("publishes"):
                    replay.settle(engine, TABLES)
                recorded.append({**entry, **answer})
        return recorded
    finally:
        engine.dispose()
        mesh.stop()


def write_fixture(backend: str, tables: dict[str, Any], calls: list[dict[str, Any]]) -> None:
    document = {
        "release": "13f859b",
        "backend": backend,
        "clock": T_END.isoformat(),
        "made_by": "tests/servers/schema/make_release_13f859b.py",
        "tables": tables,
        "calls": calls,
    }
    write_gzip(FIXTURES / f"{backend}.json.gz", layout(document).encode())


def layout(document: dict[str, Any]) -> str:
    """JSON with one table row, or one call and its answer, per line: small, and readable in a diff."""
    line = lambda value: json.dumps(value, sort_keys=True, separators=(",", ":"))  # noqa: E731
    head = {k: v for k, v in document.items() if k not in ("tables", "calls")}
    parts = [json.dumps(head, indent=1, sort_keys=True)[:-2] + ",", ' "tables": {']
    for index, (name, table) in enumerate(sorted(document["tables"].items())):
        rows = ",\n".join(f"   {line(row)}" for row in table["rows"])
        parts.append(f'  "{name}": {{"columns": {line(table["columns"])}, "key": {line(table["key"])}, "rows": [')
        parts.append((rows + "\n" if rows else "") + "  ]}" + ("," if index < len(document["tables"]) - 1 else ""))
    parts.append(" },")
    parts.append(' "calls": [')
    parts.append(",\n".join(f"  {line(entry)}" for entry in document["calls"]))
    parts.append(" ]")
    parts.append("}")
    written = "\n".join(parts) + "\n"
    assert json.loads(written) == json.loads(json.dumps(document)), "layout changed the document"
    return written


def make_sqlite() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        written = Path(scratch) / "written.db"
        url = f"sqlite:///{written}"
        write_history(url)
        dump_sqlite(written, FIXTURES / "sqlite.db.gz")
        restarted = Path(scratch) / "restarted.db"
        restarted.write_bytes(gzip.decompress((FIXTURES / "sqlite.db.gz").read_bytes()))
        tables = table_rows(f"sqlite:///{restarted}")
        calls = answers(f"sqlite:///{restarted}", tables)
    write_fixture("sqlite", tables, calls)


def make_postgresql(base: str) -> None:
    with postgres_schema(base, "release_13f859b") as (schema, url):
        write_history(url)
        dump_postgresql(url, schema, FIXTURES / "postgresql.sql.gz")
    with postgres_schema(base, "release_13f859b_load") as (schema, url):
        load_postgresql(url, schema, FIXTURES / "postgresql.sql.gz")
        tables = table_rows(url)
        calls = answers(url, tables)
    write_fixture("postgresql", tables, calls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    FIXTURES.mkdir(exist_ok=True)
    if arguments.backend in ("sqlite", "both"):
        make_sqlite()
    if arguments.backend in ("postgresql", "both"):
        make_postgresql(arguments.postgres_url)
    for path in sorted(FIXTURES.iterdir()):
        print(f"{path.relative_to(HERE.parents[2])}: {path.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
