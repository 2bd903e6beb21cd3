"""The reads one group offers another, made over gRPC when another process serves that group:
they answer as the group's own do, and a peer that cannot be reached or refuses this process is
said as such, never as the caller's mistake."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from polytraders.governance.v1 import lifecycle_pb2 as lpb
from polytraders.sdk import Governance, ManualClock, PublisherConfig, ServiceMap
from polytraders.servers.audit.service import audit_queries
from polytraders.servers.lifecycle.group import lifecycle_queries
from polytraders.servers.mesh import MeshThread
from polytraders.servers.runtime.errors import FailedPrecondition, NotFound, Unavailable
from polytraders.servers.runtime.peers import Peers
from tests.support.governance_process import free_port

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
OPERATOR = "dev-operator-token"


def _remote(address: str, token: str = OPERATOR) -> dict[str, Callable[..., Awaitable[Any]]]:
    peers = Peers(ServiceMap.parse(address), token, timeout_seconds=5)
    return {**lifecycle_queries(peers), **audit_queries(peers)}


async def _outcome(query: Callable[..., Awaitable[Any]], *arguments: Any) -> Any:
    try:
        answer = await query(*arguments)
    except NotFound:
        return "NOT_FOUND"
    return getattr(answer, "snapshot_json", answer)


def test_reads_of_a_group_served_elsewhere_answer_as_its_own_do(
    mesh: MeshThread, clock: ManualClock, tmp_path: Path
) -> None:
    with Governance(mesh.address, token=OPERATOR, bot_slug="console") as operator:
        operator.registry.register("remote", owner="alpha", version="1")
        clock.advance(timedelta(hours=1))
        operator.registry.promote("remote", lpb.STAGE_BACKTEST, "backtest it")
    with Governance(mesh.address, token="dev-bot-token", bot_slug="demo-bot", clock=clock,
                    publisher=PublisherConfig(outbox_path=str(tmp_path / "o.sqlite"))) as bot:  # fmt: skip
        config = bot.config({"max_size": 10})
        clock.advance(timedelta(hours=1))
        config.edit({"max_size": 20}, actor="ops-alice", reason="widen")
        assert bot.reports.flush(timeout=30)
        deadline = time.monotonic() + 30
        while len(bot.audit.changes("demo-bot")) < 2:
            assert time.monotonic() < deadline, "the auditor did not catch up"
            time.sleep(0.05)

    now = clock.now()
    asked = [
        ("registry.stage_at", "remote", now), ("registry.stage_at", "remote", now - timedelta(minutes=90)),
        ("registry.stage_at", "remote", now - timedelta(days=1)), ("registry.stage_at", "absent", now),
        ("audit.config_at", "demo-bot", now), ("audit.config_at", "demo-bot", now - timedelta(minutes=30)),
        ("audit.config_at", "demo-bot", now - timedelta(days=1)), ("audit.config_at", "nobody", now),
    ]  # fmt: skip
    local = mesh.mesh.parts.queries
    ours = [mesh.call(_outcome(local[name], *arguments)) for name, *arguments in asked]

    async def over_grpc() -> list[Any]:
        remote = _remote(mesh.address)
        return [await _outcome(remote[name], *arguments) for name, *arguments in asked]

    theirs = asyncio.run(over_grpc())
    assert theirs == ours
    assert ours == ["BACKTEST", "SPEC", None, None, '{"max_size":20}', '{"max_size":10}', "NOT_FOUND", "NOT_FOUND"]


def test_a_peer_that_is_down_or_refuses_this_process_is_said_as_such(mesh: MeshThread) -> None:
    async def ask(address: str, token: str) -> Exception:
        with pytest.raises(Exception) as failed:
            await _remote(address, token)["registry.stage_at"]("remote", datetime.now(UTC))
        return failed.value

    down = asyncio.run(ask(f"127.0.0.1:{free_port()}", OPERATOR))
    assert isinstance(down, Unavailable) and "the lifecycle group's process did not answer: UNAVAILABLE" in str(down)
    refused = asyncio.run(ask(mesh.address, "not-a-token"))
    assert isinstance(refused, FailedPrecondition) and "check its mesh_token" in str(refused)
