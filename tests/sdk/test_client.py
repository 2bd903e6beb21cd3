"""The typed clients: deadlines, retries on the right codes only, errors that name the field."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest

from polytraders.governance.v1 import report_bus_pb2 as pb
from polytraders.sdk import (
    AsyncGovernance,
    CallOptions,
    Governance,
    InvalidArgumentError,
    PermissionDeniedError,
    UnauthenticatedError,
    UnavailableError,
)
from polytraders.servers.mesh import MeshThread

FAST = CallOptions(timeout=2, attempts=3, initial_backoff=0.01, max_backoff=0.05)


def test_publish_now_and_subscribe_round_trip(mesh: MeshThread) -> None:
    with Governance(mesh.address, token="dev-bot-token", bot_slug="demo-bot") as gov:
        reports = [gov.builder.risk_vote(guard_name="max_position", explanation=f"v{i}") for i in range(3)]
        reply = gov.reports.publish_now(reports)
        assert (reply.accepted_count, reply.duplicate_count) == (3, 0)
        received = list(itertools.islice(gov.reports.subscribe(), 3))
        assert [r.report for r in received] == reports
        batch = next(iter(gov.reports.subscribe_batches(cursor=received[0].cursor, max_reports=5)))
        assert list(batch.reports) == received[1:]
        assert gov.check_health()


@pytest.mark.parametrize(
    ("token", "spoil", "error", "field"),
    [
        (
            "dev-bot-token",
            lambda r: setattr(r.header, "epoch", 7),
            InvalidArgumentError,
            "reports[0].header.epoch",
        ),
        ("nobody", lambda r: None, UnauthenticatedError, None),
        ("dev-auditor-token", lambda r: None, PermissionDeniedError, None),
    ],
    ids=["bad epoch", "unknown token", "auditor publishing"],
)
def test_errors_surface_as_typed_exceptions_with_field_violations(
    mesh: MeshThread, token, spoil, error, field
) -> None:
    with Governance(mesh.address, token=token, bot_slug="demo-bot", call_options=FAST) as gov:
        report = gov.builder.operations(component="x")
        spoil(report)
        with pytest.raises(error) as raised:
            gov.reports.publish_now([report])
    if field:
        assert [v.field for v in raised.value.violations] == [field]


class _FlakyBus:
    """A real gRPC server whose PublishReports answers `codes` in turn, then succeeds."""

    def __init__(self, codes: list[grpc.StatusCode]) -> None:
        self.calls = 0
        self._codes = codes

        def publish(request: bytes, context: grpc.ServicerContext) -> bytes:
            self.calls += 1
            if self.calls <= len(self._codes):
                context.abort(self._codes[self.calls - 1], "not now")
            return pb.PublishReportsResponse(accepted_count=1).SerializeToString()

        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        self.server.add_generic_rpc_handlers(
            [
                grpc.method_handlers_generic_handler(
                    "polytraders.governance.v1.ReportBusService",
                    {"PublishReports": grpc.unary_unary_rpc_method_handler(publish)},
                )
            ]
        )
        self.address = f"127.0.0.1:{self.server.add_insecure_port('127.0.0.1:0')}"
        self.server.start()


@pytest.fixture
def flaky() -> Iterator[type[_FlakyBus]]:
    started: list[_FlakyBus] = []

    def make(codes: list[grpc.StatusCode]) -> _FlakyBus:
        started.append(_FlakyBus(codes))
        return started[-1]

    yield make
    for bus in started:
        bus.server.stop(0)


def test_idempotent_calls_retry_unavailable_and_resource_exhausted(flaky) -> None:
    bus = flaky([grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED])
    with Governance(bus.address, token="t", bot_slug="demo-bot", call_options=FAST) as gov:
        assert gov.reports.publish_now([gov.builder.operations(component="x")]).accepted_count == 1
    assert bus.calls == 3


def test_retries_are_bounded(flaky) -> None:
    bus = flaky([grpc.StatusCode.UNAVAILABLE] * 10)
    with Governance(bus.address, token="t", bot_slug="demo-bot", call_options=FAST) as gov:
        with pytest.raises(UnavailableError):
            gov.reports.publish_now([gov.builder.operations(component="x")])
    assert bus.calls == FAST.attempts


def test_a_refusal_is_never_retried(flaky) -> None:
    bus = flaky([grpc.StatusCode.PERMISSION_DENIED])
    with Governance(bus.address, token="t", bot_slug="demo-bot", call_options=FAST) as gov:
        with pytest.raises(PermissionDeniedError):
            gov.reports.publish_now([gov.builder.operations(component="x")])
    assert bus.calls == 1


def test_the_async_client_publishes_subscribes_and_checks_health(
    mesh: MeshThread, tmp_path, monkeypatch
) -> None:
    async def scenario() -> list[str]:
        async with AsyncGovernance(mesh.address, token="dev-bot-token", bot_slug="demo-bot") as gov:
            assert await gov.check_health()
            direct = gov.builder.decision(strategy_slug="s", explanation="direct")
            await gov.reports.publish_now([direct])
            queued = gov.builder.decision(strategy_slug="s", explanation="queued")
            assert gov.reports.publish(queued)
            assert await gov.reports.flush(timeout=30)
            seen = []
            async for item in gov.reports.subscribe():
                seen.append(item.report.decision.explanation)
                if len(seen) == 2:
                    break
            return seen

    monkeypatch.chdir(tmp_path)  # the default outbox lands in the working directory
    assert asyncio.run(scenario()) == ["direct", "queued"]
    assert (tmp_path / ".polytraders-outbox" / "demo-bot.sqlite").exists()
