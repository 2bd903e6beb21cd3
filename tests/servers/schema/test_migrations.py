"""Alembic owns the schema: models and revisions never drift, behind or ahead refuses to serve,
revisions only expand, and processes starting together migrate a database exactly once."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, insert, text, update
from sqlalchemy.exc import DBAPIError

from polytraders.servers import schema
from polytraders.servers.runtime.ledger import ledger_entries
from polytraders.servers.runtime.storage import make_engine
from polytraders.servers.schema.models import metadata
from tests.conftest import DEV_TOKENS, REPO

CLI = str(Path(sys.executable).parent / "polytraders-gov")


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    made = make_engine(database_url)
    yield made
    made.dispose()


def test_models_and_migrations_never_drift(engine: Engine) -> None:
    schema.prepare(engine, upgrade=True)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []
        assert schema.state(connection).at_head


def test_the_compliance_ledger_stays_append_only_under_migrations(engine: Engine) -> None:
    """The append-only triggers are part of the baseline revision, not of a create_all hook."""
    schema.prepare(engine, upgrade=True)
    row = dict(stream="s", seq=1, entry_id="e", recorded_at_us=1, corrects="", payload=b"p",
               prev_hash=bytes(32), hash=bytes(32))  # fmt: skip
    with engine.begin() as connection:
        connection.execute(insert(ledger_entries), [row])
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
        connection.execute(update(ledger_entries).values(payload=b"tampered"))


def test_an_empty_database_is_refused_without_upgrade_naming_both_revisions(engine: Engine) -> None:
    with pytest.raises(schema.SchemaMismatch) as refusal:
        schema.prepare(engine, upgrade=False)
    assert "at revision empty" in str(refusal.value) and schema.head() in str(refusal.value)


def test_a_database_ahead_of_the_code_is_refused_even_with_upgrade(engine: Engine) -> None:
    schema.prepare(engine, upgrade=True)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    with pytest.raises(schema.SchemaMismatch, match="9999_from_the_future, newer than this release's head"):
        schema.prepare(engine, upgrade=True)


def test_revisions_after_the_baseline_only_expand() -> None:
    """A release's revision only adds, so the previous release keeps serving a database at head."""
    buffer = io.StringIO()
    config = schema.alembic_config()
    config.output_buffer = buffer
    config.set_main_option("sqlalchemy.url", "postgresql+psycopg://offline/offline")
    command.upgrade(config, f"{schema.BASELINE}:head", sql=True)
    statements = [s.strip() for s in buffer.getvalue().split(";") if s.strip()]
    contracting = re.compile(r"\b(DROP|RENAME|ALTER\s+COLUMN\s+\S+\s+(TYPE|SET\s+NOT\s+NULL))\b", re.I)
    assert [s for s in statements if contracting.search(s)] == []


def _serve(database_url: str, *flags: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [CLI, "serve", "--port", "0", "--database-url", database_url, "--tokens-file", str(DEV_TOKENS),
         "--log-level", "info", *flags],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
    )  # fmt: skip


@contextmanager
def _serving_together(database_url: str, count: int) -> Iterator[list[tuple[str, str]]]:
    """`count` serve processes started at once; yields each one's banner and its log so far."""
    with ExitStack() as stack:
        processes = [_serve(database_url, "--upgrade") for _ in range(count)]
        for process in processes:
            stack.callback(_stop, process)
        banners = [process.stdout.readline() for process in processes]
        for process in processes:
            process.terminate()
        logs = [process.communicate(timeout=30)[1] for process in processes]
        yield list(zip(banners, logs, strict=True))


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait()


def _make_pre_alembic(database_url: str) -> None:
    """A database as the last release before Alembic left it: its tables, no alembic_version."""
    engine = make_engine(database_url)
    try:
        with engine.begin() as connection:
            command.upgrade(schema.alembic_config(connection), schema.BASELINE)
            connection.execute(text("DROP TABLE alembic_version"))
    finally:
        engine.dispose()


@pytest.mark.parametrize("database", ["fresh", "pre-alembic"])
def test_three_processes_starting_together_all_come_up_and_migrate_once(database_url: str, database: str) -> None:
    if database == "pre-alembic":
        _make_pre_alembic(database_url)
    with _serving_together(database_url, 3) as started:
        for banner, log in started:
            assert "serving" in banner, log
            assert "Traceback" not in log and "UniqueViolation" not in log
        migrated = [log for _, log in started if "schema upgraded from" in log]
    assert len(migrated) == 1
    expected = "empty" if database == "fresh" else f"{schema.BASELINE} (made before Alembic)"
    assert f"schema upgraded from {expected} to {schema.head()}" in migrated[0]
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            assert schema.state(connection).at_head
    finally:
        engine.dispose()


def test_serve_without_upgrade_on_a_database_behind_says_so_in_one_line(database_url: str) -> None:
    process = _serve(database_url, "--no-upgrade")
    out, err = process.communicate(timeout=60)
    assert process.returncode != 0 and out == ""
    lines = err.strip().splitlines()
    assert lines == [
        f"polytraders-gov serve: database schema is at revision empty, this release needs {schema.head()}: "
        "run `polytraders-gov db upgrade` (or serve with --upgrade)"
    ]


def test_db_commands_upgrade_and_report_the_revision(database_url: str) -> None:
    def db(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([CLI, "db", *args], capture_output=True, text=True, timeout=60, cwd=REPO)

    behind = db("current", "--database-url", database_url)
    assert (behind.returncode, behind.stdout) == (1, f"empty, head is {schema.head()}\n")
    upgraded = db("upgrade", "--database-url", database_url)
    assert (upgraded.returncode, upgraded.stdout) == (0, f"{schema.head()} (head)\n")
    assert db("current", "--database-url", database_url).stdout == f"{schema.head()} (head)\n"
    history = db("history")
    assert history.returncode == 0 and f"{schema.BASELINE}" in history.stdout


def test_db_current_on_an_unreachable_database_is_one_line_and_exit_2() -> None:
    done = subprocess.run(
        [CLI, "db", "current", "--database-url", "postgresql://nobody@127.0.0.1:9/none"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert "cannot open" in done.stderr and "Traceback" not in done.stderr
