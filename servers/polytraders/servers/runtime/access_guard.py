"""Refused calls, on the record and held back.

Every UNAUTHENTICATED or PERMISSION_DENIED answer is an OperationsReport and a user-activity entry
(who, what, when, from where) — up to `records_per_minute` of them; past that, the minute's rest
is one summary entry, so a flood of bad tokens cannot fill the disk. An address whose credentials
are refused `failures_per_minute` times is answered RESOURCE_EXHAUSTED, before any token is
looked at, until a minute passes without that many.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

import grpc

from polytraders.reports.v1 import reports_pb2 as rpb

from .auth import Principal
from .errors import ResourceExhausted
from .reporter import GovernanceReporter
from .user_actions import UserActionRecorder

log = logging.getLogger(__name__)
WINDOW_SECONDS = 60.0
UNAUTHENTICATED_USER = "(unauthenticated)"


def peer_address(peer: str) -> str:
    """ "ipv4:10.0.0.7:51234" → "10.0.0.7": the caller's address without its ephemeral port."""
    transport, _, rest = peer.partition(":")
    if transport in ("ipv4", "ipv6"):
        return rest.rsplit(":", 1)[0].strip("[]")
    return peer


class AccessGuard:
    def __init__(
        self,
        reporter: GovernanceReporter,
        user_actions: UserActionRecorder,
        *,
        records_per_minute: int,
        failures_per_minute: int,
        monotonic: Callable[[], float],
    ) -> None:
        self._reporter = reporter
        self._user_actions = user_actions
        self._records_per_minute = records_per_minute
        self._failures_per_minute = failures_per_minute
        self._monotonic = monotonic
        self._failures: dict[str, deque[float]] = {}
        self._window_start = monotonic()
        self._recorded = 0
        self._unrecorded: Counter[tuple[str, str]] = Counter()
        self._tasks: set[asyncio.Task[None]] = set()

    def admit(self, peer: str) -> None:
        """Raise ResourceExhausted while `peer`'s address is held back."""
        failures = self._failures.get(peer_address(peer))
        if failures and len(self._recent(failures)) >= self._failures_per_minute:
            raise ResourceExhausted(
                f"too many refused credentials from {peer_address(peer)}: held back for up to {WINDOW_SECONDS:.0f}s"
            )

    def _recent(self, failures: deque[float]) -> deque[float]:
        horizon = self._monotonic() - WINDOW_SECONDS
        while failures and failures[0] < horizon:
            failures.popleft()
        return failures

    def denied(
        self,
        method: str,
        principal: Principal | None,
        peer: str,
        code: grpc.StatusCode,
        reason: str,
        session: str,
    ) -> None:
        """Called by the interceptor for every refusal; records in the background, never blocks the answer."""
        address = peer_address(peer)
        if code is grpc.StatusCode.UNAUTHENTICATED:
            self._recent(self._failures.setdefault(address, deque())).append(self._monotonic())
            if len(self._failures) > 10_000:  # forget addresses that have gone quiet
                self._failures = {a: f for a, f in self._failures.items() if self._recent(f)}
        now = self._monotonic()
        if now - self._window_start >= WINDOW_SECONDS:
            self._spawn(self._summary(dict(self._unrecorded)))
            self._window_start, self._recorded = now, 0
            self._unrecorded.clear()
        if self._recorded >= self._records_per_minute:
            self._unrecorded[(address, code.name)] += 1
            return
        self._recorded += 1
        user = principal.name if principal else UNAUTHENTICATED_USER
        self._spawn(self._record(user, method, address, code, reason, session))

    def _spawn(self, record: Any) -> None:
        task = asyncio.get_running_loop().create_task(record)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _record(
        self, user: str, method: str, address: str, code: grpc.StatusCode, reason: str, session: str
    ) -> None:
        name = method.rsplit("/", 1)[-1]
        try:
            await self._reporter.operations(
                "access", "call.denied", rpb.COMPONENT_STATUS_HEALTHY, rpb.SEVERITY_WARNING,
                f"{code.name}: {user} from {address} calling {name}: {reason}",
                {"method": method, "code": code.name, "peer": address, "user": user},
            )  # fmt: skip
            await self._user_actions.record(
                user, session, "denied", method, {"code": code.name, "reason": reason, "peer": address}
            )
        except Exception:  # noqa: BLE001 - the refusal stands; losing its record is logged loudly
            log.exception("denied call %s by %s from %s not recorded", method, user, address)

    async def _summary(self, unrecorded: dict[tuple[str, str], int]) -> None:
        if not unrecorded:
            return
        total = sum(unrecorded.values())
        by_peer = ", ".join(f"{address} {code} x{n}" for (address, code), n in sorted(unrecorded.items()))
        try:
            await self._reporter.operations(
                "access", "call.denied.suppressed", rpb.COMPONENT_STATUS_DEGRADED, rpb.SEVERITY_WARNING,
                f"{total} more refused calls in a minute, past the {self._records_per_minute} recorded one by one: {by_peer}",
                {"count": str(total)},
            )  # fmt: skip
            await self._user_actions.record(
                UNAUTHENTICATED_USER, "", "denied.suppressed", "", {"count": total, "by_peer": by_peer}
            )
        except Exception:  # noqa: BLE001
            log.exception("summary of %d refused calls not recorded", total)

    async def drain(self) -> None:
        """Wait for the records still being written, and write the last window's summary."""
        if self._unrecorded:
            self._spawn(self._summary(dict(self._unrecorded)))
            self._unrecorded.clear()
        if self._tasks:
            await asyncio.wait(set(self._tasks))
