"""The README's example bot runs as written against a running mesh."""

from __future__ import annotations

import os
import subprocess
import sys

from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.servers.mesh import MeshThread
from tests.conftest import REPO
from tests.sdk.test_publisher import archived


def test_the_example_bot_tags_publishes_and_serves_health(
    mesh: MeshThread, tmp_path, database_url: str
) -> None:  # type: ignore[no-untyped-def]
    run = subprocess.run(
        [sys.executable, str(REPO / "examples" / "demo_bot.py")],
        env=dict(os.environ, POLYTRADERS_TARGET=mesh.address), cwd=tmp_path,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "reports delivered: True" in run.stdout
    kinds = [r.WhichOneof("body") for r in archived(database_url)]
    assert kinds == ["decision", "execution"]
    assert archived(database_url)[1].execution.event == rpb.EXECUTION_EVENT_ORDER_TAGGED
