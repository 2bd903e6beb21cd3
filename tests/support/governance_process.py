"""A governance server as a real process that tests can SIGKILL and restart on the same port."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from polytraders.governance.v1 import mesh_pb2, mesh_pb2_grpc
from polytraders.sdk.transport import TlsOptions, dial
from tests.conftest import DEV_TOKENS, REPO

CLI = str(Path(sys.executable).parent / "polytraders-gov")


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A loopback port free now, below the kernel's ephemeral range (so no client socket takes it
    before the server binds) and never handed out twice in one run: two servers told the same
    port would have one fail to bind while the other answers its health checks."""
    while True:
        port = random.randrange(20_000, 32_000)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port


class GovernanceProcess:
    def __init__(
        self, database_url: str, port: int | None = None, *extra: str, tls: TlsOptions | None = None,
        tokens_file: Path = DEV_TOKENS, env: dict[str, str] | None = None,
    ) -> None:  # fmt: skip
        """`extra` arguments go to `serve`; `tls` is how the tests' own channels reach it; `env`
        adds POLYTRADERS_* settings."""
        self.env = env or {}
        self.database_url = database_url
        self.extra = extra
        self.tls = tls
        self.tokens_file = tokens_file
        self.port = port or free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> GovernanceProcess:
        self.launch()
        self.wait_serving()
        return self

    @staticmethod
    def start_together(processes: list[GovernanceProcess]) -> list[GovernanceProcess]:
        """Launch every process, then wait for each: they start side by side."""
        for process in processes:
            process.launch()
        for process in processes:
            process.wait_serving()
        return processes

    def launch(self) -> GovernanceProcess:
        self.process = subprocess.Popen(
            [CLI, "serve", "--port", str(self.port), "--database-url", self.database_url,
             "--tokens-file", str(self.tokens_file), "--upgrade", "--log-level", "warning", *self.extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO, env={**os.environ, **self.env},
        )  # fmt: skip
        return self

    def wait_serving(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        with dial(self.address, (), self.tls) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() < deadline:
                if not self.running:
                    assert self.process is not None
                    raise RuntimeError(f"governance on {self.address} exited with {self.process.returncode} before serving")
                try:
                    if stub.Check(health_pb2.HealthCheckRequest(), timeout=1).status == 1:
                        self._check_identity(channel)
                        return
                except grpc.RpcError:
                    time.sleep(0.05)
        raise TimeoutError(f"governance did not come up on {self.address}")

    def _check_identity(self, channel: grpc.Channel) -> None:
        """The process answering is the one started here, not another listening on the port."""
        assert self.process is not None
        described = mesh_pb2_grpc.MeshServiceStub(channel).DescribeProcess(
            mesh_pb2.DescribeProcessRequest(), metadata=[("authorization", "Bearer dev-auditor-token")], timeout=5
        )
        if not described.holder.endswith(f":{self.process.pid}"):
            raise RuntimeError(f"{self.address} is answered by {described.holder}, not by pid {self.process.pid}")

    def kill(self) -> None:
        """SIGKILL: no drain, no goodbye."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.running:
            assert self.process is not None
            self.process.terminate()
            self.process.wait(30)
