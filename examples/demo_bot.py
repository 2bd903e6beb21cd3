"""A complete (if tiny) trading bot's governance wiring: health, builder-code tagging, reports.

Run `make run` in one terminal, then: .venv/bin/python examples/demo_bot.py
"""

from __future__ import annotations

import os
from decimal import Decimal

from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk import Governance, OrderIntent, serve_health

TARGET = os.environ.get("POLYTRADERS_TARGET", "127.0.0.1:50051")
TOKEN = os.environ.get("POLYTRADERS_TOKEN", "dev-bot-token")
BUILDER_CODE = os.environ.get("POLYTRADERS_BUILDER_CODE", "0x" + "ab" * 32)
TOKEN_ID = "71321045679252212594626385532706912750332728571942532289631379312455583992563"


def main() -> None:
    health = serve_health("demo-bot")  # what HealthHeartbeat polls
    with Governance(TARGET, token=TOKEN, bot_slug="demo-bot", builder_code=BUILDER_CODE) as gov:
        trace = "demo-trace-1"
        decision = gov.builder.decision(
            trace_id=trace, strategy_slug="demo", action=rpb.DECISION_ACTION_PLACE_ORDER, token_id=TOKEN_ID,
            side=rpb.SIDE_BUY, price="0.43", size_micros=25_000_000, signal_name="momentum_1h",
            signal_value="0.021", explanation="1h momentum above threshold; size capped by the per-market limit",
        )  # fmt: skip
        gov.reports.publish(decision)  # returns at once, even if governance is down

        order = gov.tag_order(
            OrderIntent.limit(TOKEN_ID, "BUY", Decimal("0.43"), Decimal("25"), trace_id=trace)
        )
        # a live bot would now call: secure_client.place_limit_order(**order.limit_kwargs())
        print(f"order tagged with builder code {order.builder_code}")

        delivered = gov.reports.flush(timeout=10)
        print(f"health on {health.address}; reports delivered: {delivered}; {gov.reports.stats()}")
    health.stop()


if __name__ == "__main__":
    main()
