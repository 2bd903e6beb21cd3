"""Alembic's entry: migrate the connection the caller lent (`polytraders.servers.schema`), or a URL.

A URL comes from `alembic -x database_url=...`, else POLYTRADERS_DATABASE_URL, else the
embedded default; SQLite migrates in batch mode (it cannot ALTER most things in place).
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection

from polytraders.servers.runtime.config import ServerConfig
from polytraders.servers.runtime.storage import make_engine, normalise_url
from polytraders.servers.schema.models import metadata


def _url() -> str:
    return normalise_url(
        context.get_x_argument(as_dictionary=True).get("database_url")
        or os.environ.get("POLYTRADERS_DATABASE_URL")
        or ServerConfig().database_url
    )


def _migrate(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
elif (lent := context.config.attributes.get("connection")) is not None:
    _migrate(lent)
else:
    engine = make_engine(_url())
    with engine.connect() as connection:
        _migrate(connection)
    engine.dispose()
