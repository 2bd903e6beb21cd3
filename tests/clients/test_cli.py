"""`polytraders-gov` as an operator runs it: a real process, real signals, real grpcurl."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import DEV_TOKENS, REPO

BIN = Path(sys.executable).parent
CLI = str(BIN / "polytraders-gov")
GRPCURL = str(BIN / "grpcurl")
BOT = ["-H", "authorization: Bearer dev-bot-token"]
AUDITOR = ["-H", "authorization: Bearer dev-auditor-token"]


@dataclass
class Served:
    process: subprocess.Popen[str]
    address: str


@pytest.fixture
def served(database_url: str) -> Iterator[Served]:
    process = subprocess.Popen(
        [
            CLI,
            "serve",
            "--port",
            "0",
            "--database-url",
            database_url,
            "--tokens-file",
            str(DEV_TOKENS),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert process.stdout is not None
    banner = process.stdout.readline()
    match = re.search(r"on (127\.0\.0\.1:\d+)", banner)
    assert match, banner + process.stderr.read()  # type: ignore[union-attr]
    yield Served(process, match.group(1))
    if process.poll() is None:
        process.kill()
        process.wait()


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
    assert "draining" in served.process.stderr.read()  # type: ignore[union-attr]
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
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = json.loads(tail.stdout.readline())  # type: ignore[union-attr]
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

    promoted = cli("promote", "momentum", "--to", "backtest", "--reason", "ready")
    refused = cli("promote", "momentum", "--to", "general_live", "--reason", "skip")
    paused = cli("pause", "momentum", "--reason", "incident")
    listed = cli("list")

    assert promoted.returncode == 0 and promoted.stdout.splitlines()[-1].split()[1:] == [
        "SPEC",
        "BACKTEST",
        "dev-operator",
        "ready",
    ]
    assert refused.returncode == 1 and "allowed: PAPER, RETIRED, SPEC" in refused.stderr
    assert "stage PAUSED (paused from BACKTEST)" in paused.stdout
    assert listed.stdout.splitlines()[2].split() == ["momentum", "PAUSED", "1", "alpha", "3"]


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
    assert shown.stdout.splitlines()[2].split()[:6] == [
        "v-vs-c",
        "variant",
        "vs",
        "control",
        "pnl",
        "RUNNING",
    ]
