"""The bus across processes: publish → live subscriber latency through two governance processes
and NATS JetStream, beside raw nats-py; PostgreSQL ingest through two processes vs one; the
relay's cost to a single process's ingest.

Everything runs on this benchmark's own nats-server (a free loopback port, a scratch store) and a
fresh PostgreSQL schema per setup, dropped after. Each governance process connects with an
`application_name` of its own, so its PostgreSQL backends (and their CPU time in /proc) are told
apart from anything else the shared database serves meanwhile.

Latency: a publisher process (benchmarks.bus_publisher) sends batches at fixed deadlines to
process A, stamping each report with the CLOCK_MONOTONIC time it sent it; a live
SubscribeReportBatches on process B (what a subscriber that must keep up uses) takes the time each
report arrives. A tap on the broker and the publisher's own
answers split the time into stored (PublishReports answered), relayed (the relay's message on the
broker) and the rest (B's sequencer and stream). The ceiling is nats-py's JetStream publish →
core NATS subscription of the same batches at the same rate, on the same nats-server.

Ingest: three setups start at once and stay up (one process with the bus, two with the bus, one
without), each on a schema and a broker of its own, and are fed in turns, round after round,
50,000 reports a round in batches of 500 (each one bot's), two publisher threads per governance
process. A round's rate runs from the first call to the last answer, its CPU time (governance
processes, the NATS server, their PostgreSQL backends) until the relay has handed everything to
the broker and the processes are idle again; a setup's figure is all its rounds together. This
machine's speed drifts within minutes (the figures print the bare setup's costliest round against
its cheapest): rounds of about a second, taken in turns, share every spell alike, where fresh
setups run one after another would compare the spells. Beside the broker's share with the relay
on: what the same batches cost a fresh broker when nats-py alone publishes them at the same rate.

The relay's own cost: the thread CPU one process's event loop spends relaying its commits, one
500-report batch at a time, beside what nats-py alone spends on that loop publishing the same
messages and awaiting their acknowledgements.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import astuple, dataclass
from itertools import count
from pathlib import Path

import grpc
import nats
import psycopg
from grpc_health.v1 import health_pb2
from nats.aio.msg import Msg
from nats.js.api import StorageType, StreamConfig
from sqlalchemy.engine import make_url

from polytraders.governance.v1 import report_bus_pb2 as pb
from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk import SystemClock
from polytraders.sdk.health import health_check
from polytraders.sdk.outbox import unframe_reports
from polytraders.servers.runtime.archive import ReportArchive, StoredBatch
from polytraders.servers.runtime.bus import ReportBus
from polytraders.servers.runtime.jetstream import JetStreamLink, stream_config, stream_headers
from polytraders.servers.runtime.report_validation import to_incoming
from polytraders.servers.runtime.requests import WireRequest
from polytraders.servers.runtime.storage import lock_key, make_engine
from polytraders.servers.schema import prepare
from tests.support.report_stream import stream_last_cursor

from .bus_publisher import BOT, RAW_STREAM, RAW_SUBJECT
from .figures import Figure, in_turns, percentile, show
from .processes import REPO, governance, started
from .report_bus import BATCH, OPERATOR, PUBLISH, make_batches, postgres_schema

NATS_SERVER = "/usr/sbin/nats-server"
SUBSCRIBE = "/polytraders.governance.v1.ReportBusService/SubscribeReports"
SUBSCRIBE_BATCHES = "/polytraders.governance.v1.ReportBusService/SubscribeReportBatches"
BUS_HEALTH = "polytraders.governance.bus"
RELAY_DUTY = "polytraders.duty.bus.relay"
RATE, LATENCY_BATCH = 10_000, 100
"""The latency figure publishes 10,000 reports a second as 100 calls of 100 (an SDK publisher
sends what gathered in its linger time, 20 ms, in one call). 1,000 calls of 10 overload the
publishing process on this machine: its backlog passes a thousand calls and gRPC cancels some."""
SUSTAINED_RATE, SUSTAINED_BATCH = 1_000, 10
"""The reference: as many calls a second, of 10 reports each."""
LATENCY_SECONDS = 2.0
LATENCY_REPEATS = 3
RELAY_BATCHES, RELAY_GAP = 200, 0.004
"""The relay's own cost is taken over so many batches, one handed to it every so many seconds (each
sent before the next comes, as at 10,000 reports a second in commits of 100 or more)."""
RELAY_REPEATS = 3
ROUND_REPORTS, ROUNDS = 50_000, 8
"""Each ingest setup is fed this many rounds of so many reports, in turns with the others, after a
round that warms it up."""
THREADS_PER_PROCESS = 2
IN_FLIGHT_PER_THREAD = 2
"""Two publisher threads with two calls outstanding each: report_bus's four in flight per server."""
CLOCK_TICK = os.sysconf("SC_CLK_TCK")


# --- processes: a NATS server, governance processes on one schema --------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Broker:
    url: str
    pid: int


@contextmanager
def nats_server() -> Iterator[Broker]:
    with tempfile.TemporaryDirectory() as store:
        port = free_port()
        process = subprocess.Popen(
            [NATS_SERVER, "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", store],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"nats-server did not listen on {port}") from None
                    time.sleep(0.02)
            yield Broker(f"nats://127.0.0.1:{port}", process.pid)
        finally:
            process.kill()
            process.wait(10)


@dataclass
class Governance:
    address: str
    pid: int
    application: str
    """The application_name its PostgreSQL connections carry."""


@contextmanager
def governance_processes(schema_url: str, count: int, bus: str | None) -> Iterator[list[Governance]]:
    """`count` governance processes (reports group) on one schema, started one after the other
    (the first brings the schema to head and, with the bus, leads the relay); with the bus, each
    is yielded once its broker link is up."""
    tag = uuid.uuid4().hex[:8]
    with ExitStack() as stack:
        found = []
        for index in range(count):
            application = f"bench_{tag}_{index}"
            url = make_url(schema_url).update_query_dict({"application_name": application})
            command = governance(url.render_as_string(hide_password=False))
            if bus:
                command += ["--bus", bus]
            address, process = stack.enter_context(started(command))
            found.append(Governance(address, process.pid, application))
            if bus:
                _wait_for_bus(address)
                if index == 0:
                    _wait_for_relay_lead(schema_url, application)
        yield found


def _wait_for_bus(address: str, timeout: float = 15) -> None:
    with grpc.insecure_channel(address) as channel:
        check = health_check(channel)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                status = check(health_pb2.HealthCheckRequest(service=BUS_HEALTH), timeout=2).status
                if status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.05)
    raise TimeoutError(f"{address}'s report broker link did not come up")


def _connect(schema_url: str) -> psycopg.Connection:
    url = make_url(schema_url)
    return psycopg.connect(
        host=url.host, port=url.port, user=url.username, dbname=url.database,
        options=str(url.query["options"]), autocommit=True,
    )  # fmt: skip


def relay_leader(schema_url: str) -> str | None:
    """The application_name of the process holding the relay duty's advisory lock."""
    schema = str(make_url(schema_url).query["options"]).split("=", 1)[1]
    key = lock_key(RELAY_DUTY, schema) % (1 << 64)  # pg_locks shows a bigint key as two oids
    with _connect(schema_url) as conn:
        row = conn.execute(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
            "AND l.classid::bigint = %s AND l.objid::bigint = %s",
            (key >> 32, key & 0xFFFFFFFF),
        ).fetchone()
    return row[0] if row else None


def _wait_for_relay_lead(schema_url: str, application: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while relay_leader(schema_url) != application:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{application} did not take the relay duty")
        time.sleep(0.05)


# --- CPU time from /proc ----------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of a process (every thread), or None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICK


class CpuMeter:
    """CPU seconds of the given processes and of the PostgreSQL backends whose application_name
    starts with `application`: backends are looked up every 0.1 s (a pool may open and close
    some mid-run), each counted from its time at the start (0 if it was born since) to the last
    time it was seen."""

    def __init__(self, schema_url: str, pids: Sequence[int], application: str) -> None:
        self._pids = list(pids)
        self._application = application
        self._conn = _connect(schema_url)
        self._start: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._stop = threading.Event()
        self._sampler: threading.Thread | None = None

    def _backends(self) -> list[int]:
        rows = self._conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name LIKE %s", (self._application + "%",)
        ).fetchall()
        return [row[0] for row in rows]

    def _sample(self) -> dict[int, float]:
        seen = {}
        for pid in [*self._pids, *self._backends()]:
            spent = cpu_seconds(pid)
            if spent is not None:
                seen[pid] = spent
        return seen

    def start(self) -> None:
        self._start = self._sample()
        self._last = dict(self._start)
        self._sampler = threading.Thread(target=self._follow, daemon=True)
        self._sampler.start()

    def _follow(self) -> None:
        while not self._stop.wait(0.1):
            self._last.update(self._sample())

    def servers(self) -> float:
        return sum(cpu_seconds(pid) or 0.0 for pid in self._pids)

    def stop(self) -> dict[int, float]:
        """CPU seconds each process spent since `start`, by pid."""
        self._stop.set()
        assert self._sampler is not None
        self._sampler.join()
        self._last.update(self._sample())
        self._conn.close()
        return {pid: spent - self._start.get(pid, 0.0) for pid, spent in self._last.items()}


# --- figure 1: publish → live subscriber latency across processes -----------------------------------


def _run_publisher(mode: str, target: str, rate: int, batch: int) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.bus_publisher", mode, target, "--rate", str(rate),
         "--batch", str(batch), "--seconds", str(LATENCY_SECONDS)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    if done.returncode:
        raise RuntimeError(f"the {mode} publisher failed: {done.stderr.strip()[-2000:]}")
    sent: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    if sent["failed"]:
        print(f"bus_processes: {sent['failed']} calls failed ({sent['failed_codes']}) at {rate:,}/s in batches of "
              f"{batch}; the figure is of the rest", file=sys.stderr)  # fmt: skip
    return sent


def _latencies_ms(
    received: list[tuple[int, bytes]], reports_of: Callable[[bytes], list[rpb.Report]]
) -> list[float]:
    delays = []
    for at, body in received:
        for report in reports_of(body):
            stamp = report.operations.explanation
            if stamp.startswith("m:"):
                delays.append((at - int(stamp[2:])) / 1e6)
    return delays


def _wait_for(count: Callable[[], int], expected: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while count() < expected and time.monotonic() < deadline:
        time.sleep(0.02)


@contextmanager
def nats_tap(url: str, subject: str) -> Iterator[list[tuple[int, bytes]]]:
    """A core NATS subscription in a thread of its own: (receive ns, body) of each message."""
    received: list[tuple[int, bytes]] = []
    ready, stop = threading.Event(), threading.Event()

    async def follow() -> None:
        client = await nats.connect(url)

        async def got(message: Msg) -> None:
            received.append((time.monotonic_ns(), message.data))

        await client.subscribe(subject, cb=got)
        await client.flush()
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.05)
        await client.drain()

    follower = threading.Thread(target=asyncio.run, args=(follow(),), daemon=True)
    follower.start()
    if not ready.wait(10):
        raise TimeoutError(f"no NATS subscription at {url}")
    try:
        yield received
    finally:
        stop.set()
        follower.join(5)


def _framed(body: bytes) -> list[rpb.Report]:
    return [rpb.Report.FromString(payload) for payload in unframe_reports(body)]


@dataclass(frozen=True)
class Latency:
    delays: list[float]
    """Milliseconds from send to the live subscriber, per report."""
    relayed: list[float]
    """Milliseconds from send to the relay's message on the broker, per report (governance only)."""
    acked: tuple[float, float]
    """p50, p99 milliseconds from send to PublishReports' answer (governance only)."""

    @property
    def p99(self) -> float:
        return percentile(self.delays, 0.99)


def governance_latency(
    publisher: Governance,
    subscriber: Governance,
    broker: Broker,
    rate: int = RATE,
    batch: int = LATENCY_BATCH,
) -> Latency:
    """Batches published to one process, received on a live SubscribeReportBatches of the other; a tap
    on the broker times the relay's messages on the way."""
    received: list[tuple[int, bytes]] = []
    with (
        nats_tap(broker.url, "polytraders.reports.>") as relayed,
        grpc.insecure_channel(subscriber.address) as channel,
    ):
        subscribe: grpc.UnaryStreamMultiCallable[pb.SubscribeReportBatchesRequest, bytes] = (
            channel.unary_stream(
                SUBSCRIBE_BATCHES, request_serializer=pb.SubscribeReportBatchesRequest.SerializeToString
            )
        )  # raw bytes: the receive time is taken first, the reports read after the run
        live = pb.SubscribeReportsRequest(live_only=True, bot_slugs=[BOT])
        stream = subscribe(pb.SubscribeReportBatchesRequest(subscription=live), metadata=OPERATOR)
        reports = [0]

        def follow() -> None:
            try:
                for body in stream:
                    received.append((time.monotonic_ns(), body))
                    reports[0] += len(pb.SubscribeReportBatchesResponse.FromString(body).reports)
            except grpc.RpcError:
                pass  # cancelled below

        follower = threading.Thread(target=follow, daemon=True)
        follower.start()
        time.sleep(0.3)  # the subscription registers (the publisher warms up for 0.5 s more)
        sent = _run_publisher("grpc", publisher.address, rate, batch)
        _wait_for(lambda: reports[0], int(sent["reports"]), timeout=60)
        stream.cancel()
        follower.join(5)
    delays = _latencies_ms(received, _batch)
    assert len(delays) == sent["measured"], (len(delays), sent)
    return Latency(delays, _latencies_ms(relayed, _framed), (sent["ack_p50_ms"], sent["ack_p99_ms"]))


def raw_nats_latency(broker: Broker, rate: int = RATE, batch: int = LATENCY_BATCH) -> Latency:
    """The ceiling: nats-py JetStream publish → core NATS subscription, same rate, same batches."""
    with nats_tap(broker.url, RAW_SUBJECT) as received:
        sent = _run_publisher("nats", broker.url, rate, batch)
        _wait_for(lambda: len(received), int(sent["messages"]))
    delays = _latencies_ms(received, _framed)
    assert len(delays) == sent["measured"], (len(delays), sent)
    return Latency(delays, [], (0.0, 0.0))


async def _add_raw_stream(url: str) -> None:
    client = await nats.connect(url)
    await client.jetstream().add_stream(
        StreamConfig(
            name=RAW_STREAM, subjects=[RAW_SUBJECT], storage=StorageType.FILE, duplicate_window=120.0
        )
    )
    await client.close()


def _quantiles(delays: list[float]) -> tuple[float, float]:
    return percentile(delays, 0.5), percentile(delays, 0.99)


def _batch(body: bytes) -> list[rpb.Report]:
    return [item.report for item in pb.SubscribeReportBatchesResponse.FromString(body).reports]


def stream_rate(server: Governance, method: str, count: int = 10_000) -> float:
    """Reports a second one stream carries from the archive (the latency runs' reports, caught up
    on, so the live path plays no part): what one subscriber can be sent, parsed."""
    with grpc.insecure_channel(server.address) as channel:
        everything = pb.SubscribeReportsRequest(bot_slugs=[BOT])
        stream: grpc.Call  # of either method's responses
        if method == SUBSCRIBE:
            singles = channel.unary_stream(method, pb.SubscribeReportsRequest.SerializeToString,
                                           pb.SubscribeReportsResponse.FromString)(everything, metadata=OPERATOR)  # fmt: skip
            reports = map(lambda response: [response.report], singles)
            stream = singles
        else:
            batches = channel.unary_stream(method, pb.SubscribeReportBatchesRequest.SerializeToString,
                                           pb.SubscribeReportBatchesResponse.FromString)(
                pb.SubscribeReportBatchesRequest(subscription=everything), metadata=OPERATOR)  # fmt: skip
            reports = map(lambda response: [item.report for item in response.reports], batches)
            stream = batches
        received = 0
        began = time.perf_counter()
        for batch in reports:
            received += len(batch)
            if received >= count:
                break
        seconds = time.perf_counter() - began
        stream.cancel()
    return received / seconds


def _latency_figures(
    best: Latency, ceiling: Latency, rate: int, batch: int, where: str, target: bool
) -> list[Figure]:
    at = f"at {rate:,}/s in batches of {batch}"
    figures = []
    for q, label in ((0.5, "p50"), (0.99, "p99")):
        value = percentile(best.delays, q)
        met = not target or label != "p99" or value < 10
        figures.append(
            Figure.against(
                f"cross-process publish → live subscriber {label} {at} vs raw nats-py JetStream",
                value,
                "ms",
                percentile(ceiling.delays, q),
                "p99 < 10 ms" if target and label == "p99" else "reference",
                met,
            )
        )
    # where it goes, from the same run: stored (PublishReports answered), then on the broker (the
    # relay's message); the rest is the subscriber's process and its stream
    for q, label, acked in ((0.5, "p50", best.acked[0]), (0.99, "p99", best.acked[1])):
        whole = percentile(best.delays, q)
        figures.append(
            Figure.reference(f"… of which publish → stored (PublishReports answered) {label} {at}",
                             acked, "ms", whole)
        )  # fmt: skip
        figures.append(
            Figure.reference(f"… of which publish → relay's message on the broker {label} {at} (relay in the {where})",
                             percentile(best.relayed, q), "ms", whole)
        )  # fmt: skip
    return figures


def latency_figures(broker: Broker) -> list[Figure]:
    asyncio.run(_add_raw_stream(broker.url))
    with postgres_schema() as url, governance_processes(url, 2, broker.url) as (a, b):
        ours, raw = in_turns(
            lambda: governance_latency(a, b, broker),
            lambda: raw_nats_latency(broker),
            repeats=LATENCY_REPEATS,
        )
        sustained = governance_latency(a, b, broker, SUSTAINED_RATE, SUSTAINED_BATCH)
        sustained_raw = raw_nats_latency(broker, SUSTAINED_RATE, SUSTAINED_BATCH)
        where = "publisher's process" if relay_leader(url) == a.application else "subscriber's process"
        streamed = stream_rate(b, SUBSCRIBE)
        streamed_in_batches = stream_rate(b, SUBSCRIBE_BATCHES)
    # the run with the lowest p99 of each: slow runs measure the neighbours
    best, ceiling = min(ours, key=lambda r: r.p99), min(raw, key=lambda r: r.p99)
    figures = _latency_figures(best, ceiling, RATE, LATENCY_BATCH, where, True)
    for name, rate in (("SubscribeReports", streamed), ("SubscribeReportBatches", streamed_in_batches)):
        figures.append(
            Figure.reference(
                f"one {name} stream's rate (archive catch-up, parsed) vs the rate published above",
                rate,
                "reports/s",
                RATE,
            )
        )
    return figures + _latency_figures(sustained, sustained_raw, SUSTAINED_RATE, SUSTAINED_BATCH, where, False)


# --- figures 2 and 3: ingest on one PostgreSQL database ------------------------------------------------


def _pump(address: str, payloads: Sequence[bytes]) -> None:
    with grpc.insecure_channel(address) as channel:
        publish: grpc.UnaryUnaryMultiCallable[bytes, pb.PublishReportsResponse] = channel.unary_unary(
            PUBLISH, response_deserializer=pb.PublishReportsResponse.FromString
        )
        pending: list[grpc.Future[pb.PublishReportsResponse]] = []
        for payload in payloads:
            if len(pending) == IN_FLIGHT_PER_THREAD:
                pending.pop(0).result()
            pending.append(publish.future(payload, metadata=OPERATOR))
        for future in pending:
            future.result()


def _settle(cpu_seconds_now: Callable[[], float], timeout: float = 5) -> None:
    """Until the servers' CPU time stands still for 0.3 s: the relay and the sequencers are done."""
    deadline = time.monotonic() + timeout
    before = cpu_seconds_now()
    while time.monotonic() < deadline:
        time.sleep(0.3)
        now = cpu_seconds_now()
        if now - before < 0.02:
            return
        before = now


@dataclass(frozen=True)
class Ingest:
    """Reports stored, seconds from the first call to the last answer, and the CPU seconds spent
    meanwhile until idle again: governance processes, NATS server, their PostgreSQL backends."""

    reports: int
    seconds: float
    governance_cpu: float
    broker_cpu: float
    database_cpu: float

    @classmethod
    def of_rounds(cls, rounds: Sequence[Ingest]) -> Ingest:
        """The rounds together: every report over every second and CPU second they took."""
        reports, seconds, *cpu = (sum(column) for column in zip(*map(astuple, rounds), strict=True))
        return cls(int(reports), seconds, *cpu)

    @property
    def rate(self) -> float:
        return self.reports / self.seconds

    def _per_1000(self, cpu_seconds: float) -> float:
        return cpu_seconds * 1_000_000 / self.reports

    @property
    def governance(self) -> float:
        """CPU milliseconds per 1,000 reports, and so the three below."""
        return self._per_1000(self.governance_cpu)

    @property
    def broker(self) -> float:
        return self._per_1000(self.broker_cpu)

    @property
    def database(self) -> float:
        return self._per_1000(self.database_cpu)

    @property
    def cpu_per_1000(self) -> float:
        return self.governance + self.broker + self.database


@dataclass
class IngestSetup:
    """Governance processes on a schema (and a broker) of their own, fed round after round."""

    servers: list[Governance]
    broker: Broker | None
    url: str
    stored: int = 0


@contextmanager
def ingest_setup(processes: int, bus: bool) -> Iterator[IngestSetup]:
    """A fresh schema and, with the bus, a broker of its own (a stream another setup fed would hold
    cursors this database has not reached, and the relay go on after them); each process stores a
    batch before the rounds begin."""
    with (
        nats_server() if bus else nullcontext() as broker,
        postgres_schema() as url,
        governance_processes(url, processes, broker.url if broker else None) as servers,
    ):
        setup = IngestSetup(servers, broker, url)
        warm_up = [b.SerializeToString() for b in bot_batches(BATCH * processes)]
        for server, payload in zip(servers, warm_up, strict=True):
            _pump(server.address, [payload])
        setup.stored = len(warm_up) * BATCH
        yield setup


def ingest_round(setup: IngestSetup, payloads: Sequence[bytes]) -> Ingest:
    """One round: `payloads` spread over two publisher threads per process, metered until the relay
    has handed everything to the broker and the processes are idle again."""
    servers, broker = setup.servers, setup.broker
    lanes: list[tuple[str, list[bytes]]] = [
        (s.address, []) for s in servers for _ in range(THREADS_PER_PROCESS)
    ]
    for index, payload in enumerate(payloads):
        lanes[index % len(lanes)][1].append(payload)
    application = servers[0].application.rsplit("_", 1)[0]
    pids = [s.pid for s in servers] + ([broker.pid] if broker else [])
    meter = CpuMeter(setup.url, pids, application)
    meter.start()
    began = time.perf_counter()
    threads = [threading.Thread(target=_pump, args=lane) for lane in lanes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - began
    setup.stored += len(payloads) * BATCH
    if broker:
        with _connect(setup.url) as conn:
            row = conn.execute("SELECT max(seq) FROM report_archive").fetchone()
        assert row is not None
        last = row[0]
        deadline = time.monotonic() + 30
        # the relay's exact mark (waiting for the floor it stores would meter idle time)
        while stream_last_cursor(broker.url) < last:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the relay did not send up to {last}")
            time.sleep(0.05)
    _settle(meter.servers)
    spent = meter.stop()
    with _connect(setup.url) as conn:  # a governance process may archive an alert of its own
        stored = conn.execute(
            "SELECT count(*) FROM report_archive WHERE bot_slug LIKE 'bench-bot-%'"
        ).fetchone()
    assert stored == (setup.stored,), (stored, setup.stored)
    governance_cpu = sum(spent.pop(s.pid, 0.0) for s in servers)
    broker_cpu = spent.pop(broker.pid, 0.0) if broker else 0.0
    return Ingest(len(payloads) * BATCH, seconds, governance_cpu, broker_cpu, sum(spent.values()))


def nats_alone(batches: Sequence[pb.PublishReportsRequest], rate: float) -> Ingest:
    """What the relay's bytes cost a broker without the relay: nats-py alone publishes `batches`
    into a fresh broker's stream (the relay's config and headers) at `rate` reports a second, one
    message a batch, each acknowledged before the next. The broker spends more per byte on
    messages that come one at a time than on a burst, so the reference is paced as ingest is.
    Only the broker's CPU is metered, from once the stream is made until it stands still."""
    with nats_server() as broker:

        def broker_seconds() -> float:
            return cpu_seconds(broker.pid) or 0.0

        metered_from, seconds = asyncio.run(_publish_paced(broker.url, batches, rate, broker_seconds))
        _settle(broker_seconds)
        reports = sum(len(b.reports) for b in batches)
        return Ingest(reports, seconds, 0.0, broker_seconds() - metered_from, 0.0)


async def _publish_paced(
    url: str, batches: Sequence[pb.PublishReportsRequest], rate: float, broker_seconds: Callable[[], float]
) -> tuple[float, float]:
    """`nats_alone`'s publishing: the broker's CPU seconds when it began (the connection and the
    stream made), and how long it took."""
    client = await nats.connect(url)
    jetstream = client.jetstream()
    await jetstream.add_stream(stream_config())
    loop = asyncio.get_running_loop()
    metered_from, cursor, start = broker_seconds(), 1, loop.time()
    for batch in batches:
        await asyncio.sleep(start + (cursor - 1) / rate - loop.time())  # its due time (at once if late)
        ids = [report.header.report_id for report in batch.reports]
        subject = f"polytraders.reports.bench.{batch.reports[0].header.bot_slug}"
        await jetstream.publish(subject, batch.SerializeToString(), headers=stream_headers(cursor, ids))
        cursor += len(ids)
    seconds = loop.time() - start
    await client.close()
    return metered_from, seconds


def bot_batches(total: int) -> list[pb.PublishReportsRequest]:
    """report_bus's reports (fresh report_ids), a bot for every 500 and each batch one bot's: what
    bots send (a bot's token publishes its own reports only), and what the relay sends as one
    broker message per batch."""
    made = make_batches(total, bot_count=max(1, total // BATCH))
    reports = sorted((r for b in made for r in b.reports), key=lambda r: r.header.bot_slug)
    return [pb.PublishReportsRequest(reports=reports[i : i + BATCH]) for i in range(0, len(reports), BATCH)]


class _TurnBatches:
    """Each turn's batches, made once for every setup fed in that turn (each on a schema of its
    own); new report_ids every turn, since an archive stores a report_id once."""

    def __init__(self) -> None:
        self._turn = -1
        self.batches: list[pb.PublishReportsRequest] = []
        self.payloads: list[bytes] = []

    def of(self, turn: int) -> _TurnBatches:
        if turn != self._turn:
            self._turn, self.batches = turn, bot_batches(ROUND_REPORTS)
            self.payloads = [b.SerializeToString() for b in self.batches]
        return self


def ingest_figures() -> list[Figure]:
    turn_batches = _TurnBatches()

    def rounds(measure: Callable[[_TurnBatches], Ingest]) -> Callable[[], Ingest]:
        turns = count()
        return lambda: measure(turn_batches.of(next(turns)))

    with (
        ingest_setup(1, True) as one_setup,
        ingest_setup(2, True) as two_setup,
        ingest_setup(1, False) as bare_setup,
    ):
        alone: list[Ingest] = []

        def relay_on(turn: _TurnBatches) -> Ingest:
            """A round with the relay, then nats-py alone at its rate (a reference for the broker)."""
            relayed = ingest_round(one_setup, turn.payloads)
            alone.append(nats_alone(turn.batches, relayed.rate))
            return relayed

        turns = in_turns(
            rounds(relay_on),
            rounds(lambda turn: ingest_round(two_setup, turn.payloads)),
            rounds(lambda turn: ingest_round(bare_setup, turn.payloads)),
            repeats=1 + ROUNDS,
        )
    # the first turn warms up
    one, two, bare, without_relay = (Ingest.of_rounds(runs[1:]) for runs in (*turns, alone))
    # report_bus's own batches, 110 bots interleaved (an operator's token may send them): every
    # report a subject of its own next to its neighbours', so one broker message per report (half
    # a round's: a reference, and the slowest round of the module)
    with ingest_setup(1, True) as setup:
        mixed = ingest_round(setup, [b.SerializeToString() for b in make_batches(ROUND_REPORTS // 2)])
    drift = sorted(r.cpu_per_1000 for r in turns[2][1:])
    rounds_of = f"{ROUNDS} rounds of {ROUND_REPORTS:,} each, interleaved"
    figures = [
        Figure.against(
            "ingest on one PostgreSQL, two processes vs one (bus on, 500-report batches of one bot; "
            f"{rounds_of})",
            two.rate,
            "reports/s",
            one.rate,
            "total with two >= total with one",
            two.rate >= one.rate,
        ),
        Figure.against(
            "CPU ms per 1,000 reports (governance, NATS, PostgreSQL backends), two processes vs one",
            two.cpu_per_1000,
            "ms",
            one.cpu_per_1000,
            "ratio <= 1.2",
            two.cpu_per_1000 <= 1.2 * one.cpu_per_1000,
        ),
    ]
    for part in ("governance", "broker", "database"):
        figures.append(
            Figure.reference(
                f"… of which {part}, two processes vs one", getattr(two, part), "ms", getattr(one, part)
            )
        )
    figures += [
        Figure.ratio_at_least(
            f"single-process ingest with the relay on (--bus) vs without the bus ({rounds_of})",
            one.rate,
            "reports/s",
            bare.rate,
            0.9,
        ),
        Figure.reference(
            "CPU ms per 1,000 reports without the bus, its costliest round vs its cheapest (the machine's "
            "drift, which interleaving the rounds spreads over every setup alike)",
            drift[-1],
            "ms",
            drift[0],
        ),
        Figure.reference(
            "CPU ms per 1,000 reports, single process with the relay on vs without",
            one.cpu_per_1000,
            "ms",
            bare.cpu_per_1000,
        ),
        Figure.reference("… of which governance, relay on vs without", one.governance, "ms", bare.governance),
        Figure.reference("… of which database, relay on vs without", one.database, "ms", bare.database),
        Figure.reference(
            "broker CPU ms per 1,000 reports, relay on vs nats-py alone publishing the same batches one "
            "at a time at the relay round's rate, to a fresh broker",
            one.broker,
            "ms",
            without_relay.broker,
        ),
        Figure.reference(
            "single-process ingest with the relay on, 110 bots interleaved in each batch (a fresh setup, "
            f"one round of {ROUND_REPORTS // 2:,}), vs without the bus",
            mixed.rate,
            "reports/s",
            bare.rate,
        ),
        Figure.reference(
            "CPU ms per 1,000 reports of those interleaved batches vs one bot's batches (relay on)",
            mixed.cpu_per_1000,
            "ms",
            one.cpu_per_1000,
        ),
    ]
    return figures


# --- the relay's own cost, beside nats-py's -----------------------------------------------------------


async def _state_unheeded(up: bool, why: str) -> None:
    """The link's broker state: nobody to tell here."""


def relay_thread_cpu(batches: Sequence[pb.PublishReportsRequest]) -> float:
    """Milliseconds of its event loop's thread CPU a leading relay spends per batch, each handed to
    it as its own process's commit (a fresh broker, an archive on SQLite the relay never reads)."""
    with nats_server() as broker, tempfile.TemporaryDirectory() as directory:
        engine = make_engine(f"sqlite:///{directory}/governance.db")
        prepare(engine, upgrade=True)
        held = [to_incoming(list(b.reports), WireRequest(b, b.SerializeToString())) for b in batches]

        async def relay() -> float:
            bus = ReportBus(ReportArchive(engine), SystemClock())
            link = JetStreamLink(broker.url, bus, engine, _state_unheeded)
            running = [asyncio.create_task(link.connect()), asyncio.create_task(link.relay())]
            while not link.leading:
                await asyncio.sleep(0.01)
            first, began = 1, time.thread_time()
            for incoming in held:
                assert incoming is not None
                link.stored([StoredBatch(first, incoming, 0)])
                first += len(incoming)
                await asyncio.sleep(RELAY_GAP)
            spent = time.thread_time() - began
            assert link.relayed == first - 1, (link.relayed, first - 1)
            for task in running:
                task.cancel()
            await link.close()
            return spent

        try:
            return asyncio.run(relay()) * 1000 / len(batches)
        finally:
            engine.dispose()


def nats_thread_cpu(batches: Sequence[pb.PublishReportsRequest]) -> float:
    """The ceiling: milliseconds of thread CPU nats-py alone spends per batch on its event loop,
    publishing each as one message (the relay's headers) to a fresh broker's stream and awaiting its
    acknowledgement, as far apart as the relay's."""
    bodies = [
        (b.reports[0].header.bot_slug, b.SerializeToString(), [r.header.report_id for r in b.reports])
        for b in batches
    ]

    async def publish(url: str) -> float:
        client = await nats.connect(url)
        jetstream = client.jetstream()
        await jetstream.add_stream(stream_config())
        cursor, began = 1, time.thread_time()
        for bot, body, ids in bodies:
            headers = stream_headers(cursor, ids)
            await (await jetstream.publish_async(f"polytraders.reports.bench.{bot}", body, headers=headers))
            cursor += len(ids)
            await asyncio.sleep(RELAY_GAP)
        spent = time.thread_time() - began
        await client.close()
        return spent

    with nats_server() as broker:
        return asyncio.run(publish(broker.url)) * 1000 / len(batches)


def relay_cost_figures() -> list[Figure]:
    batches = bot_batches(RELAY_BATCHES * BATCH)
    relayed, alone = in_turns(
        lambda: relay_thread_cpu(batches), lambda: nats_thread_cpu(batches), repeats=RELAY_REPEATS
    )
    return [
        Figure.reference(
            f"the relay's thread CPU per 500-report batch of one bot, its process's own commits "
            f"{RELAY_GAP * 1000:.0f} ms apart, vs nats-py alone publishing each as one message and awaiting "
            f"its ack (least of {RELAY_REPEATS} each)",
            min(relayed),
            "ms",
            min(alone),
        )
    ]


def run() -> list[Figure]:
    with nats_server() as broker:
        latency = latency_figures(broker)
    return latency + ingest_figures() + relay_cost_figures()


if __name__ == "__main__":  # this module alone; `make bench` runs every module and writes results.json
    began = time.monotonic()
    show(run())
    print(f"\nbus_processes took {time.monotonic() - began:.0f} s")
