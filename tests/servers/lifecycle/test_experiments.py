"""ExperimentTracker over gRPC: a real underperformance raises drift and pauses; noise does not."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from polytraders.governance.v1 import lifecycle_pb2 as pb
from polytraders.sdk import (
    AlreadyExistsError,
    Governance,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
)
from polytraders.servers.mesh import MeshThread
from tests.sdk.test_publisher import archived

S = pb.Stage
START = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture
def operator(mesh: MeshThread) -> Iterator[Governance]:
    with Governance(mesh.address, token="dev-operator-token", bot_slug="ops-console") as gov:
        for slug in ("control", "variant"):
            gov.registry.register(slug, owner="alpha", version="1")
            for stage in (S.STAGE_BACKTEST, S.STAGE_PAPER, S.STAGE_SHADOW):
                gov.registry.promote(slug, stage, "ready")
        yield gov


def _experiment(experiment_id: str = "variant-vs-control", pause: bool = True) -> pb.Experiment:
    return pb.Experiment(
        experiment_id=experiment_id, control_slug="control", variant_slug="variant",
        mode=pb.EXPERIMENT_MODE_SHADOW, metric="pnl_micros_per_hour", minimum_detectable_effect="0.5",
        alpha="0.05", pause_variant_on_drift=pause,
    )  # fmt: skip


def _ts(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def _samples(effect_sd: float, count: int, seed: int) -> list[pb.MatchedSample]:
    """Hourly matched pairs; the variant's P&L differs from the control's by `effect_sd` sd on average."""
    rng = random.Random(seed)
    samples = []
    for hour in range(count):
        control = rng.gauss(0, 1_000_000)
        variant = control + rng.gauss(effect_sd * 400_000, 400_000)
        window = START + timedelta(hours=hour)
        samples.append(pb.MatchedSample(
            condition_id="0x" + "ab" * 32, window_start=_ts(window), window_end=_ts(window + timedelta(hours=1)),
            control_value=str(int(control)), variant_value=str(int(variant)),
        ))  # fmt: skip
    return samples


def test_an_underperforming_variant_raises_drift_and_is_paused(
    operator: Governance, database_url: str
) -> None:
    operator.experiments.create(_experiment())
    assert [a.ref for a in operator.registry.get("variant").artefacts] == ["variant-vs-control"]

    statuses = []
    for sample in _samples(-1.0, 200, seed=7):  # one sample per call: looked at after every one
        reply = operator.experiments.record_samples("variant-vs-control", [sample])
        statuses.append(reply.experiment.status)
        if reply.experiment.status != pb.EXPERIMENT_STATUS_RUNNING:
            break

    experiment = operator.experiments.get("variant-vs-control")
    assert experiment.status == pb.EXPERIMENT_STATUS_VARIANT_WORSE
    assert float(experiment.result.p_value) <= 0.05 and float(experiment.result.sequential_upper) < 0
    assert experiment.result.samples == len(statuses) < 200
    variant = operator.registry.get("variant")
    assert (variant.stage, variant.paused_from) == (S.STAGE_PAUSED, S.STAGE_SHADOW)
    assert variant.history[-1].pause_source == pb.PAUSE_SOURCE_EXPERIMENT_TRACKER
    assert [(d.experiment_id, d.open) for d in variant.drift_signals] == [("variant-vs-control", True)]
    verdicts = [
        r
        for r in archived(database_url, "experiment-tracker")
        if r.settlement.record_type == "experiment.variant_worse"
    ]
    assert len(verdicts) == 1 and verdicts[0].header.retention == 2
    # More samples after the verdict change the numbers, never the verdict or the registry.
    operator.experiments.record_samples("variant-vs-control", _samples(1.0, 30, seed=8)[len(statuses) :])
    assert operator.experiments.get("variant-vs-control").status == pb.EXPERIMENT_STATUS_VARIANT_WORSE
    assert len(operator.registry.get("variant").drift_signals) == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_noise_is_not_flagged_even_when_looked_at_after_every_sample(operator: Governance) -> None:
    operator.experiments.create(_experiment("null", pause=True))
    for sample in _samples(0.0, 150, seed=11):
        assert (
            operator.experiments.record_samples("null", [sample]).experiment.status
            == pb.EXPERIMENT_STATUS_RUNNING
        )
    assert operator.registry.get("variant").stage == S.STAGE_SHADOW
    assert not operator.registry.get("variant").drift_signals


def test_samples_are_recorded_once_per_market_and_window(operator: Governance) -> None:
    operator.experiments.create(_experiment(pause=False))
    batch = _samples(0.0, 5, seed=3)
    first = operator.experiments.record_samples("variant-vs-control", batch)
    again = operator.experiments.record_samples("variant-vs-control", batch[2:])
    assert (first.accepted_count, first.duplicate_count) == (5, 0)
    assert (again.accepted_count, again.duplicate_count) == (0, 3)
    assert again.experiment.result.samples == 5


def _bad_window(sample: pb.MatchedSample) -> pb.MatchedSample:
    sample.window_end.CopyFrom(sample.window_start)
    return sample


BAD = [
    ("unknown control", lambda g: g.experiments.create(pb.Experiment(**{**_fields(), "control_slug": "nope"})),
     NotFoundError, None),
    ("same control and variant", lambda g: g.experiments.create(pb.Experiment(**{**_fields(), "variant_slug": "control"})),
     InvalidArgumentError, "experiment.variant_slug"),
    ("alpha of one", lambda g: g.experiments.create(pb.Experiment(**{**_fields(), "alpha": "1"})),
     InvalidArgumentError, "experiment.alpha"),
    ("effect in pUSD, not sd", lambda g: g.experiments.create(pb.Experiment(**{**_fields(), "minimum_detectable_effect": "5000"})),
     InvalidArgumentError, "experiment.minimum_detectable_effect"),
    ("no mode", lambda g: g.experiments.create(pb.Experiment(**{**_fields(), "mode": 0})),
     InvalidArgumentError, "experiment.mode"),
    ("twice", lambda g: g.experiments.create(_experiment("existing")), AlreadyExistsError, None),
    ("samples for nobody", lambda g: g.experiments.record_samples("nope", _samples(0, 1, 1)), NotFoundError, None),
    ("window ends before it starts", lambda g: g.experiments.record_samples("existing", [_bad_window(_samples(0, 1, 1)[0])]),
     InvalidArgumentError, "samples[0].window_end"),
    ("value not a decimal", lambda g: g.experiments.record_samples("existing", [pb.MatchedSample(
        condition_id="0x1", window_start=_ts(START), window_end=_ts(START + timedelta(hours=1)), control_value="1",
        variant_value="lots")]), InvalidArgumentError, "samples[0].variant_value"),
    ("no samples", lambda g: g.experiments.record_samples("existing", []), InvalidArgumentError, "samples"),
]  # fmt: skip


def _fields() -> dict:
    return {"experiment_id": "fresh", "control_slug": "control", "variant_slug": "variant", "mode": 1,
            "metric": "pnl", "minimum_detectable_effect": "0.5", "alpha": "0.05"}  # fmt: skip


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("case", "call", "error", "field"), BAD, ids=[c[0] for c in BAD])
def test_bad_experiment_calls_name_the_problem_and_store_nothing(
    operator: Governance, case, call, error, field
) -> None:
    operator.experiments.create(_experiment("existing"))
    with pytest.raises(error) as raised:
        call(operator)
    if field:
        assert field in [v.field for v in raised.value.violations]
    assert [e.experiment_id for e in operator.experiments.list()] == ["existing"]
    assert operator.experiments.get("existing").result.samples == 0


def test_a_bot_reads_experiments_but_may_not_create_them(operator: Governance, mesh: MeshThread) -> None:
    operator.experiments.create(_experiment())
    with Governance(mesh.address, token="dev-bot-token", bot_slug="demo-bot") as bot:
        assert bot.experiments.get("variant-vs-control").status == pb.EXPERIMENT_STATUS_RUNNING
        with pytest.raises(PermissionDeniedError):
            bot.experiments.create(_experiment("mine"))
