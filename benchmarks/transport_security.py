"""What TLS and hashed tokens cost a call: the same server over TLS vs plaintext, and with its
token check vs none at all (the handshake is paid once per channel, not per call)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import grpc

from polytraders.governance.v1 import mesh_pb2
from polytraders.sdk.transport import TlsOptions, dial
from tests.support.certs import TestCA

from .figures import REPEATS, Figure, best_of_interleaved
from .processes import governance, serving
from .report_bus import BATCH, OPERATOR, PUBLISH, _pump, make_batches

CALLS = 3_000
REPORTS = 50_000
DESCRIBE = "/polytraders.governance.v1.MeshService/DescribeProcess"


def _unary_rate(address: str, tls: TlsOptions | None) -> float:
    """Sequential DescribeProcess calls (authenticated, authorised, no storage) on one channel."""
    with dial(address, (), tls) as channel:
        describe: grpc.UnaryUnaryMultiCallable[bytes, mesh_pb2.DescribeProcessResponse] = channel.unary_unary(
            DESCRIBE, response_deserializer=mesh_pb2.DescribeProcessResponse.FromString
        )
        request = mesh_pb2.DescribeProcessRequest().SerializeToString()
        describe(request, metadata=OPERATOR)  # the handshake, outside the timing
        started = time.perf_counter()
        for _ in range(CALLS):
            describe(request, metadata=OPERATOR)
    return CALLS / (time.perf_counter() - started)


def _ingest_rate(address: str, tls: TlsOptions | None, payloads: list[bytes]) -> float:
    with dial(address, (), tls) as channel:
        publish: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(PUBLISH)
        publish(payloads[0], metadata=OPERATOR)
        seconds = _pump(lambda b: publish.future(b, metadata=OPERATOR), payloads[1:])
    return (len(payloads) - 1) * BATCH / seconds


def run() -> list[Figure]:
    # fresh reports for every run: a batch sent again is only deduplicated
    fresh = iter([[b.SerializeToString() for b in make_batches(REPORTS)] for _ in range(2 * REPEATS)])
    with tempfile.TemporaryDirectory() as scratch:
        ca = TestCA(Path(scratch))
        server = ca.issue("governance")
        tls = TlsOptions(str(ca.cert))

        def command(name: str, *extra: str) -> list[str]:
            return [*governance(f"sqlite:///{scratch}/{name}.db"), *extra]

        with (
            serving(command("plain")) as plain,
            serving(command("tls", "--tls-cert", str(server.cert), "--tls-key", str(server.key))) as secure,
            serving(command("open", "--no-auth")) as unchecked,
        ):
            unary_tls, unary_plain, unary_unchecked = best_of_interleaved(
                lambda: _unary_rate(secure, tls), lambda: _unary_rate(plain, None), lambda: _unary_rate(unchecked, None)
            )
            ingest_tls, ingest_plain = best_of_interleaved(
                lambda: _ingest_rate(secure, tls, next(fresh)), lambda: _ingest_rate(plain, None, next(fresh))
            )
    return [
        Figure.ratio_at_least("unary RPC rate over TLS vs plaintext (one channel)", unary_tls, "calls/s", unary_plain,
                              0.85),
        Figure.ratio_at_least("PublishReports ingest over TLS vs plaintext (SQLite, batches of 500)", ingest_tls,
                              "reports/s", ingest_plain, 0.85),
        Figure.ratio_at_least("unary RPC rate with hashed-token auth vs no token check at all", unary_plain, "calls/s",
                              unary_unchecked, 0.95),
    ]  # fmt: skip
