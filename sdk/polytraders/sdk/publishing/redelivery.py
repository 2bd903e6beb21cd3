"""After a failed call: the oldest unacknowledged batch again, with backoff, until governance
takes it or the publisher stops; what governance refuses as invalid cannot block the rest.

A refusal that names reports (`reports[i]` field violations) moves those to the outbox's
dead-letter table, kept and never deleted, and a report explains them; a refusal of the batch as
a whole, by its size, halves the batches from then on; a lone report refused as a whole is set
aside rather than sent forever.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

import grpc
import tenacity

from ..errors import field_violations
from ..outbox import Outbox, Segment
from . import log
from .backlog import Backlog
from .losses import LossReports

_REPORT_INDEX = re.compile(r"reports\[(\d+)\]")


def _retried(error: BaseException) -> bool:
    return isinstance(error, grpc.RpcError) and error.code() != grpc.StatusCode.INVALID_ARGUMENT


class Redelivery:
    def __init__(
        self,
        backlog: Backlog,
        outbox: Outbox,
        losses: LossReports,
        initial_backoff: float,
        max_backoff: float,
        stopped: threading.Event,
    ) -> None:
        self._backlog = backlog
        self._outbox = outbox
        self._losses = losses
        self._stopped = stopped
        self._retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(_retried),
            wait=tenacity.wait_exponential_jitter(multiplier=initial_backoff, max=max_backoff, jitter=initial_backoff),
            stop=tenacity.stop_when_event_set(stopped),
            sleep=self._sleep,
            before_sleep=self._log_refusal,
            reraise=True,
        )

    def send(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """`call(*args, **kwargs)` until it succeeds; raises what governance refused as invalid,
        or the last failure once the publisher stops."""
        self._retrying(call, *args, **kwargs)

    def _sleep(self, seconds: float) -> None:
        """The backoff, cut short when the publisher stops."""
        self._stopped.wait(seconds)

    def _log_refusal(self, state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        code = error.code().name if isinstance(error, grpc.RpcError) else type(error).__name__
        details = error.details() if isinstance(error, grpc.RpcError) else str(error)
        self._backlog.last_error = f"{code}: {details}"
        log.warning("governance did not take the batch (%s: %s); kept in the outbox, retrying", code, details)

    def refused(self, conn: sqlite3.Connection, batch: list[Segment], error: grpc.RpcError) -> None:
        """Governance refused the batch as invalid: set the named reports aside, or send smaller batches."""
        seqs = [seq for segment in batch for seq in range(segment.first_seq, segment.end_seq)]
        reasons: dict[int, list[str]] = {}
        for violation in field_violations(error):
            match = _REPORT_INDEX.match(violation.field)
            if match and int(match.group(1)) < len(seqs):
                reasons.setdefault(seqs[int(match.group(1))], []).append(
                    f"{violation.field}: {violation.description}"
                )
        if not reasons and len(seqs) > 1:  # the batch as a whole, by its size: send smaller ones
            self._backlog.batch_size = max(1, len(seqs) // 2)
            log.warning("governance refused a batch of %d (%s); sending %d at a time",
                        len(seqs), error.details(), self._backlog.batch_size)  # fmt: skip
            return
        if not reasons:  # a lone report refused as a whole: set it aside rather than loop forever
            reasons = {seqs[0]: [error.details() or "refused"]}
        Outbox.dead_letter(conn, batch, {seq: "; ".join(why) for seq, why in reasons.items()})
        log.error(
            "governance refused %d reports as invalid; kept in %s (dead_letter)", len(reasons), self._outbox.path
        )
        self._backlog.dead_lettered(len(reasons), self._losses.dead_letter(len(reasons), reasons[min(reasons)][0]))
