"""One family class serves both clients: mypy must see values on `Governance` and coroutines (and
async generators) on `AsyncGovernance`, and refuse a caller that mixes them up; and the convention
that makes it true (every verb that calls governance is marked) must hold in every family."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest
from mypy import api

from polytraders.sdk import families
from polytraders.sdk.client import _FAMILY_ROUTES
from polytraders.sdk.reports import ReportsFamily

ROOT = Path(__file__).resolve().parents[2]

CALLER = """\
import asyncio
from contextlib import aclosing, closing

from polytraders.governance.v1 import lifecycle_pb2 as pb
from polytraders.sdk import AsyncGovernance, Governance


async def caller(blocking: Governance, aio: AsyncGovernance) -> None:
    strategy: pb.Strategy = blocking.registry.get("s")
    awaited: pb.Strategy = await aio.registry.get("s")
    task: asyncio.Task[pb.Strategy] = asyncio.create_task(aio.registry.get("s"))
    delivered: bool = await aio.reports.flush(1.0)
    with closing(blocking.registry.watch()) as changes:
        for change in changes:
            print(change.strategy.slug)
    async with aclosing(aio.registry.watch()) as updates:
        async for update in updates:
            print(update.strategy.slug)
"""

MISTAKES = {
    'unawaited: pb.Strategy = aio.registry.get("s")': 'expression has type "Coroutine[Any, Any, Strategy]"',
    "sync_from_async = [c for c in aio.registry.watch()]": '"AsyncGenerator[WatchStrategiesResponse, None]" has no attribute "__iter__"',
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


def test_verbs_are_values_when_blocking_and_coroutines_on_asyncio(
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


FAMILIES = sorted(
    {family for family, _ in _FAMILY_ROUTES.values()} | {ReportsFamily}, key=lambda f: f.__name__
)
CALLS = {"_invoke": families.remote, "_stream": families.remote_stream, "_offload": families.remote}


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.__name__)
def test_every_verb_that_calls_governance_is_marked_for_its_mode(family: type[families.Family]) -> None:
    """The types hold only if each verb that reaches `_invoke`, `_stream` or `_offload` carries the
    matching marker, and `_rpc` is only ever handed to them."""
    tree = ast.parse(inspect.getsource(family))
    for verb in (node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)):
        called = {
            node.func.attr for node in ast.walk(verb)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in CALLS
        }  # fmt: skip
        marker = family.__dict__.get(verb.name)
        if called:
            assert len(called) == 1, (verb.name, called)
            assert type(marker) is CALLS[called.pop()], f"{family.__name__}.{verb.name} is not marked"
        for node in ast.walk(verb):
            if isinstance(node, ast.Attribute) and node.attr == "_rpc":
                handed = [
                    call for call in ast.walk(verb)
                    if isinstance(call, ast.Call) and call.args and call.args[0] is _parent_of(verb, node)
                    and isinstance(call.func, ast.Attribute) and call.func.attr in ("_invoke", "_stream")
                ]  # fmt: skip
                assert handed, f"{family.__name__}.{verb.name} uses _rpc other than as _invoke/_stream's RPC"


def _parent_of(tree: ast.AST, child: ast.AST) -> ast.AST | None:
    return next((node for node in ast.walk(tree) if child in ast.iter_child_nodes(node)), None)


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.__name__)
def test_a_verb_on_the_class_is_the_function_itself(family: type[families.Family]) -> None:
    """help(), inspect.signature and mock.create_autospec read verbs off the class."""
    for name, marker in vars(family).items():
        if isinstance(marker, families.remote | families.remote_stream):
            verb = getattr(family, name)
            assert inspect.isfunction(verb) and verb.__qualname__ == f"{family.__name__}.{name}"
            assert "self" in inspect.signature(verb).parameters
