"""The TypedDicts that stand for a table's rows repeat its columns by hand (the ledger reads
pnl_trades rows straight into a Trade with `cast(Trade, dict(row))`): a column renamed, added or
dropped on one side only fails here, not at run time."""

from __future__ import annotations

from typing import TypedDict, get_type_hints

import pytest
from sqlalchemy import Table

from polytraders.servers.ledger.book import Entry, Trade, pnl_entries, pnl_marks, pnl_trades
from polytraders.servers.lifecycle.paper import _DayValues, paper_days
from polytraders.servers.lifecycle.store import SampleRow, experiment_samples

SHAPES: list[tuple[type, Table, frozenset[str]]] = [
    (Entry, pnl_entries, frozenset()),
    (Trade, pnl_trades, frozenset()),
    (_DayValues, paper_days, frozenset()),
    # the experiment and the sample's position are added by ExperimentStore.add_samples
    (SampleRow, experiment_samples, frozenset({"experiment_id", "position"})),
]
"""(record, the table it mirrors, the columns the record leaves out). No record has a key its table lacks."""


def _keys(record: type) -> set[str]:
    return set(record.__required_keys__) | set(record.__optional_keys__)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("record", "table", "left_out"), SHAPES, ids=[r.__name__ for r, _, _ in SHAPES])
def test_a_record_has_its_tables_columns(record: type, table: Table, left_out: frozenset[str]) -> None:
    columns = {c.name for c in table.columns}
    assert left_out <= columns, f"{record.__name__} leaves out columns {table.name} does not have"
    assert _keys(record) == columns - left_out


@pytest.mark.parametrize(("record", "table", "left_out"), SHAPES, ids=[r.__name__ for r, _, _ in SHAPES])
def test_a_records_values_have_their_columns_types(
    record: type, table: Table, left_out: frozenset[str]
) -> None:
    hints = get_type_hints(record)
    assert {k: hints[k] for k in _keys(record)} == {
        c.name: c.type.python_type for c in table.columns if c.name not in left_out
    }


class _Mark(TypedDict):
    token_id: str
    mark: str


class _RenamedMark(TypedDict):
    token_id: str
    mark_price: str  # pnl_marks calls it `mark`


def test_a_renamed_key_is_caught() -> None:
    """The check itself: it passes a record that matches its table, and fails one with a key renamed."""
    test_a_record_has_its_tables_columns(_Mark, pnl_marks, frozenset())
    with pytest.raises(AssertionError):
        test_a_record_has_its_tables_columns(_RenamedMark, pnl_marks, frozenset())
