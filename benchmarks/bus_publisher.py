"""A publisher process of bus_processes' latency figure: small batches on a fixed schedule.

    python -m benchmarks.bus_publisher grpc HOST:PORT    # PublishReports to a governance server
    python -m benchmarks.bus_publisher nats nats://...   # the ceiling: nats-py JetStream publish

Every report is an OperationsReport whose explanation carries the moment its batch was sent
("w:<ns>" while warming up, "m:<ns>" after) as CLOCK_MONOTONIC nanoseconds, which processes on
one machine share: the subscriber's receive time minus it is the latency. Batches go out at
deadlines (start + i × period), so a late one is sent at once and the rate never drifts; the
process prints one JSON line when every batch is acknowledged: how many went, how late the
latest was.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Callable, Iterator

import grpc
import nats

from polytraders.governance.v1 import report_bus_pb2 as pb
from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk.report_builders import ReportBuilder

PUBLISH = "/polytraders.governance.v1.ReportBusService/PublishReports"
OPERATOR = (("authorization", "Bearer dev-operator-token"),)
BOT = "bench-latency"
RAW_STREAM = "BENCH_RAW"
RAW_SUBJECT = "bench.raw.latency"
ACKS: list[float] = []
"""Milliseconds from each measured call to its answer (PublishReports: stored and committed)."""
FAILED: list[tuple[int, str]] = []
"""(index, status) of each call that failed."""


def make_requests(count: int, batch: int) -> list[pb.PublishReportsRequest]:
    builder = ReportBuilder(BOT, bot_class="operations")
    return [
        pb.PublishReportsRequest(
            reports=[
                builder.operations(
                    component="bench.bus",
                    status=rpb.COMPONENT_STATUS_HEALTHY,
                    severity=rpb.SEVERITY_INFO,
                    event="bench.latency",
                    explanation="w:0000000000000000000",
                )
                for _ in range(batch)
            ]
        )
        for _ in range(count)
    ]


def stamp(request: pb.PublishReportsRequest, warm: bool) -> None:
    sent = f"{'w' if warm else 'm'}:{time.monotonic_ns()}"
    for report in request.reports:
        report.operations.explanation = sent


def paced(requests: list[pb.PublishReportsRequest], period_ns: int, warm: int) -> Iterator[tuple[int, int]]:
    """Yield (index, lateness ns) at each request's deadline, the request stamped just now."""
    start = time.monotonic_ns() + 20_000_000
    for index, request in enumerate(requests):
        late = time.monotonic_ns() - (start + index * period_ns)
        if late < 0:
            time.sleep(-late / 1e9)
            late = 0
        stamp(request, index < warm)
        yield index, late


def _acked(sent: int) -> Callable[[object], None]:
    """The done-callback of a call sent at `sent` ns (bound here, not to the loop's variable)."""
    return lambda _: ACKS.append((time.monotonic_ns() - sent) / 1e6)


def publish_grpc(address: str, requests: list[pb.PublishReportsRequest], period_ns: int, warm: int) -> int:
    """PublishReports of each batch at its deadline, answers awaited at the end; a call the server
    refused (an overloaded gRPC server cancels calls it cannot take) is counted in FAILED."""
    with grpc.insecure_channel(address) as channel:
        grpc.channel_ready_future(channel).result(timeout=10)
        publish = channel.unary_unary(
            PUBLISH,
            request_serializer=pb.PublishReportsRequest.SerializeToString,
            response_deserializer=pb.PublishReportsResponse.FromString,
        )
        futures = []
        latest = 0
        for index, late in paced(requests, period_ns, warm):
            latest = max(latest, late)
            sent = time.monotonic_ns()
            future = publish.future(requests[index], metadata=OPERATOR)
            if index >= warm:
                future.add_done_callback(_acked(sent))
            futures.append(future)
        for index, future in enumerate(futures):
            if future.exception() is not None:
                FAILED.append((index, future.code().name))
    return latest


async def publish_nats(url: str, requests: list[pb.PublishReportsRequest], period_ns: int, warm: int) -> int:
    """JetStream publish of each batch as the relay frames it (a PublishReportsRequest), acks
    awaited at the end as the relay's publish_async does; time.sleep paces (asyncio's timers
    round to milliseconds), and one yield to the loop lets nats-py's flusher write each batch."""
    client = await nats.connect(url)
    jetstream = client.jetstream()
    acks = []
    latest = 0
    for index, late in paced(requests, period_ns, warm):
        latest = max(latest, late)
        body = requests[index].SerializeToString()
        acks.append(await jetstream.publish_async(RAW_SUBJECT, body))
        await asyncio.sleep(0)
    await asyncio.wait_for(asyncio.gather(*acks), timeout=30)
    await client.drain()
    return latest


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["grpc", "nats"])
    parser.add_argument("target")
    parser.add_argument("--rate", type=int, default=10_000, help="reports per second")
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--warmup", type=float, default=0.5)
    args = parser.parse_args()
    period_ns = args.batch * 1_000_000_000 // args.rate
    warm = int(args.warmup * 1e9 / period_ns)
    measured = int(args.seconds * 1e9 / period_ns)
    requests = make_requests(warm + measured, args.batch)
    run: Callable[[], int]
    if args.mode == "grpc":
        run = lambda: publish_grpc(args.target, requests, period_ns, warm)  # noqa: E731
    else:
        run = lambda: asyncio.run(publish_nats(args.target, requests, period_ns, warm))  # noqa: E731
    started = time.monotonic()
    latest = run()
    failed = {index for index, _ in FAILED}
    print(
        json.dumps(
            {
                "messages": len(requests) - len(failed),
                "reports": (len(requests) - len(failed)) * args.batch,
                "measured": (measured - len([i for i in failed if i >= warm])) * args.batch,
                "failed": len(failed),
                "failed_codes": sorted({code for _, code in FAILED}),
                "latest_ms": latest / 1e6,
                "ack_p50_ms": _percentile(ACKS, 0.5),
                "ack_p99_ms": _percentile(ACKS, 0.99),
                "seconds": time.monotonic() - started,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
