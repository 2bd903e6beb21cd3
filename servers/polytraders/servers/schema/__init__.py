"""The database schema's version: Alembic revisions are its only source, applied under a lock.

A process brings its database to the code's head before serving (`prepare`), or refuses with
one line naming both revisions. Several processes starting together on one database migrate it
exactly once: on PostgreSQL under an advisory lock (session-level, so a process that dies
mid-start releases it), on SQLite under a lock file beside the database.
"""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, func, inspect, select

from polytraders.servers.runtime.storage import advisory_key

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
BASELINE = "0001_baseline"
"""The schema of the last release made without Alembic (13f859b): its databases have tables and
no `alembic_version`, and are taken to be at this revision."""


class SchemaMismatch(Exception):
    """The database's schema is not the one this code serves; the message says what to do."""


@dataclass(frozen=True)
class SchemaState:
    current: str | None
    """The database's revision (None: an empty database)."""
    head: str
    """The revision this code needs."""
    pre_alembic: bool = False
    """Tables made before Alembic owned the schema (the baseline, not yet stamped)."""

    @property
    def known(self) -> bool:
        return self.current is None or self.current in _revisions()

    @property
    def at_head(self) -> bool:
        return self.current == self.head and not self.pre_alembic

    def describe(self) -> str:
        if self.current is None:
            return "empty"
        return f"{self.current} (made before Alembic)" if self.pre_alembic else self.current


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration, built in code so no alembic.ini has to sit in the working directory."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def _revisions() -> set[str]:
    return {revision.revision for revision in _script().walk_revisions()}


def head() -> str:
    revision = _script().get_current_head()
    assert revision is not None, "the migrations directory has no revision"
    return revision


def state(connection: Connection) -> SchemaState:
    current = MigrationContext.configure(connection).get_current_revision()
    if current is None and inspect(connection).has_table("report_archive"):
        return SchemaState(BASELINE, head(), pre_alembic=True)
    return SchemaState(current, head())


def history() -> list[tuple[str, str]]:
    """(revision, its message), newest first."""
    return [(r.revision, r.doc or "") for r in _script().walk_revisions()]


def prepare(engine: Engine, *, upgrade: bool) -> SchemaState:
    """Bring the database to head (with `upgrade`), or raise SchemaMismatch saying why it cannot serve."""
    with migration_lock(engine) as connection:
        found = state(connection)
        if found.at_head:
            return found
        if not found.known:
            raise SchemaMismatch(
                f"database schema is at revision {found.current}, newer than this release's head "
                f"{found.head}: it was upgraded by a later release; run that release"
            )
        if not upgrade:
            raise SchemaMismatch(
                f"database schema is at revision {found.describe()}, this release needs {found.head}: "
                "run `polytraders-gov db upgrade` (or serve with --upgrade)"
            )
        _upgrade(connection, found)
        log.info("schema upgraded from %s to %s", found.describe(), found.head)
        return state(connection)


def _upgrade(connection: Connection, found: SchemaState) -> None:
    config = alembic_config(connection)
    if found.pre_alembic:
        command.stamp(config, BASELINE)
    command.upgrade(config, "head")
    connection.commit()


@contextmanager
def migration_lock(engine: Engine) -> Iterator[Connection]:
    """A connection held under the database's migration lock: one migrator at a time, per schema."""
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            with _advisory_lock(connection):
                yield connection
        elif engine.url.database and engine.url.database != ":memory:":
            with _lock_file(Path(f"{engine.url.database}.schema-lock")):
                yield connection
        else:
            yield connection


@contextmanager
def _advisory_lock(connection: Connection) -> Iterator[None]:
    key = advisory_key("polytraders.schema", connection)
    connection.execute(select(func.pg_advisory_lock(key)))
    connection.commit()
    try:
        yield
    finally:
        connection.rollback()
        connection.execute(select(func.pg_advisory_unlock(key)))
        connection.commit()


@contextmanager
def _lock_file(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
