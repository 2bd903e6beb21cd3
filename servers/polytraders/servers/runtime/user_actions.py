"""The user-activity record: every user action is one SEVEN_YEARS "user.action" SettlementReport,
published on the bus by whichever process took it, so it reaches the UserActivityLedger (and the
compliance ledger) however the groups are split across processes; the audit group files them.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format

from polytraders.sdk.config import canonical_json

from .auth import Principal
from .errors import InvalidArgument
from .reporter import GovernanceReporter

RECORD_TYPE = "user.action"
SELF_RECORDING = "/polytraders.governance.v1.UserActivityLedgerService/"
"""Methods that record their action themselves (sessions, RecordUserAction)."""


def _target(request: Any) -> str:
    for field in ("slug", "experiment_id", "bot_slug", "stream", "name"):
        value = getattr(request, field, "")
        if isinstance(value, str) and value:
            return value
    return ""


class UserActionRecorder:
    """Publishes user actions; every process has one, whichever groups it serves."""

    def __init__(self, reporter: GovernanceReporter) -> None:
        self._reporter = reporter

    async def record(self, user: str, session_id: str, action: str, target: str, details: Any) -> str:
        if not action:
            raise InvalidArgument.field("action", "is required")
        details_json = canonical_json({"user": user, "session_id": session_id, "action": action, "target": target,
                                       "details": details})  # fmt: skip
        return await self._reporter.record(
            RECORD_TYPE,
            user,
            f"{user} {action} {target}".rstrip() + (f" (session {session_id})" if session_id else ""),
            details_json,
        )

    async def record_operator_call(self, caller: Principal, method: str, request: Any, session_id: str) -> None:
        """The interceptor's hook: an operator's successful call that changed something."""
        if method.startswith(SELF_RECORDING):
            return
        details = json_format.MessageToDict(request, preserving_proto_field_name=True)
        await self.record(caller.name, session_id, method.rsplit("/", 1)[-1], _target(request), details)
