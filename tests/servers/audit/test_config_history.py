"""ParameterChangeAuditor: every edit recorded, fail-open, and the exact configuration at any instant."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from polytraders.sdk import (
    Governance,
    InvalidArgumentError,
    ManualClock,
    NotFoundError,
    PermissionDeniedError,
    PublisherConfig,
)
from polytraders.servers.mesh import MeshThread
from tests.support.governance_process import GovernanceProcess

KEYS = ["max_size", "threshold", "markets", "enabled", "cooldown_s", "edge_bps", "mode", "notes"]


def _value(rng: random.Random) -> object:
    return rng.choice([
        rng.randint(-10**6, 10**6), str(Decimal(rng.randint(0, 10**4)) / 100), rng.random() < 0.5,
        [f"0x{rng.getrandbits(32):08x}" for _ in range(rng.randint(0, 3))], {"nested": rng.randint(0, 9)}, None,
    ])  # fmt: skip


def _wait_for_changes(gov: Governance, bot: str, count: int) -> None:
    """The auditor follows the bus; wait (bounded) until it has materialised `count` changes."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if len(gov.audit.changes(bot, limit=1000)) >= min(count, 1000):
            return
        time.sleep(0.05)
    raise AssertionError(f"auditor did not catch up to {count} changes")


@pytest.fixture
def bot_clock() -> ManualClock:
    return ManualClock(datetime(2026, 11, 1, tzinfo=UTC))


@pytest.fixture
def bot(mesh: MeshThread, bot_clock: ManualClock, tmp_path: Path) -> Iterator[Governance]:
    with Governance(mesh.address, token="dev-bot-token", bot_slug="demo-bot", clock=bot_clock,
                    publisher=PublisherConfig(outbox_path=str(tmp_path / "o.sqlite"))) as gov:  # fmt: skip
        yield gov


def test_config_at_any_instant_equals_a_replay_of_a_thousand_random_edits(
    bot: Governance, bot_clock: ManualClock
) -> None:
    rng = random.Random(20261124)
    config = bot.config({"max_size": 10, "threshold": "0.5"})
    history = [(bot_clock.now(), config.snapshot())]
    for _ in range(1000):
        bot_clock.advance(timedelta(seconds=rng.randint(1, 600)))
        if rng.random() < 0.15 and len(config) > 1:
            del config[rng.choice(sorted(config))]
        elif rng.random() < 0.3:
            config.edit(
                {k: _value(rng) for k in rng.sample(KEYS, 3)}, actor="ops-alice", reason="batch", source="rpc"
            )
        else:
            config[rng.choice(KEYS)] = _value(rng)
        history.append((bot_clock.now(), config.snapshot()))
    assert bot.reports.flush(timeout=60)
    _wait_for_changes(bot, "demo-bot", 1001)

    def reference(at: datetime) -> dict:
        return [snapshot for moment, snapshot in history if moment <= at][-1]

    instants = [moment for moment, _ in rng.sample(history, 50)]  # exactly at edits
    start, end = history[0][0], history[-1][0]
    instants += [start + (end - start) * rng.random() for _ in range(150)]  # between edits
    for at in instants:
        assert json.loads(bot.audit.config_at("demo-bot", at).snapshot_json) == reference(at), at
    with pytest.raises(NotFoundError, match="no configuration"):
        bot.audit.config_at("demo-bot", start - timedelta(microseconds=1))


def test_changes_are_listed_with_who_why_and_a_readable_diff(bot: Governance, bot_clock: ManualClock) -> None:
    config = bot.config({"max_size": 10})
    bot_clock.advance(timedelta(minutes=1))
    config.edit({"max_size": 20, "edge_bps": 15}, actor="ops-alice", reason="widen", source="operator-cli")
    bot_clock.advance(timedelta(minutes=1))
    del config["edge_bps"]
    assert bot.reports.flush(timeout=30)
    _wait_for_changes(bot, "demo-bot", 3)

    newest, widen, initial = bot.audit.changes("demo-bot")
    assert (widen.actor, widen.source, widen.reason, list(widen.keys)) == ("ops-alice", "operator-cli", "widen",
                                                                         ["edge_bps", "max_size"])  # fmt: skip
    assert widen.diff == "edge_bps: (absent) -> 15\nmax_size: 10 -> 20"
    assert newest.diff == "edge_bps: 15 -> (removed)" and newest.actor == "demo-bot"
    assert json.loads(initial.snapshot_json) == {"max_size": 10}
    assert [c.change_id for c in bot.audit.changes("demo-bot", key="edge_bps")] == [
        newest.change_id,
        widen.change_id,
    ]
    assert [c.actor for c in bot.audit.changes("demo-bot", actor="ops-alice")] == ["ops-alice"]
    assert len(bot.audit.changes("demo-bot", since=bot_clock.now() - timedelta(seconds=30))) == 1
    assert len(bot.audit.changes("demo-bot", limit=2)) == 2


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_edit_applies_while_governance_is_down_and_its_record_arrives_later(
    tmp_path: Path, database_url: str, bot_clock: ManualClock
) -> None:
    server = GovernanceProcess(database_url)  # not started
    with Governance(server.address, token="dev-bot-token", bot_slug="demo-bot", clock=bot_clock,
                    publisher=PublisherConfig(outbox_path=str(tmp_path / "o.sqlite"), max_backoff=0.2)) as gov:  # fmt: skip
        config = gov.config({"max_size": 10})
        bot_clock.advance(timedelta(minutes=5))
        config["max_size"] = 25
        assert config["max_size"] == 25  # applied at once, governance or not
        server.start()
        try:
            assert gov.reports.flush(timeout=60)
            _wait_for_changes(gov, "demo-bot", 2)
            assert json.loads(gov.audit.config_at("demo-bot", bot_clock.now()).snapshot_json) == {
                "max_size": 25
            }
        finally:
            server.stop()


def test_a_value_that_cannot_be_recorded_is_refused_and_changes_nothing(bot: Governance) -> None:
    config = bot.config({"max_size": 10})
    with pytest.raises(TypeError, match="JSON-serialisable"):
        config["callback"] = object()
    assert dict(config) == {"max_size": 10}


BAD = [
    ("no bot", lambda g, now: g.audit.config_at("", now), InvalidArgumentError, "bot_slug"),
    ("another bot's config", lambda g, now: g.audit.config_at("other-bot", now), PermissionDeniedError, None),
    (
        "limit too large",
        lambda g, now: g.audit.changes("demo-bot", limit=5000),
        InvalidArgumentError,
        "limit",
    ),
    ("unknown bot", None, NotFoundError, None),
]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("case", "call", "error", "field"), BAD, ids=[b[0] for b in BAD])
def test_bad_audit_calls_name_the_problem(
    bot: Governance, mesh: MeshThread, case, call, error, field
) -> None:
    now = datetime(2026, 11, 2, tzinfo=UTC)
    if call is None:
        with Governance(mesh.address, token="dev-auditor-token", bot_slug="x") as auditor:
            with pytest.raises(error):
                auditor.audit.config_at("never-configured", now)
        return
    with pytest.raises(error) as raised:
        call(bot, now)
    if field:
        assert field in [v.field for v in raised.value.violations]
