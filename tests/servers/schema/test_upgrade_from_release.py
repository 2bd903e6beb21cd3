"""Upgrade from the previous release: a database the last release before Alembic (13f859b) wrote,
with real data in every table, brought to head by a starting mesh on SQLite and PostgreSQL. Every
row is still there with the same contents, the compliance ledger still verifies, and every read RPC
answers as that release answered on the same database at the same instant.

The fixtures under release_13f859b/ were made by the old release itself (make_release_13f859b.py
says how, and how to make them again); they are gzipped: `zcat` shows them.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import grpc
import psycopg
import pytest
from sqlalchemy import Connection, Engine, inspect, select
from sqlalchemy.engine import make_url

from polytraders.sdk.clock import ManualClock
from polytraders.servers import schema
from polytraders.servers.ledger.book import SUM_KEY, pnl_entries, pnl_sums, pnl_trades, summed
from polytraders.servers.runtime.leadership import duty_leases
from polytraders.servers.runtime.storage import make_engine
from polytraders.servers.schema.models import metadata
from tests.conftest import BACKENDS, start_mesh, url_for_backend
from tests.servers.schema import release_replay as replay

FIXTURES = Path(__file__).with_name("release_13f859b")
SCHEMA_PLACEHOLDER = "__SCHEMA__"

_MARKED = "GetPnl marks open positions to market (unrealised) and totals it with the net"
EXPECTED_DIFFERENCES: dict[tuple[str, str], str] = {
    ("GetPnl", f"response.{part}.{field}"): _MARKED
    for part in ("rows", "total") for field in ("unrealised_pnl_micros", "total_pnl_micros")
}
"""(method, path in its answer) → why this release answers differently from 13f859b there, on purpose.
Nothing else may differ."""


def recorded(backend: str) -> dict[str, Any]:
    return json.loads(gzip.decompress((FIXTURES / f"{backend}.json.gz").read_bytes()))


def load_release_database(url: str, backend: str) -> None:
    """The fixture database, as 13f859b left it, at `url`."""
    parsed = make_url(url)
    if backend == "sqlite":
        Path(parsed.database or "").write_bytes(gzip.decompress((FIXTURES / "sqlite.db.gz").read_bytes()))
        return
    schema_name = str(parsed.query["options"]).partition("search_path=")[2]
    sql = gzip.decompress((FIXTURES / "postgresql.sql.gz").read_bytes()).decode()
    with psycopg.connect(host=parsed.host, port=parsed.port or 5432, user=parsed.username,
                         dbname=parsed.database, autocommit=True) as connection:  # fmt: skip
        connection.execute(sql.replace(f"{SCHEMA_PLACEHOLDER}.", f'"{schema_name}".'))


@pytest.fixture(params=BACKENDS)
def release(request: pytest.FixtureRequest) -> Iterator[tuple[str, dict[str, Any]]]:
    """A database of the previous release (its URL) and what that release recorded of it."""
    url = url_for_backend(request, request.param)
    load_release_database(url, request.param)
    yield url, recorded(request.param)


@pytest.fixture
def engine_of(release: tuple[str, dict[str, Any]]) -> Iterator[Engine]:
    engine = make_engine(release[0])
    yield engine
    engine.dispose()


def differences(old: Any, new: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """Where two JSON values differ: (path, old, new), the deepest differing paths only."""
    if isinstance(old, dict) and isinstance(new, dict):
        found = []
        for key in sorted(old.keys() | new.keys()):
            found += differences(old.get(key), new.get(key), f"{path}.{key}" if path else key)
        return found
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [d for i, (o, n) in enumerate(zip(old, new, strict=True)) for d in differences(o, n, f"{path}[{i}]")]
    return [] if old == new else [(path, old, new)]


def _generic(path: str) -> str:
    """A path with its list positions left out, as EXPECTED_DIFFERENCES names it."""
    return "".join(part.split("[")[0] + "." for part in path.split(".")).rstrip(".")


def _short(value: Any, limit: int = 300) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


BACKFILLED = frozenset({"pnl_trades", "pnl_sums"})
"""Tables a revision fills from the release's rows (each booked fill becomes a trade; the journal is
summed per day, hour and five minutes): checked on their own, and by the answers of GetPnl."""


def _rows_of_added_tables(connection: Connection, release_tables: dict[str, Any]) -> dict[str, list[list[Any]]]:
    """The rows of every table a revision after the baseline added and fills from no old data,
    besides `duty_leases`: the holds a start takes (see the test)."""
    found = {}
    for name in sorted(set(metadata.tables) - set(release_tables) - {"duty_leases"} - BACKFILLED):
        table = metadata.tables[name]
        rows = replay.table_rows(connection, table, [c.name for c in table.c], [c.name for c in table.primary_key])
        if rows:
            found[name] = rows
    return found


TASKS_ADDED_SINCE = {"ledger-verify"}
"""Cron tasks of the default schedule that 13f859b did not have."""


def test_the_previous_release_had_data_in_every_table() -> None:
    """The fixtures' promise: nothing in the schema of 13f859b goes untested for want of rows."""
    for backend in ("sqlite", "postgresql"):
        tables = recorded(backend)["tables"]
        assert set(tables) <= set(metadata.tables), set(tables) - set(metadata.tables)
        assert [name for name, table in tables.items() if not table["rows"]] == [], backend


def test_a_database_of_the_previous_release_is_refused_without_upgrade(
    release: tuple[str, dict[str, Any]], engine_of: Engine
) -> None:
    with pytest.raises(schema.SchemaMismatch) as refused:
        schema.prepare(engine_of, upgrade=False)
    message = str(refused.value)
    assert f"{schema.BASELINE} (made before Alembic)" in message and schema.head() in message, message
    assert "polytraders-gov db upgrade" in message and "\n" not in message, message
    with engine_of.connect() as connection:  # refused, nothing touched: still the release's database
        assert not inspect(connection).has_table("alembic_version")
        assert schema.state(connection).pre_alembic


def test_a_database_of_the_previous_release_is_upgraded_with_every_row_and_answer_kept(
    release: tuple[str, dict[str, Any]], engine_of: Engine
) -> None:
    url, old = release
    tables = old["tables"]
    mesh = start_mesh(url, ManualClock(datetime.fromisoformat(old["clock"])))
    try:
        with engine_of.connect() as connection:
            state = schema.state(connection)
        assert state.at_head and state.current == schema.head(), state

        replay.settle(engine_of, metadata.tables)  # the mesh's own start (followers, cron) writes nothing
        with engine_of.connect() as connection:
            assert _rows_of_added_tables(connection, tables) == {}, "tables 13f859b never had hold rows"
            fills = connection.execute(select(pnl_entries.c.entry_id, pnl_entries.c.fee_micros)
                                       .where(pnl_entries.c.kind == "fill")).all()  # fmt: skip
            trades = connection.execute(select(pnl_trades.c.trade_key, pnl_trades.c.fee_micros, pnl_trades.c.booked,
                                               pnl_trades.c.booked_order)).all()  # fmt: skip
            assert fills and sorted(fills) == sorted((key, fee) for key, fee, _, _ in trades)  # each fill its trade
            assert all(booked for *_, booked, _ in trades)
            assert sorted(order for *_, order in trades) == list(range(1, len(fills) + 1))
            # the journal summed per span by the revisions' SQL, as booking itself sums it
            entries = [dict(e) for e in connection.execute(select(pnl_entries)).mappings()]
            stored_sums = [dict(r) for r in connection.execute(select(pnl_sums)).mappings()]
            assert {tuple(r[k] for k in SUM_KEY): r for r in stored_sums} == {
                tuple(r[k] for k in SUM_KEY): r for r in summed(entries)}  # fmt: skip
            # what a start does write: each duty it leads, held under a first fencing token
            # (PostgreSQL; on SQLite, one process, duties are not fenced)
            leases = connection.execute(select(duty_leases.c.duty, duty_leases.c.token)).all()
            held = mesh.mesh.parts.leadership.held if engine_of.dialect.name == "postgresql" else ()
            assert dict(leases) == dict.fromkeys(held, 1)
            for name, table in sorted(tables.items()):
                rows = replay.table_rows(connection, metadata.tables[name], table["columns"], table["key"])
                if name == "cron_state":  # a task the default schedule gained since starts from now: a row of its own
                    rows = [row for row in rows if row[0] not in TASKS_ADDED_SINCE]
                assert len(rows) == len(table["rows"]), f"{name}: {len(table['rows'])} rows before the upgrade, {len(rows)} after"
                changed = [f"row {i}: 13f859b wrote {_short(o)}, now {_short(n)}"
                           for i, (o, n) in enumerate(zip(table["rows"], rows, strict=True)) if o != n]  # fmt: skip
                assert changed == [], f"{name}: rows differ after the upgrade\n" + "\n".join(changed[:5])

        replay.load_protos()
        unexpected = []
        with grpc.insecure_channel(mesh.address) as channel:
            for entry in old["calls"]:
                question = {k: entry[k] for k in ("service", "method", "token", "request", "take", "compact", "note")
                            if k in entry}  # fmt: skip
                answer = replay.ask(channel, question)
                if entry.get("note", "").startswith("publishes"):
                    replay.settle(engine_of, metadata.tables)
                before = {k: entry[k] for k in ("response", "stream", "error") if k in entry}
                if entry["method"] == "ListSchedule":  # the rest of the schedule must answer as it did
                    tasks = answer.get("response", {}).get("tasks", [])
                    tasks[:] = [t for t in tasks if t["name"] not in TASKS_ADDED_SINCE]
                if entry["method"] == "VerifyLedger":
                    assert answer.get("response", {}).get("ok"), (entry["request"], answer)
                for path, was, now in differences(before, answer):
                    if (entry["method"], _generic(path)) not in EXPECTED_DIFFERENCES:
                        unexpected.append(f"{entry['method']} {json.dumps(entry['request'])} {path}: "
                                          f"13f859b answered {_short(was)}, now {_short(now)}")  # fmt: skip
        assert unexpected == [], "\n".join(unexpected[:40])
        with engine_of.connect() as connection:  # e.g. no follower set a report of 13f859b aside
            added = _rows_of_added_tables(connection, tables)
        # the replayed VerifyLedger calls found the ledger whole: that walk is kept (the metrics show it)
        assert [row[0] for row in added.pop("duty_results", [])] == ["audit.ledger-verified"]
        assert added == {}
    finally:
        mesh.stop()
