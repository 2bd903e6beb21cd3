"""A NATS JetStream server of the test's own, on a free loopback port, that a test may stop and
start again (same port, same store): the broker the report bus uses between processes."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support.governance_process import free_port

IN_CI = os.environ.get("CI", "").lower() == "true"


def nats_server_binary() -> str:
    found = shutil.which("nats-server") or (
        "/usr/sbin/nats-server" if Path("/usr/sbin/nats-server").exists() else None
    )
    if found is None:
        if IN_CI:
            pytest.fail("nats-server is required under CI=true (.ci/run installs Debian's nats-server)")
        pytest.skip("nats-server is not installed (apt-get install nats-server)")
    return found


class NatsServer:
    def __init__(self, store: Path, *, max_payload: int | None = None) -> None:
        """`max_payload`: the largest message the server takes (its default is 1 MiB)."""
        self.binary = nats_server_binary()
        self.max_payload = max_payload
        self.port = free_port()
        self.store = store
        self.url = f"nats://127.0.0.1:{self.port}"
        self.monitor_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> NatsServer:
        command = [self.binary, "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(self.store),
                   "-m", str(self.monitor_port)]  # fmt: skip
        if self.max_payload is not None:  # no command-line flag for it: a config file
            config = self.store.with_suffix(".conf")
            config.write_text(f"max_payload: {self.max_payload}\n")
            command += ["-c", str(config)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.02)
        raise TimeoutError(f"nats-server did not listen on {self.port}")

    def subscribers(self, subject: str) -> int:
        """How many client connections subscribe to `subject` (the server's own /connz)."""
        with urllib.request.urlopen(
            f"http://127.0.0.1:{self.monitor_port}/connz?subs=1", timeout=5
        ) as answer:
            connections = json.load(answer)["connections"] or []
        return sum(subject in (c.get("subscriptions_list") or []) for c in connections)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
