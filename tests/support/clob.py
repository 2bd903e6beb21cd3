"""A local HTTP server that answers the CLOB's paths in the CLOB's JSON shapes.

polymarket-client is pointed at it through an `Environment` whose URLs are this server's;
every request, its body included, is recorded so tests can assert on what the client asked for.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from polymarket import Environment

from polytraders.clients.clob import environment_at

TOKEN_ID = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
CONDITION_ID = "0x" + "cd" * 32

Handler = Callable[[dict[str, list[str]]], tuple[int, Any]]


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes = b""
    """The request body as it was sent (empty for a GET)."""

    def json(self) -> Any:
        """The body parsed as JSON (what polymarket-client posted)."""
        return json.loads(self.body)


@dataclass
class LocalClob:
    """Routes are (method, path) → handler(query) → (status, JSON body)."""

    routes: dict[tuple[str, str], Handler] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    url: str = ""

    def json(self, method: str, path: str, body: Any, status: int = 200) -> None:
        self.routes[(method, path)] = lambda _query: (status, body)

    def environment(self) -> Environment:
        return environment_at(self.url)

    def paths(self) -> list[str]:
        return [f"{r.method} {r.path}" for r in self.requests]


def market(clob: LocalClob, token_id: str = TOKEN_ID, condition_id: str = CONDITION_ID) -> None:
    """The market metadata and book polymarket-client reads before it signs an order."""
    clob.json("POST", "/auth/api-key", {"apiKey": "local-key", "secret": "c2VjcmV0", "passphrase": "local"})
    clob.json("GET", f"/markets-by-token/{token_id}", {"condition_id": condition_id})
    clob.json("GET", f"/clob-markets/{condition_id}", {"mts": 0.01, "nr": False, "t": [{"t": token_id}]})
    clob.json(
        "GET", "/book",
        {"market": condition_id, "asset_id": token_id, "bids": [{"price": "0.48", "size": "1000"}],
         "asks": [{"price": "0.52", "size": "1000"}], "min_order_size": "5", "tick_size": "0.01",
         "neg_risk": False, "hash": "0"},
    )  # fmt: skip


END_CURSOR = "LTE="


def _cursor(offset: int) -> str:
    return base64.b64encode(str(offset).encode()).decode()


def builder_trade(
    trade_id: str, market: str, size: str, price: str, match_time: int, *, builder: str,
    trade_type: str = "TAKER", fee_usdc: str = "0", asset_id: str = TOKEN_ID, side: str = "BUY",
    status: str = "TRADE_STATUS_CONFIRMED", size_usdc: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """One row of `GET /builder/trades` as the CLOB sends it (camelCase, decimal strings)."""
    from decimal import Decimal

    notional = size_usdc if size_usdc is not None else str(Decimal(size) * Decimal(price))
    return {
        "id": trade_id, "tradeType": trade_type, "takerOrderHash": "0x" + "11" * 32, "builder": builder,
        "market": market, "assetId": asset_id, "side": side, "size": size, "sizeUsdc": notional, "price": price,
        "status": status, "outcome": "Yes", "outcomeIndex": 0, "owner": "owner-key", "maker": "0x" + "22" * 20,
        "transactionHash": "0x" + "33" * 32, "matchTime": str(match_time), "bucketIndex": 0, "fee": "0",
        "feeUsdc": fee_usdc, "createdAt": str(match_time), "updatedAt": str(match_time),
    }  # fmt: skip


def serve_builder_trades(
    clob: LocalClob, rows: list[dict[str, Any]], *, page_size: int = 300, failures: list[int] | None = None
) -> None:
    """`GET /builder/trades`: the CLOB's filters (builder_code, after/before strictly, unix seconds),
    base64-offset cursors ending in LTE=, and first the HTTP statuses in `failures`, one per request."""
    pending = list(failures or [])

    def handle(query: dict[str, list[str]]) -> tuple[int, Any]:
        if pending:
            return pending.pop(0), {"error": "upstream unavailable"}
        code = query.get("builder_code", [""])[0]
        after = int(query.get("after", ["-1"])[0])
        before = int(query.get("before", [str(2**62)])[0])
        chosen = [r for r in rows if r["builder"] == code and after < int(r["matchTime"]) < before]
        offset = int(base64.b64decode(query.get("next_cursor", ["MA=="])[0]))
        page = chosen[offset : offset + page_size]
        following = offset + page_size
        return 200, {
            "limit": page_size, "count": len(page), "data": page,
            "next_cursor": _cursor(following) if following < len(chosen) else END_CURSOR,
        }  # fmt: skip

    clob.routes[("GET", "/builder/trades")] = handle


@contextmanager
def local_clob() -> Iterator[LocalClob]:
    clob = LocalClob()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            length = int(self.headers.get("Content-Length") or 0)
            received = self.rfile.read(length) if length else b""
            recorded = RecordedRequest(self.command, parts.path, query, dict(self.headers), received)
            clob.requests.append(recorded)
            route = clob.routes.get((self.command, parts.path))
            status, body = (
                route(query) if route else (404, {"error": f"no route {self.command} {parts.path}"})
            )
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_DELETE = do_PUT = _serve

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    clob.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield clob
    finally:
        server.shutdown()
        server.server_close()
