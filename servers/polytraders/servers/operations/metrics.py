"""What the operations group shows Prometheus: the fleet, open incidents, SLO budgets and burn
rates (read at each scrape), and each cron dispatch (counted as it ends)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from decimal import Decimal

from prometheus_client.core import Metric
from sqlalchemy import Engine

from polytraders.governance.v1 import operations_pb2 as pb
from polytraders.servers.runtime.leadership import read_result
from polytraders.servers.runtime.metrics import MeshMetrics, gauge

from .heartbeat import HealthHeartbeat
from .incidents import IncidentCommander, severity_name
from .slo import SLO_STATUSES


def operations_state(heartbeat: HealthHeartbeat, commander: IncidentCommander, engine: Engine) -> Iterator[Metric]:
    fleet = heartbeat.last
    if fleet.sweep:
        yield gauge("polytraders_fleet_bots_down", "Bots of each layer not SERVING at the last heartbeat sweep.",
                    ["layer"], [((layer.layer,), layer.bots - layer.serving) for layer in fleet.layers])  # fmt: skip
        yield gauge("polytraders_fleet_bots_paged", "Bots of each layer with a page open.",
                    ["layer"], [((layer.layer,), layer.alerting) for layer in fleet.layers])  # fmt: skip
        yield gauge("polytraders_heartbeat_sweep_duration_seconds", "How long the last heartbeat sweep took.",
                    [], [((), fleet.duration_micros / 1_000_000)])  # fmt: skip
    open_ = Counter(severity_name(i.severity) for i in commander.open_incidents())
    yield gauge("polytraders_incidents_open", "Incidents whose impact is not over, by severity.", ["severity"],
                [((name,), open_.get(name, 0)) for name in ("SEV1", "SEV2", "SEV3")])  # fmt: skip
    stored = read_result(engine, SLO_STATUSES, pb.ListSlosResponse)
    slos = list(stored.slos) if stored else []
    yield gauge("polytraders_slo_error_budget_remaining", "Share of each objective's error budget left (negative: overspent).",
                ["objective"], [((s.name,), float(Decimal(s.error_budget_remaining or 0))) for s in slos])  # fmt: skip
    yield gauge("polytraders_slo_burn_rate", "Burn rate of each objective's alert rule over its long and short window.",
                ["objective", "severity", "window"],
                [((s.name, a.severity, f"{seconds}s"), float(Decimal(rate or 0))) for s in slos for a in s.alerts
                 for seconds, rate in ((a.long_window_seconds, a.long_burn_rate), (a.short_window_seconds, a.short_burn_rate))])  # fmt: skip


def dispatch_counter(metrics: MeshMetrics) -> Callable[[pb.Dispatch], None]:
    """Missed firings by task; how late each scheduled one started (an operator's trigger is never late)."""

    def count(dispatch: pb.Dispatch) -> None:
        if dispatch.outcome == pb.DISPATCH_OUTCOME_MISSED:
            metrics.cron_missed.labels(dispatch.task).inc()
        elif dispatch.triggered_by == "schedule" and dispatch.HasField("started_at"):
            metrics.cron_lateness.labels(dispatch.task).observe(dispatch.lateness_micros / 1_000_000)

    return count
