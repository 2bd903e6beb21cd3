"""A server's TLS: its certificate and key, and with a client CA, mutual TLS.

The files are checked before the server starts (one clear line naming the file at fault), and
read again on `reload()` (SIGHUP): gRPC asks for the configuration at each new handshake, so a
renewed certificate serves new connections while open streams carry on undisturbed.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization

log = logging.getLogger(__name__)


class CertificateError(ValueError):
    """A certificate or key a server cannot serve with."""


@dataclass(frozen=True)
class TlsFiles:
    cert: str
    key: str
    client_ca: str = ""
    """PEM CA bundle of client certificates: set, every client must present one it signed (mTLS)."""


def is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _read(path: str, what: str, option: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise CertificateError(f"{path}: no such {what} file; give {option} a PEM file") from None
    except OSError as error:
        raise CertificateError(f"{path}: cannot read the {what} ({error.strerror})") from None


def _certificates(pem: bytes, path: str, what: str, option: str) -> list[x509.Certificate]:
    try:
        found = x509.load_pem_x509_certificates(pem)
    except ValueError:
        found = []
    if not found:
        raise CertificateError(
            f"{path}: not a PEM {what} (expected -----BEGIN CERTIFICATE-----); fix {option}"
        )
    return found


def load(files: TlsFiles, now: datetime) -> grpc.ServerCertificateConfiguration:
    """The configuration gRPC serves, once every file reads, the key matches and the certificate is in date."""
    cert_pem = _read(files.cert, "certificate", "--tls-cert")
    key_pem = _read(files.key, "private key", "--tls-key")
    leaf = _certificates(cert_pem, files.cert, "certificate", "--tls-cert")[0]
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as error:
        raise CertificateError(
            f"{files.key}: not an unencrypted PEM private key ({error}); fix --tls-key"
        ) from None
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(serialization.Encoding.DER, public) != leaf.public_key().public_bytes(
        serialization.Encoding.DER, public
    ):
        raise CertificateError(
            f"{files.key}: this key does not match the certificate {files.cert}; give the key it was issued for"
        )
    if leaf.not_valid_after_utc <= now:
        raise CertificateError(
            f"{files.cert}: expired on {leaf.not_valid_after_utc:%Y-%m-%d %H:%M} UTC; renew it"
        )
    if leaf.not_valid_before_utc > now:
        raise CertificateError(
            f"{files.cert}: not valid before {leaf.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
        )
    client_ca = None
    if files.client_ca:
        client_ca = _read(files.client_ca, "client CA", "--tls-client-ca")
        _certificates(client_ca, files.client_ca, "client CA", "--tls-client-ca")
    return grpc.ssl_server_certificate_configuration([(key_pem, cert_pem)], root_certificates=client_ca)


class ServerTls:
    def __init__(self, files: TlsFiles, now: datetime) -> None:
        self.files = files
        self._initial = load(files, now)
        self._pending: grpc.ServerCertificateConfiguration | None = None

    @property
    def mutual(self) -> bool:
        return bool(self.files.client_ca)

    def credentials(self) -> grpc.ServerCredentials:
        return grpc.dynamic_ssl_server_credentials(
            self._initial,
            self._next_configuration,  # type: ignore[arg-type]  # None keeps the certificate in use (grpc's contract; the stubs omit it)
            require_client_authentication=self.mutual,
        )

    def _next_configuration(self) -> grpc.ServerCertificateConfiguration | None:
        """gRPC's fetcher, called at each handshake: a reloaded configuration once, else None (keep)."""
        pending, self._pending = self._pending, None
        return pending

    def reload(self, now: datetime) -> bool:
        """Read the files again; a set that does not serve is logged and the current one kept."""
        try:
            self._pending = load(self.files, now)
        except CertificateError as refusal:
            log.error("TLS certificate not reloaded, the current one stays in use: %s", refusal)
            return False
        log.info("TLS certificate reloaded from %s", self.files.cert)
        return True
