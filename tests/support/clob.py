"""A local HTTP server that answers the CLOB's paths in the CLOB's JSON shapes.

polymarket-client is pointed at it through an `Environment` whose URLs are this server's;
every request is recorded so tests can assert on what the client asked for.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from polymarket import PRODUCTION, Environment
from polymarket.environments import _create_environment  # the SDK's only Environment factory

TOKEN_ID = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
CONDITION_ID = "0x" + "cd" * 32

Handler = Callable[[dict[str, list[str]]], tuple[int, Any]]


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


@dataclass
class LocalClob:
    """Routes are (method, path) → handler(query) → (status, JSON body)."""

    routes: dict[tuple[str, str], Handler] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    url: str = ""

    def json(self, method: str, path: str, body: Any, status: int = 200) -> None:
        self.routes[(method, path)] = lambda _query: (status, body)

    def environment(self) -> Environment:
        base = self.url
        config = dataclasses.replace(
            PRODUCTION._config,
            clob_url=base, relayer_url=f"{base}/relayer", gamma_url=f"{base}/gamma", data_url=f"{base}/data",
            rfq_url=f"{base}/rfq", rpc_url=f"{base}/rpc", builder_gateway_url=f"{base}/builder-gateway",
            collateral_return_url=f"{base}/collateral-return", perps_url=f"{base}/perps",
        )  # fmt: skip
        return _create_environment(name="local-clob", config=config)

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


@contextmanager
def local_clob() -> Iterator[LocalClob]:
    clob = LocalClob()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            clob.requests.append(RecordedRequest(self.command, parts.path, query, dict(self.headers)))
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
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
