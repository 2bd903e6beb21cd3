"""The read-only CLOB adapter: polymarket-client against a local CLOB, retries, pages, rate limit."""

from __future__ import annotations

import inspect
import socket

import pytest
from polymarket.errors import RequestRejectedError, TransportError

from polytraders.clients.clob import ClobReader, RateLimit, RetryPolicy, environment_at
from tests.support.clob import CONDITION_ID, builder_trade, local_clob, serve_builder_trades

CODE = "0x" + "ab" * 32


class Sleeps(list[float]):
    """An injected sleep: records each wait instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def rows(count: int) -> list[dict]:
    return [
        builder_trade(f"t-{i}", CONDITION_ID, "1", "0.5", 1_800_000_000 + i, builder=CODE)
        for i in range(count)
    ]


def test_every_page_is_read_to_the_end_cursor() -> None:
    with local_clob() as clob:
        serve_builder_trades(clob, rows(650), page_size=300)
        reader = ClobReader(clob.environment(), sleep=Sleeps(), rate_limit=RateLimit(0))
        trades = list(reader.builder_trades(CODE, after=1_799_999_999, before=1_900_000_000))
    assert [t.id for t in trades] == [f"t-{i}" for i in range(650)]
    assert reader.pages == 3
    cursors = [r.query.get("next_cursor", [None])[0] for r in clob.requests]
    assert cursors == [None, "MzAw", "NjAw"]
    assert clob.requests[0].query["builder_code"] == [CODE]


def test_a_429_waits_as_long_as_the_exchange_asks() -> None:
    with local_clob() as clob:
        serve_builder_trades(clob, rows(3))
        answers = iter([(429, {"error": "slow down", "retry_after_seconds": 2})])
        serve = clob.routes[("GET", "/builder/trades")]
        clob.routes[("GET", "/builder/trades")] = lambda query: next(answers, None) or serve(query)
        sleeps = Sleeps()
        reader = ClobReader(clob.environment(), sleep=sleeps, rate_limit=RateLimit(0))
        assert len(list(reader.builder_trades(CODE))) == 3
    assert (sleeps, reader.retries) == ([2.0], 1)


def test_transport_errors_back_off_exponentially_then_give_up() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]  # nothing listens here once the socket closes
    sleeps = Sleeps()
    reader = ClobReader(environment_at(f"http://127.0.0.1:{closed}"), retry=RetryPolicy(attempts=4, backoff_seconds=0.5),
                        sleep=sleeps, rate_limit=RateLimit(0))  # fmt: skip
    with pytest.raises(TransportError):
        list(reader.builder_trades(CODE))
    assert (sleeps, reader.retries) == ([0.5, 1.0, 2.0], 3)


def test_a_client_error_is_not_retried() -> None:
    with local_clob() as clob:
        serve_builder_trades(clob, rows(1), failures=[400])
        sleeps = Sleeps()
        reader = ClobReader(clob.environment(), sleep=sleeps, rate_limit=RateLimit(0))
        with pytest.raises(RequestRejectedError) as rejected:
            list(reader.builder_trades(CODE))
    assert (rejected.value.status, sleeps, len(clob.requests)) == (400, [], 1)


def test_requests_are_spaced_by_the_rate_limit() -> None:
    now = [100.0]
    sleeps = Sleeps()

    def sleep(seconds: float) -> None:
        sleeps(seconds)
        now[0] += seconds

    limit = RateLimit(4, monotonic=lambda: now[0], sleep=sleep)
    for _ in range(3):
        limit.wait()
    now[0] += 10  # idle for a while: the next request goes at once
    limit.wait()
    assert sleeps == [0.25, 0.25]


def test_the_adapter_can_only_read() -> None:
    """Governance explains; it never submits, modifies or cancels an order."""
    public = {
        name for name, _ in inspect.getmembers(ClobReader, inspect.isfunction) if not name.startswith("_")
    }
    assert public == {"builder_trades", "current_rebates", "close"}
    reader = ClobReader()
    assert type(reader._client).__name__ == "PublicClient"  # holds no key: it cannot sign an order
    reader.close()


def test_a_failure_mid_report_resumes_from_that_pages_cursor() -> None:
    with local_clob() as clob:
        serve_builder_trades(clob, rows(650), page_size=300)
        serve = clob.routes[("GET", "/builder/trades")]
        failures = iter([(502, {"error": "bad gateway"})])

        def second_page_fails_once(query):
            if query.get("next_cursor") == ["MzAw"]:
                failed = next(failures, None)
                if failed:
                    return failed
            return serve(query)

        clob.routes[("GET", "/builder/trades")] = second_page_fails_once
        reader = ClobReader(clob.environment(), sleep=Sleeps(), rate_limit=RateLimit(0))
        assert len(list(reader.builder_trades(CODE))) == 650
    cursors = [r.query.get("next_cursor", [None])[0] for r in clob.requests]
    assert cursors == [None, "MzAw", "MzAw", "NjAw"]  # the first page is not read again
    assert reader.retries == 1
