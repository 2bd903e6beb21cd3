"""`gov.audit`: the configuration in force at an instant, the changes, and ledger verification."""

from __future__ import annotations

from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from polytraders.governance.v1 import audit_pb2 as pb
from polytraders.governance.v1 import audit_pb2_grpc as pb_grpc

from .clock import to_timestamp
from .families import Family, Mode, remote


def _timestamp(moment: datetime | None) -> Timestamp | None:
    return None if moment is None else to_timestamp(moment)


class ConfigAuditFamily(Family[pb_grpc.ParameterChangeAuditServiceStub, Mode]):
    """A bot reads its own history; operators and auditors read everyone's."""

    stub_class = pb_grpc.ParameterChangeAuditServiceStub
    idempotent = frozenset({"GetConfigAt", "ListChanges"})

    @remote
    def config_at(self, bot_slug: str, at: datetime) -> pb.GetConfigAtResponse:
        return self._invoke(
            self._rpc.GetConfigAt, pb.GetConfigAtRequest(bot_slug=bot_slug, at=_timestamp(at))
        )

    @remote
    def changes(
        self, bot_slug: str, *, key: str = "", actor: str = "", since: datetime | None = None,
        until: datetime | None = None, limit: int = 0,
    ) -> list[pb.ConfigChange]:  # fmt: skip
        request = pb.ListChangesRequest(bot_slug=bot_slug, key=key, actor=actor, since=_timestamp(since),
                                        until=_timestamp(until), limit=limit)  # fmt: skip
        return self._invoke(self._rpc.ListChanges, request, lambda r: list(r.changes))


class LedgerFamily(Family[pb_grpc.ComplianceLedgerServiceStub, Mode]):
    """Operators and auditors only."""

    stub_class = pb_grpc.ComplianceLedgerServiceStub
    idempotent = frozenset({"VerifyLedger"})

    @remote
    def verify(self, stream: str = "", *, from_latest_checkpoint: bool = False) -> pb.VerifyLedgerResponse:
        request = pb.VerifyLedgerRequest(stream=stream, from_latest_checkpoint=from_latest_checkpoint)
        return self._invoke(self._rpc.VerifyLedger, request)
