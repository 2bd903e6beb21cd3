"""Bearer tokens, roles and who may call what.

Roles: `bot` acts only for its own bot_slug; `operator` may do everything; `auditor`
reads everything and changes nothing. Tokens live in a TOML file (config/dev-tokens.toml
shows the shape) as the SHA-256 of each secret; `polytraders-gov tokens` edits it.
"""

from __future__ import annotations

import contextvars
import hashlib
import logging
import secrets
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from .errors import PermissionDenied, Unauthenticated

log = logging.getLogger(__name__)


class Role(StrEnum):
    BOT = "bot"
    OPERATOR = "operator"
    AUDITOR = "auditor"


# What a method may be called by; every RPC of every service declares one.
READ = frozenset({Role.BOT, Role.OPERATOR, Role.AUDITOR})
"""Reads any caller may make (a bot sees only what its own slug allows)."""
BOT_WRITE = frozenset({Role.BOT, Role.OPERATOR})
"""Writes a bot makes for itself (publishing its reports); operators may too."""
OPERATE = frozenset({Role.OPERATOR})
"""Acts of authority."""
INTERNAL_READ = frozenset({Role.OPERATOR, Role.AUDITOR})
"""Reads of internal-only services (cron, health) that bots have no business making."""


@dataclass(frozen=True)
class Principal:
    name: str
    role: Role
    bot_slug: str | None = None

    def require_acting_for(self, bot_slug: str, field: str) -> None:
        """A bot may act only for itself."""
        if self.role is Role.BOT and bot_slug != self.bot_slug:
            raise PermissionDenied(f"{field}: a bot token for {self.bot_slug!r} may not act for {bot_slug!r}")

    def slug_to_read(self, requested: str, field: str = "bot_slug") -> str:
        """Which bot a read is of: the one asked for, or, when none is named, a bot's own (every
        bot for the others); a bot may read only itself."""
        bot_slug = requested or (self.bot_slug or "" if self.role is Role.BOT else "")
        self.require_acting_for(bot_slug, field)
        return bot_slug

    def require_acting_for_each(self, bot_slugs: Iterable[str], field: str) -> None:
        """`require_acting_for` over many; `field` takes each one's index, e.g. "reports[{}].bot_slug"."""
        if self.role is not Role.BOT:
            return
        bot_slugs = list(bot_slugs)
        if set(bot_slugs) <= {self.bot_slug}:  # the common case, checked at C speed
            return
        index = next(i for i, slug in enumerate(bot_slugs) if slug != self.bot_slug)
        self.require_acting_for(bot_slugs[index], field.format(index))


ANONYMOUS_OPERATOR = Principal("auth-disabled", Role.OPERATOR)

_current: contextvars.ContextVar[Principal] = contextvars.ContextVar("polytraders_principal")


def current_principal() -> Principal:
    """The caller of the RPC being served (set by the server's interceptor)."""
    return _current.get()


def set_current_principal(principal: Principal) -> contextvars.Token[Principal]:
    return _current.set(principal)


def reset_current_principal(token: contextvars.Token[Principal]) -> None:
    """Only in the context that set it (the RPC's own task): a token from another raises ValueError."""
    _current.reset(token)


class TokensFileError(ValueError):
    """A tokens file a server cannot start with (missing, unreadable, malformed)."""


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def new_secret() -> str:
    """A bearer secret of 256 random bits: its SHA-256 is all a tokens file needs to keep."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


SECRET_PREFIX = "ptg_"


@dataclass(frozen=True)
class TokenEntry:
    """One `[[token]]` of a tokens file: the secret's SHA-256 (hex), or, in development files, the
    secret itself (`token`); `revoked_at` set means refused."""

    name: str
    role: Role
    bot_slug: str | None = None
    sha256: str = ""
    token: str = ""
    created_at: str = ""
    revoked_at: str = ""

    @property
    def principal(self) -> Principal:
        return Principal(self.name, self.role, self.bot_slug)

    @property
    def key(self) -> bytes:
        return bytes.fromhex(self.sha256) if self.sha256 else digest(self.token)


@dataclass(frozen=True)
class CertificateEntry:
    """One `[[certificate]]`: under mTLS, a client certificate whose subject common name is
    `common_name` is this principal (a bot process may present one instead of a token)."""

    common_name: str
    name: str
    role: Role
    bot_slug: str | None = None


class TokenBook:
    """Who a bearer secret or a client certificate is.

    Secrets are looked up by their SHA-256: the book never holds one, and a lookup's timing can
    tell at most something about a digest, which says nothing about any secret (high-entropy
    secrets make the digest the whole key, so no slow KDF is needed and none runs per call).
    """

    def __init__(self, entries: Iterable[TokenEntry], certificates: Iterable[CertificateEntry] = ()) -> None:
        self._by_digest: dict[bytes, Principal] = {}
        self._by_common_name: dict[str, Principal] = {}
        self.plaintext = 0
        """Entries whose secret is written in the clear (development files)."""
        for entry in entries:
            if entry.role is Role.BOT and not entry.bot_slug:
                raise ValueError(f"token {entry.name!r}: a bot token needs bot_slug")
            if not entry.revoked_at:
                self._by_digest[entry.key] = entry.principal
                self.plaintext += bool(entry.token)
        for certificate in certificates:
            if certificate.role is Role.BOT and not certificate.bot_slug:
                raise ValueError(f"certificate {certificate.common_name!r}: a bot certificate needs bot_slug")
            self._by_common_name[certificate.common_name] = Principal(
                certificate.name, certificate.role, certificate.bot_slug
            )

    @classmethod
    def from_file(cls, path: str | Path) -> TokenBook:
        """The tokens a server accepts; a file it cannot use is a `TokensFileError` saying why and what to do."""
        return cls(*read_tokens_file(path))

    def authenticate(self, metadata: Iterable[tuple[str, str | bytes]]) -> Principal:
        authorization = next((v for k, v in metadata if k == "authorization"), None)
        if authorization is None:
            raise Unauthenticated("missing 'authorization: Bearer <token>' metadata")
        if isinstance(authorization, bytes):
            authorization = authorization.decode(errors="replace")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("authorization metadata must be 'Bearer <token>'")
        principal = self._by_digest.get(digest(token.strip()))
        if principal is None:
            raise Unauthenticated("unknown or revoked bearer token")
        return principal

    def certificate_principal(self, common_name: str) -> Principal | None:
        return self._by_common_name.get(common_name)


def read_tokens_file(path: str | Path) -> tuple[list[TokenEntry], list[CertificateEntry]]:
    try:
        data = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise TokensFileError(f"{path}: no such tokens file; give --tokens-file (or tokens_file in the "
                              "config), e.g. config/dev-tokens.toml for development") from None  # fmt: skip
    except (OSError, UnicodeDecodeError) as error:
        raise TokensFileError(f"{path}: cannot read the tokens file ({error})") from None
    except tomllib.TOMLDecodeError as error:
        raise TokensFileError(
            f"{path}: not valid TOML ({error}); see config/dev-tokens.toml for the form"
        ) from None
    tokens = [_entry(path, "token", i, item) for i, item in enumerate(data.get("token", []))]
    certificates = [
        _entry(path, "certificate", i, item) for i, item in enumerate(data.get("certificate", []))
    ]
    if not tokens and not certificates:
        raise TokensFileError(f"{path}: no [[token]] entries")
    try:
        TokenBook(tokens, certificates)  # what the book refuses, refused while the file is named
    except ValueError as e:
        raise TokensFileError(f"{path}: {e}") from None
    return tokens, certificates


def _entry(path: str | Path, table: str, i: int, item: Any) -> Any:
    try:
        role = Role(item["role"])
        if table == "certificate":
            return CertificateEntry(
                item["common_name"], item.get("name", item["common_name"]), role, item.get("bot_slug")
            )
        if "sha256" in item:
            if len(bytes.fromhex(item["sha256"])) != hashlib.sha256().digest_size:
                raise ValueError("sha256 must be 64 hex digits")
        elif "token" not in item:
            raise KeyError("sha256")
        return TokenEntry(
            item.get("name", f"token-{i}"), role, item.get("bot_slug"), item.get("sha256", ""), item.get("token", ""),
            str(item.get("created_at", "")), str(item.get("revoked_at", "")),
        )  # fmt: skip
    except KeyError as e:
        hint = " (the secret's SHA-256: `polytraders-gov tokens add` writes it)" if e.args[0] == "sha256" else ""
        raise TokensFileError(f"{path}: [[{table}]] #{i} has no {e.args[0]!r}{hint}") from None
    except (TypeError, ValueError) as e:
        raise TokensFileError(
            f"{path}: [[{table}]] #{i}: {e} (roles: {', '.join(r.value for r in Role)})"
        ) from None


class ReloadingTokenBook:
    """The tokens file as it is now: re-read by `reload_if_changed()` (the server checks twice a
    second) or `reload()` (SIGHUP). A file that stops being usable keeps the last good book and
    says why."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._seen = self._stamp()
        self.book = TokenBook.from_file(self.path)
        self._warn_plaintext()

    def _stamp(self) -> tuple[int, int, int] | None:
        try:
            found = self.path.stat()
        except OSError:
            return None
        return found.st_mtime_ns, found.st_size, found.st_ino

    def _warn_plaintext(self) -> None:
        if self.book.plaintext:
            log.warning("%s holds %d bearer secrets in the clear; `polytraders-gov tokens hash --tokens-file %s` "
                        "keeps only their SHA-256", self.path, self.book.plaintext, self.path)  # fmt: skip

    def reload(self) -> bool:
        """Read the file again; True when the new book took effect."""
        self._seen = self._stamp()
        try:
            self.book = TokenBook.from_file(self.path)
        except TokensFileError as refusal:
            log.error("tokens file not reloaded, the previous tokens stay in force: %s", refusal)
            return False
        log.info("tokens reloaded from %s", self.path)
        self._warn_plaintext()
        return True

    def reload_if_changed(self) -> bool:
        return self._stamp() != self._seen and self.reload()

    def authenticate(self, metadata: Iterable[tuple[str, str | bytes]]) -> Principal:
        return self.book.authenticate(metadata)

    def certificate_principal(self, common_name: str) -> Principal | None:
        return self.book.certificate_principal(common_name)


def authorize(principal: Principal, method: str, allowed: Mapping[str, frozenset[Role]]) -> None:
    roles = allowed.get(method)
    if roles is None or principal.role not in roles:
        raise PermissionDenied(f"role {principal.role.value!r} may not call {method}")
