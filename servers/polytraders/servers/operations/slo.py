"""SLAMonitor: service-level objectives, error budgets and multiwindow, multi-burn-rate alerts.

Events are counted per SLO and per UTC minute: the mesh's own unary calls (a server fault is
bad; a caller's mistake is not) and HealthHeartbeat sweeps (one event per bot per sweep, good
when SERVING). Counts are flushed to a table on every evaluation, so a restart keeps history.

Burn rate = (bad / total over a window) / (1 − objective). The alert rules are the Google SRE
workbook's recommended ones for a 30-day objective ("Alerting on SLOs", multiwindow,
multi-burn-rate): page when both the 1 h and 5 min windows burn faster than 14.4, or both the
6 h and 30 min windows faster than 6; open a ticket when both the 3 d and 6 h windows burn
faster than 1. An alert fires on the long window and clears as soon as the short one recovers.
"""

from __future__ import annotations

import asyncio
import tomllib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import grpc
from sqlalchemy import BigInteger, Engine, Integer, String, select
from sqlmodel import Field, SQLModel

from polytraders.governance.v1 import operations_pb2 as pb
from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk.clock import Clock, to_micros, to_timestamp
from polytraders.sdk.config import canonical_json
from polytraders.servers.runtime.alerts import Alert, AlertSink
from polytraders.servers.runtime.reporter import GovernanceReporter
from polytraders.servers.runtime.storage import insert_for

COMPONENT = "sla-monitor"
FLEET = "fleet"
SERVER_FAULTS = frozenset({grpc.StatusCode.INTERNAL, grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNKNOWN,
                           grpc.StatusCode.DATA_LOSS, grpc.StatusCode.DEADLINE_EXCEEDED})  # fmt: skip


class SloMinuteRow(SQLModel, table=True):
    __tablename__ = "slo_minutes"

    slo: str = Field(sa_type=String(128), primary_key=True)
    minute: int = Field(sa_type=BigInteger, primary_key=True)
    good: int = Field(sa_type=Integer)
    total: int = Field(sa_type=Integer)


slo_minutes = SloMinuteRow.__table__

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


@dataclass(frozen=True)
class Slo:
    name: str
    service: str
    """A full gRPC service name, or "fleet" for HealthHeartbeat sweeps."""
    kind: int
    objective: Decimal
    latency_threshold_ms: int = 0
    window: timedelta = timedelta(days=30)


def parse_slos(text: str, source: str = "SLO manifest") -> list[Slo]:
    """`[[slo]]` tables: name, service, kind (availability | latency), objective, latency_threshold_ms, window_days."""
    slos: list[Slo] = []
    for i, entry in enumerate(tomllib.loads(text).get("slo", [])):
        where = f"{source}: [[slo]] #{i}"
        try:
            kind = {"availability": pb.SLO_KIND_AVAILABILITY, "latency": pb.SLO_KIND_LATENCY}[entry["kind"]]
            slo = Slo(entry["name"], entry["service"], kind, Decimal(str(entry["objective"])),
                      int(entry.get("latency_threshold_ms", 0)), timedelta(days=int(entry.get("window_days", 30))))  # fmt: skip
        except KeyError as missing:
            raise ValueError(f"{where} has no valid {missing}") from None
        if not Decimal(0) < slo.objective < Decimal(1):
            raise ValueError(f"{where} ({slo.name}): objective must lie strictly between 0 and 1")
        if slo.kind == pb.SLO_KIND_LATENCY and slo.latency_threshold_ms <= 0:
            raise ValueError(f"{where} ({slo.name}): a latency SLO needs latency_threshold_ms > 0")
        if slo.kind == pb.SLO_KIND_LATENCY and slo.service == FLEET:
            raise ValueError(f"{where} ({slo.name}): the fleet has availability SLOs only")
        slos.append(slo)
    return slos


def load_slos(path: str | Path) -> list[Slo]:
    return parse_slos(Path(path).read_text(), str(path))


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


class SlaMonitor:
    def __init__(
        self,
        slos: Sequence[Slo],
        engine: Engine,
        clock: Clock,
        reporter: GovernanceReporter,
        alerts: AlertSink,
    ) -> None:
        self.slos = list(slos)
        self._by_service: dict[str, list[Slo]] = defaultdict(list)
        for slo in self.slos:
            self._by_service[slo.service].append(slo)
        self._engine = engine
        self._clock = clock
        self._reporter = reporter
        self._alerts = alerts
        self._pending: dict[tuple[str, int], list[int]] = {}
        self._minutes: dict[str, dict[int, tuple[int, int]]] = {slo.name: {} for slo in self.slos}
        self._firing: set[tuple[str, str, int]] = set()
        self._last: list[pb.SloStatus] = []
        self._recorded_hour: int | None = None
        self._evaluating = asyncio.Lock()

    def _count(self, slo: Slo, good: int, total: int) -> None:
        key = (slo.name, int(self._clock.now().timestamp()) // 60)
        counts = self._pending.setdefault(key, [0, 0])
        counts[0] += good
        counts[1] += total

    def record_call(self, method: str, code: grpc.StatusCode, seconds: float) -> None:
        """The interceptor's outcome hook: one unary call of `method` ("/pkg.Service/Method")."""
        slos = self._by_service.get(method.split("/")[1])
        if not slos:
            return
        fault = code in SERVER_FAULTS
        for slo in slos:
            if slo.kind == pb.SLO_KIND_AVAILABILITY:
                self._count(slo, 0 if fault else 1, 1)
            else:
                self._count(slo, 0 if fault or seconds * 1000 > slo.latency_threshold_ms else 1, 1)

    def record_sweep(self, fleet: pb.FleetHealth) -> None:
        serving = sum(1 for bot in fleet.bots if bot.status == pb.BOT_STATUS_SERVING)
        for slo in self._by_service.get(FLEET, []):
            self._count(slo, serving, len(fleet.bots))

    def _flush(self, pending: Mapping[tuple[str, int], list[int]], now: datetime) -> None:
        """Add pending counts to the table, forget minutes older than every window, read each SLO's window."""
        now_minute = to_micros(now) // 60_000_000
        oldest = now_minute - max(int(slo.window.total_seconds() // 60) for slo in self.slos)
        rows = [{"slo": name, "minute": minute, "good": good, "total": total}
                for (name, minute), (good, total) in pending.items()]  # fmt: skip
        with self._engine.begin() as conn:
            if rows:
                statement = insert_for(conn, slo_minutes)
                conn.execute(statement.on_conflict_do_update(
                    index_elements=["slo", "minute"],
                    set_={"good": slo_minutes.c.good + statement.excluded.good,
                          "total": slo_minutes.c.total + statement.excluded.total},
                ), rows)  # fmt: skip
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
        now = self._clock.now()
        pending, self._pending = self._pending, {}  # swapped on the loop, where the hooks count
        try:
            await asyncio.to_thread(self._flush, pending, now)
        except Exception:
            for key, (good, total) in pending.items():  # counted again next time, not lost
                counts = self._pending.setdefault(key, [0, 0])
                counts[0] += good
                counts[1] += total
            raise
        statuses = [evaluate(slo, self._minutes[slo.name], now) for slo in self.slos]
        changes = []
        for status in statuses:
            for alert in status.alerts:
                key = (status.name, alert.severity, alert.long_window_seconds)
                if alert.firing != (key in self._firing):
                    (self._firing.add if alert.firing else self._firing.discard)(key)
                    changes.append((status, alert))
        for status, alert in changes:
            await self._alert(status, alert)
        hour = int(now.timestamp()) // 3600
        if changes or hour != self._recorded_hour:
            self._recorded_hour = hour
            await self._record(statuses, now)
        self._last = statuses
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

    def last(self) -> list[pb.SloStatus]:
        return list(self._last)
