"""A stand-in trading bot as its own process: publishes numbered reports through the SDK.

usage: bot_process.py TARGET OUTBOX FIRST COUNT {persist-then-hang,flush,exit}
"""

from __future__ import annotations

import sys
import time

from polytraders.sdk import Governance, PublisherConfig


def main() -> None:
    target, outbox, first, count, ending = (
        sys.argv[1],
        sys.argv[2],
        int(sys.argv[3]),
        int(sys.argv[4]),
        sys.argv[5],
    )
    gov = Governance(
        target, token="dev-bot-token", bot_slug="demo-bot",
        publisher=PublisherConfig(outbox_path=outbox, max_backoff=0.2, close_timeout=30),
    )  # fmt: skip
    for n in range(first, first + count):
        gov.reports.publish(gov.builder.operations(component="bot-process", explanation=f"n{n}"))
    if ending == "persist-then-hang":
        assert gov.reports.publisher.persisted(timeout=30)
        print("persisted", flush=True)
        for n in range(first + count, first + count + 500):  # still publishing when the kill comes
            gov.reports.publish(gov.builder.operations(component="bot-process", explanation=f"n{n}"))
        time.sleep(600)
    elif ending == "flush":
        print("flushed" if gov.reports.flush(timeout=60) else "not flushed", flush=True)
    # "exit": leave without flush or close; the atexit hook delivers


if __name__ == "__main__":
    main()
