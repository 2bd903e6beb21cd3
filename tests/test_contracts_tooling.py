"""The contracts: buf lint and breaking clean, generated code identical to a fresh generation."""

from __future__ import annotations

import filecmp
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

BIN = Path(sys.executable).parent


def _run(*command: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_buf_lint_passes() -> None:
    result = _run(str(BIN / "buf"), "lint")
    assert result.returncode == 0, result.stdout + result.stderr


def _previous_commit_with_protos() -> str:
    """HEAD~1 when it has proto/, else HEAD (the first commit is compared with itself)."""
    for ref in ("HEAD~1", "HEAD"):
        if _run("git", "cat-file", "-e", f"{ref}:proto").returncode == 0:
            return ref
    raise AssertionError("no commit holds proto/")


def test_buf_breaking_against_the_previous_commit_passes() -> None:
    ref = _previous_commit_with_protos()
    result = _run(str(BIN / "buf"), "breaking", "--against", f".git#ref={ref},subdir=proto")
    assert result.returncode == 0, result.stdout + result.stderr


def test_generated_code_is_identical_to_a_fresh_generation(tmp_path: Path) -> None:
    protos = sorted(str(p.relative_to(REPO / "proto")) for p in (REPO / "proto").rglob("*.proto"))
    result = _run(
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        "-I.",
        f"--plugin=protoc-gen-mypy={BIN / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={BIN / 'protoc-gen-mypy_grpc'}",
        f"--python_out={tmp_path}",
        f"--mypy_out={tmp_path}",
        f"--grpc_python_out={tmp_path}",
        f"--mypy_grpc_out={tmp_path}",
        *protos,
        cwd=REPO / "proto",
    )
    assert result.returncode == 0, result.stderr
    fresh = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    committed = sorted(
        p.relative_to(REPO / "sdk")
        for p in (REPO / "sdk" / "polytraders").rglob("*_pb2*")
        if p.suffix in (".py", ".pyi")
    )
    assert fresh == committed
    stale = [str(p) for p in fresh if not filecmp.cmp(tmp_path / p, REPO / "sdk" / p, shallow=False)]
    assert not stale, f"run `make proto`: {stale} differ from a fresh generation"
