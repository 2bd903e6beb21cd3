"""StrategyRegistry over gRPC through the SDK: the whole promotion path, refusals, caps, watch."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from polytraders.governance.v1 import lifecycle_pb2 as pb
from polytraders.sdk import (
    AlreadyExistsError,
    FailedPreconditionError,
    Governance,
    InvalidArgumentError,
    ManualClock,
    NotFoundError,
    PermissionDeniedError,
)
from polytraders.servers.mesh import MeshThread
from tests.sdk.test_publisher import archived

S = pb.Stage


@pytest.fixture
def operator(mesh: MeshThread) -> Iterator[Governance]:
    with Governance(mesh.address, token="dev-operator-token", bot_slug="ops-console") as gov:
        yield gov


@pytest.fixture
def bot(mesh: MeshThread) -> Iterator[Governance]:
    with Governance(mesh.address, token="dev-bot-token", bot_slug="demo-bot") as gov:
        yield gov


def _gate(days: int, risk_adjusted_return: str) -> pb.Artefact:
    return pb.Artefact(
        kind=pb.ARTEFACT_KIND_PAPER_GATE, ref=f"paper-run-{days}",
        paper_gate=pb.PaperGate(continuous_paper_days=days, risk_adjusted_return=risk_adjusted_return),
    )  # fmt: skip


def test_a_strategy_walks_the_whole_lifecycle_and_every_shortcut_is_refused(
    operator: Governance, bot: Governance, clock: ManualClock, database_url: str
) -> None:
    reg = operator.registry
    reg.register("momentum", owner="alpha-team", version="1.0.0", reason="new idea")
    for stage in (S.STAGE_BACKTEST, S.STAGE_PAPER):
        reg.promote("momentum", stage, "evidence attached")

    with pytest.raises(FailedPreconditionError, match="allowed: BACKTEST, RETIRED, SHADOW"):
        reg.promote("momentum", S.STAGE_GENERAL_LIVE, "skip ahead")  # PAPER → GENERAL_LIVE
    with pytest.raises(PermissionDeniedError):
        bot.registry.promote("momentum", S.STAGE_SHADOW, "a bot may not promote")

    shadow = reg.promote("momentum", S.STAGE_SHADOW, "paper looked fine", {"feed": "clob-ws-shadow-1"})
    assert dict(shadow.stage_metadata) == {"feed": "clob-ws-shadow-1"}
    with pytest.raises(FailedPreconditionError, match="no paper gate artefact"):
        reg.promote("momentum", S.STAGE_LIMITED_LIVE, "no gate yet")
    reg.link_artefact("momentum", _gate(13, "1.2"))
    with pytest.raises(FailedPreconditionError, match="13 continuous days, 14 needed"):
        reg.promote("momentum", S.STAGE_LIMITED_LIVE, "13 days only")
    reg.link_artefact("momentum", _gate(14, "-0.1"))
    with pytest.raises(FailedPreconditionError, match="is not positive"):
        reg.promote("momentum", S.STAGE_LIMITED_LIVE, "losing on paper")
    reg.link_artefact("momentum", _gate(14, "0.8"))
    reg.promote("momentum", S.STAGE_LIMITED_LIVE, "gate passed")

    with pytest.raises(FailedPreconditionError, match="7 days, 0:00:00 needed"):
        reg.promote("momentum", S.STAGE_GENERAL_LIVE, "too soon")
    clock.advance(timedelta(days=7))
    reg.record_drift_signal(
        "momentum", pb.DriftSignal(experiment_id="exp-1", explanation="variant worse", open=True)
    )
    with pytest.raises(FailedPreconditionError, match="open drift signals from exp-1"):
        reg.promote("momentum", S.STAGE_GENERAL_LIVE, "drift is open")
    reg.record_drift_signal("momentum", pb.DriftSignal(experiment_id="exp-1", open=False))
    final = reg.promote("momentum", S.STAGE_GENERAL_LIVE, "a week clean")

    assert bot.registry.stage("momentum") == S.STAGE_GENERAL_LIVE
    assert [(c.from_stage, c.to_stage) for c in final.history] == [
        (S.STAGE_UNSPECIFIED, S.STAGE_SPEC), (S.STAGE_SPEC, S.STAGE_BACKTEST), (S.STAGE_BACKTEST, S.STAGE_PAPER),
        (S.STAGE_PAPER, S.STAGE_SHADOW), (S.STAGE_SHADOW, S.STAGE_LIMITED_LIVE),
        (S.STAGE_LIMITED_LIVE, S.STAGE_GENERAL_LIVE),
    ]  # fmt: skip
    assert {c.actor for c in final.history} == {"dev-operator"}
    assert final.history[-1].reason == "a week clean"
    # Every change was reported: an OperationsReport and a SEVEN_YEARS authority record each.
    records = [r for r in archived(database_url, "strategy-registry") if r.WhichOneof("body") == "settlement"]
    assert len(records) == 1 + 5 + 3 + 2 + 0  # register, 5 promotions, 3 artefacts, 2 drift changes
    assert all(r.header.retention == 2 for r in records)
    assert records[-1].settlement.explanation.startswith(
        "dev-operator moved momentum from LIMITED_LIVE to GENERAL_LIVE"
    )


def test_pause_and_resume_return_to_the_stage_paused_from(operator: Governance, mesh: MeshThread) -> None:
    reg = operator.registry
    reg.register("meanrev", owner="beta", version="2", authority=["dev-operator"])
    reg.promote("meanrev", S.STAGE_BACKTEST, "go")
    paused = reg.pause("meanrev", "position mismatch 1,200 pUSD", pb.PAUSE_SOURCE_PORTFOLIO_SYNC)
    assert (paused.stage, paused.paused_from) == (S.STAGE_PAUSED, S.STAGE_BACKTEST)
    assert paused.history[-1].pause_source == pb.PAUSE_SOURCE_PORTFOLIO_SYNC
    with pytest.raises(FailedPreconditionError, match="use ResumeStrategy"):
        reg.promote("meanrev", S.STAGE_PAPER, "not while paused")
    with Governance(mesh.address, token="dev-risk-officer-token", bot_slug="x") as other:
        with pytest.raises(PermissionDeniedError, match="not in meanrev's authority"):
            other.registry.resume("meanrev", "not mine to resume")
    resumed = reg.resume("meanrev", "fixed")
    assert resumed.stage == S.STAGE_BACKTEST
    with pytest.raises(FailedPreconditionError, match="not PAUSED"):
        reg.resume("meanrev", "twice")


def test_any_operator_may_pause_even_outside_the_authority(operator: Governance, mesh: MeshThread) -> None:
    operator.registry.register("guarded", owner="o", version="1", authority=["dev-operator"])
    with Governance(mesh.address, token="dev-risk-officer-token", bot_slug="x") as other:
        assert (
            other.registry.pause("guarded", "incident", pb.PAUSE_SOURCE_INCIDENT_COMMANDER).stage
            == S.STAGE_PAUSED
        )


def test_the_live_cap_check_answers_with_the_numbers(
    operator: Governance, bot: Governance, clock: ManualClock
) -> None:
    reg = operator.registry
    reg.register("capped", owner="o", version="1")
    for stage in (S.STAGE_BACKTEST, S.STAGE_PAPER, S.STAGE_SHADOW):
        reg.promote("capped", stage, "ok")
    assert not bot.registry.check_live_cap("capped", order_notional_micros=1).allowed  # SHADOW sends nothing
    reg.link_artefact("capped", _gate(20, "0.5"))
    reg.promote("capped", S.STAGE_LIMITED_LIVE, "gate")
    missing = bot.registry.check_live_cap("capped", order_notional_micros=1)
    assert (missing.allowed, missing.explanation) == (False, "no live cap is set for stage LIMITED_LIVE")
    reg.set_live_cap("capped", pb.LiveCap(stage=S.STAGE_LIMITED_LIVE, max_notional_micros=100_000_000,
                                          max_position_micros=250_000_000), "tight")  # fmt: skip

    fits = bot.registry.check_live_cap("capped", order_notional_micros=100_000_000, position_micros=150_000_000,
                                       position_change_micros=100_000_000)  # fmt: skip
    too_big = bot.registry.check_live_cap("capped", order_notional_micros=100_000_001)
    too_long = bot.registry.check_live_cap("capped", order_notional_micros=10, position_micros=240_000_000,
                                           position_change_micros=20_000_000)  # fmt: skip

    assert (fits.allowed, fits.resulting_position_micros, fits.max_position_micros) == (
        True,
        250_000_000,
        250_000_000,
    )
    assert (too_big.allowed, too_big.explanation) == (False, "order notional 100000001 exceeds 100000000")
    assert (too_long.allowed, too_long.explanation) == (
        False,
        "resulting position 260000000 exceeds 250000000",
    )
    reg.pause("capped", "halt", pb.PAUSE_SOURCE_OPERATOR)
    assert not bot.registry.check_live_cap("capped", order_notional_micros=1).allowed


def test_watch_streams_the_current_state_then_every_change(operator: Governance, bot: Governance) -> None:
    operator.registry.register("watched", owner="o", version="1")
    stream = bot.registry.watch(["watched"])
    first = next(stream)
    operator.registry.promote("watched", S.STAGE_BACKTEST, "go")
    second = next(stream)
    stream.close()
    assert (first.strategy.stage, second.strategy.stage) == (S.STAGE_SPEC, S.STAGE_BACKTEST)
    assert second.strategy.revision == first.strategy.revision + 1


def _revision(gov: Governance, slug: str) -> int:
    return gov.registry.get(slug).revision


BAD_CALLS = [
    ("register: bad slug", lambda r: r.register("Bad Slug", owner="o", version="1"), InvalidArgumentError, "slug"),
    ("register: no owner", lambda r: r.register("ok-slug", owner="", version="1"), InvalidArgumentError, "owner"),
    ("register: twice", lambda r: r.register("existing", owner="o", version="1"), AlreadyExistsError, None),
    ("get: unknown", lambda r: r.get("nope"), NotFoundError, None),
    ("promote: unknown", lambda r: r.promote("nope", S.STAGE_BACKTEST, "x"), NotFoundError, None),
    ("promote: SPEC → PAPER", lambda r: r.promote("existing", S.STAGE_PAPER, "x"), FailedPreconditionError, None),
    ("pause: no source", lambda r: r.pause("existing", "x", pb.PAUSE_SOURCE_UNSPECIFIED), InvalidArgumentError,
     "source"),
    ("resume: not paused", lambda r: r.resume("existing", "x"), FailedPreconditionError, None),
    ("artefact: no ref", lambda r: r.link_artefact("existing", pb.Artefact(kind=pb.ARTEFACT_KIND_BACKTEST_RUN)),
     InvalidArgumentError, "artefact.ref"),
    ("artefact: bad return", lambda r: r.link_artefact("existing", _gate(14, "lots")), InvalidArgumentError,
     "artefact.paper_gate.risk_adjusted_return"),
    ("artefact: infinite return", lambda r: r.link_artefact("existing", _gate(14, "Infinity")), InvalidArgumentError,
     "artefact.paper_gate.risk_adjusted_return"),
    ("cap: not a live stage", lambda r: r.set_live_cap("existing", pb.LiveCap(stage=S.STAGE_PAPER)),
     InvalidArgumentError, "live_cap.stage"),
    ("cap: negative", lambda r: r.set_live_cap("existing", pb.LiveCap(stage=S.STAGE_LIMITED_LIVE,
                                                                        max_notional_micros=-1)),
     InvalidArgumentError, "live_cap.max_notional_micros"),
    ("drift: no experiment", lambda r: r.record_drift_signal("existing", pb.DriftSignal(open=True)),
     InvalidArgumentError, "signal.experiment_id"),
    ("cap check: negative notional", lambda r: r.check_live_cap("existing", order_notional_micros=-5),
     InvalidArgumentError, "order_notional_micros"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "call", "error", "field"), BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
def test_bad_registry_calls_name_the_problem_and_change_nothing(
    operator: Governance, case, call, error, field
) -> None:
    operator.registry.register("existing", owner="o", version="1")
    before = operator.registry.get("existing")
    with pytest.raises(error) as raised:
        call(operator.registry)
    if field:
        assert [v.field for v in raised.value.violations] == [field]
    assert operator.registry.get("existing") == before
    assert [s.slug for s in operator.registry.list()] == ["existing"]


def test_the_async_client_reads_the_registry(operator: Governance, mesh: MeshThread) -> None:
    import asyncio

    from polytraders.sdk import AsyncGovernance

    operator.registry.register("async-read", owner="o", version="1")

    async def read() -> tuple[int, list[str]]:
        async with AsyncGovernance(mesh.address, token="dev-bot-token", bot_slug="demo-bot") as gov:
            stage = await gov.registry.stage("async-read")
            watched = [item.strategy.slug async for item in _first(gov.registry.watch(), 1)]
            return stage, watched

    assert asyncio.run(read()) == (S.STAGE_SPEC, ["async-read"])


async def _first(stream, count: int):
    async for item in stream:
        yield item
        count -= 1
        if not count:
            return


def test_the_gates_follow_the_configuration(tmp_path, clock: ManualClock) -> None:
    from polytraders.servers.runtime.config import ServerConfig
    from tests.conftest import DEV_TOKENS

    config = ServerConfig(port=0, database_url=f"sqlite:///{tmp_path / 'g.db'}", tokens_file=str(DEV_TOKENS),
                          min_paper_days=3, require_positive_risk_adj=False, min_limited_live_days=1)  # fmt: skip
    running = MeshThread(config, clock=clock)
    try:
        with Governance(running.address, token="dev-operator-token", bot_slug="ops") as gov:
            gov.registry.register("quick", owner="o", version="1")
            for stage in (S.STAGE_BACKTEST, S.STAGE_PAPER, S.STAGE_SHADOW):
                gov.registry.promote("quick", stage, "ok")
            gov.registry.link_artefact("quick", _gate(3, "-0.2"))
            gov.registry.promote("quick", S.STAGE_LIMITED_LIVE, "3 days suffice here, and a loss is allowed")
            clock.advance(timedelta(days=1))
            assert gov.registry.promote("quick", S.STAGE_GENERAL_LIVE, "a day").stage == S.STAGE_GENERAL_LIVE
    finally:
        running.stop()
