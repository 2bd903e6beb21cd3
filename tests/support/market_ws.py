"""A local stand-in for the CLOB's market websocket channel: it takes the client's subscription
frame, answers PING with PONG, and sends each connection its script of events in the channel's
wire shapes (flat JSON objects with `event_type`)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import ServerConnection, serve


@dataclass
class MarketChannel:
    scripts: list[list[dict[str, Any]]] = field(default_factory=list)
    """One list of events per connection, in the order connections arrive."""
    subscriptions: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""


def book_event(
    token_id: str, market: str, at_ms: int, bids: list[tuple[str, str]], asks: list[tuple[str, str]]
) -> dict:
    return {"event_type": "book", "asset_id": token_id, "market": market, "timestamp": str(at_ms), "hash": "0x00",
            "tick_size": "0.01", "min_order_size": "5",
            "bids": [{"price": p, "size": s} for p, s in bids], "asks": [{"price": p, "size": s} for p, s in asks]}  # fmt: skip


@contextmanager
def market_channel() -> Iterator[MarketChannel]:
    channel = MarketChannel()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stopped = loop.create_future()

    async def handler(connection: ServerConnection) -> None:
        channel.subscriptions.append(json.loads(await connection.recv()))
        script = channel.scripts.pop(0) if channel.scripts else []
        for event in script:
            await connection.send(json.dumps(event))
        async for message in connection:
            if message == "PING":
                await connection.send("PONG")

    async def run() -> None:
        async with serve(handler, "127.0.0.1", 0) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            channel.url = f"ws://127.0.0.1:{port}"
            ready.set()
            await stopped

    thread = threading.Thread(target=lambda: loop.run_until_complete(run()), daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield channel
    finally:
        loop.call_soon_threadsafe(stopped.set_result, None)
        thread.join(10)
