"""The CLOB at the edge: a read-only adapter over polymarket-client.

Governance never trades, so this adapter has no way to: it wraps `PublicClient` (which holds
no keys) and exposes reads only. Every request goes through one rate limit and one tenacity
retry policy (transport errors, 429 and 5xx); paginated reports are read to the end cursor,
and a failed page is retried from its own cursor, not from the first page.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from polymarket import PRODUCTION, Environment, PublicClient, SecureClient
from polymarket.environments import _create_environment  # the client's only Environment factory
from polymarket.errors import RateLimitError, RequestRejectedError, TransportError, UnexpectedResponseError
from polymarket.models.clob import BuilderTrade, OpenOrder, RebatedFee
from polymarket.pagination import Page, Paginator
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

T = TypeVar("T")


def environment_at(clob_url: str, market_ws_url: str = "") -> Environment:
    """Production's environment with every HTTP endpoint under `clob_url` (a local CLOB, a proxy),
    and, when given, the market websocket channel at `market_ws_url`."""
    base = clob_url.rstrip("/")
    config = dataclasses.replace(
        PRODUCTION._config,
        clob_market_ws_url=market_ws_url or PRODUCTION._config.clob_market_ws_url,
        clob_url=base, relayer_url=f"{base}/relayer", gamma_url=f"{base}/gamma", data_url=f"{base}/data",
        rfq_url=f"{base}/rfq", rpc_url=f"{base}/rpc", builder_gateway_url=f"{base}/builder-gateway",
        collateral_return_url=f"{base}/collateral-return", perps_url=f"{base}/perps",
    )  # fmt: skip
    return _create_environment(name=f"clob@{base}", config=config)


def is_transient(error: BaseException) -> bool:
    """Worth retrying: the network, rate limits and the exchange's own failures."""
    if isinstance(error, TransportError | RateLimitError):
        return True
    return isinstance(error, RequestRejectedError) and error.status >= 500


class RateLimit:
    """At most `per_second` requests, spaced evenly; shared by every thread using the adapter."""

    def __init__(
        self,
        per_second: float,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._interval = 1.0 / per_second if per_second > 0 else 0.0
        self._monotonic = monotonic
        self._sleep = sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self._interval:
            return
        with self._lock:
            now = self._monotonic()
            slot = max(now, self._next)
            self._next = slot + self._interval
        if slot > now:
            self._sleep(slot - now)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    """Tries per request, the first included."""
    backoff_seconds: float = 0.5
    """First wait; it doubles per retry up to `max_backoff_seconds` (a 429's Retry-After wins when given)."""
    max_backoff_seconds: float = 30.0


class _Policed:
    """One retry policy and one rate limit around every request; counts pages and retries."""

    def __init__(
        self, retry: RetryPolicy, rate_limit: RateLimit | None, sleep: Callable[[float], None]
    ) -> None:
        self._retry = retry
        self._rate_limit = rate_limit or RateLimit(10.0, sleep=sleep)
        self._sleep = sleep
        self.pages = 0
        self.retries = 0

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        hinted = getattr(error, "retry_after", None)
        if hinted is not None:
            return min(float(hinted), self._retry.max_backoff_seconds)
        return min(
            self._retry.backoff_seconds * 2.0 ** (state.attempt_number - 1), self._retry.max_backoff_seconds
        )

    def _count_retry(self, _state: RetryCallState) -> None:
        self.retries += 1

    def _call(self, request: Callable[[], T]) -> T:
        def limited() -> T:
            self._rate_limit.wait()
            return request()

        retrying = Retrying(
            retry=retry_if_exception(is_transient),
            stop=stop_after_attempt(self._retry.attempts),
            wait=self._wait,
            sleep=self._sleep,
            before_sleep=self._count_retry,
            reraise=True,
        )
        return retrying(limited)

    def _all_pages(self, paginator: Paginator[T]) -> Iterator[T]:
        """Every item, page after page to the end cursor; a failed page is retried from its own cursor."""
        page: Page[T] = self._call(paginator.first_page)
        requested: set[str] = set()
        while True:
            self.pages += 1
            yield from page.items
            if not page.has_more or page.next_cursor is None:
                return
            if page.next_cursor in requested:  # a report that pages in a circle never ends
                raise UnexpectedResponseError(f"the CLOB repeated cursor {page.next_cursor!r}")
            requested.add(page.next_cursor)
            page = self._call(paginator.from_cursor(page.next_cursor).first_page)


class ClobReader(_Policed):
    """What governance may ask the CLOB about builders and rebates: public reads, no keys."""

    def __init__(
        self,
        environment: Environment = PRODUCTION,
        *,
        retry: RetryPolicy = RetryPolicy(),
        rate_limit: RateLimit | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(retry, rate_limit, sleep)
        self._client = PublicClient(environment)

    def builder_trades(
        self, builder_code: str, *, after: int | None = None, before: int | None = None
    ) -> Iterator[BuilderTrade]:
        """Every trade the exchange attributes to `builder_code`, matched strictly between the
        unix seconds `after` and `before`, page after page to the end cursor."""
        yield from self._all_pages(self._client.list_builder_trades(
            builder_code=builder_code,
            after=None if after is None else str(after),
            before=None if before is None else str(before),
        ))  # fmt: skip

    def current_rebates(self, day: str, maker_address: str) -> tuple[RebatedFee, ...]:
        """Maker rebates the exchange credited `maker_address` for a YYYY-MM-DD day, per market."""
        return self._call(lambda: self._client.get_current_rebates(date=day, maker_address=maker_address))

    def close(self) -> None:
        self._client.close()


class OpenOrdersReader(_Policed):
    """One account's open orders (L2-authenticated). It holds the account's key only because the
    client needs it to authenticate; it offers no way to place or cancel an order."""

    def __init__(
        self,
        private_key: str,
        wallet: str,
        environment: Environment = PRODUCTION,
        *,
        retry: RetryPolicy = RetryPolicy(),
        rate_limit: RateLimit | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(retry, rate_limit, sleep)
        self._client = self._call(
            lambda: SecureClient.create(private_key=private_key, wallet=wallet, environment=environment)
        )

    def open_orders(self) -> list[OpenOrder]:
        return list(self._all_pages(self._client.list_open_orders()))

    def close(self) -> None:
        self._client.close()
