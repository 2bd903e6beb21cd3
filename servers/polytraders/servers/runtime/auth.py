"""Bearer tokens, roles and who may call what.

Roles: `bot` acts only for its own bot_slug; `operator` may do everything; `auditor`
reads everything and changes nothing. Tokens live in a TOML file (config/dev-tokens.toml
shows the shape); only their sha256 is kept in memory.
"""

from __future__ import annotations

import contextvars
import hashlib
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from .errors import PermissionDenied, Unauthenticated


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


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class TokenBook:
    def __init__(self, entries: Iterable[tuple[str, Principal]]) -> None:
        self._by_digest: dict[bytes, Principal] = {}
        for token, principal in entries:
            if principal.role is Role.BOT and not principal.bot_slug:
                raise ValueError(f"token {principal.name!r}: a bot token needs bot_slug")
            self._by_digest[_digest(token)] = principal

    @classmethod
    def from_file(cls, path: str | Path) -> TokenBook:
        """The tokens a server accepts; a file it cannot use is a `TokensFileError` saying why and what to do."""
        try:
            data = tomllib.loads(Path(path).read_text())
        except FileNotFoundError:
            raise TokensFileError(f"{path}: no such tokens file; give --tokens-file (or tokens_file in the "
                                  "config), e.g. config/dev-tokens.toml for development") from None  # fmt: skip
        except (OSError, UnicodeDecodeError) as error:
            raise TokensFileError(f"{path}: cannot read the tokens file ({error})") from None
        except tomllib.TOMLDecodeError as error:
            raise TokensFileError(f"{path}: not valid TOML ({error}); see config/dev-tokens.toml for the form") from None
        entries = []
        for i, item in enumerate(data.get("token", [])):
            try:
                role = Role(item["role"])
                entries.append(
                    (
                        item["token"],
                        Principal(item.get("name", f"token-{i}"), role, item.get("bot_slug")),
                    )
                )
            except KeyError as e:
                raise TokensFileError(f"{path}: [[token]] #{i} has no {e.args[0]!r}") from None
            except (TypeError, ValueError) as e:
                raise TokensFileError(f"{path}: [[token]] #{i}: {e} (roles: {', '.join(r.value for r in Role)})") from None
        if not entries:
            raise TokensFileError(f"{path}: no [[token]] entries")
        try:
            return cls(entries)
        except ValueError as e:
            raise TokensFileError(f"{path}: {e}") from None

    def authenticate(self, metadata: Iterable[tuple[str, str | bytes]]) -> Principal:
        authorization = next((v for k, v in metadata if k == "authorization"), None)
        if authorization is None:
            raise Unauthenticated("missing 'authorization: Bearer <token>' metadata")
        if isinstance(authorization, bytes):
            authorization = authorization.decode(errors="replace")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("authorization metadata must be 'Bearer <token>'")
        principal = self._by_digest.get(_digest(token.strip()))
        if principal is None:
            raise Unauthenticated("unknown bearer token")
        return principal


def authorize(principal: Principal, method: str, allowed: Mapping[str, frozenset[Role]]) -> None:
    roles = allowed.get(method)
    if roles is None or principal.role not in roles:
        raise PermissionDenied(f"role {principal.role.value!r} may not call {method}")
