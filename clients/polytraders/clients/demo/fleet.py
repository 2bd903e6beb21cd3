"""A small simulated fleet that talks to governance exactly as real bots do, through the SDK:
health endpoints HealthHeartbeat polls, decisions, guards' votes, orders tagged with the builder
code, fills with fees and rebates, marks, one bot going quiet, a parameter change, an incident.

Prices walk at random from a seed, so a run is repeatable; money stays in integer micro-units.
"""

from __future__ import annotations

import random
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from polytraders.governance.v1 import lifecycle_pb2 as lpb
from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk import Governance, OrderIntent, PublisherConfig, ServiceMap, serve_health
from polytraders.sdk.clock import to_timestamp
from polytraders.sdk.health import HealthEndpoint

BUILDER_CODE = "0x" + "d3" * 32
LAYERS = ("signal", "risk", "execution", "data")
MICROS = 1_000_000
TAKER_FEE_BPS = 100  # 1 % of notional, the operator's fee at match time in this simulation
MAKER_REBATE_SHARE = Decimal("0.2")


@dataclass(frozen=True)
class Market:
    condition_id: str
    token_ids: tuple[str, str]


def _markets(rng: random.Random, count: int = 4) -> list[Market]:
    return [
        Market(f"0x{rng.getrandbits(256):064x}", (str(rng.getrandbits(250)), str(rng.getrandbits(250))))
        for _ in range(count)
    ]


@dataclass
class DemoBot:
    slug: str
    layer: str
    gov: Governance
    health: HealthEndpoint
    held: dict[str, int] = field(default_factory=dict)
    """Outcome-token micro-units held, by token: the bot never sells what it does not hold."""
    quiet: bool = False


class DemoFleet:
    """`bots` simulated bots on one target; `round()` is one tick of the whole fleet."""

    def __init__(self, target: str | ServiceMap, token: str, *, bots: int = 20, health_port: int = 0,
                 seed: int = 7, outbox_dir: Path | None = None) -> None:  # fmt: skip
        self._rng = random.Random(seed)
        self._markets = _markets(self._rng)
        self._prices = {t: Decimal(self._rng.randrange(20, 80)) / 100 for m in self._markets for t in m.token_ids}
        self._outboxes = outbox_dir or Path(tempfile.mkdtemp(prefix="polytraders-demo-"))
        self.operator = Governance(target, token=token, bot_slug="demo-operator")
        self.rounds = 0
        self.fills = 0
        """Fills published so far (each books once in P&L)."""
        self.bots: list[DemoBot] = []
        for index in range(bots):
            layer = LAYERS[index % len(LAYERS)]
            slug = f"demo-{layer}-{index // len(LAYERS) + 1}"
            config = PublisherConfig(outbox_path=str(self._outboxes / f"{slug}.sqlite"))
            gov = Governance(target, token=token, bot_slug=slug, bot_class="strategy", builder_code=BUILDER_CODE,
                             publisher=config)  # fmt: skip
            port = health_port + index + 1 if health_port else 0
            self.bots.append(DemoBot(slug, layer, gov, serve_health(slug, port)))
        self._events: dict[int, Callable[[], None]] = {}

    def manifest(self) -> str:
        """The fleet as HealthHeartbeat reads it (`POLYTRADERS_FLEET_MANIFEST`)."""
        return "".join(f'[[bot]]\nslug = "{b.slug}"\nclass = "strategy"\nlayer = "{b.layer}"\n'
                       f'health_target = "{b.health.address}"\n\n' for b in self.bots)  # fmt: skip

    def plan(self, rounds: int) -> None:
        """The story of a run of `rounds` ticks: strategies registered at once, a parameter change
        early, a bot going quiet at a third, an incident declared at half (runs of fewer than four
        ticks tell only the start of it)."""
        self._events = {0: self._register_strategies, max(1, rounds // 5): self._change_parameters,
                        max(2, rounds // 3): self._go_quiet, max(3, rounds // 2): self._declare_incident}  # fmt: skip

    def round(self) -> None:
        if event := self._events.pop(self.rounds, None):
            event()
        for token_id, price in self._prices.items():
            step = Decimal(self._rng.choice((-2, -1, 0, 0, 1, 2))) / 100
            self._prices[token_id] = min(Decimal("0.95"), max(Decimal("0.05"), price + step))
        for bot in self.bots:
            if not bot.quiet and self._rng.random() < 0.6:
                self._trade(bot)
        for token_id, price in self._prices.items():
            self.operator.pnl.mark(token_id, best_bid=str(price - Decimal("0.01")), best_ask=str(price + Decimal("0.01")))
        self.rounds += 1

    def _trade(self, bot: DemoBot) -> None:
        market = self._rng.choice(self._markets)
        token_id = self._rng.choice(market.token_ids)
        held = bot.held.get(token_id, 0)
        selling = held > 0 and self._rng.random() < 0.4
        size = min(held, self._rng.randrange(5, 40) * MICROS) if selling else self._rng.randrange(5, 50) * MICROS
        maker = self._rng.random() < 0.5
        price = self._prices[token_id] + (Decimal("-0.01") if maker != selling else Decimal("0.01"))
        side = rpb.SIDE_SELL if selling else rpb.SIDE_BUY
        notional = int(price * size)
        taker_fee = notional * TAKER_FEE_BPS // 10_000
        trace = str(uuid.uuid4())
        build = bot.gov.builder
        publish = bot.gov.reports.publish
        publish(build.decision(
            trace_id=trace, strategy_slug=bot.slug, action=rpb.DECISION_ACTION_PLACE_ORDER, condition_id=market.condition_id,
            token_id=token_id, side=side, price=str(price), size_micros=size, signal_name="demo_momentum",
            signal_value=str(self._rng.randrange(-50, 50) / 1000),
            explanation=f"{'take profit' if selling else 'momentum above threshold'} at {price}",
        ))  # fmt: skip
        publish(build.risk_vote(
            trace_id=trace, guard_name="max_position", verdict=rpb.VERDICT_APPROVE, condition_id=market.condition_id,
            token_id=token_id, proposed_size_micros=size, approved_size_micros=size, limit_value="500",
            observed_value=str((held + size) // MICROS), explanation="within the per-market position limit",
        ))  # fmt: skip
        order = bot.gov.tag_order(OrderIntent.limit(token_id, "SELL" if selling else "BUY", price,
                                                    Decimal(size) / MICROS, trace_id=trace))  # fmt: skip
        trade_id = str(uuid.uuid4())
        publish(build.execution(
            trace_id=trace, event=rpb.EXECUTION_EVENT_FILL, order_id=f"demo-{trade_id[:8]}", trade_id=trade_id,
            condition_id=market.condition_id, token_id=token_id, side=side, price=str(price), size_micros=size,
            filled_size_micros=size, builder_code=order.builder_code,
            fee_micros=0 if maker else taker_fee, rebate_micros=int(taker_fee * MAKER_REBATE_SHARE) if maker else 0,
            liquidity=rpb.LIQUIDITY_MAKER if maker else rpb.LIQUIDITY_TAKER, trade_status="CONFIRMED",
            matched_at=to_timestamp(build.clock.now()),
            explanation=f"{'maker' if maker else 'taker'} fill of {Decimal(size) / MICROS} at {price}",
        ))  # fmt: skip
        bot.held[token_id] = held - size if selling else held + size
        self.fills += 1

    def _register_strategies(self) -> None:
        for bot in self.bots[:3]:
            known = {s.slug for s in self.operator.registry.list()}
            if bot.slug not in known:
                self.operator.registry.register(bot.slug, owner="demo-desk", version="1.0.0", reason="demo fleet")
                self.operator.registry.promote(bot.slug, lpb.STAGE_BACKTEST, "demo: backtest queued")

    def _change_parameters(self) -> None:
        bot = self.bots[0]
        config = bot.gov.config({"max_position_usd": 500, "signal_threshold": "0.02"}, actor="demo-operator")
        config.edit({"signal_threshold": "0.03"}, actor="demo-operator", reason="demo: fewer, stronger signals")

    def _go_quiet(self) -> None:
        bot = self.bots[-1]
        bot.quiet = True
        bot.health.stop()

    def _declare_incident(self) -> None:
        quiet = next((b.slug for b in self.bots if b.quiet), "a demo bot")
        self.operator.incidents.declare(f"demo: {quiet} stopped answering heartbeats", "SEV3",
                                        "raised by the demo fleet; the bot's health endpoint was stopped")  # fmt: skip

    def close(self) -> None:
        for bot in self.bots:
            bot.gov.close(timeout=10)
            if not bot.quiet:
                bot.health.stop()
        self.operator.close()
