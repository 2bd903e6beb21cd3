"""Operator actions reach the user-activity ledger whichever process took them: the record goes
over the bus, not through an in-process hook that a split of the groups would drop."""

from __future__ import annotations

import time

import pytest

from polytraders.sdk import Governance
from tests.support.governance_process import GovernanceProcess

pytestmark = pytest.mark.postgres


def test_an_action_on_a_lifecycle_process_is_listed_by_the_audit_process(postgres_url: str) -> None:
    lifecycle, audit = GovernanceProcess.start_together([
        GovernanceProcess(postgres_url, None, "--groups", "lifecycle"),
        GovernanceProcess(postgres_url, None, "--groups", "reports,audit"),
    ])  # fmt: skip
    try:
        with Governance(lifecycle.address, token="dev-operator-token", bot_slug="ops") as operator:
            operator.registry.register("split-momentum", owner="alpha", version="1.0", reason="new")
        with Governance(audit.address, token="dev-auditor-token", bot_slug="auditor") as auditor:
            deadline = time.monotonic() + 30
            while not (actions := auditor.activity.list(action="RegisterStrategy")) and time.monotonic() < deadline:
                time.sleep(0.05)
        assert [(a.user, a.target) for a in actions] == [("dev-operator", "split-momentum")]
    finally:
        lifecycle.stop()
        audit.stop()
