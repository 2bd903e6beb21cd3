"""The broker link on a connection that stops answering: no FIN, no error, just silence (a peer
gone, a link dropping packets). Only its pings can tell, and what depends on the link must follow."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from polytraders.sdk import ManualClock
from polytraders.servers.runtime.archive import ReportArchive
from polytraders.servers.runtime.bus import ReportBus
from polytraders.servers.runtime.jetstream import JetStreamLink
from polytraders.servers.runtime.storage import make_engine
from tests.support.nats_server import NatsServer
from tests.support.stalling_proxy import StallingProxy

PING_SECONDS = 0.5
"""Short for the test, long enough that a PONG a loaded machine delays is not taken for silence."""


async def _seconds_until(condition: Callable[[], bool], what: str, seconds: float) -> float:
    """How long `condition` took to hold (polled on the link's own loop, which must keep running)."""
    began = time.monotonic()
    while not condition():
        assert time.monotonic() - began < seconds, what
        await asyncio.sleep(0.02)
    return time.monotonic() - began


@pytest.mark.postgres
def test_a_broker_connection_gone_silent_is_noticed_within_a_few_pings_and_commits_notify_meanwhile(
    postgres_url: str, broker: NatsServer, clock: ManualClock
) -> None:
    """While the link is up, this process hands its commits to the relay instead of NOTIFYing;
    a silent connection would swallow them. Two pings unanswered, the link is down at the third
    interval: health says so and commits NOTIFY the relay again; once bytes pass, it comes back."""
    said: list[bool] = []

    async def on_state(up: bool, why: str) -> None:
        said.append(up)

    async def scenario(proxy: StallingProxy) -> tuple[float, list[bool]]:
        """How long the silence took to notice, and what the link said until then."""
        engine = make_engine(postgres_url)
        bus = ReportBus(ReportArchive(engine), clock)
        link = JetStreamLink(f"nats://127.0.0.1:{proxy.port}", bus, engine, on_state, ping_seconds=PING_SECONDS)
        linking = asyncio.get_running_loop().create_task(link.connect())
        try:
            await _seconds_until(lambda: link.up, "the link comes up", 10)
            assert not bus.archive.announce_commits  # handed over, not NOTIFYed
            proxy.stall()
            to_notice = await _seconds_until(lambda: not link.up, "the silence is noticed", 20 * PING_SECONDS)
            assert bus.archive.announce_commits  # nothing is handed into the silence
            proxy.resume()
            await _seconds_until(lambda: link.up, "the link comes back", 10)
            assert not bus.archive.announce_commits
            return to_notice, list(said)  # closing the link says down again
        finally:
            proxy.resume()  # a link closing over a silent socket would wait out its drain
            await link.close()
            linking.cancel()  # a link that never came up is still trying to connect
            await asyncio.gather(linking, return_exceptions=True)
            bus.archive.close()
            engine.dispose()

    with StallingProxy(broker.port) as proxy:
        to_notice, states = asyncio.run(scenario(proxy))
    # by its pings, not by an error on the socket (a ping sent just before the stall counts as one)
    assert to_notice >= PING_SECONDS
    assert states == [True, False, True]
