"""TLS, mutual TLS, hashed and rotatable tokens: each way in that must fail gets its exact status
and leaves nothing stored; the ways that must work, work."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest

from polytraders.governance.v1 import report_bus_pb2 as pb
from polytraders.governance.v1 import report_bus_pb2_grpc as pb_grpc
from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk import Governance, PublisherConfig
from polytraders.sdk.clock import ManualClock
from polytraders.sdk.report_builders import ReportBuilder
from polytraders.sdk.transport import TlsOptions, dial
from polytraders.servers.mesh import MeshThread
from polytraders.servers.runtime import tokens_file
from polytraders.servers.runtime.archive import ReportFilter
from polytraders.servers.runtime.auth import Role
from tests.conftest import start_mesh
from tests.support.certs import Issued, TestCA
from tests.support.mesh_processes import until

NOW = datetime.now(UTC)


@pytest.fixture
def clock() -> ManualClock:
    """Today: the certificates are made now, and a server checks them against its clock."""
    return ManualClock(NOW)


@dataclass
class Pki:
    ca: TestCA
    server: Issued
    bot_client: Issued
    stranger_client: Issued
    expired_client: Issued
    other_ca: TestCA
    other_client: Issued


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca, other = TestCA(directory), TestCA(directory, "other-ca")
    return Pki(
        ca, ca.issue("governance"), ca.issue("demo-bot-process", server=False), ca.issue("stranger", server=False),
        ca.issue("demo-bot-process", server=False, expired=True), other, other.issue("demo-bot-process", server=False),
    )  # fmt: skip


@dataclass
class Secrets:
    path: Path
    operator: str
    bot: str
    rotated_out: str


@pytest.fixture
def secrets(tmp_path: Path) -> Secrets:
    path = tmp_path / "tokens.toml"
    operator = tokens_file.add(path, name="ops", role=Role.OPERATOR, bot_slug=None, now=NOW)
    bot = tokens_file.add(path, name="demo-bot", role=Role.BOT, bot_slug="demo-bot", now=NOW)
    rotated_out = tokens_file.add(path, name="old-demo-bot", role=Role.BOT, bot_slug="demo-bot", now=NOW)
    tokens_file.revoke(path, name="old-demo-bot", now=NOW)
    with path.open("a") as file:
        file.write('\n[[certificate]]\ncommon_name = "demo-bot-process"\nname = "demo-bot (certificate)"\n'
                   'role = "bot"\nbot_slug = "demo-bot"\n')  # fmt: skip
    return Secrets(path, operator, bot, rotated_out)


@pytest.fixture
def mtls_mesh(tmp_path: Path, pki: Pki, secrets: Secrets, clock: ManualClock) -> Iterator[MeshThread]:
    running = start_mesh(
        f"sqlite:///{tmp_path / 'g.db'}", clock, tokens_file=str(secrets.path), tls_cert=str(pki.server.cert),
        tls_key=str(pki.server.key), tls_client_ca=str(pki.ca.cert),
    )  # fmt: skip
    yield running
    running.stop()


def _publish(address: str, tls: TlsOptions | None, token: str | None, report_id: str) -> grpc.StatusCode:
    report = ReportBuilder("demo-bot").operations(component="tls-test", explanation=report_id)
    report.header.report_id = report_id
    metadata = [("authorization", f"Bearer {token}")] if token else []
    with dial(address, (), tls) as channel:
        try:
            pb_grpc.ReportBusServiceStub(channel).PublishReports(
                pb.PublishReportsRequest(reports=[report]), metadata=metadata, timeout=5
            )
        except grpc.RpcError as error:
            return error.code()
    return grpc.StatusCode.OK


def _stored_ids(mesh: MeshThread) -> set[str]:
    stored = mesh.mesh.parts.bus.archive.read_after(0, ReportFilter(bot_slugs=frozenset({"demo-bot"})), 1000)
    return {rpb.Report.FromString(r.payload).header.report_id for r in stored}


def _client(pki: Pki, issued: Issued | None, ca: TestCA | None = None) -> TlsOptions:
    ca = ca or pki.ca
    return TlsOptions(str(ca.cert), str(issued.cert) if issued else None, str(issued.key) if issued else None)


# (case, how the client connects, which secret it sends, the answer)
CASES = [
    ("plaintext to a TLS server", lambda p: None, "bot", grpc.StatusCode.UNAVAILABLE),
    ("wrong CA", lambda p: _client(p, p.bot_client, p.other_ca), "bot", grpc.StatusCode.UNAVAILABLE),
    ("missing client certificate under mTLS", lambda p: _client(p, None), "bot", grpc.StatusCode.UNAVAILABLE),
    ("expired client certificate", lambda p: _client(p, p.expired_client), "bot", grpc.StatusCode.UNAVAILABLE),
    ("client certificate from another CA", lambda p: _client(p, p.other_client), "bot", grpc.StatusCode.UNAVAILABLE),
    ("revoked token", lambda p: _client(p, p.bot_client), "rotated_out", grpc.StatusCode.UNAUTHENTICATED),
    ("hashed-token file, wrong secret", lambda p: _client(p, p.bot_client), "ptg_not-the-secret",
     grpc.StatusCode.UNAUTHENTICATED),
    ("certificate no entry names, no token", lambda p: _client(p, p.stranger_client), None,
     grpc.StatusCode.UNAUTHENTICATED),
    ("an operator token over a bot certificate: the token names the caller", lambda p: _client(p, p.bot_client), "operator",
     grpc.StatusCode.OK),
    ("the bot's certificate alone", lambda p: _client(p, p.bot_client), None, grpc.StatusCode.OK),
    ("the bot's certificate and its token", lambda p: _client(p, p.bot_client), "bot", grpc.StatusCode.OK),
]  # fmt: skip


def test_each_way_in_gets_its_exact_status_and_a_refused_one_stores_nothing(
    mtls_mesh: MeshThread, pki: Pki, secrets: Secrets
) -> None:
    accepted = set()
    for i, (case, tls_of, secret, expected) in enumerate(CASES):
        token = getattr(secrets, secret, secret) if secret else None
        report_id = f"0190a000-0000-7000-8000-{i:012d}"
        assert _publish(mtls_mesh.address, tls_of(pki), token, report_id) == expected, case
        if expected is grpc.StatusCode.OK:
            accepted.add(report_id)
    assert _stored_ids(mtls_mesh) == accepted


def test_a_revoked_token_is_refused_within_a_second_and_its_replacement_works(
    mtls_mesh: MeshThread, pki: Pki, secrets: Secrets
) -> None:
    """Rotation: a new token for the same bot, then the old one revoked, while the server runs."""
    tls = _client(pki, pki.bot_client)
    assert _publish(mtls_mesh.address, tls, secrets.bot, "0190a000-0000-7000-8000-100000000001") == grpc.StatusCode.OK
    successor = tokens_file.add(secrets.path, name="demo-bot-2", role=Role.BOT, bot_slug="demo-bot", now=NOW)
    tokens_file.revoke(secrets.path, name="demo-bot", now=NOW)
    revoked_at = time.monotonic()
    answers = []
    while time.monotonic() - revoked_at < 1.0:
        answers.append(_publish(mtls_mesh.address, tls, secrets.bot, f"0190a000-0000-7000-8000-2{len(answers):011d}"))
        if answers[-1] is grpc.StatusCode.UNAUTHENTICATED:
            break
        time.sleep(0.05)
    assert answers[-1] is grpc.StatusCode.UNAUTHENTICATED, answers
    assert _publish(mtls_mesh.address, tls, successor, "0190a000-0000-7000-8000-300000000001") == grpc.StatusCode.OK


def test_a_broken_tokens_file_keeps_the_tokens_in_force(mtls_mesh: MeshThread, pki: Pki, secrets: Secrets) -> None:
    tls = _client(pki, pki.bot_client)
    secrets.path.write_text("[[token]\nbroken")
    assert not mtls_mesh.mesh.tokens.reload()
    assert _publish(mtls_mesh.address, tls, secrets.bot, "0190a000-0000-7000-8000-400000000001") == grpc.StatusCode.OK


def test_sighup_serves_a_renewed_certificate_to_new_connections(
    tmp_path: Path, pki: Pki, secrets: Secrets, clock: ManualClock
) -> None:
    """The reload itself (what SIGHUP calls): connections made afterwards see the new chain;
    a certificate that does not serve is refused and the current one kept."""
    cert, key = tmp_path / "server.pem", tmp_path / "server.key"
    cert.write_bytes(pki.server.cert.read_bytes())
    key.write_bytes(pki.server.key.read_bytes())
    running = start_mesh(f"sqlite:///{tmp_path / 'g.db'}", clock, tokens_file=str(secrets.path),
                         tls_cert=str(cert), tls_key=str(key))  # fmt: skip
    try:
        renewed = pki.other_ca.issue("governance", file_stem="renewed")
        old_ca, new_ca = TlsOptions(str(pki.ca.cert)), TlsOptions(str(pki.other_ca.cert))
        assert _publish(running.address, old_ca, secrets.bot, "0190a000-0000-7000-8000-500000000001") == grpc.StatusCode.OK
        key.write_bytes(renewed.key.read_bytes())  # the key first: a half-written renewal is refused
        assert not running.mesh.tls.reload(clock.now())
        cert.write_bytes(renewed.cert.read_bytes())
        running.mesh.reload_credentials()
        assert _publish(running.address, new_ca, secrets.bot, "0190a000-0000-7000-8000-500000000002") == grpc.StatusCode.OK
        assert _publish(running.address, old_ca, secrets.bot, "0190a000-0000-7000-8000-500000000003") == (
            grpc.StatusCode.UNAVAILABLE
        )
    finally:
        running.stop()


def test_a_bot_given_the_wrong_ca_keeps_trading_and_delivers_once_it_is_fixed(
    mtls_mesh: MeshThread, pki: Pki, secrets: Secrets, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    publisher = PublisherConfig(outbox_path=str(tmp_path / "outbox.sqlite"), max_backoff=0.2)
    wrong = Governance(mtls_mesh.address, token=secrets.bot, bot_slug="demo-bot", publisher=publisher,
                       tls=_client(pki, pki.bot_client, pki.other_ca))  # fmt: skip
    reports = [wrong.builder.operations(component="tls", explanation=f"n{i}") for i in range(50)]
    try:
        assert all(wrong.reports.publish(r) for r in reports)  # never blocks, never raises
        until(lambda: "CERTIFICATE_VERIFY_FAILED" in wrong.reports.stats().last_error, "the handshake error named")
        assert wrong.reports.stats().pending == 50
        assert any("CERTIFICATE_VERIFY_FAILED" in r.getMessage() and "kept in the outbox" in r.getMessage()
                   for r in caplog.records)  # fmt: skip
    finally:
        wrong.close(timeout=0)
    assert _stored_ids(mtls_mesh) == set()

    fixed = Governance(mtls_mesh.address, token=secrets.bot, bot_slug="demo-bot", publisher=publisher,
                       tls=_client(pki, pki.bot_client))  # fmt: skip
    try:
        assert fixed.reports.flush(timeout=30)
        assert fixed.reports.stats().last_error == ""
    finally:
        fixed.close(timeout=5)
    assert _stored_ids(mtls_mesh) == {r.header.report_id for r in reports}


def test_a_bot_facing_an_expired_server_certificate_delivers_once_the_server_renews_it(
    tmp_path: Path, pki: Pki, secrets: Secrets
) -> None:
    expired = pki.ca.issue("governance", expired=True, file_stem="serving")
    clock = ManualClock(NOW - timedelta(days=5))  # the server started while its certificate was good
    running = start_mesh(f"sqlite:///{tmp_path / 'g.db'}", clock, tokens_file=str(secrets.path),
                         tls_cert=str(expired.cert), tls_key=str(expired.key))  # fmt: skip
    gov = Governance(running.address, token=secrets.bot, bot_slug="demo-bot", tls=TlsOptions(str(pki.ca.cert)),
                     publisher=PublisherConfig(outbox_path=str(tmp_path / "outbox.sqlite"), max_backoff=0.2))  # fmt: skip
    try:
        report = gov.builder.operations(component="tls", explanation="while the certificate is expired")
        assert gov.reports.publish(report)
        until(lambda: "CERTIFICATE_VERIFY_FAILED" in gov.reports.stats().last_error, "the handshake error named")
        assert _stored_ids(running) == set()
        pki.ca.issue("governance", file_stem="serving")  # renewed in place, then SIGHUP's reload
        clock.set(NOW)
        running.mesh.reload_credentials()
        assert gov.reports.flush(timeout=30)
        assert _stored_ids(running) == {report.header.report_id}
    finally:
        gov.close(timeout=5)
        running.stop()
