"""ReportBusService: translates protobuf to the report bus (and what its followers set aside) and back; nothing more."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from functools import lru_cache
from typing import Any

from prometheus_client import Counter

from polytraders.governance.v1 import report_bus_pb2 as pb
from polytraders.sdk.clock import from_micros, to_timestamp
from polytraders.sdk.outbox import delimited_prefix

from . import auth
from .archive import ArchivedReport, ReportFilter, partition_key, topic_for
from .bus import ReportBus
from .errors import InvalidArgument, PermissionDenied
from .request_limits import is_cursor
from .requests import ServicerContext, WireRequest, page_size
from .server import ServiceBinding
from .set_aside import SetAside

ACCESS = {
    "PublishReports": auth.BOT_WRITE,
    "SubscribeReports": auth.READ,
    "SubscribeReportBatches": auth.READ,
    "PurgeExpiredReports": auth.OPERATE,
    "ListSetAsideReports": auth.INTERNAL_READ,
}


def parse_cursor(cursor: str, field: str = "cursor") -> int:
    if not cursor:
        return 0
    if not is_cursor(cursor):
        raise InvalidArgument.field(field, f"not a cursor this bus issued: {cursor[:40]!r}")
    return int(cursor)


MAX_BATCH_REPORTS = 5000
BATCH_BYTES = 3 * 1024 * 1024
"""Most bytes of reports in one SubscribeReportBatchesResponse: under gRPC's default 4 MiB a client
receives (a report may be 1 MiB, so a count alone cannot bound a message)."""


def _messages(batch: list[ArchivedReport]) -> Iterator[bytes]:
    """The batch as SubscribeReportBatchesResponses of at most BATCH_BYTES of reports (and at
    least one report each)."""
    fields: list[bytes] = []
    size = 0
    for archived in batch:
        response = _subscribe_response(archived)
        field = _prefix(1, len(response)) + response
        if fields and size + len(field) > BATCH_BYTES:
            yield b"".join(fields)
            fields, size = [], 0
        fields.append(field)
        size += len(field)
    if fields:
        yield b"".join(fields)


def _subscription(request: pb.SubscribeReportsRequest, path: str = "") -> dict[str, Any]:
    """The bus subscription a request asks for (fields named under `path` when refused)."""
    caller = auth.current_principal()
    bot_slugs = frozenset(request.bot_slugs)
    if caller.role is auth.Role.BOT:
        for slug in bot_slugs:
            caller.require_acting_for(slug, f"{path}bot_slugs")
        bot_slugs = frozenset({caller.bot_slug or ""})
    if request.epoch_from and request.epoch_to and request.epoch_from > request.epoch_to:
        raise InvalidArgument.field(f"{path}epoch_to", "is before epoch_from")
    report_filter = ReportFilter(
        kinds=frozenset(request.kinds),
        bot_slugs=bot_slugs,
        modes=frozenset(request.modes),
        epoch_from=request.epoch_from,
        epoch_to=request.epoch_to,
    )
    after = parse_cursor(request.cursor, f"{path}cursor")
    return {"report_filter": report_filter, "after_seq": after, "live_only": request.live_only and not request.cursor}


def _subscribe_response(archived: ArchivedReport) -> bytes:
    """A SubscribeReportsResponse, serialised: the report's bytes as archived go in whole (parsing
    and serialising each report again was most of a stream's cost), and the fields a partition's
    reports share are encoded once."""
    payload, cursor = archived.payload, str(archived.seq).encode()
    return b"".join([
        _prefix(1, len(payload)), payload,
        _prefix(2, len(cursor)), cursor,
        _topic_field(archived.kind),
        _partition_field(archived.bot_slug, archived.epoch),
    ])  # fmt: skip


@lru_cache(maxsize=8192)
def _prefix(number: int, size: int) -> bytes:
    return delimited_prefix(number, size)


@lru_cache(maxsize=64)
def _topic_field(kind: int) -> bytes:
    topic = topic_for(kind).encode()
    return _prefix(3, len(topic)) + topic


@lru_cache(maxsize=4096)
def _partition_field(bot_slug: str, epoch: int) -> bytes:
    key = partition_key(bot_slug, epoch).encode()
    return _prefix(4, len(key)) + key


class ReportBusServicer:
    """Not the generated ReportBusServiceServicer: PublishReports is handed a `WireRequest` and the
    streams answer with responses already serialised, which its signatures do not allow (the
    binding looks each method up by name)."""

    def __init__(self, bus: ReportBus, set_aside: SetAside, refused: Counter) -> None:
        self._bus = bus
        self._set_aside = set_aside
        self._refused = refused

    async def PublishReports(
        self, request: WireRequest, context: ServicerContext
    ) -> pb.PublishReportsResponse:
        reports = request.message.reports
        try:
            incoming = self._bus.validate(reports, request)
            auth.current_principal().require_acting_for_each(incoming.bot_slugs, "reports[{}].header.bot_slug")
        except InvalidArgument as refusal:  # the reports it names (the SDK sends the rest again, and sets these aside)
            named = {v.field.split("]", 1)[0] for v in refusal.violations if v.field.startswith("reports[")}
            self._refused.labels("invalid").inc(len(named) or len(reports))
            raise
        except PermissionDenied:  # what is refused before the servicer shows in the call metrics by status
            self._refused.labels("not_the_callers_bot").inc(len(reports))
            raise
        result = await self._bus.publish_validated(incoming)
        return pb.PublishReportsResponse(
            accepted_count=result.accepted,
            duplicate_count=result.duplicates,
            last_cursor=str(result.last_seq) if result.last_seq else "",
        )

    async def SubscribeReports(
        self, request: pb.SubscribeReportsRequest, context: ServicerContext
    ) -> AsyncIterator[bytes]:
        async for archived in self._bus.subscribe(**_subscription(request)):
            yield _subscribe_response(archived)

    async def SubscribeReportBatches(
        self, request: pb.SubscribeReportBatchesRequest, context: ServicerContext
    ) -> AsyncIterator[bytes]:
        if not 0 <= request.max_reports <= MAX_BATCH_REPORTS:
            raise InvalidArgument.field("max_reports", f"must be between 1 and {MAX_BATCH_REPORTS} (0 means 500)")
        batches = self._bus.subscribe_batches(**_subscription(request.subscription, "subscription."),
                                              max_reports=request.max_reports or 500)  # fmt: skip
        async for batch in batches:
            for message in _messages(batch):
                yield message

    async def PurgeExpiredReports(
        self, request: pb.PurgeExpiredReportsRequest, context: ServicerContext
    ) -> pb.PurgeExpiredReportsResponse:
        return pb.PurgeExpiredReportsResponse(purged_count=await self._bus.purge_expired())

    async def ListSetAsideReports(
        self, request: pb.ListSetAsideReportsRequest, context: ServicerContext
    ) -> pb.ListSetAsideReportsResponse:
        page = await asyncio.to_thread(
            self._set_aside.list, request.follower, parse_cursor(request.cursor), page_size(request.limit)
        )
        return pb.ListSetAsideReportsResponse(
            reports=[
                pb.SetAsideReport(follower=r.follower, report_id=r.report_id, cursor=str(r.archive_seq),
                                  bot_slug=r.bot_slug, reason=r.reason,
                                  set_aside_at=to_timestamp(from_micros(r.set_aside_at_us)))  # fmt: skip
                for r in page.reports
            ],
            next_cursor=str(page.next_after_seq) if page.next_after_seq else "",
        )


def report_bus_binding(bus: ReportBus, set_aside: SetAside, refused: Counter) -> ServiceBinding:
    servicer = ReportBusServicer(bus, set_aside, refused)
    return ServiceBinding.of(pb, "ReportBusService", servicer, ACCESS, wire_requests=frozenset({"PublishReports"}))
