"""What a serving process proves itself and admits callers with, read before anything else starts:
`serve` refuses an unusable certificate, tokens file or address having read only these, not having
imported every group first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .auth import ReloadingTokenBook
from .config import ServerConfig
from .tls import CertificateError, ServerTls, TlsFiles, is_loopback


@dataclass(frozen=True)
class Credentials:
    tokens: ReloadingTokenBook | None
    """The tokens file (None: no auth)."""
    tls: ServerTls | None
    """The server's certificate (None: plaintext, on loopback only)."""

    @classmethod
    def load(cls, config: ServerConfig, now: datetime) -> Credentials:
        return cls(ReloadingTokenBook(config.tokens_file) if config.auth else None, server_tls(config, now))


def server_tls(config: ServerConfig, now: datetime) -> ServerTls | None:
    """The server's TLS, checked before anything starts; plaintext only on loopback (a bearer
    token must never cross a network in the clear)."""
    if not (config.tls_cert or config.tls_key or config.tls_client_ca):
        if not is_loopback(config.host):
            raise CertificateError(
                f"--host {config.host} is not a loopback address: serve it over TLS (--tls-cert and --tls-key)"
            )
        return None
    if not (config.tls_cert and config.tls_key):
        raise CertificateError("TLS needs both --tls-cert and --tls-key (tls_cert, tls_key in the config)")
    return ServerTls(TlsFiles(config.tls_cert, config.tls_key, config.tls_client_ca), now)
