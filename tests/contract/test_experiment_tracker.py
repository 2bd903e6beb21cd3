"""ExperimentTrackerService contract: create, feed, read; who may; what each refusal is."""

from __future__ import annotations

import uuid

import grpc
import pytest

from polytraders.governance.v1 import lifecycle_pb2 as pb
from polytraders.governance.v1 import lifecycle_pb2_grpc as pb_grpc

from .conftest import DEADLINE, Target
from .rpc import violations
from .test_strategy_registry import _register

SERVES = ("polytraders.governance.v1.ExperimentTrackerService",)
"""The services these cases call (one process of a split mesh may serve none of them)."""


def _tracker(target: Target) -> pb_grpc.ExperimentTrackerServiceStub:
    return pb_grpc.ExperimentTrackerServiceStub(target.channel)


def _proposal(target: Target, **changes: object) -> pb.Experiment:
    fields = dict(experiment_id=f"contract-{uuid.uuid4().hex[:10]}", control_slug=_register(target),
                  variant_slug=_register(target), mode=pb.EXPERIMENT_MODE_SHADOW, metric="pnl",
                  minimum_detectable_effect="0.5", alpha="0.05")  # fmt: skip
    return pb.Experiment(**{**fields, **changes})


def test_an_experiment_is_created_fed_and_read(target: Target) -> None:
    proposal = _proposal(target)
    tracker, operator = _tracker(target), target.metadata("operator")
    tracker.CreateExperiment(
        pb.CreateExperimentRequest(experiment=proposal), metadata=operator, timeout=DEADLINE
    )
    sample = pb.MatchedSample(condition_id="0x01", control_value="10", variant_value="12")
    sample.window_start.FromSeconds(1_795_000_000)
    sample.window_end.FromSeconds(1_795_003_600)
    reply = tracker.RecordSamples(
        pb.RecordSamplesRequest(experiment_id=proposal.experiment_id, samples=[sample, sample]),
        metadata=operator, timeout=DEADLINE,
    )  # fmt: skip
    assert (reply.accepted_count, reply.duplicate_count) == (1, 1)
    read = tracker.GetExperiment(pb.GetExperimentRequest(experiment_id=proposal.experiment_id),
                                 metadata=target.metadata("bot"), timeout=DEADLINE)  # fmt: skip
    assert (read.experiment.status, read.experiment.result.samples) == (pb.EXPERIMENT_STATUS_RUNNING, 1)


@pytest.mark.parametrize(
    ("case", "role", "changes", "code", "field"),
    [
        ("bot creates", "bot", {}, grpc.StatusCode.PERMISSION_DENIED, None),
        (
            "alpha out of range",
            "operator",
            {"alpha": "1.5"},
            grpc.StatusCode.INVALID_ARGUMENT,
            "experiment.alpha",
        ),
        (
            "unregistered control",
            "operator",
            {"control_slug": "no-such-strategy"},
            grpc.StatusCode.NOT_FOUND,
            None,
        ),
    ],
)
def test_a_bad_experiment_is_refused(target: Target, case, role, changes, code, field) -> None:
    proposal = _proposal(target, **changes)
    with pytest.raises(grpc.RpcError) as refused:
        _tracker(target).CreateExperiment(
            pb.CreateExperimentRequest(experiment=proposal), metadata=target.metadata(role), timeout=DEADLINE
        )
    assert refused.value.code() == code
    if field:
        assert field in violations(refused.value)
    with pytest.raises(grpc.RpcError) as missing:
        _tracker(target).GetExperiment(pb.GetExperimentRequest(experiment_id=proposal.experiment_id),
                                       metadata=target.metadata("operator"), timeout=DEADLINE)  # fmt: skip
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
