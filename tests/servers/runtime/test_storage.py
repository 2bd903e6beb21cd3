"""Rows written through the driver's own executemany (storage.write_rows) land as SQLAlchemy would
write them, on both backends; a column the driver cannot take as given goes through SQLAlchemy."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    Engine,
    LargeBinary,
    MetaData,
    String,
    Table,
    select,
)
from sqlalchemy.exc import IntegrityError

from polytraders.servers.runtime import storage

METADATA = MetaData()
KEYS = Table("storage_keys", METADATA, Column("key", String(16), primary_key=True))
SUMS = Table("storage_sums", METADATA, Column("key", String(16), primary_key=True), Column("total", BigInteger),
             Column("flag", Boolean), Column("blob", LargeBinary), Column("doc", JSON))  # fmt: skip


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = storage.make_engine(database_url)
    METADATA.create_all(engine)
    yield engine
    METADATA.drop_all(engine)
    engine.dispose()


def _write(*steps: Callable[[Connection], None]) -> Callable[[Connection], None]:
    def run(conn: Connection) -> None:
        for step in steps:
            step(conn)

    return run


CASES: list[tuple[str, Callable[[Connection], None], list[tuple[Any, ...]], list[tuple[Any, ...]]]] = [
    ("one column", lambda c: storage.insert_rows(c, KEYS, [{"key": "a"}, {"key": "b"}]), [("a",), ("b",)], []),
    ("a key stored is skipped", _write(lambda c: storage.insert_rows(c, KEYS, [{"key": "a"}]),
                                       lambda c: storage.upsert(c, KEYS, [{"key": "a"}, {"key": "c"}], ["key"],
                                                                replace=False)),
     [("a",), ("c",)], []),
    ("running sums add up", _write(*(lambda c, n=n: storage.upsert(c, SUMS, [{"key": "s", "total": n}], ["key"],
                                                                    add=["total"]) for n in (5, -2, 40))),
     [], [("s", 43, None, None, None)]),
    ("a replaced row takes every column", _write(
        lambda c: storage.upsert(c, SUMS, [{"key": "r", "total": 1, "flag": False, "blob": b"\x00old"}], ["key"]),
        lambda c: storage.upsert(c, SUMS, [{"key": "r", "total": 2, "flag": True, "blob": b"\x00new"}], ["key"])),
     [], [("r", 2, True, b"\x00new", None)]),
    ("a JSON document goes through SQLAlchemy", lambda c: storage.insert_rows(
        c, SUMS, [{"key": "j", "total": 7, "doc": {"limits": [1, 2]}}]),
     [], [("j", 7, None, None, {"limits": [1, 2]})]),
]  # fmt: skip


@pytest.mark.parametrize(("case", "write", "keys", "sums"), CASES, ids=[c[0] for c in CASES])
def test_rows_land_as_written(
    engine: Engine, case: str, write: Callable[[Connection], None], keys: list[tuple[Any, ...]],
    sums: list[tuple[Any, ...]],
) -> None:  # fmt: skip
    with engine.begin() as conn:
        write(conn)
    with engine.connect() as conn:
        assert sorted(map(tuple, conn.execute(select(KEYS)))) == keys, case
        assert sorted(map(tuple, conn.execute(select(SUMS)))) == sums, case


def test_a_clash_is_sqlalchemys_integrity_error_and_writes_nothing(engine: Engine) -> None:
    with engine.begin() as conn:
        storage.insert_rows(conn, KEYS, [{"key": "a"}])
    with pytest.raises(IntegrityError), engine.begin() as conn:
        storage.insert_rows(conn, KEYS, [{"key": "b"}, {"key": "a"}])
    with engine.connect() as conn:
        assert list(conn.execute(select(KEYS.c.key)).scalars()) == ["a"]
