"""Fixtures the runtime's broker tests share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.nats_server import NatsServer


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[NatsServer]:
    """A nats-server with JetStream of the test's own."""
    server = NatsServer(tmp_path / "jetstream").start()
    yield server
    server.stop()
