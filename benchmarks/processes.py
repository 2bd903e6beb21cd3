"""Servers under measurement run in their own processes, as they would beside a bot."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TOKENS = str(REPO / "config" / "dev-tokens.toml")


@contextmanager
def serving(command: list[str], env: Mapping[str, str] | None = None) -> Iterator[str]:
    """Start a server that prints '... on HOST:PORT' first (with `env` added); yield the address; stop it."""
    with started(command, env) as (address, _):
        yield address


@contextmanager
def started(command: list[str], env: Mapping[str, str] | None = None) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`serving`, yielding the process too (a figure that reads its CPU time needs its pid)."""
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPO,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        match = re.search(r"on (\S+:\d+)", banner)
        if not match:
            raise RuntimeError(f"server did not start: {banner!r}")
        yield match.group(1), process
    finally:
        process.terminate()
        process.wait(30)


def governance(database_url: str, groups: str = "reports") -> list[str]:
    """A governance server serving only the `groups` a figure measures: with every group, the
    ledger would book the benchmark's fills and publish reports of its own into the same archive."""
    return [
        str(Path(sys.executable).parent / "polytraders-gov"),
        "serve",
        "--port",
        "0",
        "--log-level",
        "warning",
        "--database-url",
        database_url,
        "--tokens-file",
        TOKENS,
        "--groups",
        groups,
        "--upgrade",
    ]


def raw_grpc() -> list[str]:
    return [sys.executable, "-m", "benchmarks.raw_grpc"]
