"""Every order leaves with our builder code: signed by the real polymarket-client, no RPC on the way."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from eth_account import Account
from polymarket import SecureClient

from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk import BuilderCode, BuilderCodeError, Governance, OrderIntent, PublisherConfig
from polytraders.servers.mesh import MeshThread
from tests.sdk.test_publisher import archived
from tests.support.clob import TOKEN_ID, local_clob, market

CODE = "0x" + "ab" * 32
THROWAWAY_KEY = "0x" + "11" * 32


@pytest.fixture
def gov(mesh: MeshThread, tmp_path: Path):
    governance = Governance(
        mesh.address, token="dev-bot-token", bot_slug="demo-bot", builder_code=CODE,
        publisher=PublisherConfig(outbox_path=str(tmp_path / "o.sqlite")),
    )  # fmt: skip
    yield governance
    governance.close(timeout=5)


@pytest.fixture(scope="module")
def signer():
    with local_clob() as clob:
        market(clob)
        client = SecureClient.create(
            private_key=THROWAWAY_KEY,
            wallet=Account.from_key(THROWAWAY_KEY).address,
            environment=clob.environment(),
        )
        yield client, clob
        client.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_tagged_limit_order_is_signed_with_our_builder_code(
    gov: Governance, signer, database_url: str
) -> None:
    client, clob = signer
    intent = OrderIntent.limit(TOKEN_ID, "BUY", Decimal("0.50"), Decimal("10"), trace_id="trace-1")

    tagged = gov.tag_order(intent)
    signed = client.create_limit_order(**tagged.limit_kwargs())

    assert signed.builder == CODE
    assert intent.builder_code is None  # the caller's intent is not mutated
    assert not any("/order" == r.path for r in clob.requests)  # signing only: nothing was posted
    assert gov.reports.flush(timeout=30)
    (tag,) = [r for r in archived(database_url) if r.execution.event == rpb.EXECUTION_EVENT_ORDER_TAGGED]
    assert (tag.execution.builder_code, tag.execution.size_micros, tag.execution.price) == (
        CODE,
        10_000_000,
        "0.50",
    )
    assert tag.header.trace_id == "trace-1"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_tagged_market_order_is_signed_with_our_builder_code(gov: Governance, signer) -> None:
    client, _ = signer
    signed = client.create_market_order(
        **gov.tag_order(OrderIntent.market_buy(TOKEN_ID, Decimal("5"))).market_kwargs()
    )
    assert signed.builder == CODE
    sell = client.create_market_order(
        **gov.tag_order(OrderIntent.market_sell(TOKEN_ID, Decimal("5"))).market_kwargs()
    )
    assert sell.builder == CODE


def test_an_untagged_order_signs_with_no_builder_so_tagging_is_what_attributes_it(signer) -> None:
    client, _ = signer
    signed = client.create_limit_order(
        **OrderIntent.limit(TOKEN_ID, "SELL", Decimal("0.5"), Decimal("10")).limit_kwargs()
    )
    assert signed.builder == "0x" + "0" * 64


BAD_CODES = [
    ("too short", "0xab", "bytes32 hex string"),
    ("no 0x prefix", "ab" * 33, "bytes32 hex string"),
    ("not hex", "0x" + "zz" * 32, "bytes32 hex string"),
    ("underscores pass int() but are not hex", "0x" + "ab_" * 21 + "a", "bytes32 hex string"),
    ("all zeros means no builder", "0x" + "00" * 32, "must not be all zeros"),
    ("bytes instead of text", b"\xab" * 32, "bytes32 hex string"),
]


@pytest.mark.parametrize(("case", "code", "message"), BAD_CODES, ids=[c[0] for c in BAD_CODES])
def test_a_malformed_builder_code_is_refused_with_a_clear_message(
    case: str, code: object, message: str
) -> None:
    with pytest.raises(BuilderCodeError, match=message):
        BuilderCode(code)
    with pytest.raises(BuilderCodeError, match=message):
        Governance("127.0.0.1:9", token="t", bot_slug="demo-bot", builder_code=code)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_order_already_carrying_another_builders_code_is_refused(gov: Governance) -> None:
    foreign = OrderIntent.limit(TOKEN_ID, "BUY", Decimal("0.5"), Decimal("1"), builder_code="0x" + "cd" * 32)
    with pytest.raises(BuilderCodeError, match="already carries builder code"):
        gov.tag_order(foreign)
    ours_in_capitals = OrderIntent.limit(
        TOKEN_ID, "BUY", Decimal("0.5"), Decimal("1"), builder_code=CODE.upper().replace("0X", "0x")
    )
    assert gov.tag_order(ours_in_capitals).builder_code.lower() == CODE
