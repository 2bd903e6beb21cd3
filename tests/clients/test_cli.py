"""`polytraders-gov` as an operator runs it: a real process, real signals, real grpcurl."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk import Governance, ManualClock, ReportBuilder
from tests.conftest import DEV_TOKENS, REPO
from tests.sdk.test_execution_path import BOOKS
from tests.servers.attribution.day import CODE, DAY, DAY_TRADES, MARKET_A, Trade, fill_report
from tests.servers.lifecycle.test_backtest import STRATEGY
from tests.support.clob import local_clob, serve_builder_trades

BIN = Path(sys.executable).parent
CLI = str(BIN / "polytraders-gov")
GRPCURL = str(BIN / "grpcurl")
BOT = ["-H", "authorization: Bearer dev-bot-token"]
AUDITOR = ["-H", "authorization: Bearer dev-auditor-token"]


@dataclass
class Served:
    process: subprocess.Popen[str]
    address: str


@contextmanager
def serving(database_url: str, **env: str) -> Iterator[Served]:
    """`polytraders-gov serve` in its own process, with extra POLYTRADERS_* settings in `env`."""
    process = subprocess.Popen(
        [CLI, "serve", "--port", "0", "--database-url", database_url, "--tokens-file", str(DEV_TOKENS), "--upgrade"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, **env},
    )
    assert process.stdout is not None
    banner = process.stdout.readline()
    match = re.search(r"on (127\.0\.0\.1:\d+)", banner)
    assert match, banner + process.stderr.read()
    try:
        yield Served(process, match.group(1))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.fixture
def served(database_url: str) -> Iterator[Served]:
    with serving(database_url) as running:
        yield running


def _grpcurl(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [GRPCURL, "-plaintext", *args], input=stdin, capture_output=True, text=True, timeout=30
    )


REPORT = {
    "header": {
        "report_id": "0190c4e0-1c2d-7a3b-8c4d-5e6f708192a3",
        "kind": "REPORT_KIND_OPERATIONS",
        "bot_slug": "demo-bot",
        "epoch": 20261124,
        "mode": "MODE_LIVE",
        "produced_at": "2026-11-24T12:00:00Z",
        "retention": "RETENTION_ONE_YEAR",
    },
    "operations": {
        "component": "grpcurl",
        "status": "COMPONENT_STATUS_HEALTHY",
        "explanation": "hello",
    },
}


def test_grpcurl_lists_describes_publishes_and_reads_back(served: Served) -> None:
    listed = _grpcurl(served.address, "list")
    assert listed.returncode == 0, listed.stderr
    assert set(listed.stdout.split()) >= {
        "polytraders.governance.v1.ReportBusService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    }
    described = _grpcurl(served.address, "describe", "polytraders.reports.v1.ReportHeader")
    assert "report_id" in described.stdout and "retention" in described.stdout

    body = json.dumps({"reports": [REPORT]})
    published = _grpcurl(
        *BOT,
        "-d",
        body,
        served.address,
        "polytraders.governance.v1.ReportBusService/PublishReports",
    )
    assert published.returncode == 0, published.stderr
    assert json.loads(published.stdout)["accepted_count"] == 1

    read = _grpcurl(
        *AUDITOR,
        "-max-time",
        "2",
        "-d",
        '{"bot_slugs": ["demo-bot"]}',
        served.address,
        "polytraders.governance.v1.ReportBusService/SubscribeReports",
    )
    first = json.loads(read.stdout[: read.stdout.index("\n}\n") + 2])
    assert first["report"] == REPORT
    assert first["topic"] == "polytraders.reports.operations"


def test_grpcurl_sees_the_exact_status_and_field_of_a_bad_report(served: Served) -> None:
    bad = json.loads(json.dumps(REPORT))
    bad["header"]["report_id"] = ""
    refused = _grpcurl(
        *BOT,
        "-d",
        json.dumps({"reports": [bad]}),
        served.address,
        "polytraders.governance.v1.ReportBusService/PublishReports",
    )
    assert refused.returncode != 0
    assert "Code: InvalidArgument" in refused.stderr
    assert "reports[0].header.report_id: is required" in refused.stderr


def test_health_command_and_sigterm_drain(served: Served) -> None:
    checked = subprocess.run([CLI, "health", served.address], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0 and "SERVING" in checked.stdout
    by_service = subprocess.run(
        [CLI, "health", served.address, "--service", "polytraders.governance.v1.ReportBusService"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert by_service.returncode == 0

    served.process.send_signal(signal.SIGTERM)
    assert served.process.wait(timeout=30) == 0
    assert "draining" in served.process.stderr.read()
    gone = subprocess.run([CLI, "health", served.address, "--timeout", "1"], capture_output=True, text=True)
    assert gone.returncode == 2


def test_reports_tail_prints_one_json_line_per_report(served: Served) -> None:
    body = json.dumps({"reports": [REPORT]})
    _grpcurl(
        *BOT,
        "-d",
        body,
        served.address,
        "polytraders.governance.v1.ReportBusService/PublishReports",
    )
    tail = subprocess.Popen(
        [
            CLI,
            "reports",
            "tail",
            "--target",
            served.address,
            "--token",
            "dev-auditor-token",
            "--kind",
            "operations",
            "--output",
            "json",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = json.loads(tail.stdout.readline())
    finally:
        tail.kill()
        tail.wait()
    assert line["report"]["header"]["report_id"] == REPORT["header"]["report_id"]
    assert line["cursor"] == "1"


def test_strategies_commands_show_readable_tables_and_refusals(served: Served) -> None:
    env = dict(
        __import__("os").environ, POLYTRADERS_TARGET=served.address, POLYTRADERS_TOKEN="dev-operator-token"
    )
    register = _grpcurl(
        "-H", "authorization: Bearer dev-operator-token", "-d", '{"slug": "momentum", "owner": "alpha", "version": "1"}',
        served.address, "polytraders.governance.v1.StrategyRegistryService/RegisterStrategy",
    )  # fmt: skip
    assert register.returncode == 0, register.stderr

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([CLI, "strategies", *args], capture_output=True, text=True, timeout=30, env=env)

    promoted = cli("promote", "momentum", "--to", "backtest", "--reason", "ready", "--output", "json")
    refused = cli("promote", "momentum", "--to", "general_live", "--reason", "skip")
    unspecified = cli("promote", "momentum", "--to", "unspecified", "--reason", "no stage")
    paused = cli("pause", "momentum", "--reason", "incident")
    listed = cli("list", "--output", "json")
    table = cli("list")

    assert promoted.returncode == 0, promoted.stderr
    change = json.loads(promoted.stdout)["history"][-1]
    assert (change["from_stage"], change["to_stage"], change["actor"], change["reason"]) == (
        "STAGE_SPEC", "STAGE_BACKTEST", "dev-operator", "ready"
    )  # fmt: skip
    assert refused.returncode == 1 and "allowed: PAPER, RETIRED, SPEC" in refused.stderr
    assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
    # the zero value is no stage: refused before any call, like a name that does not exist
    assert unspecified.returncode == 2 and unspecified.stdout == "", unspecified.stderr
    assert "--to: unknown 'unspecified'; one of spec, " in unspecified.stderr
    assert "paused (paused from backtest)" in paused.stdout
    assert [(r["slug"], r["stage"], r["revision"]) for r in map(json.loads, listed.stdout.splitlines())] == [
        ("momentum", "STAGE_PAUSED", "3")
    ]
    assert ["momentum", "paused", "1", "alpha", "3"] in [line.split() for line in table.stdout.splitlines()]


def test_experiments_show_prints_the_always_valid_result(served: Served) -> None:
    env = dict(
        __import__("os").environ, POLYTRADERS_TARGET=served.address, POLYTRADERS_TOKEN="dev-operator-token"
    )
    for slug in ("control", "variant"):
        _grpcurl("-H", "authorization: Bearer dev-operator-token", "-d", json.dumps({"slug": slug, "owner": "o", "version": "1"}),
                 served.address, "polytraders.governance.v1.StrategyRegistryService/RegisterStrategy")  # fmt: skip
    experiment = {"experiment": {"experiment_id": "v-vs-c", "control_slug": "control", "variant_slug": "variant",
                                 "mode": "EXPERIMENT_MODE_SHADOW", "metric": "pnl", "minimum_detectable_effect": "0.5",
                                 "alpha": "0.05"}}  # fmt: skip
    created = _grpcurl("-H", "authorization: Bearer dev-operator-token", "-d", json.dumps(experiment), served.address,
                       "polytraders.governance.v1.ExperimentTrackerService/CreateExperiment")  # fmt: skip
    assert created.returncode == 0, created.stderr

    shown = subprocess.run(
        [CLI, "experiments", "show", "v-vs-c"], capture_output=True, text=True, timeout=30, env=env
    )

    assert shown.returncode == 0, shown.stderr
    assert ["v-vs-c", "variant", "vs", "control", "pnl", "running"] in [
        line.split()[:6] for line in shown.stdout.splitlines()
    ]


def test_an_operator_reconciles_a_day_and_reads_the_quarantine(database_url: str) -> None:
    """The real process reads a local CLOB through polymarket-client; grpcurl and the CLI see the result."""
    stranger = Trade("t-9", MARKET_A, "10", "0.5", DAY_TRADES[0].at)
    with local_clob() as clob:
        serve_builder_trades(clob, [t.row() for t in [*DAY_TRADES, stranger]])
        settings = {"POLYTRADERS_BUILDER_CODE": CODE, "POLYTRADERS_CLOB_URL": clob.url}
        with serving(database_url, **settings) as served:
            with Governance(served.address, token="dev-operator-token", bot_slug="ops") as gov:
                gov.reports.publish_now([fill_report(t, ManualClock(DAY)) for t in DAY_TRADES])
            operator = ["--target", served.address, "--token", "dev-operator-token"]
            ran = subprocess.run([CLI, "attribution", "reconcile", "--day", "20261123", *operator],
                                 capture_output=True, text=True, timeout=60)  # fmt: skip
            assert ran.returncode == 0, ran.stderr
            assert "discrepancies" in ran.stdout and "unknown_trade" in ran.stdout and "t-9:TAKER" in ran.stdout
            listed = _grpcurl("-H", "authorization: Bearer dev-auditor-token", "-d", "{}", served.address,
                              "polytraders.governance.v1.BuilderAttributionService/ListQuarantine")  # fmt: skip
            assert listed.returncode == 0, listed.stderr
            cases = json.loads(listed.stdout)["cases"]
            unknown = next(c for c in cases if c["kind"] == "DISCREPANCY_KIND_UNKNOWN_TRADE")
            assert unknown["record_keys"] == ["t-9:TAKER"]
            released = subprocess.run([CLI, "attribution", "release", unknown["case_id"], "--reason", "desk trade",
                                       *operator], capture_output=True, text=True, timeout=60)  # fmt: skip
            assert released.returncode == 0 and "released" in released.stdout, released.stderr
    assert {r.method for r in clob.requests} == {"GET"}


def test_an_operator_runs_and_shows_a_backtest(database_url: str, tmp_path: Path) -> None:
    # the strategy must be importable where governance runs: here, from the repository's tests package
    with serving(database_url, PYTHONPATH=str(REPO), POLYTRADERS_STRATEGY_PACKAGES="tests") as served:
        with Governance(served.address, token="dev-operator-token", bot_slug="ops") as ops:
            feed = ReportBuilder("clob-book-feed-1", bot_class="data")
            ops.reports.publish_now([feed.observation(
                produced_at=b.at, condition_id=b.condition_id, token_id=b.token_id, source="clob.book",
                bids=[rpb.BookLevel(price=str(p), size_micros=q) for p, q in b.bids],
                asks=[rpb.BookLevel(price=str(p), size_micros=q) for p, q in b.asks]) for b in BOOKS])  # fmt: skip
        operator = ["--target", served.address, "--token", "dev-operator-token"]
        ran = subprocess.run([CLI, "backtest", "run", "--strategy", STRATEGY, "--token-id", BOOKS[0].token_id,
                              "--from", BOOKS[0].at.isoformat(), "--until", "2026-11-25T00:00:00+00:00",
                              "--params-b", '{"shares": 5}', "--html", str(tmp_path / "run.html"), *operator],
                             capture_output=True, text=True, timeout=120, cwd=REPO)  # fmt: skip
        assert ran.returncode == 0, ran.stderr
        backtest_id = ran.stdout.split()[1].rstrip(":")
        assert "fills" in ran.stdout and (tmp_path / "run.html").read_text().startswith("<!doctype html>")
        shown = subprocess.run(
            [CLI, "backtest", "show", backtest_id, *operator], capture_output=True, text=True, timeout=60
        )
        assert shown.returncode == 0 and backtest_id in shown.stdout, shown.stderr


def test_commands_take_a_service_map_as_their_target(served: Served) -> None:
    """POLYTRADERS_TARGETS (or --target) may name each group's process; a map that cannot be read
    is one line naming what to fix, exit 2."""
    env = dict(__import__("os").environ, POLYTRADERS_TOKEN="dev-operator-token",
               POLYTRADERS_TARGETS=f"lifecycle={served.address};default={served.address}")  # fmt: skip
    listed = subprocess.run([CLI, "strategies", "list"], capture_output=True, text=True, timeout=30, env=env)
    assert listed.returncode == 0, listed.stderr
    bad = subprocess.run(
        [CLI, "strategies", "list", "--target", "lifecycle=gov-a:1,gov-b:1"], capture_output=True, text=True,
        timeout=30, env=env,
    )  # fmt: skip
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.strip().splitlines() == [
        "polytraders-gov: --target 'lifecycle=gov-a:1,gov-b:1': service map: lifecycle lists several replicas, so each "
        "must be an IP address (got 'gov-a:1'); for a DNS name with several records give that one name"
    ]


BAD_TOKEN_FILES = [
    ("missing", None, "no such tokens file; give --tokens-file"),
    ("not TOML", "[[token]\nname = ", "not valid TOML"),
    ("no entries", "# nothing yet\n", "no [[token]] entries"),
    ("no secret", '[[token]]\nname = "ops"\nrole = "operator"\n', "[[token]] #0 has no 'sha256'"),
    ("short hash", '[[token]]\nname = "ops"\nsha256 = "abcd"\nrole = "operator"\n', "sha256 must be 64 hex digits"),
    ("certificate without its name", '[[certificate]]\nrole = "bot"\nbot_slug = "b"\n',
     "[[certificate]] #0 has no 'common_name'"),
    ("no role", '[[token]]\nname = "ops"\ntoken = "s3cret"\n', "[[token]] #0 has no 'role'"),
    ("unknown role", '[[token]]\nname = "ops"\ntoken = "s3cret"\nrole = "admin"\n', "'admin' is not a valid Role"),
    ("bot without its slug", '[[token]]\nname = "b"\ntoken = "s3cret"\nrole = "bot"\n', "a bot token needs bot_slug"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "text", "says"), BAD_TOKEN_FILES, ids=[c[0] for c in BAD_TOKEN_FILES])
def test_serve_refuses_a_tokens_file_it_cannot_use_in_one_line(tmp_path: Path, case: str, text: str | None,
                                                               says: str) -> None:  # fmt: skip
    tokens = tmp_path / "tokens.toml"
    if text is not None:
        tokens.write_text(text)
    refused = subprocess.run(
        [CLI, "serve", "--port", "0", "--database-url", f"sqlite:///{tmp_path / 'g.db'}", "--tokens-file", str(tokens)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert refused.returncode == 2, refused.stderr
    (line,) = refused.stderr.strip().splitlines()
    assert line.startswith(f"polytraders-gov serve: {tokens}: ") and says in line, line
    assert "serving" not in refused.stdout
