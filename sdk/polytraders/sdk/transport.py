"""How a client's channels reach the mesh: plaintext (a mesh on loopback), or TLS.

TLS is on when a `TlsOptions` is given, when POLYTRADERS_TLS_CA / _CERT / _KEY are set, or when
the target is written `grpcs://host:port`. A bad certificate never makes a call raise anything
but UNAVAILABLE, whose details name the handshake error: the publisher keeps reports in its
outbox until the certificate is fixed, as it does through any outage.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import grpc

SCHEME = "grpcs://"
ENV_PREFIX = "POLYTRADERS_TLS_"
ChannelOptions = Sequence[tuple[str, Any]]


class TlsFileError(ValueError):
    """A CA, certificate or key file the client cannot read."""


@dataclass(frozen=True)
class TlsOptions:
    ca_file: str | None = None
    """PEM roots the servers' certificates must chain to; None: the system's roots."""
    cert_file: str | None = None
    """PEM client certificate, for a mesh that requires one (mutual TLS); with `key_file`."""
    key_file: str | None = None
    server_name: str | None = None
    """The name the server's certificate must carry, when it is not the host dialled."""

    def __post_init__(self) -> None:
        if bool(self.cert_file) != bool(self.key_file):
            raise ValueError("a client certificate needs both cert_file and key_file")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> TlsOptions | None:
        """POLYTRADERS_TLS_CA, _CERT, _KEY, _SERVER_NAME; None when none is set."""
        values = {
            name: environ.get(ENV_PREFIX + name.upper(), "") or None
            for name in ("ca", "cert", "key", "server_name")
        }
        if not any(values.values()):
            return None
        return cls(values["ca"], values["cert"], values["key"], values["server_name"])

    @cached_property
    def credentials(self) -> grpc.ChannelCredentials:
        """Read once; a file that cannot be read is a `TlsFileError` naming it."""
        return grpc.ssl_channel_credentials(
            root_certificates=_read(self.ca_file, "CA"),
            private_key=_read(self.key_file, "client key"),
            certificate_chain=_read(self.cert_file, "client certificate"),
        )

    def options(self) -> list[tuple[str, Any]]:
        return [("grpc.ssl_target_name_override", self.server_name)] if self.server_name else []


def _read(path: str | None, what: str) -> bytes | None:
    if path is None:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise TlsFileError(f"{path}: cannot read the TLS {what} file ({error.strerror})") from None


def split_scheme(address: str) -> tuple[str, bool]:
    """ "grpcs://host:port" → ("host:port", True); anything else as it is, False."""
    if address.startswith(SCHEME):
        return address[len(SCHEME) :], True
    return address, False


def dial(target: str, options: ChannelOptions, tls: TlsOptions | None) -> grpc.Channel:
    """A blocking channel to `target`, secured by `tls` when given."""
    if tls is None:
        return grpc.insecure_channel(target, options=list(options))
    return grpc.secure_channel(target, tls.credentials, options=[*options, *tls.options()])


def dial_aio(
    target: str, options: ChannelOptions, tls: TlsOptions | None, interceptors: Sequence[Any] = ()
) -> grpc.aio.Channel:
    """An asyncio channel to `target`, secured by `tls` when given, through `interceptors`."""
    if tls is None:
        return grpc.aio.insecure_channel(target, options=list(options), interceptors=list(interceptors) or None)
    return grpc.aio.secure_channel(target, tls.credentials, options=[*options, *tls.options()],
                                   interceptors=list(interceptors) or None)  # fmt: skip


def resolve(
    tls: TlsOptions | None, secure_target: bool, environ: Mapping[str, str] = os.environ
) -> TlsOptions | None:
    """The TLS a client uses: what it was given, else the environment's, else the system's roots
    for a `grpcs://` target, else none."""
    if tls is not None:
        return tls
    found = TlsOptions.from_env(environ)
    if found is None and secure_target:
        return TlsOptions()
    return found
