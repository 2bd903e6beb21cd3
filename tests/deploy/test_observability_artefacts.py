"""The operator artefacts under deploy/: Prometheus alert rules checked and unit-tested by promtool,
and the Grafana dashboard, whose every query names metrics a served mesh (and a bot) exposes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import urllib.request
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from polytraders.sdk import Governance, PublisherConfig, PublisherMetrics
from tests.conftest import REPO
from tests.support.demo_mesh import demo_mesh
from tests.support.governance_process import free_port
from tests.support.nats_server import NatsServer
from tests.support.prometheus import PROMTOOL

RULES = REPO / "deploy" / "prometheus" / "governance-rules.yml"
DASHBOARD = REPO / "deploy" / "grafana" / "governance.json"
METRIC = re.compile(r"\b((?:polytraders|grpc_server)_[a-z_]+)\b")


def test_promtool_checks_the_alert_rules_and_passes_their_unit_tests() -> None:
    if not Path(PROMTOOL).exists():  # .ci/run installs it: under CI nothing skips
        (pytest.fail if os.environ.get("CI") == "true" else pytest.skip)("promtool is missing: apt-get install prometheus")
    for command in (["check", "rules", RULES.name], ["test", "rules", "governance-rules.test.yml"]):
        ran = subprocess.run([PROMTOOL, *command], cwd=RULES.parent, capture_output=True, text=True, timeout=120)
        assert ran.returncode == 0, ran.stdout + ran.stderr
    names = re.findall(r"^\s+- alert: (\w+)$", RULES.read_text(), re.MULTILINE)
    assert names == ["GovernanceFollowerLagging", "GovernanceRelayStalled", "GovernanceNoLeader", "GovernanceCronMissed",
                     "BotOutboxGrowing", "ComplianceLedgerUnverified"]  # fmt: skip


def _queried() -> set[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    expressions = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    expressions += re.findall(r"^\s+expr: (.+)$", RULES.read_text(), re.MULTILINE)  # one line each
    return {name for expression in expressions for name in METRIC.findall(expression)}


SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def _exposed(text: str) -> set[str]:
    """Every series name an exposition declares, whether or not a label set has a sample yet."""
    return {family.name + suffix for family in text_string_to_metric_families(text) for suffix in SUFFIXES[family.type]}


def test_every_metric_the_dashboard_and_the_rules_query_is_exposed(tmp_path: Path) -> None:
    """A mesh fed by the demo fleet, linked to a broker, scraped; a bot's registry beside it."""
    metrics = f"127.0.0.1:{free_port()}"
    broker = NatsServer(tmp_path / "nats").start()
    try:
        settings = {"POLYTRADERS_METRICS_PORT": metrics.rsplit(":", 1)[1], "POLYTRADERS_BUS_URL": broker.url}
        with demo_mesh(tmp_path, env=settings) as demo:
            ops = demo.fleet.operator
            ops.cron.trigger("ledger-verify")
            with urllib.request.urlopen(f"http://{metrics}/metrics", timeout=5) as answer:
                mesh = _exposed(answer.read().decode())
            registry = CollectorRegistry()
            bots = [Governance(demo.address, token="dev-operator-token", bot_slug=slug,
                               publisher=PublisherConfig(outbox_path=str(tmp_path / f"{slug}.sqlite")))
                    for slug in ("demo-bot", "demo-bot-2")]  # fmt: skip
            try:
                registry.register(PublisherMetrics(*bots))  # two bots of one process: one collector
                for bot in bots:
                    bot.reports.publish_now([bot.builder.operations(component="bot", explanation="up")])
                text = generate_latest(registry).decode()
            finally:
                for bot in bots:
                    bot.close()
            sdk = _exposed(text)
            shown = {s.labels["bot_slug"] for f in text_string_to_metric_families(text) for s in f.samples}
            assert shown == {"demo-bot", "demo-bot-2"}
            with pytest.raises(ValueError, match="Duplicated"):
                registry.register(PublisherMetrics(bots[0]))  # a second collector of the same names is refused
    finally:
        broker.stop()

    queried = _queried()
    assert len(queried) >= 20
    missing = queried - mesh - sdk
    assert missing == set(), f"queried but exposed by neither a served mesh nor a bot: {sorted(missing)}"
