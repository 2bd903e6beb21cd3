"""Each `serve` process's /metrics, scraped by a real Prometheus server while known work runs:
its query API must show exactly what the work implies."""

from __future__ import annotations

import json
import os
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url

from polytraders.clients.cli import main
from polytraders.governance.v1 import operations_pb2 as pb
from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk import (
    Governance,
    ManualClock,
    PublisherConfig,
    PublisherMetrics,
    ReportBuilder,
    serve_health,
)
from tests.servers.attribution.day import DAY, Trade, fill_report
from tests.support.demo_mesh import demo_mesh
from tests.support.governance_process import GovernanceProcess, free_port
from tests.support.prometheus import PROMETHEUS, prometheus

if not Path(PROMETHEUS).exists() and os.environ.get("CI") != "true":  # .ci/run installs it: under CI nothing skips
    pytest.skip("Debian's prometheus is not installed (apt-get install prometheus)", allow_module_level=True)

MARKET = "0x" + "e5" * 32


@pytest.fixture
def served(postgres_url: str, tmp_path: Path) -> Iterator[tuple[GovernanceProcess, str]]:
    metrics = free_port()
    process = GovernanceProcess(postgres_url, None, "--metrics-port", str(metrics)).start()
    try:
        yield process, f"127.0.0.1:{metrics}"
    finally:
        process.stop()


def _fills(first: int, count: int) -> list[rpb.Report]:
    clock = ManualClock(DAY)
    return [fill_report(Trade(f"m-{i}", MARKET, "10", "0.5", timedelta(minutes=i)), clock) for i in range(first, first + count)]


@pytest.mark.postgres
def test_prometheus_sees_reports_ingested_by_kind_and_a_stalled_follower_catch_up(
    served: tuple[GovernanceProcess, str], postgres_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    process, metrics = served
    assert main(["prometheus-targets", "--target", process.address, "--token", "dev-auditor-token"]) == 0
    scraped = json.loads(capsys.readouterr().out)  # file_sd, as Prometheus reads it
    assert [(t["targets"], t["labels"]["governance"]) for t in scraped] == [([metrics], process.address)]
    bot = ReportBuilder("demo-bot")
    with prometheus(scraped[0]["targets"], tmp_path) as prom, Governance(process.address, token="dev-operator-token",
                                                              bot_slug="ops") as ops:  # fmt: skip
        prom.wait_for('up{job="governance"}', lambda v: v == 1)

        ops.reports.publish_now([bot.decision(strategy_slug="s", explanation=f"d{i}") for i in range(57)])
        ops.reports.publish_now([bot.risk_vote(guard_name="g", explanation=f"v{i}") for i in range(23)])

        assert prom.wait_for('polytraders_reports_ingested_total{kind="decision"}', lambda v: v == 57) == 57
        assert prom.wait_for('polytraders_reports_ingested_total{kind="risk_vote"}', lambda v: v == 23) == 23
        calls = 'sum(grpc_server_call_duration_seconds_count{grpc_method="polytraders.governance.v1.ReportBusService/PublishReports",grpc_status="OK"})'
        assert prom.wait_for(calls, lambda v: v is not None and v >= 2)

        url = make_url(postgres_url)
        schema = url.query["options"].split("=", 1)[1]
        with psycopg.connect(host=url.host, port=url.port or 5432, user=url.username, dbname=url.database) as conn:
            conn.execute(f'SET search_path TO "{schema}"')
            conn.execute("LOCK TABLE pnl_entries IN ACCESS EXCLUSIVE MODE")  # the P&L follower's writes now wait
            ops.reports.publish_now(_fills(0, 1))  # taken, and stuck in its transaction
            ops.reports.publish_now(_fills(1, 30))  # queued behind it
            lag = 'polytraders_follower_lag_reports{follower="ledger.pnl"}'
            assert prom.wait_for(lag, lambda v: v == 30) == 30
            assert prom.wait_for('polytraders_follower_lag_seconds{follower="ledger.pnl"}', lambda v: v is not None and v > 0)
            conn.rollback()  # the lock goes: the follower books what waited
        assert prom.wait_for(lag, lambda v: v == 0) == 0
        assert prom.wait_for('polytraders_fills_total{outcome="booked"}', lambda v: v == 31) == 31
        assert prom.value('polytraders_duty_leader{duty="ledger.pnl"}') == 1


def _scrape(address: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """/metrics read as Prometheus would: sample name → labels → value."""
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def test_the_operations_figures_are_what_the_rpcs_answer(tmp_path: Path) -> None:
    """Fleet, incidents, SLOs and the ledger's last clean walk, against a mesh the demo fleet fed."""
    metrics = f"127.0.0.1:{free_port()}"
    with demo_mesh(tmp_path, env={"POLYTRADERS_METRICS_PORT": metrics.rsplit(":", 1)[1]}) as demo:
        ops = demo.fleet.operator
        ops.incidents.declare("metrics: a second one", "SEV2")
        before = time.time()
        walked = ops.cron.trigger("ledger-verify")  # the daily walk, now: every stream from its latest checkpoint
        assert walked.outcome == pb.DISPATCH_OUTCOME_SUCCEEDED and walked.detail.startswith("ledger ok"), walked.detail
        fleet, slos, incidents = ops.fleet.health(), ops.slos.list(), ops.incidents.list(open_only=True)

        found = _scrape(metrics)

    assert found["polytraders_fleet_bots_down"] == {
        (("layer", layer.layer),): layer.bots - layer.serving for layer in fleet.layers
    }
    assert found["polytraders_fleet_bots_paged"][(("layer", "data"),)] == 1  # the quiet bot
    open_by_severity = Counter(i.severity for i in incidents)
    assert found["polytraders_incidents_open"] == {
        (("severity", "SEV1"),): 0, (("severity", "SEV2"),): open_by_severity[2], (("severity", "SEV3"),): open_by_severity[3],
    }  # fmt: skip
    assert found["polytraders_slo_error_budget_remaining"] == {
        (("objective", s.name),): float(Decimal(s.error_budget_remaining)) for s in slos
    }
    assert len(found["polytraders_slo_burn_rate"]) == 2 * sum(len(s.alerts) for s in slos)
    assert found["polytraders_ledger_verified_timestamp_seconds"][()] >= before - 1
    ingested = found["polytraders_reports_ingested_total"]
    fills = demo.fleet.fills  # each trade: a decision, a guard's vote, the order's builder-code tag and the fill
    assert [ingested[(("kind", k),)] for k in ("decision", "risk_vote", "execution")] == [fills, fills, 2 * fills]
    assert found["polytraders_fills_total"][(("outcome", "booked"),)] == demo.fleet.fills
    method = "polytraders.governance.v1.HealthHeartbeatService/GetFleetHealth"
    assert found["grpc_server_call_started_total"][(("grpc_method", method),)] >= 1


def test_a_bot_kept_from_governance_shows_what_its_outbox_holds_then_drains(tmp_path: Path) -> None:
    """The SDK's metrics in the bot's own registry, served beside its health, scraped by Prometheus."""
    port = free_port()
    registry = CollectorRegistry()
    builder_clock = ManualClock(datetime.now(UTC) - timedelta(seconds=90))  # its oldest report is 90 s old
    gov = Governance(f"127.0.0.1:{port}", token="dev-operator-token", bot_slug="demo-bot", clock=builder_clock,
                     publisher=PublisherConfig(outbox_path=str(tmp_path / "outbox.sqlite"), max_backoff=0.2))  # fmt: skip
    registry.register(PublisherMetrics(gov))
    health = serve_health("demo-bot", metrics_port=0, registry=registry)
    bot = f"127.0.0.1:{health.metrics_port}"
    try:
        with prometheus([bot], tmp_path) as prom:
            for i in range(40):
                gov.reports.publish(gov.builder.operations(component="bot", explanation=f"r{i}"))
            held = 'polytraders_sdk_outbox_reports{bot_slug="demo-bot"}'
            assert prom.wait_for(held, lambda v: v == 40) == 40
            assert prom.wait_for('polytraders_sdk_governance_reachable{bot_slug="demo-bot"}', lambda v: v == 0) == 0
            assert prom.value('polytraders_sdk_outbox_oldest_age_seconds{bot_slug="demo-bot"}') >= 90
            assert prom.value('polytraders_sdk_outbox_bytes{bot_slug="demo-bot"}') > 40 * 30

            governance = GovernanceProcess(f"sqlite:///{tmp_path / 'governance.db'}", port).start()  # the outbox drains
            try:
                assert prom.wait_for(held, lambda v: v == 0) == 0
                assert prom.wait_for('polytraders_sdk_governance_reachable{bot_slug="demo-bot"}', lambda v: v == 1) == 1
                assert prom.value('polytraders_sdk_outbox_oldest_age_seconds{bot_slug="demo-bot"}') == 0
                assert prom.wait_for('sum(polytraders_sdk_publish_seconds_count{bot_slug="demo-bot"})', lambda v: v and v >= 1)
            finally:
                governance.stop()
    finally:
        gov.close(timeout=1)
        health.stop()
