"""ExperimentTracker: shadow and limited-live A/B experiments that tell underperformance from noise.

Samples are matched pairs (control and variant on the same market over the same window),
recorded once per market and window. After every new sample the always-valid sequential test
(mSPRT, see `experiment_stats`) is updated, so looking at the result after each sample is
sound. The first time the variant underperforms with confidence the experiment records the
verdict, raises a drift signal on the variant in the StrategyRegistry (which blocks its
promotion to GENERAL_LIVE) and, when configured, pauses the variant there.
"""

from __future__ import annotations

import asyncio
import builtins
import math
import re
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation

from google.protobuf.timestamp_pb2 import Timestamp

from polytraders.governance.v1 import lifecycle_pb2 as pb
from polytraders.sdk.clock import Clock
from polytraders.servers.runtime.auth import Principal
from polytraders.servers.runtime.errors import FailedPrecondition, FieldViolation, InvalidArgument, NotFound
from polytraders.servers.runtime.request_limits import AMOUNT

from . import experiment_stats as stats
from .registry import StrategyRegistry, timestamp_of
from .store import ExperimentStore, SampleRow

EXPERIMENT_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,127}")
Emit = Callable[[pb.Experiment, str, str, Principal], Awaitable[None]]


def _decimal(text: str) -> Decimal | None:
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _text(value: float) -> str:
    return "" if math.isinf(value) or math.isnan(value) else f"{value:.6f}"


def _micros(timestamp: Timestamp) -> int:
    return timestamp.seconds * 1_000_000 + timestamp.nanos // 1000


class ExperimentTracker:
    def __init__(self, store: ExperimentStore, registry: StrategyRegistry, clock: Clock, emit: Emit) -> None:
        self._store = store
        self._registry = registry
        self._clock = clock
        self._emit = emit
        self._lock = asyncio.Lock()

    async def get(self, experiment_id: str) -> pb.Experiment:
        experiment = await asyncio.to_thread(self._store.get, experiment_id)
        if experiment is None:
            raise NotFound(f"no experiment {experiment_id!r}")
        return experiment

    async def list(self) -> list[pb.Experiment]:
        return await asyncio.to_thread(self._store.list)

    async def create(self, proposed: pb.Experiment, actor: Principal) -> pb.Experiment:
        self._validate(proposed)
        for field in ("control_slug", "variant_slug"):
            await self._registry.get(getattr(proposed, field))  # NotFound names an unregistered strategy
        experiment = pb.Experiment()
        experiment.CopyFrom(proposed)
        experiment.status = pb.EXPERIMENT_STATUS_RUNNING
        experiment.created_by = actor.name
        experiment.created_at.CopyFrom(timestamp_of(self._clock.now()))
        experiment.ClearField("result")
        experiment.ClearField("decided_at")
        await asyncio.to_thread(self._store.create, experiment)
        await self._registry.link_artefact(
            experiment.variant_slug,
            pb.Artefact(kind=pb.ARTEFACT_KIND_EXPERIMENT, ref=experiment.experiment_id),
            actor,
        )
        await self._emit(experiment, "create", f"{actor.name} started {experiment.experiment_id}: "
                         f"{experiment.variant_slug} against {experiment.control_slug} on {experiment.metric}", actor)  # fmt: skip
        return experiment

    async def record(
        self, experiment_id: str, samples: builtins.list[pb.MatchedSample], actor: Principal
    ) -> tuple[pb.Experiment, int, int]:
        rows = self._sample_rows(samples)
        async with self._lock:
            experiment = await self.get(experiment_id)
            accepted = await asyncio.to_thread(self._store.add_samples, experiment_id, rows)
            pairs = await asyncio.to_thread(self._store.pairs, experiment_id)
            verdict = self._evaluate(experiment, pairs)
            if verdict:  # act before the verdict is saved: if acting fails, the next samples retry it
                await self._act_on(experiment, verdict, actor)
            await asyncio.to_thread(self._store.save, experiment)
        return experiment, accepted, len(samples) - accepted

    # -- machinery --------------------------------------------------------------------------------

    @staticmethod
    def _validate(experiment: pb.Experiment) -> None:
        problems: list[FieldViolation] = []

        def bad(field: str, description: str) -> None:
            problems.append(FieldViolation(f"experiment.{field}", description))

        if not EXPERIMENT_ID.fullmatch(experiment.experiment_id):
            bad("experiment_id", "must be 1-128 of a-z, 0-9, '.', '_', '-'")
        if not experiment.control_slug:
            bad("control_slug", "is required")
        if not experiment.variant_slug or experiment.variant_slug == experiment.control_slug:
            bad("variant_slug", "is required and must differ from control_slug")
        if experiment.mode not in (pb.EXPERIMENT_MODE_SHADOW, pb.EXPERIMENT_MODE_LIMITED_LIVE):
            bad("mode", "must be shadow or limited-live")
        if not experiment.metric:
            bad("metric", "is required")
        mde = _decimal(experiment.minimum_detectable_effect)
        if mde is None or not 0 < mde <= 10:
            bad(
                "minimum_detectable_effect",
                "must be a decimal in (0, 10]: standard deviations of the difference",
            )
        alpha = _decimal(experiment.alpha)
        if alpha is None or not 0 < alpha < 1:
            bad("alpha", "must be a decimal strictly between 0 and 1")
        if problems:
            raise InvalidArgument(problems)

    @staticmethod
    def _sample_rows(samples: builtins.list[pb.MatchedSample]) -> builtins.list[SampleRow]:
        problems: list[FieldViolation] = []
        rows: list[SampleRow] = []
        for i, sample in enumerate(samples):
            where = f"samples[{i}]"
            control, variant = _decimal(sample.control_value), _decimal(sample.variant_value)
            start, end = _micros(sample.window_start), _micros(sample.window_end)
            if not sample.condition_id:
                problems.append(FieldViolation(f"{where}.condition_id", "is required"))
            if not sample.HasField("window_start") or end <= start:
                problems.append(FieldViolation(f"{where}.window_end", "must be after window_start"))
            for name, value in (("control_value", control), ("variant_value", variant)):
                problem = "must be a decimal string" if value is None else AMOUNT.problem(getattr(sample, name))
                if problem:
                    problems.append(FieldViolation(f"{where}.{name}", problem))
            rows.append({"condition_id": sample.condition_id, "window_start_us": start, "window_end_us": end,
                         "control_value": sample.control_value, "variant_value": sample.variant_value})  # fmt: skip
        if not samples:
            problems.append(FieldViolation("samples", "at least one sample is required"))
        if problems:
            raise InvalidArgument(problems)
        return rows

    def _evaluate(self, experiment: pb.Experiment, pairs: builtins.list[tuple[str, str]]) -> str:
        """Update the result after every sample; return a verdict reached just now, else ''."""
        differences = stats.paired_differences((Decimal(c), Decimal(v)) for c, v in pairs)
        alpha = float(experiment.alpha)
        monitor = stats.SequentialMonitor(alpha, float(experiment.minimum_detectable_effect))
        first_verdict, result = stats.INCONCLUSIVE, None
        for difference in differences:
            result = monitor.add(difference)
            if first_verdict == stats.INCONCLUSIVE:
                first_verdict = result.verdict
        experiment.result.samples = len(differences)
        if result is not None:
            experiment.result.mean_difference = _text(result.mean)
            experiment.result.sequential_lower = _text(result.lower)
            experiment.result.sequential_upper = _text(result.upper)
            experiment.result.p_value = _text(result.p_value)
        if len(differences) >= 2:
            fixed = stats.fixed_sample_interval(differences, alpha)
            experiment.result.fixed_lower, experiment.result.fixed_upper = (
                _text(fixed.lower),
                _text(fixed.upper),
            )
        if experiment.status != pb.EXPERIMENT_STATUS_RUNNING or first_verdict == stats.INCONCLUSIVE:
            return ""
        experiment.status = (
            pb.EXPERIMENT_STATUS_VARIANT_WORSE
            if first_verdict == stats.VARIANT_WORSE
            else pb.EXPERIMENT_STATUS_VARIANT_BETTER
        )
        experiment.decided_at.CopyFrom(timestamp_of(self._clock.now()))
        return first_verdict

    async def _act_on(self, experiment: pb.Experiment, verdict: str, actor: Principal) -> None:
        r = experiment.result
        summary = (f"after {r.samples} matched pairs the mean {experiment.metric} difference is {r.mean_difference} "
                   f"(always-valid {1 - float(experiment.alpha):.0%} bounds {r.sequential_lower or '-inf'} .. "
                   f"{r.sequential_upper or 'inf'}, p = {r.p_value})")  # fmt: skip
        if verdict == stats.VARIANT_WORSE:
            explanation = f"{experiment.variant_slug} underperforms {experiment.control_slug}: {summary}"
            await self._registry.record_drift(
                experiment.variant_slug,
                pb.DriftSignal(experiment_id=experiment.experiment_id, explanation=explanation, open=True),
                actor,
            )
            if experiment.pause_variant_on_drift:
                try:
                    await self._registry.pause(
                        experiment.variant_slug, pb.PAUSE_SOURCE_EXPERIMENT_TRACKER, explanation, actor
                    )
                except FailedPrecondition:
                    pass  # already paused or retired: nothing left to stop
        else:
            explanation = f"{experiment.variant_slug} outperforms {experiment.control_slug}: {summary}"
        await self._emit(experiment, verdict, explanation, actor)
