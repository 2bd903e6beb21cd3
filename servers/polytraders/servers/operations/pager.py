"""Alert sinks the operations group adds to the mesh's alert router: a log, and a pager webhook.

The webhook speaks PagerDuty's Events API v2 (`trigger` / `resolve` keyed by `dedup_key`).
Sending only enqueues: one delivery task posts events in order, retrying with tenacity, so a
slow or dead pager never holds up a heartbeat sweep or a reconciliation.
"""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.request
from http.client import HTTPException
from typing import Any

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.servers.runtime.alerts import Alert

log = logging.getLogger("polytraders.alerts")

PAGERDUTY_SEVERITY = {
    rpb.SEVERITY_INFO: "info",
    rpb.SEVERITY_WARNING: "warning",
    rpb.SEVERITY_ERROR: "error",
    rpb.SEVERITY_CRITICAL: "critical",
    rpb.SEVERITY_PAGE: "critical",
}


class LogAlertSink:
    async def send(self, alert: Alert) -> None:
        log.warning(json.dumps({
            "event": "alert.resolve" if alert.resolved else "alert.trigger", "component": alert.component,
            "alert_key": alert.alert_key, "severity": rpb.Severity.Name(alert.severity),
            "explanation": alert.explanation,
        }))  # fmt: skip


def pagerduty_event(alert: Alert, routing_key: str, source: str) -> dict[str, Any]:
    """An Events API v2 body; a resolve carries only what PagerDuty needs to find the incident."""
    if alert.resolved:
        return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": alert.alert_key}
    return {
        "routing_key": routing_key, "event_action": "trigger", "dedup_key": alert.alert_key,
        "payload": {"summary": alert.explanation[:1024], "source": source, "component": alert.component,
                    "severity": PAGERDUTY_SEVERITY.get(alert.severity, "error"),
                    "custom_details": dict(alert.metrics)},
    }  # fmt: skip


class WebhookAlertSink:
    """Posts alerts of at least `min_severity` (resolves always) to a PagerDuty-shaped webhook."""

    def __init__(
        self,
        url: str,
        routing_key: str,
        *,
        min_severity: int = rpb.SEVERITY_ERROR,
        attempts: int = 5,
        backoff_seconds: float = 0.5,
        timeout_seconds: float = 5.0,
        source: str = "polytraders-governance",
    ) -> None:
        self._url = url
        self._routing_key = routing_key
        self._min_severity = min_severity
        self._attempts = attempts
        self._backoff = backoff_seconds
        self._timeout = timeout_seconds
        self._source = source
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._delivery: asyncio.Task[None] | None = None

    async def send(self, alert: Alert) -> None:
        if not alert.resolved and alert.severity < self._min_severity:
            return
        self._queue.put_nowait(pagerduty_event(alert, self._routing_key, self._source))
        if self._delivery is None or self._delivery.done():
            self._delivery = asyncio.get_running_loop().create_task(self._deliver())

    async def drained(self) -> None:
        """Wait until every queued event was delivered or given up on."""
        await self._queue.join()

    async def close(self, timeout_seconds: float = 5.0) -> None:
        """At shutdown: give queued events a bounded chance to go out."""
        try:
            await asyncio.wait_for(self.drained(), timeout_seconds)
        except TimeoutError:
            log.error("pager webhook: %d events not delivered before shutdown", self._queue.qsize())

    def _post(self, body: bytes) -> None:
        request = urllib.request.Request(self._url, body, {"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=self._timeout) as response:  # noqa: S310 - configured URL
            response.read()

    async def _deliver(self) -> None:
        while not self._queue.empty():
            event = await self._queue.get()
            body = json.dumps(event).encode()
            try:
                async for attempt in AsyncRetrying(
                    retry=retry_if_exception_type((OSError, HTTPException)), stop=stop_after_attempt(self._attempts),
                    wait=wait_exponential(multiplier=self._backoff, max=30), reraise=True,
                ):  # fmt: skip
                    with attempt:
                        await asyncio.to_thread(self._post, body)
            except Exception as error:  # noqa: BLE001 - one undeliverable event must not stop the others
                log.error(
                    "pager webhook gave up on %s %s: %s", event["event_action"], event["dedup_key"], error
                )
            finally:
                self._queue.task_done()
