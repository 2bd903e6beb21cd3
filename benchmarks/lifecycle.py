"""StrategyRegistry's hot read: a live-cap check over gRPC beside a raw unary call of the same bytes."""

from __future__ import annotations

import tempfile
import time
from typing import TypeVar

import grpc

from polytraders.governance.v1 import lifecycle_pb2 as pb
from polytraders.sdk import Governance

from .figures import Figure, in_turns, percentile
from .processes import governance, raw_grpc, serving

CALLS = 5_000
BOT = (("authorization", "Bearer dev-bot-token"),)
Request = TypeVar("Request")
Response = TypeVar("Response")


def _timed(call: grpc.UnaryUnaryMultiCallable[Request, Response], request: Request) -> list[float]:
    samples = []
    for _ in range(CALLS):
        started = time.perf_counter()
        call(request, metadata=BOT)
        samples.append((time.perf_counter() - started) * 1e6)
    return samples


def run() -> list[Figure]:
    request = pb.CheckLiveCapRequest(slug="bench", order_notional_micros=5_000_000, position_micros=10_000_000,
                                     position_change_micros=5_000_000)  # fmt: skip
    with (
        tempfile.TemporaryDirectory() as scratch,
        serving(governance(f"sqlite:///{scratch}/b.db", groups="reports,lifecycle")) as address,
        serving(raw_grpc()) as raw_address,
    ):
        with Governance(address, token="dev-operator-token", bot_slug="bench-console") as ops:
            ops.registry.register("bench", owner="bench", version="1")
            for stage in (pb.STAGE_BACKTEST, pb.STAGE_PAPER, pb.STAGE_SHADOW):
                ops.registry.promote("bench", stage, "bench")
            ops.registry.link_artefact("bench", pb.Artefact(kind=pb.ARTEFACT_KIND_PAPER_GATE, ref="p", paper_gate=pb.PaperGate(
                continuous_paper_days=30, risk_adjusted_return="1")))  # fmt: skip
            ops.registry.promote("bench", pb.STAGE_LIMITED_LIVE, "bench")
            ops.registry.set_live_cap("bench", pb.LiveCap(stage=pb.STAGE_LIMITED_LIVE, max_notional_micros=10**9,
                                                          max_position_micros=10**9))  # fmt: skip
        with grpc.insecure_channel(address) as channel, grpc.insecure_channel(raw_address) as raw_channel:
            check = channel.unary_unary(
                "/polytraders.governance.v1.StrategyRegistryService/CheckLiveCap",
                request_serializer=pb.CheckLiveCapRequest.SerializeToString,
                response_deserializer=pb.CheckLiveCapResponse.FromString,
            )
            put: grpc.UnaryUnaryMultiCallable[bytes, bytes] = raw_channel.unary_unary("/bench.Raw/Put")
            assert check(request, metadata=BOT).allowed
            ours_runs, raw_runs = in_turns(
                lambda: _timed(check, request), lambda: _timed(put, request.SerializeToString())
            )
    ours = min(ours_runs, key=lambda s: percentile(s, 0.5))
    raw = min(raw_runs, key=lambda s: percentile(s, 0.5))
    return [
        Figure.against(
            f"CheckLiveCap {label} over gRPC vs raw unary",
            percentile(ours, q),
            "µs",
            percentile(raw, q),
            "ratio <= 1.5",
            percentile(ours, q) / percentile(raw, q) <= 1.5,
        )  # fmt: skip
        for label, q in (("p50", 0.5), ("p99", 0.99))
    ]
