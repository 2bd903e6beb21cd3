"""A local chain for tests: py-evm through eth-tester, with the project's test contracts deployed,
reached over real Ethereum JSON-RPC on a loopback HTTP port (as a Polygon node would be)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from web3 import EthereumTesterProvider, Web3
from web3.contract import Contract

BUILD = Path(__file__).resolve().parents[2] / "contracts" / "build"


def _artefact(name: str) -> tuple[str, str]:
    stem = BUILD / f"contracts_{name}_sol_{name}"
    return stem.with_suffix(".abi").read_text(), stem.with_suffix(".bin").read_text()


@dataclass
class LocalChain:
    web3: Web3
    provider: EthereumTesterProvider
    pusd: Contract
    tokens: Contract
    url: str = ""
    server: ThreadingHTTPServer | None = None

    def account(self, index: int) -> tuple[str, str]:
        """(address, private key) of one of the chain's funded, unlocked accounts."""
        key = self.provider.ethereum_tester.backend.account_keys[index]
        return Web3.to_checksum_address(key.public_key.to_checksum_address()), key.to_hex()

    def send(self, call: Any, sender: str) -> None:
        self.web3.eth.wait_for_transaction_receipt(call.transact({"from": sender}))

    def go_down(self) -> None:
        """The RPC node stops answering (connections are refused)."""
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()
        self.server = None


def _deploy(web3: Web3, name: str) -> Contract:
    abi, code = _artefact(name)
    receipt = web3.eth.wait_for_transaction_receipt(
        web3.eth.contract(abi=abi, bytecode=code).constructor().transact({"from": web3.eth.accounts[0]})
    )
    return web3.eth.contract(address=receipt.contractAddress, abi=abi)


@contextmanager
def local_chain() -> Iterator[LocalChain]:
    provider = EthereumTesterProvider()
    web3 = Web3(provider)
    chain = LocalChain(web3, provider, _deploy(web3, "TestPUSD"), _deploy(web3, "TestConditionalTokens"))
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            params = request.get("params", [])
            if request["method"] == "eth_call" and params and "from" not in params[0]:
                params[0]["from"] = web3.eth.accounts[
                    0
                ]  # a node accepts calls without one; eth-tester wants one
            with lock:  # eth-tester is not thread-safe
                reply = provider.make_request(request["method"], params)
            body = json.dumps({"jsonrpc": "2.0", "id": request.get("id"), **reply}, default=_json).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    chain.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    chain.url = f"http://127.0.0.1:{chain.server.server_address[1]}"
    threading.Thread(target=chain.server.serve_forever, daemon=True).start()
    try:
        yield chain
    finally:
        if chain.server is not None:
            chain.go_down()


def _json(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if hasattr(value, "hex"):
        return value.hex() if str(value.hex()).startswith("0x") else "0x" + value.hex()
    raise TypeError(f"cannot encode {type(value).__name__}")
