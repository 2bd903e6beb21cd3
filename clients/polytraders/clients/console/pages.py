"""What each console page shows, read through the SDK like any other client: plain async
functions from a signed-in `AsyncGovernance` to the values a template lays out."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from polytraders.governance.v1 import attribution_pb2 as apb
from polytraders.governance.v1 import lifecycle_pb2 as lpb
from polytraders.governance.v1 import operations_pb2 as opb
from polytraders.sdk import AsyncGovernance
from polytraders.sdk.incidents import open_first
from polytraders.sdk.registry import latest_paper_gate

from ..cli.common import enum_name, money, when
from ..cli.operations import bot_state, severity, state
from . import charts

Page = dict[str, Any]

WINDOWS = {"1h": (timedelta(hours=1), 12), "24h": (timedelta(hours=24), 24),
           "7d": (timedelta(days=7), 7), "30d": (timedelta(days=30), 30)}  # fmt: skip
"""The P&L page's windows: how far back, in how many buckets."""


async def fleet(gov: AsyncGovernance) -> Page:
    health = await gov.fleet.health()
    layers: dict[str, list[Any]] = defaultdict(list)
    for bot in health.bots:
        layers[bot.layer].append(bot)
    return {
        "sweep": health.sweep, "swept_at": when(health.swept_at), "duration_ms": health.duration_micros // 1000,
        "counts": sorted(Counter(bot_state(b) for b in health.bots).items()), "total": len(health.bots),
        "layers": [(layer, sorted(bots, key=lambda b: b.bot_slug)) for layer, bots in sorted(layers.items())],
        "state": bot_state, "when": when,
    }  # fmt: skip


async def pnl(gov: AsyncGovernance, window: str, now: datetime) -> Page:
    span, buckets = WINDOWS[window]
    start = now - span
    edges = [start + span * i / buckets for i in range(buckets + 1)]
    total, by_bot, by_market, *series = await asyncio.gather(
        gov.pnl.get(since=start), gov.pnl.get(["bot"], since=start), gov.pnl.get(["market"], since=start),
        *(gov.pnl.get(since=a, until=b) for a, b in zip(edges, edges[1:], strict=False)),
    )  # fmt: skip
    label = "%H:%M" if span <= timedelta(days=1) else "%m-%d"
    bars = [charts.Bar(a.strftime(label), Decimal(s.total.net_pnl_micros).scaleb(-6), money(s.total.net_pnl_micros))
            for a, s in zip(edges, series, strict=False)]  # fmt: skip
    return {
        "window": window, "windows": list(WINDOWS), "since": start.strftime("%Y-%m-%d %H:%M"),
        "total": total.total, "by_bot": by_bot.rows, "by_market": by_market.rows, "money": money,
        "chart": charts.columns(bars, title=f"net P&L per {span / buckets} in pUSD"),
    }  # fmt: skip


async def slos(gov: AsyncGovernance) -> Page:
    found = await gov.slos.list()

    def budget(s: opb.SloStatus) -> str:
        return charts.meter(Decimal(s.error_budget_remaining or 0))

    def burn(alert: opb.BurnRateAlert) -> str:
        threshold = Decimal(alert.threshold or 1)
        rate = max(Decimal(alert.long_burn_rate or 0), Decimal(alert.short_burn_rate or 0))
        return charts.meter(rate, limit=max(threshold * 2, rate), threshold=threshold)

    return {"slos": found, "budget": budget, "burn": burn, "kind": lambda v: enum_name(opb.SloKind, v, "SLO_KIND_"),
            "when": when}  # fmt: skip


async def incidents(gov: AsyncGovernance) -> Page:
    found = open_first(await gov.incidents.list(limit=200))
    return {"incidents": found, "severity": severity, "state": state, "when": when,
            "open": sum(i.state == opb.INCIDENT_STATE_OPEN for i in found)}  # fmt: skip


async def incident(gov: AsyncGovernance, incident_id: str) -> Page:
    return {"incident": await gov.incidents.get(incident_id), "severity": severity, "state": state, "when": when}


def _stage(value: int) -> str:
    return enum_name(lpb.Stage, value, "STAGE_")


def paper_gate(strategy: lpb.Strategy) -> str:
    found = latest_paper_gate(strategy)
    if found is None:
        return "not evaluated"
    return f"{found.paper_gate.continuous_paper_days} days, risk-adjusted {found.paper_gate.risk_adjusted_return or '-'}"


async def registry(gov: AsyncGovernance) -> Page:
    strategies = await gov.registry.list()
    board: dict[str, list[Any]] = {_stage(value): [] for value in lpb.Stage.values() if value}
    for strategy in strategies:
        board[_stage(strategy.stage)].append(strategy)
    return {"strategies": strategies, "board": board, "stage": _stage, "gate": paper_gate, "money": money}


async def strategy(gov: AsyncGovernance, slug: str) -> Page:
    return {"strategy": await gov.registry.get(slug), "stage": _stage, "gate": paper_gate, "money": money,
            "when": when, "artefact": lambda v: enum_name(lpb.ArtefactKind, v, "ARTEFACT_KIND_")}  # fmt: skip


async def quarantine(gov: AsyncGovernance) -> Page:
    cases = await gov.attribution.quarantine(include_released=True)
    return {"cases": cases, "when": when, "kind": lambda v: enum_name(apb.DiscrepancyKind, v, "DISCREPANCY_KIND_"),
            "held": sum(not c.released_by for c in cases)}  # fmt: skip


async def backtests(gov: AsyncGovernance) -> Page:
    return {"runs": await gov.backtests.list(limit=100), "when": when, "money": money}


def now() -> datetime:
    return datetime.now(UTC)
