"""One family class serves both clients: mypy must see values on `Governance` and awaitables (and
async iterators) on `AsyncGovernance`, and refuse a caller that mixes them up."""

from __future__ import annotations

from pathlib import Path

import pytest
from mypy import api

ROOT = Path(__file__).resolve().parents[2]

CALLER = """\
from polytraders.governance.v1 import lifecycle_pb2 as pb
from polytraders.sdk import AsyncGovernance, Governance


async def caller(blocking: Governance, aio: AsyncGovernance) -> None:
    strategy: pb.Strategy = blocking.registry.get("s")
    awaited: pb.Strategy = await aio.registry.get("s")
    delivered: bool = await aio.reports.flush(1.0)
    for change in blocking.registry.watch():
        print(change.strategy.slug)
    async for update in aio.registry.watch():
        print(update.strategy.slug)
"""

MISTAKES = {
    'unawaited: pb.Strategy = aio.registry.get("s")': 'expression has type "Awaitable[Strategy]"',
    "sync_from_async = [c for c in aio.registry.watch()]": '"AsyncIterator[WatchStrategiesResponse]" has no attribute "__iter__"',
    'awaited_value = await blocking.registry.get("s")': 'Incompatible types in "await" (actual type "Strategy"',
    "wrong_request = blocking.registry.get(3)": 'Argument 1 has incompatible type "int"; expected "str"',
}


def _mypy(source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(ROOT)  # the configuration's mypy_path is relative to the repository
    module = tmp_path / "caller.py"
    module.write_text(source)
    stdout, stderr, _ = api.run(
        ["--config-file", str(ROOT / "pyproject.toml"), "--cache-dir", str(ROOT / ".mypy_cache"), str(module)]
    )
    return stdout + stderr


def test_verbs_are_values_when_blocking_and_awaitables_on_asyncio(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "Success: no issues found" in _mypy(CALLER, tmp_path, monkeypatch)


def test_a_caller_that_mixes_the_modes_up_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    body = "".join(f"    {line}\n" for line in MISTAKES)
    found = _mypy(CALLER + body, tmp_path, monkeypatch)
    first = CALLER.count("\n") + 1
    for number, (line, message) in enumerate(MISTAKES.items(), start=first):
        errors = [e for e in found.splitlines() if f"caller.py:{number}: error:" in e]
        assert errors and message in errors[0], f"{line!r} passed mypy:\n{found}"
