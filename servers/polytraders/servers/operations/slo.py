"""SLAMonitor: service-level objectives, error budgets and multiwindow, multi-burn-rate alerts.

Events are counted per SLO and per UTC minute: the mesh's own unary calls, by every process
(`SloCounter`: a server fault is bad; a caller's mistake is not), and HealthHeartbeat sweeps
(one event per bot per sweep, good when SERVING). Every process adds its counts to one table;
an evaluation reads the table, so it sees every process's calls and a restart keeps history.

Burn rate = (bad / total over a window) / (1 − objective). The alert rules are the Google SRE
workbook's recommended ones for a 30-day objective ("Alerting on SLOs", multiwindow,
multi-burn-rate): page when both the 1 h and 5 min windows burn faster than 14.4, or both the
6 h and 30 min windows faster than 6; open a ticket when both the 3 d and 6 h windows burn
faster than 1. An alert fires on the long window and clears as soon as the short one recovers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from polytraders.governance.v1 import operations_pb2 as pb
from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk.clock import to_micros, to_timestamp
from polytraders.sdk.config import canonical_json
from polytraders.servers.runtime.alerts import Alert, AlertSink
from polytraders.servers.runtime.leadership import Fence, current_fence, read_result, save_result
from polytraders.servers.runtime.reporter import GovernanceReporter
from polytraders.servers.runtime.slo_counts import FLEET, Slo, SloCounter, slo_minutes

COMPONENT = "sla-monitor"
SLO_STATUSES = "operations.slo-statuses"
"""The duty result: every SLO as last evaluated."""


@dataclass(frozen=True)
class BurnRule:
    severity: str
    long_window: timedelta
    short_window: timedelta
    threshold: Decimal


WORKBOOK_RULES = (
    BurnRule("page", timedelta(hours=1), timedelta(minutes=5), Decimal("14.4")),
    BurnRule("page", timedelta(hours=6), timedelta(minutes=30), Decimal("6")),
    BurnRule("ticket", timedelta(days=3), timedelta(hours=6), Decimal("1")),
)


Minutes = Mapping[int, tuple[int, int]]
"""UTC minute (unix seconds // 60) → (good, total)."""


def burn_rate(minutes: Minutes, now_minute: int, window: timedelta, objective: Decimal) -> Decimal:
    """The window's error rate over the error budget's; 0 with no events."""
    first = now_minute - int(window.total_seconds() // 60)
    good = total = 0
    for minute, (g, t) in minutes.items():
        if first < minute <= now_minute:
            good += g
            total += t
    if total == 0:
        return Decimal(0)
    return (Decimal(total - good) / Decimal(total) / (1 - objective)).quantize(Decimal("0.0001"))


def evaluate(
    slo: Slo, minutes: Minutes, now: datetime, rules: Sequence[BurnRule] = WORKBOOK_RULES
) -> pb.SloStatus:
    """Budget and burn-rate alerts of one SLO at `now`, from its per-minute counts."""
    now_minute = int(now.timestamp()) // 60
    first = now_minute - int(slo.window.total_seconds() // 60)
    good = sum(g for m, (g, _) in minutes.items() if first < m <= now_minute)
    total = sum(t for m, (_, t) in minutes.items() if first < m <= now_minute)
    allowed = Decimal(total) * (1 - slo.objective)
    remaining = Decimal(1) if total == 0 else (1 - Decimal(total - good) / allowed) if allowed else Decimal(0)
    status = pb.SloStatus(
        name=slo.name, service=slo.service, kind=slo.kind, objective=str(slo.objective),
        latency_threshold_ms=slo.latency_threshold_ms, window_days=slo.window.days, good=good, total=total,
        error_budget_remaining=str(remaining.quantize(Decimal("0.0001"))), evaluated_at=to_timestamp(now),
    )  # fmt: skip
    for rule in rules:
        long_rate = burn_rate(minutes, now_minute, rule.long_window, slo.objective)
        short_rate = burn_rate(minutes, now_minute, rule.short_window, slo.objective)
        status.alerts.append(pb.BurnRateAlert(
            severity=rule.severity, long_window_seconds=int(rule.long_window.total_seconds()),
            short_window_seconds=int(rule.short_window.total_seconds()), threshold=str(rule.threshold),
            long_burn_rate=str(long_rate), short_burn_rate=str(short_rate),
            firing=long_rate > rule.threshold and short_rate > rule.threshold,
        ))  # fmt: skip
    return status


def _key(status: pb.SloStatus, alert: pb.BurnRateAlert) -> tuple[str, str, int]:
    return status.name, alert.severity, alert.long_window_seconds


def _firing(statuses: Sequence[pb.SloStatus]) -> set[tuple[str, str, int]]:
    return {_key(status, alert) for status in statuses for alert in status.alerts if alert.firing}


class SlaMonitor:
    def __init__(self, counter: SloCounter, reporter: GovernanceReporter, alerts: AlertSink) -> None:
        self.slos = counter.slos
        self._counter = counter
        self._clock = counter.clock
        self._reporter = reporter
        self._alerts = alerts
        self._minutes: dict[str, dict[int, tuple[int, int]]] = {slo.name: {} for slo in self.slos}
        self._firing: set[tuple[str, str, int]] = set()
        self._restored: tuple[Fence | None] | None = None
        """The hold `_firing` was last read from the stored evaluation under."""
        self._recorded_hour: int | None = None
        self._evaluating = asyncio.Lock()

    def record_sweep(self, fleet: pb.FleetHealth) -> None:
        serving = sum(1 for bot in fleet.bots if bot.status == pb.BOT_STATUS_SERVING)
        for slo in self._counter.of_service(FLEET):
            self._counter.count(slo, serving, len(fleet.bots))

    def _read(self, now: datetime) -> None:
        """Forget minutes older than every window; read each SLO's window (every process's counts)."""
        now_minute = to_micros(now) // 60_000_000
        oldest = now_minute - max(int(slo.window.total_seconds() // 60) for slo in self.slos)
        with self._counter.engine.begin() as conn:
            conn.execute(slo_minutes.delete().where(slo_minutes.c.minute <= oldest))
            for slo in self.slos:
                first = now_minute - int(slo.window.total_seconds() // 60)
                found = conn.execute(select(slo_minutes.c.minute, slo_minutes.c.good, slo_minutes.c.total).where(
                    slo_minutes.c.slo == slo.name, slo_minutes.c.minute > first)).all()  # fmt: skip
                self._minutes[slo.name] = {r.minute: (r.good, r.total) for r in found}

    async def evaluate(self) -> list[pb.SloStatus]:
        """Every SLO now; alerts on every rule that starts or stops firing; SEVEN_YEARS records."""
        async with self._evaluating:
            return await self._evaluate()

    async def _evaluate(self) -> list[pb.SloStatus]:
        now, fence = self._clock.now(), current_fence()
        if self._restored != (fence,):  # a new hold: what fires is what the last evaluation stored
            stored = await asyncio.to_thread(read_result, self._counter.engine, SLO_STATUSES, pb.ListSlosResponse)
            self._firing = _firing(stored.slos) if stored else set()
            self._restored = (fence,)
        await self._counter.flush()  # this process's own counts; the others add theirs as often
        await asyncio.to_thread(self._read, now)
        statuses = [evaluate(slo, self._minutes[slo.name], now) for slo in self.slos]
        firing = _firing(statuses)
        changes = [(status, alert) for status in statuses for alert in status.alerts
                   if (_key(status, alert) in firing) != (_key(status, alert) in self._firing)]  # fmt: skip
        # stored first (what every process answers ListSlos with): a failed store alerts nothing yet
        await asyncio.to_thread(save_result, self._counter.engine, SLO_STATUSES, pb.ListSlosResponse(slos=statuses), fence)
        self._firing = firing
        for status, alert in changes:
            await self._alert(status, alert)
        hour = int(now.timestamp()) // 3600
        if changes or hour != self._recorded_hour:
            self._recorded_hour = hour
            await self._record(statuses, now)
        return statuses

    async def _alert(self, status: pb.SloStatus, alert: pb.BurnRateAlert) -> None:
        what = "burning" if alert.firing else "no longer burning"
        explanation = (f"SLO {status.name} ({status.service}, objective {status.objective}) is {what} its error budget "
                       f"faster than {alert.threshold}x: {alert.long_burn_rate}x over {alert.long_window_seconds}s and "
                       f"{alert.short_burn_rate}x over {alert.short_window_seconds}s; "
                       f"{status.error_budget_remaining} of the budget left")  # fmt: skip
        severity = rpb.SEVERITY_PAGE if alert.severity == "page" else rpb.SEVERITY_WARNING
        await self._alerts.send(Alert(COMPONENT, f"slo:{status.name}:{alert.severity}:{alert.long_window_seconds}s", severity, explanation,
                                      {"slo": status.name, "long_burn_rate": alert.long_burn_rate,
                                       "short_burn_rate": alert.short_burn_rate},
                                      resolved=not alert.firing))  # fmt: skip

    async def _record(self, statuses: list[pb.SloStatus], now: datetime) -> None:
        """The compliance-grade availability record (SEVEN_YEARS): hourly, and on every alert change."""
        details = [{"slo": s.name, "service": s.service, "objective": s.objective, "good": s.good, "total": s.total,
                    "error_budget_remaining": s.error_budget_remaining,
                    "firing": [f"{a.severity}:{a.long_window_seconds}s" for a in s.alerts if a.firing]}
                   for s in statuses]  # fmt: skip
        summary = "; ".join(
            f"{s.name} {s.good}/{s.total} good, budget left {s.error_budget_remaining}" for s in statuses
        )
        await self._reporter.record("slo.status", "governance", f"SLO status at {now.isoformat()}: {summary}",
                                    canonical_json(details))  # fmt: skip

    async def last(self) -> list[pb.SloStatus]:
        """Every SLO as last evaluated, by whichever process evaluated it."""
        stored = await asyncio.to_thread(read_result, self._counter.engine, SLO_STATUSES, pb.ListSlosResponse)
        return list(stored.slos) if stored else []
