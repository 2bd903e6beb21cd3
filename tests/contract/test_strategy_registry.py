"""StrategyRegistryService contract: who may act, what each refusal is, and the watch stream."""

from __future__ import annotations

import uuid

import grpc
import pytest

from polytraders.governance.v1 import lifecycle_pb2 as pb
from polytraders.governance.v1 import lifecycle_pb2_grpc as pb_grpc

from .conftest import DEADLINE, Target
from .rpc import violations

SERVES = ("polytraders.governance.v1.StrategyRegistryService",)
"""The services these cases call (one process of a split mesh may serve none of them)."""


def _registry(target: Target) -> pb_grpc.StrategyRegistryServiceStub:
    return pb_grpc.StrategyRegistryServiceStub(target.channel)


def _register(target: Target) -> str:
    slug = f"contract-{uuid.uuid4().hex[:10]}"
    _registry(target).RegisterStrategy(
        pb.RegisterStrategyRequest(slug=slug, owner="contract-suite", version="1", reason="contract"),
        metadata=target.metadata("operator"), timeout=DEADLINE,
    )  # fmt: skip
    return slug


def test_a_registered_strategy_starts_at_spec_and_bots_can_read_it(target: Target) -> None:
    slug = _register(target)
    reply = _registry(target).GetStrategy(pb.GetStrategyRequest(slug=slug), metadata=target.metadata("bot"))
    assert (reply.strategy.stage, reply.strategy.revision) == (pb.STAGE_SPEC, 1)


CASES = [
    ("bot promotes", "bot", lambda slug: ("PromoteStrategy", pb.PromoteStrategyRequest(slug=slug, to_stage=2)),
     grpc.StatusCode.PERMISSION_DENIED, None),
    ("auditor pauses", "auditor", lambda slug: ("PauseStrategy", pb.PauseStrategyRequest(slug=slug, source=1)),
     grpc.StatusCode.PERMISSION_DENIED, None),
    ("no token", None, lambda slug: ("GetStrategy", pb.GetStrategyRequest(slug=slug)),
     grpc.StatusCode.UNAUTHENTICATED, None),
    ("unknown slug", "operator", lambda slug: ("GetStrategy", pb.GetStrategyRequest(slug=slug + "-missing")),
     grpc.StatusCode.NOT_FOUND, None),
    ("illegal transition", "operator", lambda slug: ("PromoteStrategy",
     pb.PromoteStrategyRequest(slug=slug, to_stage=pb.STAGE_GENERAL_LIVE)), grpc.StatusCode.FAILED_PRECONDITION, None),
    ("registered twice", "operator", lambda slug: ("RegisterStrategy",
     pb.RegisterStrategyRequest(slug=slug, owner="o", version="1")), grpc.StatusCode.ALREADY_EXISTS, None),
    ("bad slug", "operator", lambda slug: ("RegisterStrategy",
     pb.RegisterStrategyRequest(slug="Not A Slug", owner="o", version="1")), grpc.StatusCode.INVALID_ARGUMENT, "slug"),
    ("pause without source", "operator", lambda slug: ("PauseStrategy", pb.PauseStrategyRequest(slug=slug)),
     grpc.StatusCode.INVALID_ARGUMENT, "source"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "role", "make", "code", "field"), CASES, ids=[c[0] for c in CASES])
def test_refusals_have_their_status_code_and_change_nothing(
    target: Target, case, role, make, code, field
) -> None:
    slug = _register(target)
    method, request = make(slug)
    with pytest.raises(grpc.RpcError) as refused:
        getattr(_registry(target), method)(request, metadata=target.metadata(role), timeout=DEADLINE)
    assert refused.value.code() == code, refused.value.details()
    if field:
        assert field in violations(refused.value)
    after = _registry(target).GetStrategy(
        pb.GetStrategyRequest(slug=slug), metadata=target.metadata("operator")
    )
    assert after.strategy.revision == 1


def test_watch_sends_the_current_state_then_changes(target: Target) -> None:
    slug = _register(target)
    stream = _registry(target).WatchStrategies(
        pb.WatchStrategiesRequest(slugs=[slug]), metadata=target.metadata("bot"), timeout=DEADLINE
    )
    first = next(stream)
    _registry(target).PromoteStrategy(
        pb.PromoteStrategyRequest(slug=slug, to_stage=pb.STAGE_BACKTEST, reason="contract"),
        metadata=target.metadata("operator"), timeout=DEADLINE,
    )  # fmt: skip
    second = next(stream)
    stream.cancel()
    assert (first.strategy.stage, second.strategy.stage) == (pb.STAGE_SPEC, pb.STAGE_BACKTEST)
