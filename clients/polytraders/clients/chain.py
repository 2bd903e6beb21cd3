"""The chain at the edge: pUSD and outcome-token balances through web3, read-only.

Only the standard read functions are called (ERC-20 `balanceOf`, ERC-1155 `balanceOfBatch`), so
the same reader serves Polygon's pUSD and Conditional Tokens contracts and a test chain's. Transport
failures are retried with tenacity; what still fails is raised, never read as a zero balance.
"""

from __future__ import annotations

from collections.abc import Sequence

from requests.exceptions import RequestException
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential
from web3 import Web3
from web3.exceptions import Web3Exception

ERC20_BALANCE = [{"name": "balanceOf", "type": "function", "stateMutability": "view",
                  "inputs": [{"name": "owner", "type": "address"}], "outputs": [{"name": "", "type": "uint256"}]}]  # fmt: skip
ERC1155_BALANCES = [{"name": "balanceOfBatch", "type": "function", "stateMutability": "view",
                     "inputs": [{"name": "owners", "type": "address[]"}, {"name": "ids", "type": "uint256[]"}],
                     "outputs": [{"name": "", "type": "uint256[]"}]}]  # fmt: skip

ChainUnavailable = (RequestException, Web3Exception, OSError)
"""What reading the chain raises once its retries are spent."""


class ChainReader:
    def __init__(
        self,
        rpc_url: str,
        collateral_address: str,
        conditional_tokens_address: str,
        *,
        attempts: int = 3,
        backoff_seconds: float = 0.2,
        timeout_seconds: float = 5.0,
    ) -> None:
        self._web3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout_seconds}))
        self._collateral = self._web3.eth.contract(
            address=Web3.to_checksum_address(collateral_address), abi=ERC20_BALANCE
        )
        self._tokens = self._web3.eth.contract(
            address=Web3.to_checksum_address(conditional_tokens_address), abi=ERC1155_BALANCES
        )
        self._retrying = Retrying(retry=retry_if_exception_type(ChainUnavailable), stop=stop_after_attempt(attempts),
                                  wait=wait_exponential(multiplier=backoff_seconds, max=5), reraise=True)  # fmt: skip

    def collateral_balance(self, owner: str) -> int:
        """pUSD held by `owner`, micro-units (pUSD has 6 decimals)."""
        return int(self._retrying(self._collateral.functions.balanceOf(Web3.to_checksum_address(owner)).call))

    def token_balances(self, owner: str, token_ids: Sequence[str]) -> dict[str, int]:
        """Outcome tokens held by `owner`, micro-units, by token id (decimal strings)."""
        if not token_ids:
            return {}
        owners = [Web3.to_checksum_address(owner)] * len(token_ids)
        call = self._tokens.functions.balanceOfBatch(owners, [int(t) for t in token_ids]).call
        return {token: int(amount) for token, amount in zip(token_ids, self._retrying(call), strict=True)}
