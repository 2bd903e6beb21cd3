"""ComplianceLedgerService: verification of the hash-chained SEVEN_YEARS ledger."""

from __future__ import annotations

import asyncio

import grpc
from sqlalchemy import Engine

from polytraders.governance.v1 import audit_pb2 as pb
from polytraders.governance.v1 import audit_pb2_grpc as pb_grpc
from polytraders.servers.runtime import auth, ledger
from polytraders.servers.runtime.server import ServiceBinding

ACCESS = {"VerifyLedger": auth.INTERNAL_READ}
PROBLEMS = {
    "edited": pb.LEDGER_PROBLEM_EDITED,
    "removed": pb.LEDGER_PROBLEM_REMOVED,
    "reordered": pb.LEDGER_PROBLEM_REORDERED,
    "checkpoint": pb.LEDGER_PROBLEM_CHECKPOINT,
}


def verification_message(result: ledger.Verification) -> pb.VerifyLedgerResponse:
    reply = pb.VerifyLedgerResponse(
        ok=result.ok, entries_checked=result.entries_checked, checkpoints_checked=result.checkpoints_checked
    )
    if result.broken:
        b = result.broken
        reply.first_break.CopyFrom(pb.LedgerBreak(stream=b.stream, seq=b.seq, entry_id=b.entry_id,
                                                  problem=PROBLEMS[b.problem], explanation=b.explanation))  # fmt: skip
    return reply


class ComplianceLedgerServicer(pb_grpc.ComplianceLedgerServiceServicer):
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    async def VerifyLedger(self, request: pb.VerifyLedgerRequest, context: grpc.aio.ServicerContext):  # type: ignore[no-untyped-def]
        result = await asyncio.to_thread(
            ledger.verify, self._engine, request.stream, request.from_latest_checkpoint
        )
        return verification_message(result)


def audit_bindings(parts) -> list[ServiceBinding]:  # type: ignore[no-untyped-def]
    return [
        ServiceBinding.of(
            pb, pb_grpc, "ComplianceLedgerService", ComplianceLedgerServicer(parts.engine), ACCESS
        )
    ]
