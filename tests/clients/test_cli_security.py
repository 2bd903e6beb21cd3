"""`polytraders-gov tokens`, and `serve` over TLS, as an operator runs them: real processes."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import grpc
import pytest

from polytraders.governance.v1 import report_bus_pb2 as pb
from polytraders.governance.v1 import report_bus_pb2_grpc as pb_grpc
from polytraders.sdk.report_builders import ReportBuilder
from polytraders.sdk.transport import TlsOptions, dial
from polytraders.servers.runtime.auth import read_tokens_file
from tests.clients.test_cli import CLI, GRPCURL
from tests.support.certs import TestCA, stray_key
from tests.support.governance_process import GovernanceProcess


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=60, env=env)


def test_tokens_add_prints_the_secret_once_and_keeps_only_its_hash(tmp_path: Path) -> None:
    file = tmp_path / "tokens.toml"
    added = _cli("tokens", "add", "--tokens-file", str(file), "--role", "bot", "--name", "mm-1", "--bot-slug", "mm-1")
    assert added.returncode == 0, added.stderr
    secret = added.stdout.strip()
    assert secret.startswith("ptg_") and len(secret) > 40 and "shown this once" in added.stderr
    assert secret not in file.read_text()
    (entry,), _ = read_tokens_file(file)
    assert (entry.name, entry.role.value, entry.bot_slug, entry.token) == ("mm-1", "bot", "mm-1", "")

    listed = _cli("tokens", "list", "--tokens-file", str(file))
    assert listed.returncode == 0 and "mm-1" in listed.stdout and entry.sha256[:12] in listed.stdout
    assert secret not in listed.stdout

    revoked = _cli("tokens", "revoke", "--tokens-file", str(file), "--name", "mm-1")
    assert revoked.returncode == 0, revoked.stderr
    (entry,), _ = read_tokens_file(file)
    assert entry.revoked_at


BAD_TOKEN_COMMANDS = [
    ("bot token without its slug", ["add", "--role", "bot", "--name", "b"], "a bot token needs --bot-slug"),
    ("a name already in force", ["add", "--role", "auditor", "--name", "ops"], "a token named 'ops' is already in force"),
    ("revoking what is not there", ["revoke", "--name", "nobody"], "no token named 'nobody' is in force"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "args", "says"), BAD_TOKEN_COMMANDS, ids=[c[0] for c in BAD_TOKEN_COMMANDS])
def test_a_tokens_command_that_cannot_be_done_says_why_and_changes_nothing(
    tmp_path: Path, case: str, args: list[str], says: str
) -> None:
    file = tmp_path / "tokens.toml"
    assert _cli("tokens", "add", "--tokens-file", str(file), "--role", "operator", "--name", "ops").returncode == 0
    before = file.read_bytes()
    refused = _cli("tokens", *args, "--tokens-file", str(file))
    assert refused.returncode == 2 and refused.stdout == ""
    (line,) = refused.stderr.strip().splitlines()
    assert says in line, line
    assert file.read_bytes() == before


def test_tokens_hash_replaces_secrets_in_the_clear(tmp_path: Path) -> None:
    file = tmp_path / "tokens.toml"
    file.write_text('# ours\n[[token]]\nname = "ops"\ntoken = "s3cret-s3cret"\nrole = "operator"\n')
    hashed = _cli("tokens", "hash", "--tokens-file", str(file))
    assert hashed.returncode == 0 and "1 secrets" in hashed.stdout
    text = file.read_text()
    assert "s3cret" not in text and text.startswith("# ours\n")
    (entry,), _ = read_tokens_file(file)
    assert entry.sha256 == __import__("hashlib").sha256(b"s3cret-s3cret").hexdigest()


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA(tmp_path_factory.mktemp("pki"))


def _bad_tls(ca: TestCA, tmp: Path) -> list[tuple[str, list[str], str]]:
    good = ca.issue("governance")
    expired = ca.issue("governance", expired=True)
    (tmp / "junk.pem").write_text("not a certificate\n")
    return [
        ("missing certificate", ["--tls-cert", str(tmp / "none.pem"), "--tls-key", str(good.key)],
         f"{tmp / 'none.pem'}: no such certificate file; give --tls-cert a PEM file"),
        ("not a certificate", ["--tls-cert", str(tmp / "junk.pem"), "--tls-key", str(good.key)],
         f"{tmp / 'junk.pem'}: not a PEM certificate"),
        ("key that does not match", ["--tls-cert", str(good.cert), "--tls-key", str(stray_key(tmp / "stray.key"))],
         "this key does not match the certificate"),
        ("expired certificate", ["--tls-cert", str(expired.cert), "--tls-key", str(expired.key)], "expired on"),
        ("certificate without its key", ["--tls-cert", str(good.cert)], "TLS needs both --tls-cert and --tls-key"),
        ("unreadable client CA", ["--tls-cert", str(good.cert), "--tls-key", str(good.key), "--tls-client-ca",
                                  str(tmp / "none-ca.pem")], "no such client CA file"),
        ("plaintext off loopback", ["--host", "0.0.0.0"], "--host 0.0.0.0 is not a loopback address: serve it over TLS"),
    ]  # fmt: skip


def test_serve_refuses_tls_it_cannot_serve_in_one_line(tmp_path: Path, ca: TestCA) -> None:
    for case, args, says in _bad_tls(ca, tmp_path):
        refused = _cli("serve", "--port", "0", "--database-url", f"sqlite:///{tmp_path / 'g.db'}", "--tokens-file",
                       "config/dev-tokens.toml", *args)  # fmt: skip
        assert refused.returncode == 2, (case, refused.stderr)
        (line,) = refused.stderr.strip().splitlines()
        assert line.startswith("polytraders-gov serve: ") and says in line, (case, line)
        assert "serving" not in refused.stdout, case
    assert not (tmp_path / "g.db").exists()  # refused before anything was opened


def test_sighup_renews_the_certificate_without_dropping_open_streams(
    tmp_path: Path, ca: TestCA, database_url: str
) -> None:
    first, renewed = ca.issue("governance", file_stem="first"), TestCA(tmp_path, "renewing-ca").issue("governance")
    cert, key = tmp_path / "serving.pem", tmp_path / "serving.key"
    cert.write_bytes(first.cert.read_bytes())
    key.write_bytes(first.key.read_bytes())
    old_roots, new_roots = TlsOptions(str(ca.cert)), TlsOptions(str(tmp_path / "renewing-ca.pem"))
    server = GovernanceProcess(database_url, None, "--tls-cert", str(cert), "--tls-key", str(key), tls=old_roots).start()
    try:
        with dial(server.address, (), old_roots) as open_channel:
            stream = pb_grpc.ReportBusServiceStub(open_channel).SubscribeReports(
                pb.SubscribeReportsRequest(bot_slugs=["demo-bot"]), metadata=BOT, timeout=300
            )
            assert _publish(open_channel, "before the renewal") is None
            assert next(stream).report.operations.explanation == "before the renewal"
            cert.write_bytes(renewed.cert.read_bytes())
            key.write_bytes(renewed.key.read_bytes())
            assert server.process is not None
            server.process.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 30
            while (refused := _publish_anew(server.address, new_roots)) and time.monotonic() < deadline:
                time.sleep(0.1)  # until the signal is handled: new connections get the renewed chain
            assert refused is None
            # the stream opened before the renewal carries on
            assert next(stream).report.operations.explanation == "after the renewal"
            stream.cancel()
        with dial(server.address, (), old_roots) as channel:
            assert _publish(channel, "to the old chain") is grpc.StatusCode.UNAVAILABLE
    finally:
        server.stop()


BOT = [("authorization", "Bearer dev-bot-token")]


def _publish_anew(address: str, tls: TlsOptions) -> grpc.StatusCode | None:
    """On a connection of its own (a refused channel would wait out its reconnect backoff)."""
    with dial(address, (), tls) as channel:
        return _publish(channel, "after the renewal")


def _publish(channel: grpc.Channel, explanation: str) -> grpc.StatusCode | None:
    report = ReportBuilder("demo-bot").operations(component="tls", explanation=explanation)
    try:
        pb_grpc.ReportBusServiceStub(channel).PublishReports(
            pb.PublishReportsRequest(reports=[report]), metadata=BOT, timeout=5
        )
    except grpc.RpcError as error:
        return error.code()
    return None


def test_grpcurl_reaches_a_mutual_tls_server_with_its_ca_and_a_client_certificate(tmp_path: Path, ca: TestCA) -> None:
    """The handshake is the transport's business, not storage's: one backend."""
    server_cert, client = ca.issue("governance", file_stem="grpcurl-server"), ca.issue("operator-laptop", server=False)
    ours = TlsOptions(str(ca.cert), str(client.cert), str(client.key))
    server = GovernanceProcess(f"sqlite:///{tmp_path / 'g.db'}", None, "--tls-cert", str(server_cert.cert), "--tls-key",
                               str(server_cert.key), "--tls-client-ca", str(ca.cert), tls=ours).start()  # fmt: skip
    try:
        def grpcurl(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([GRPCURL, *args, server.address, "list"], capture_output=True, text=True, timeout=30)

        listed = grpcurl("-cacert", str(ca.cert), "-cert", str(client.cert), "-key", str(client.key))
        assert listed.returncode == 0, listed.stderr
        assert "polytraders.governance.v1.ReportBusService" in listed.stdout
        refusals = (grpcurl("-plaintext", "-connect-timeout", "3"),
                    grpcurl("-cacert", str(ca.cert), "-connect-timeout", "3"))  # no client certificate  # fmt: skip
        for refused in refusals:
            assert refused.returncode != 0 and "ReportBusService" not in refused.stdout
    finally:
        server.stop()
