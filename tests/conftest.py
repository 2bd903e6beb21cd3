"""Shared fixtures: both storage backends, a ManualClock, a mesh on loopback."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

from polytraders.sdk.clock import ManualClock
from polytraders.servers.mesh import MeshThread
from polytraders.servers.runtime.config import ServerConfig

REPO = Path(__file__).resolve().parents[1]
DEV_TOKENS = REPO / "config" / "dev-tokens.toml"
POSTGRES_URL = os.environ.get(
    "POLYTRADERS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() == "true"


def _postgres_reachable() -> str | None:
    url = make_url(POSTGRES_URL)
    try:
        with psycopg.connect(
            host=url.host,
            port=url.port or 5432,
            user=url.username,
            dbname=url.database,
            connect_timeout=3,
        ):
            return None
    except psycopg.OperationalError as error:
        return str(error).strip()


@pytest.fixture(scope="session")
def postgres_available() -> None:
    problem = _postgres_reachable()
    if problem is None:
        return
    if IN_CI:
        pytest.fail(f"PostgreSQL is required under CI=true: {problem}")
    pytest.skip(f"PostgreSQL not reachable: {problem}")


@pytest.fixture
def postgres_url(postgres_available: None) -> Iterator[str]:
    """A fresh schema in the test database, dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    url = make_url(POSTGRES_URL)
    conninfo = dict(host=url.host, port=url.port or 5432, user=url.username, dbname=url.database)
    with psycopg.connect(**conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    yield url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    drop_schema(conninfo, schema)


def drop_schema(conninfo: dict[str, Any], schema: str) -> None:
    """DROP SCHEMA ... CASCADE locks its tables one by one; a straggling read of a stopped server
    (a worker thread finishing its query) can deadlock with it, and PostgreSQL then aborts one of
    the two: the drop is simply tried again."""
    for attempt in range(5):
        try:
            with psycopg.connect(**conninfo, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            return
        except psycopg.errors.DeadlockDetected:
            if attempt == 4:
                raise
            time.sleep(0.2)


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def url_for_backend(request: pytest.FixtureRequest, backend: str) -> str:
    if backend == "sqlite":
        return f"sqlite:///{request.getfixturevalue('tmp_path') / 'governance.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest) -> str:
    """The same test runs on SQLite and on PostgreSQL."""
    return url_for_backend(request, request.param)


def start_mesh(database_url: str, clock: ManualClock, *, tracer_provider: Any = None, **settings: Any) -> MeshThread:
    """Every group on one loopback port, with the dev tokens (and any other server `settings`)."""
    settings = {
        "strategy_packages": ("tests",),  # the test strategies live in the tests package
        "upgrade_schema": True,
        "tokens_file": str(DEV_TOKENS),
        "auth_failures_per_minute": 1_000_000,  # tests refuse hundreds of tokens from loopback on purpose
        **settings,
    }
    config = ServerConfig(port=0, database_url=database_url, drain_seconds=2, **settings)
    return MeshThread(config, clock=clock, tracer_provider=tracer_provider)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 11, 24, 12, 0, tzinfo=UTC))


@pytest.fixture
def mesh(database_url: str, clock: ManualClock) -> Iterator[MeshThread]:
    running = start_mesh(database_url, clock)
    yield running
    running.stop()
