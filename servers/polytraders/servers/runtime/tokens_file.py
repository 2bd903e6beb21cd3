"""Editing a tokens file: add a token (its secret shown once, its SHA-256 kept), revoke one, hash
the secrets a development file holds in the clear.

Every edit rewrites the file whole under a lock (a sidecar `.lock`), into a temporary file renamed
over it, so a running server's watcher reads either the old file or the new one, never half.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from .auth import CertificateEntry, Role, TokenEntry, TokensFileError, new_secret, read_tokens_file

HEADER = (
    "# Governance bearer tokens, as `polytraders-gov tokens` keeps them: each secret only as its SHA-256."
)
Entries = tuple[list[TokenEntry], list[CertificateEntry]]


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _edit(path: Path, change: Callable[[Entries], None], *, create: bool = False) -> None:
    with _locked(path):
        if create and not path.exists():
            entries: Entries = ([], [])
            comments = [HEADER]
        else:
            entries = read_tokens_file(path)
            comments = _leading_comments(path) or [HEADER]
        change(entries)
        _write(path, comments, entries)


def add(path: str | Path, *, name: str, role: Role, bot_slug: str | None, now: datetime) -> str:
    """A new token; returns its secret, which exists nowhere else afterwards."""
    if role is Role.BOT and not bot_slug:
        raise TokensFileError("a bot token needs --bot-slug (the only slug it may act for)")
    secret = new_secret()
    entry = TokenEntry(
        name, role, bot_slug, sha256=_hex(secret), created_at=now.isoformat(timespec="seconds")
    )

    def append(entries: Entries) -> None:
        if any(t.name == name and not t.revoked_at for t in entries[0]):
            raise TokensFileError(
                f"{path}: a token named {name!r} is already in force; revoke it or choose another name"
            )
        entries[0].append(entry)

    _edit(Path(path), append, create=True)
    return secret


def revoke(path: str | Path, *, name: str, now: datetime) -> int:
    """Mark every token in force named `name` revoked; how many were."""
    revoked = 0

    def mark(entries: Entries) -> None:
        nonlocal revoked
        for i, token in enumerate(entries[0]):
            if token.name == name and not token.revoked_at:
                entries[0][i] = dataclasses.replace(token, revoked_at=now.isoformat(timespec="seconds"))
                revoked += 1
        if not revoked:
            raise TokensFileError(f"{path}: no token named {name!r} is in force (`tokens list` shows them)")

    _edit(Path(path), mark)
    return revoked


def hash_secrets(path: str | Path) -> int:
    """Replace every secret written in the clear by its SHA-256; how many were."""
    hashed = 0

    def replace(entries: Entries) -> None:
        nonlocal hashed
        for i, token in enumerate(entries[0]):
            if token.token:
                entries[0][i] = dataclasses.replace(token, sha256=_hex(token.token), token="")
                hashed += 1

    _edit(Path(path), replace)
    return hashed


def _hex(secret: str) -> str:
    return TokenEntry("", Role.AUDITOR, token=secret).key.hex()


def _leading_comments(path: Path) -> list[str]:
    lines = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        lines.append(line)
    return lines


def _write(path: Path, comments: list[str], entries: Entries) -> None:
    text = "\n".join(comments) + "\n"
    for table, items in (("token", entries[0]), ("certificate", entries[1])):
        for item in items:
            text += f"\n[[{table}]]\n"
            for field in dataclasses.fields(item):
                value = getattr(item, field.name)
                if value:  # TOML basic strings take JSON's escapes
                    text += f"{field.name} = {json.dumps(str(value), ensure_ascii=False)}\n"
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        if path.exists():
            os.chmod(temporary, path.stat().st_mode & 0o777)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
