"""The SDK's call layer against a canned registry on pytest-grpc's server fixtures: what a bot
sees when governance is down for a moment, slow, or refuses a request."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator

import grpc
import pytest
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from polytraders.governance.v1 import lifecycle_pb2 as pb
from polytraders.governance.v1 import lifecycle_pb2_grpc as pb_grpc
from polytraders.sdk import Governance
from polytraders.sdk.calls import CallOptions
from polytraders.sdk.errors import InvalidArgumentError, UnavailableError

UNAVAILABLE_BEFORE_ANSWERING = 2
grpc_max_workers = 8  # read by pytest-grpc: hung calls must not starve the next attempt


class CannedRegistry(pb_grpc.StrategyRegistryServiceServicer):
    """Down for two calls then up (GetStrategy), hung (CheckLiveCap), down (PromoteStrategy),
    refusing a field (RegisterStrategy); counts every call."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.release = threading.Event()

    def GetStrategy(self, request: pb.GetStrategyRequest, context: grpc.ServicerContext) -> pb.GetStrategyResponse:
        self.calls["GetStrategy"] += 1
        if self.calls["GetStrategy"] <= UNAVAILABLE_BEFORE_ANSWERING:
            context.abort(grpc.StatusCode.UNAVAILABLE, "restarting")
        return pb.GetStrategyResponse(strategy=pb.Strategy(slug=request.slug, stage=pb.STAGE_PAPER))

    def CheckLiveCap(self, request: pb.CheckLiveCapRequest, context: grpc.ServicerContext) -> pb.CheckLiveCapResponse:
        self.calls["CheckLiveCap"] += 1
        self.release.wait(30)
        return pb.CheckLiveCapResponse(allowed=True)

    def PromoteStrategy(self, request: pb.PromoteStrategyRequest, context: grpc.ServicerContext) -> pb.PromoteStrategyResponse:
        self.calls["PromoteStrategy"] += 1
        context.abort(grpc.StatusCode.UNAVAILABLE, "restarting")

    def RegisterStrategy(self, request: pb.RegisterStrategyRequest, context: grpc.ServicerContext) -> pb.RegisterStrategyResponse:
        self.calls["RegisterStrategy"] += 1
        violation = error_details_pb2.BadRequest.FieldViolation(field="slug", description="must be lower-kebab-case")
        detail = status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message="bad slug")
        detail.details.add().Pack(error_details_pb2.BadRequest(field_violations=[violation]))
        context.abort_with_status(rpc_status.to_status(detail))


CANNED = CannedRegistry()


@pytest.fixture(scope="module")
def grpc_add_to_server():
    return pb_grpc.add_StrategyRegistryServiceServicer_to_server


@pytest.fixture(scope="module")
def grpc_servicer() -> CannedRegistry:
    return CANNED


@pytest.fixture(scope="module")
def grpc_stub_cls():
    return pb_grpc.StrategyRegistryServiceStub


@pytest.fixture
def governance(grpc_server: grpc.Server, grpc_addr: str) -> Iterator[Governance]:
    CANNED.calls.clear()
    options = CallOptions(timeout=0.5, attempts=4, initial_backoff=0.01, max_backoff=0.05)
    client = Governance(grpc_addr, token="t", bot_slug="demo-bot", call_options=options)
    yield client
    client.close()
    CANNED.release.set()


def test_an_idempotent_read_rides_out_a_short_outage(governance: Governance) -> None:
    assert governance.registry.stage("momentum") == pb.STAGE_PAPER
    assert CANNED.calls["GetStrategy"] == UNAVAILABLE_BEFORE_ANSWERING + 1


def test_an_operator_action_is_never_retried(governance: Governance) -> None:
    with pytest.raises(UnavailableError):
        governance.registry.promote("momentum", pb.STAGE_SHADOW, reason="r")
    assert CANNED.calls["PromoteStrategy"] == 1


def test_a_hung_server_ends_in_unavailable_after_the_deadline_not_a_hang(governance: Governance) -> None:
    CANNED.release.clear()
    with pytest.raises(UnavailableError) as failure:
        governance.registry.check_live_cap("momentum", order_notional_micros=1)
    assert failure.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert CANNED.calls["CheckLiveCap"] == 4  # idempotent: every attempt had its own deadline


def test_a_refusal_names_the_field_through_the_sdk_error(governance: Governance) -> None:
    with pytest.raises(InvalidArgumentError) as refusal:
        governance.registry.register("Not A Slug", owner="o", version="1")
    assert [(v.field, v.description) for v in refusal.value.violations] == [("slug", "must be lower-kebab-case")]
    assert CANNED.calls["RegisterStrategy"] == 1
