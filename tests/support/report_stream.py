"""The report stream as a client outside the mesh sees it (tests and benchmarks share it)."""

from __future__ import annotations

import asyncio

import nats

from polytraders.servers.runtime.jetstream import streamed_through


def stream_last_cursor(url: str) -> int:
    """The cursor of the last report on the report stream of the broker at `url`: where a relay
    taking over goes on (the floor it stores in the database trails it by up to a poll)."""

    async def read() -> int:
        client = await nats.connect(url)
        try:
            return await streamed_through(client.jetstream())
        finally:
            await client.close()

    return asyncio.run(read())
