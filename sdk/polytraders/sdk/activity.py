"""`gov.activity`: sessions and user actions for consoles and operator tools."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from polytraders.governance.v1 import audit_pb2 as pb
from polytraders.governance.v1 import audit_pb2_grpc as pb_grpc

from .audit import _timestamp
from .families import Family, Mode, remote


class ActivityFamily(Family[pb_grpc.UserActivityLedgerServiceStub, Mode]):
    """Operators record and sessions; operators and auditors list."""

    stub_class = pb_grpc.UserActivityLedgerServiceStub
    idempotent = frozenset({"ListUserActions"})

    @remote
    def start_session(self, description: str = "") -> str:
        request = pb.StartSessionRequest(description=description)
        return self._invoke(self._rpc.StartSession, request, lambda r: r.session_id)

    @remote
    def end_session(self, session_id: str) -> pb.EndSessionResponse:
        return self._invoke(self._rpc.EndSession, pb.EndSessionRequest(session_id=session_id))

    @remote
    def record(self, action: str, *, target: str = "", session_id: str = "", details: Any = None) -> str:
        request = pb.RecordUserActionRequest(session_id=session_id, action=action, target=target,
                                             details_json=json.dumps(details or {}, sort_keys=True))  # fmt: skip
        return self._invoke(self._rpc.RecordUserAction, request, lambda r: r.action_id)

    @remote
    def list(
        self, *, user: str = "", session_id: str = "", action: str = "", since: datetime | None = None,
        until: datetime | None = None, limit: int = 0,
    ) -> list[pb.UserAction]:  # fmt: skip
        request = pb.ListUserActionsRequest(user=user, session_id=session_id, action=action, since=_timestamp(since),
                                            until=_timestamp(until), limit=limit)  # fmt: skip
        return self._invoke(self._rpc.ListUserActions, request, lambda r: list(r.actions))
