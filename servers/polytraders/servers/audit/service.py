"""The audit group's servicers: ledger verification, configuration history, user activity."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from polytraders.governance.v1 import audit_pb2 as pb
from polytraders.governance.v1 import audit_pb2_grpc as pb_grpc
from polytraders.sdk.clock import to_timestamp
from polytraders.servers.runtime import auth, ledger
from polytraders.servers.runtime.errors import InvalidArgument
from polytraders.servers.runtime.parts import MeshParts
from polytraders.servers.runtime.peers import Peers
from polytraders.servers.runtime.requests import ServicerContext, instant
from polytraders.servers.runtime.server import ServiceBinding

from .config_history import ConfigChange, ConfigHistory
from .ledger_walks import LedgerWalks
from .user_activity import UserAction, UserActivity

LEDGER_ACCESS = {"VerifyLedger": auth.INTERNAL_READ}
CONFIG_ACCESS = {"GetConfigAt": auth.READ, "ListChanges": auth.READ}
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
    def __init__(self, walks: LedgerWalks) -> None:
        self._walks = walks

    async def VerifyLedger(
        self, request: pb.VerifyLedgerRequest, context: ServicerContext
    ) -> pb.VerifyLedgerResponse:
        result = await self._walks.verify(request.stream, from_checkpoint=request.from_latest_checkpoint)
        return verification_message(result)


def _change_message(change: ConfigChange) -> pb.ConfigChange:
    return pb.ConfigChange(
        change_id=change.change_id, bot_slug=change.bot_slug, changed_at=to_timestamp(change.changed_at),
        actor=change.actor, source=change.source, reason=change.reason, keys=change.keys, before=change.before,
        after=change.after, snapshot_json=change.snapshot_json, diff=change.diff,
    )  # fmt: skip


def _readable(bot_slug: str) -> str:
    """Bad input first, then whether this caller may read that bot's history."""
    if not bot_slug:
        raise InvalidArgument.field("bot_slug", "is required")
    auth.current_principal().require_acting_for(bot_slug, "bot_slug")
    return bot_slug


class ParameterChangeAuditServicer(pb_grpc.ParameterChangeAuditServiceServicer):
    def __init__(self, history: ConfigHistory) -> None:
        self._history = history

    async def GetConfigAt(
        self, request: pb.GetConfigAtRequest, context: ServicerContext
    ) -> pb.GetConfigAtResponse:
        bot_slug = _readable(request.bot_slug)
        at = instant(request.at, "at")
        if at is None:
            raise InvalidArgument.field("at", "is required")
        change = await self._history.config_at(bot_slug, at)
        return pb.GetConfigAtResponse(snapshot_json=change.snapshot_json, as_of=_change_message(change))

    async def ListChanges(
        self, request: pb.ListChangesRequest, context: ServicerContext
    ) -> pb.ListChangesResponse:
        changes = await self._history.changes(
            _readable(request.bot_slug),
            request.key,
            request.actor,
            instant(request.since, "since"),
            instant(request.until, "until"),
            request.limit,
        )
        return pb.ListChangesResponse(changes=[_change_message(c) for c in changes])


ACTIVITY_ACCESS = {
    "StartSession": auth.OPERATE,
    "EndSession": auth.OPERATE,
    "RecordUserAction": auth.OPERATE,
    "ListUserActions": auth.INTERNAL_READ,
}


def _action_message(action: UserAction) -> pb.UserAction:
    return pb.UserAction(action_id=action.action_id, user=action.user, session_id=action.session_id,
                         action=action.action, target=action.target, at=to_timestamp(action.at),
                         details_json=action.details_json)  # fmt: skip


class UserActivityLedgerServicer(pb_grpc.UserActivityLedgerServiceServicer):
    def __init__(self, activity: UserActivity) -> None:
        self._activity = activity

    async def StartSession(
        self, request: pb.StartSessionRequest, context: ServicerContext
    ) -> pb.StartSessionResponse:
        session_id = await self._activity.start_session(auth.current_principal().name, request.description)
        return pb.StartSessionResponse(session_id=session_id)

    async def EndSession(
        self, request: pb.EndSessionRequest, context: ServicerContext
    ) -> pb.EndSessionResponse:
        await self._activity.end_session(auth.current_principal().name, request.session_id)
        return pb.EndSessionResponse()

    async def RecordUserAction(
        self, request: pb.RecordUserActionRequest, context: ServicerContext
    ) -> pb.RecordUserActionResponse:
        action_id = await self._activity.record_reported(
            auth.current_principal().name,
            request.session_id,
            request.action,
            request.target,
            request.details_json,
        )
        return pb.RecordUserActionResponse(action_id=action_id)

    async def ListUserActions(
        self, request: pb.ListUserActionsRequest, context: ServicerContext
    ) -> pb.ListUserActionsResponse:
        actions = await self._activity.list(request.user, request.session_id, request.action, instant(request.since, "since"),
                                            instant(request.until, "until"), request.limit)  # fmt: skip
        return pb.ListUserActionsResponse(actions=[_action_message(a) for a in actions])


def audit_bindings(parts: MeshParts) -> list[ServiceBinding]:
    history = ConfigHistory(parts.engine, parts.bus)
    activity = UserActivity(parts.engine, parts.bus, parts.user_actions)
    walks = LedgerWalks(parts.engine, parts.clock)
    parts.metrics.state(walks.state)
    parts.commands["audit.verify_ledger"] = walks.scheduled
    parts.queries["audit.config_at"] = history.config_at
    parts.lead("audit.config-history", lambda: history.follow(parts.set_aside))
    parts.lead("audit.user-activity", lambda: activity.follow(parts.set_aside))
    return [
        ServiceBinding.of(
            pb, "ComplianceLedgerService", ComplianceLedgerServicer(walks), LEDGER_ACCESS
        ),
        ServiceBinding.of(
            pb, "ParameterChangeAuditService", ParameterChangeAuditServicer(history), CONFIG_ACCESS
        ),
        ServiceBinding.of(
            pb, "UserActivityLedgerService", UserActivityLedgerServicer(activity), ACTIVITY_ACCESS
        ),
    ]


def audit_queries(peers: Peers) -> dict[str, Callable[..., Awaitable[Any]]]:
    """The audit group's reads for other groups, asked of the process that serves it."""

    async def config_at(bot_slug: str, at: datetime) -> pb.GetConfigAtResponse:
        """Its `snapshot_json` is the configuration in force (as ConfigHistory.config_at's is)."""
        request = pb.GetConfigAtRequest(bot_slug=bot_slug, at=to_timestamp(at))
        return await peers.call("audit", lambda channel: pb_grpc.ParameterChangeAuditServiceStub(channel).GetConfigAt(
            request, metadata=peers.metadata, timeout=peers.read_timeout))  # fmt: skip

    return {"audit.config_at": config_at}
