"""The README's example bot runs as written against a running mesh, also from a venv that holds
the SDK distribution alone (what a strategy team installs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk.clock import ManualClock
from polytraders.servers.mesh import MeshThread
from tests.conftest import REPO, start_mesh
from tests.sdk.test_publisher import archived

THE_MESH = {"polytraders-governance", "sqlalchemy", "sqlmodel", "alembic", "psycopg", "nats-py", "web3",
            "polymarket-client", "croniter", "starlette", "rich", "opentelemetry-sdk"}  # fmt: skip
"""Distributions the governance mesh needs and a bot must not get with the SDK."""


def run_example_bot(python: str, mesh: MeshThread, database_url: str, cwd: Path) -> None:
    run = subprocess.run(
        [python, str(REPO / "examples" / "demo_bot.py")],
        env=dict(os.environ, POLYTRADERS_TARGET=mesh.address), cwd=cwd,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "reports delivered: True" in run.stdout
    reports = archived(database_url)
    assert [r.WhichOneof("body") for r in reports] == ["decision", "execution"]
    assert reports[1].execution.event == rpb.EXECUTION_EVENT_ORDER_TAGGED


def test_the_example_bot_tags_publishes_and_serves_health(
    mesh: MeshThread, tmp_path: Path, database_url: str
) -> None:
    run_example_bot(sys.executable, mesh, database_url, tmp_path)


@pytest.fixture(scope="module")
def sdk_alone(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The python of a fresh venv into which `pip install sdk/` put the SDK and what it needs."""
    venv = tmp_path_factory.mktemp("sdk-alone")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    install = subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(REPO / "sdk")],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr[-3000:]
    return python


def test_the_sdk_installs_without_the_mesh(sdk_alone: str) -> None:
    listed = subprocess.run(
        [sdk_alone, "-m", "pip", "list", "--format=json", "--disable-pip-version-check"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    installed = {entry["name"].lower().replace("_", "-") for entry in json.loads(listed.stdout)}
    assert "polytraders-sdk" in installed
    assert installed & THE_MESH == set()
    imports = subprocess.run(
        [sdk_alone, "-c", "import polytraders.sdk, polytraders.governance.v1.report_bus_pb2; import polytraders.servers"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert "No module named 'polytraders.servers'" in imports.stderr
    typed = subprocess.run(
        [sdk_alone, "-c", "import importlib.resources as r; print(r.files('polytraders.sdk').joinpath('py.typed').is_file())"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert typed.stdout.strip() == "True"  # a bot's own type checker reads the SDK's annotations


def test_the_example_bot_runs_from_the_sdk_alone(sdk_alone: str, tmp_path: Path, clock: ManualClock) -> None:
    database_url = f"sqlite:///{tmp_path / 'governance.db'}"
    mesh = start_mesh(database_url, clock)
    try:
        run_example_bot(sdk_alone, mesh, database_url, tmp_path)
    finally:
        mesh.stop()
