"""StrategyRegistry: which strategy is at which stage, under whose authority, with what evidence.

The lifecycle is an explicit state machine (`NEXT_STAGES`). Two promotions are gated:
into LIMITED_LIVE needs a passing paper gate artefact (continuous paper days and, when
required, a positive risk-adjusted return); into GENERAL_LIVE needs a minimum time in
LIMITED_LIVE and no open drift signal. Any operator may pause (safety first); promoting,
resuming and retiring need the strategy's authority (any operator when it names nobody).
Every change is one revision, reported on the bus as an OperationsReport and as a
SEVEN_YEARS SettlementReport of the authority decision.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from google.protobuf.timestamp_pb2 import Timestamp

from polytraders.governance.v1 import lifecycle_pb2 as pb
from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk.clock import Clock, from_micros, to_micros
from polytraders.servers.runtime.archive import ReportFilter
from polytraders.servers.runtime.auth import Principal
from polytraders.servers.runtime.bus import ReportBus
from polytraders.servers.runtime.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)

from .store import StrategyStore

log = logging.getLogger(__name__)

S = pb.Stage
NEXT_STAGES: dict[pb.Stage.ValueType, frozenset[pb.Stage.ValueType]] = {
    S.STAGE_SPEC: frozenset({S.STAGE_BACKTEST, S.STAGE_RETIRED}),
    S.STAGE_BACKTEST: frozenset({S.STAGE_PAPER, S.STAGE_SPEC, S.STAGE_RETIRED}),
    S.STAGE_PAPER: frozenset({S.STAGE_SHADOW, S.STAGE_BACKTEST, S.STAGE_RETIRED}),
    S.STAGE_SHADOW: frozenset({S.STAGE_LIMITED_LIVE, S.STAGE_PAPER, S.STAGE_RETIRED}),
    S.STAGE_LIMITED_LIVE: frozenset({S.STAGE_GENERAL_LIVE, S.STAGE_SHADOW, S.STAGE_RETIRED}),
    S.STAGE_GENERAL_LIVE: frozenset({S.STAGE_LIMITED_LIVE, S.STAGE_RETIRED}),
    S.STAGE_PAUSED: frozenset({S.STAGE_RETIRED}),  # and ResumeStrategy, back to where it paused
    S.STAGE_RETIRED: frozenset(),
}
PAUSABLE = frozenset(NEXT_STAGES) - {S.STAGE_PAUSED, S.STAGE_RETIRED}
LIVE_STAGES = frozenset({S.STAGE_LIMITED_LIVE, S.STAGE_GENERAL_LIVE})
SLUG = re.compile(r"[a-z0-9][a-z0-9._-]{0,127}")


def stage_name(stage: pb.Stage.ValueType) -> str:
    return pb.Stage.Name(stage).removeprefix("STAGE_") if stage in pb.Stage.values() else str(stage)


@dataclass(frozen=True)
class GateRules:
    min_paper_days: int = 14
    """Continuous paper-trading days a paper gate must show before LIMITED_LIVE."""
    require_positive_risk_adj: bool = True
    """Whether that gate must also show a positive risk-adjusted return."""
    min_limited_live: timedelta = timedelta(days=7)
    """Time in LIMITED_LIVE before GENERAL_LIVE."""


@dataclass(frozen=True)
class CapCheck:
    allowed: bool
    stage: pb.Stage.ValueType
    max_notional_micros: int
    max_position_micros: int
    resulting_position_micros: int
    explanation: str


Emit = Callable[[pb.Strategy, str, str, Principal], Awaitable[None]]


def timestamp_of(moment: datetime) -> Timestamp:
    seconds, micros = divmod(to_micros(moment), 1_000_000)
    return Timestamp(seconds=seconds, nanos=micros * 1000)


def paper_gate_passes(strategy: pb.Strategy, rules: GateRules) -> tuple[bool, str]:
    gates = [a.paper_gate for a in strategy.artefacts if a.kind == pb.ARTEFACT_KIND_PAPER_GATE]
    if not gates:
        return False, "no paper gate artefact is linked"
    gate = gates[-1]  # the latest evidence counts
    if gate.continuous_paper_days < rules.min_paper_days:
        return (
            False,
            f"the paper gate shows {gate.continuous_paper_days} continuous days, {rules.min_paper_days} needed",
        )
    if rules.require_positive_risk_adj and not Decimal(gate.risk_adjusted_return or "0") > 0:
        return (
            False,
            f"the paper gate's risk-adjusted return {gate.risk_adjusted_return or '0'} is not positive",
        )
    return (
        True,
        f"paper gate: {gate.continuous_paper_days} days, risk-adjusted return {gate.risk_adjusted_return}",
    )


REPORTER = "strategy-registry"
"""The bot_slug of the registry's reports: the records of its changes."""


class StrategyRegistry:
    def __init__(
        self, store: StrategyStore, clock: Clock, emit: Emit, rules: GateRules | None = None
    ) -> None:
        self._store = store
        self._clock = clock
        self._emit = emit
        self.rules = rules or GateRules()
        self._watchers: set[asyncio.Queue[pb.Strategy]] = set()
        self._lock = asyncio.Lock()  # one change at a time per process; the revision guards the rest
        # Reads (stage, live-cap checks) are the bots' hot path: served from memory, written
        # through; a change made through another process reaches it by the bus (follow_changes).
        self._cache: dict[str, pb.Strategy] | None = None
        self._loading = asyncio.Lock()

    # -- reads ------------------------------------------------------------------------------------

    async def _strategies(self) -> dict[str, pb.Strategy]:
        if self._cache is None:
            async with self._loading:  # one load, so a late load never overwrites a newer change
                if self._cache is None:
                    self._cache = {s.slug: s for s in await asyncio.to_thread(self._store.list)}
        return self._cache

    async def get(self, slug: str) -> pb.Strategy:
        """The stored strategy; treat it as read-only (changes go through the methods below)."""
        strategy = (await self._strategies()).get(slug)
        if strategy is None:
            raise NotFound(f"no strategy {slug!r}")
        return strategy

    async def list(self, stages: frozenset[pb.Stage.ValueType] = frozenset()) -> builtins.list[pb.Strategy]:
        strategies = await self._strategies()
        return [
            strategies[slug] for slug in sorted(strategies) if not stages or strategies[slug].stage in stages
        ]

    async def check_live_cap(
        self, slug: str, order_notional_micros: int, position_micros: int, position_change_micros: int
    ) -> CapCheck:
        """A pure read: answers with the numbers and blocks nothing."""
        if order_notional_micros < 0:
            raise InvalidArgument.field("order_notional_micros", "must not be negative")
        strategy = await self.get(slug)
        resulting = position_micros + position_change_micros
        caps = {c.stage: c for c in strategy.live_caps}
        cap = caps.get(strategy.stage)
        stage = stage_name(strategy.stage)
        if strategy.stage not in LIVE_STAGES:
            return CapCheck(False, strategy.stage, 0, 0, resulting, f"stage {stage} places no live orders")
        if cap is None:
            return CapCheck(False, strategy.stage, 0, 0, resulting, f"no live cap is set for stage {stage}")
        problems = []
        if order_notional_micros > cap.max_notional_micros:
            problems.append(f"order notional {order_notional_micros} exceeds {cap.max_notional_micros}")
        if abs(resulting) > cap.max_position_micros:
            problems.append(f"resulting position {resulting} exceeds {cap.max_position_micros}")
        explanation = "; ".join(problems) or f"within the {stage} caps"
        return CapCheck(not problems, strategy.stage, cap.max_notional_micros, cap.max_position_micros, resulting,
                        explanation)  # fmt: skip

    async def watch(self, slugs: frozenset[str]) -> AsyncIterator[pb.Strategy]:
        """The current state of each strategy asked for, then every change."""
        queue: asyncio.Queue[pb.Strategy] = asyncio.Queue()
        self._watchers.add(queue)
        try:
            for strategy in await self.list():
                if not slugs or strategy.slug in slugs:
                    yield strategy
            while True:
                strategy = await queue.get()
                if not slugs or strategy.slug in slugs:
                    yield strategy
        finally:
            self._watchers.discard(queue)

    # -- changes ----------------------------------------------------------------------------------

    async def register(
        self,
        slug: str,
        owner: str,
        version: str,
        authority: builtins.list[str],
        reason: str,
        actor: Principal,
    ) -> pb.Strategy:
        problems = []
        if not SLUG.fullmatch(slug):
            problems.append(
                ("slug", "must be 1-128 of a-z, 0-9, '.', '_', '-', starting with a letter or digit")
            )
        if not owner:
            problems.append(("owner", "is required"))
        if not version:
            problems.append(("version", "is required"))
        if problems:
            raise InvalidArgument(FieldViolation(f, d) for f, d in problems)
        now = self._clock.now()
        strategy = pb.Strategy(
            slug=slug, owner=owner, version=version, stage=S.STAGE_SPEC, stage_entered_at=timestamp_of(now),
            authority=authority, revision=1,
            history=[pb.StageChange(to_stage=S.STAGE_SPEC, actor=actor.name, reason=reason, at=timestamp_of(now))],
        )  # fmt: skip
        async with self._lock:
            await asyncio.to_thread(self._store.create, strategy)
            (await self._strategies())[slug] = strategy
        await self._changed(
            strategy, "register", f"{actor.name} registered {slug} v{version} at SPEC: {reason}", actor
        )
        return strategy

    async def promote(
        self,
        slug: str,
        to_stage: pb.Stage.ValueType,
        reason: str,
        actor: Principal,
        stage_metadata: dict[str, str] | None = None,
    ) -> pb.Strategy:
        def change(strategy: pb.Strategy, now: datetime) -> str:
            self._require_authority(strategy, actor)
            allowed = NEXT_STAGES.get(strategy.stage, frozenset())
            if to_stage not in allowed:
                names = ", ".join(sorted(stage_name(s) for s in allowed)) or "none"
                hint = " (use ResumeStrategy)" if strategy.stage == S.STAGE_PAUSED else ""
                raise FailedPrecondition(
                    f"{slug} cannot go from {stage_name(strategy.stage)} to {stage_name(to_stage)}; "
                    f"allowed: {names}{hint}"
                )
            evidence = self._gate(strategy, to_stage, now)
            self._enter(strategy, to_stage, now, actor, reason)
            strategy.stage_metadata.clear()
            strategy.stage_metadata.update(stage_metadata or {})
            return (f"{actor.name} moved {slug} from {stage_name(strategy.history[-1].from_stage)} to "
                    f"{stage_name(to_stage)}: {reason}{evidence}")  # fmt: skip

        return await self._apply(slug, "promote", change, actor)

    async def pause(
        self, slug: str, source: pb.PauseSource.ValueType, reason: str, actor: Principal
    ) -> pb.Strategy:
        if source == pb.PAUSE_SOURCE_UNSPECIFIED or source not in pb.PauseSource.values():
            raise InvalidArgument.field("source", "must name who pauses (operator, portfolio sync, ...)")

        def change(strategy: pb.Strategy, now: datetime) -> str:
            if strategy.stage not in PAUSABLE:
                raise FailedPrecondition(
                    f"{slug} is {stage_name(strategy.stage)}; only an active strategy pauses"
                )
            paused_from = strategy.stage
            self._enter(strategy, S.STAGE_PAUSED, now, actor, reason, source)
            strategy.paused_from = paused_from
            who = pb.PauseSource.Name(source).removeprefix("PAUSE_SOURCE_").lower()
            return f"{actor.name} ({who}) paused {slug} at {stage_name(paused_from)}: {reason}"

        return await self._apply(slug, "pause", change, actor)

    async def resume(self, slug: str, reason: str, actor: Principal) -> pb.Strategy:
        def change(strategy: pb.Strategy, now: datetime) -> str:
            self._require_authority(strategy, actor)
            if strategy.stage != S.STAGE_PAUSED:
                raise FailedPrecondition(f"{slug} is {stage_name(strategy.stage)}, not PAUSED")
            back_to = strategy.paused_from
            self._enter(strategy, back_to, now, actor, reason)
            strategy.paused_from = S.STAGE_UNSPECIFIED
            return f"{actor.name} resumed {slug} to {stage_name(back_to)}: {reason}"

        return await self._apply(slug, "resume", change, actor)

    async def link_artefact(self, slug: str, artefact: pb.Artefact, actor: Principal) -> pb.Strategy:
        if artefact.kind not in pb.ArtefactKind.values() or artefact.kind == pb.ARTEFACT_KIND_UNSPECIFIED:
            raise InvalidArgument.field("artefact.kind", "is required")
        if not artefact.ref:
            raise InvalidArgument.field(
                "artefact.ref", "is required: the artefact's id in the group that owns it"
            )
        if artefact.kind == pb.ARTEFACT_KIND_PAPER_GATE:
            try:
                finite = Decimal(artefact.paper_gate.risk_adjusted_return or "0").is_finite()
            except InvalidOperation:
                finite = False
            if not finite:
                raise InvalidArgument.field(
                    "artefact.paper_gate.risk_adjusted_return", "must be a finite decimal string"
                )

        def change(strategy: pb.Strategy, now: datetime) -> str:
            linked = strategy.artefacts.add()
            linked.CopyFrom(artefact)
            linked.linked_at.CopyFrom(timestamp_of(now))
            linked.linked_by = actor.name
            kind = pb.ArtefactKind.Name(artefact.kind).removeprefix("ARTEFACT_KIND_").lower()
            return f"{actor.name} linked {kind} {artefact.ref} to {slug}"

        return await self._apply(slug, "link_artefact", change, actor)

    async def set_live_cap(self, slug: str, cap: pb.LiveCap, reason: str, actor: Principal) -> pb.Strategy:
        if cap.stage not in LIVE_STAGES:
            raise InvalidArgument.field("live_cap.stage", "live caps apply to LIMITED_LIVE or GENERAL_LIVE")
        for field in ("max_notional_micros", "max_position_micros"):
            if getattr(cap, field) < 0:
                raise InvalidArgument.field(f"live_cap.{field}", "must not be negative")

        def change(strategy: pb.Strategy, now: datetime) -> str:
            self._require_authority(strategy, actor)
            kept = [c for c in strategy.live_caps if c.stage != cap.stage]
            del strategy.live_caps[:]
            strategy.live_caps.extend([*kept, cap])
            return (f"{actor.name} set {slug}'s {stage_name(cap.stage)} caps to notional {cap.max_notional_micros}, "
                    f"position {cap.max_position_micros} (micro-units): {reason}")  # fmt: skip

        return await self._apply(slug, "set_live_cap", change, actor)

    async def record_drift(self, slug: str, signal: pb.DriftSignal, actor: Principal) -> pb.Strategy:
        if not signal.experiment_id:
            raise InvalidArgument.field("signal.experiment_id", "is required")

        def change(strategy: pb.Strategy, now: datetime) -> str:
            if signal.open:
                if any(d.experiment_id == signal.experiment_id and d.open for d in strategy.drift_signals):
                    return f"drift signal from experiment {signal.experiment_id} on {slug} is already open"
                recorded = strategy.drift_signals.add()
                recorded.CopyFrom(signal)
                recorded.raised_at.CopyFrom(timestamp_of(now))
                return f"drift signal from experiment {signal.experiment_id} on {slug}: {signal.explanation}"
            for existing in strategy.drift_signals:
                if existing.experiment_id == signal.experiment_id:
                    existing.open = False
            return f"{actor.name} closed the drift signals of experiment {signal.experiment_id} on {slug}"

        return await self._apply(slug, "drift", change, actor)

    # -- machinery --------------------------------------------------------------------------------

    def _gate(self, strategy: pb.Strategy, to_stage: pb.Stage.ValueType, now: datetime) -> str:
        if to_stage == S.STAGE_LIMITED_LIVE:
            passed, why = paper_gate_passes(strategy, self.rules)
            if not passed:
                raise FailedPrecondition(f"{strategy.slug} cannot enter LIMITED_LIVE: {why}")
            return f" ({why})"
        if to_stage == S.STAGE_GENERAL_LIVE:
            entered = from_micros(
                strategy.stage_entered_at.seconds * 1_000_000 + strategy.stage_entered_at.nanos // 1000
            )
            if now - entered < self.rules.min_limited_live:
                raise FailedPrecondition(
                    f"{strategy.slug} has been LIMITED_LIVE for {now - entered}; {self.rules.min_limited_live} needed"
                )
            open_signals = [d.experiment_id for d in strategy.drift_signals if d.open]
            if open_signals:
                raise FailedPrecondition(
                    f"{strategy.slug} has open drift signals from {', '.join(open_signals)}"
                )
            return f" (LIMITED_LIVE for {now - entered}, no open drift signal)"
        return ""

    @staticmethod
    def _require_authority(strategy: pb.Strategy, actor: Principal) -> None:
        if strategy.authority and actor.name not in strategy.authority:
            raise PermissionDenied(
                f"{actor.name} is not in {strategy.slug}'s authority ({', '.join(strategy.authority)})"
            )

    @staticmethod
    def _enter(
        strategy: pb.Strategy,
        stage: pb.Stage.ValueType,
        now: datetime,
        actor: Principal,
        reason: str,
        source: pb.PauseSource.ValueType = pb.PAUSE_SOURCE_UNSPECIFIED,
    ) -> None:
        strategy.history.add(from_stage=strategy.stage, to_stage=stage, actor=actor.name, reason=reason,
                             at=timestamp_of(now), pause_source=source)  # fmt: skip
        strategy.stage = stage
        strategy.stage_entered_at.CopyFrom(timestamp_of(now))

    async def _apply(
        self, slug: str, action: str, change: Callable[[pb.Strategy, datetime], str], actor: Principal
    ) -> pb.Strategy:
        async with self._lock:
            for attempt in (1, 2):
                strategy = pb.Strategy()
                strategy.CopyFrom(await self.get(slug))  # the cached one changes only once stored
                explanation = change(strategy, self._clock.now())
                strategy.revision += 1
                try:
                    await asyncio.to_thread(self._store.replace, strategy)
                    break
                except FailedPrecondition:
                    # changed through another process, whose record has not reached this one yet:
                    # the change is judged again against what is stored
                    if attempt == 2 or not await self._reload(slug):
                        raise
            (await self._strategies())[slug] = strategy
        await self._changed(strategy, action, explanation, actor)
        return strategy

    async def _reload(self, slug: str) -> pb.Strategy | None:
        """The stored strategy into memory (and to this process's watchers) if newer than the cached."""
        stored = await asyncio.to_thread(self._store.get, slug)
        strategies = await self._strategies()
        cached = strategies.get(slug)
        if stored is None or (cached is not None and cached.revision >= stored.revision):
            return None
        strategies[slug] = stored
        for queue in self._watchers:
            queue.put_nowait(stored)
        return stored

    async def follow_changes(self, bus: ReportBus) -> None:
        """Changes made through other processes, live: each one's record reloads its strategy here,
        so reads reflect it as soon as the bus brings it (this process's own are in memory already)."""
        changes = ReportFilter(kinds=frozenset({rpb.REPORT_KIND_SETTLEMENT}), bot_slugs=frozenset({REPORTER}))
        async with aclosing(bus.subscribe(changes, live_only=True)) as records:
            async for archived in records:
                record = rpb.Report.FromString(archived.payload).settlement
                if not record.record_type.startswith("registry.") or self._cache is None:
                    continue  # nothing read yet: the first read loads what is stored
                try:
                    cached = self._cache.get(record.subject)
                    if cached is None or cached.revision < int(record.metrics.get("revision", "0")):
                        async with self._lock:
                            await self._reload(record.subject)
                except Exception:  # noqa: BLE001 - the next read loads everything afresh instead
                    log.warning("reloading %s after a change elsewhere failed", record.subject, exc_info=True)
                    self._cache = None

    async def _changed(self, strategy: pb.Strategy, action: str, explanation: str, actor: Principal) -> None:
        """Tell watchers, then report. The change is stored already: a failed report is logged, not undone."""
        for queue in self._watchers:
            queue.put_nowait(strategy)
        try:
            await self._emit(strategy, action, explanation, actor)
        except Exception:
            log.exception(
                "registry change stored but not reported (revision %s): %s", strategy.revision, explanation
            )
