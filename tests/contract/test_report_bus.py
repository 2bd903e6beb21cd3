"""ReportBusService: idempotent all-or-nothing publish, filtered and resumable subscribe."""

from __future__ import annotations

import itertools
import threading
import time

import grpc
import pytest

from polytraders.governance.v1 import report_bus_pb2 as pb
from polytraders.governance.v1 import report_bus_pb2_grpc
from polytraders.reports.v1 import reports_pb2 as rpb

from .conftest import DEADLINE, Target
from .rpc import violations

SERVES = ("polytraders.governance.v1.ReportBusService",)
"""The services these cases call (one process of a split mesh may serve none of them)."""


def _take(stream, count: int) -> list[pb.SubscribeReportsResponse]:
    items = list(itertools.islice(stream, count))
    stream.cancel()
    return items


def test_publishing_the_same_report_twice_stores_it_once(target: Target) -> None:
    builder = target.builder("bot")
    batch = [builder.operations(component="contract", explanation=f"n{i}") for i in range(3)]
    stub, md = target.reports(), target.metadata("bot")

    first = stub.PublishReports(pb.PublishReportsRequest(reports=batch), metadata=md, timeout=DEADLINE)
    again = stub.PublishReports(pb.PublishReportsRequest(reports=batch), metadata=md, timeout=DEADLINE)
    repeated = stub.PublishReports(
        pb.PublishReportsRequest(reports=[batch[0], batch[0]]), metadata=md, timeout=DEADLINE
    )

    assert (first.accepted_count, first.duplicate_count) == (3, 0)
    assert first.last_cursor
    assert (again.accepted_count, again.duplicate_count) == (0, 3)
    assert (repeated.accepted_count, repeated.duplicate_count) == (0, 2)


def test_published_reports_come_back_in_order_with_topic_and_partition(target: Target) -> None:
    builder = target.builder("operator")
    batch = [builder.settlement(record_type="contract.check", subject=f"s{i}") for i in range(4)]
    stub, md = target.reports(), target.metadata("operator")
    start = target.head_cursor(builder)
    published = stub.PublishReports(pb.PublishReportsRequest(reports=batch), metadata=md, timeout=DEADLINE)

    stream = stub.SubscribeReports(
        pb.SubscribeReportsRequest(bot_slugs=[builder.bot_slug], cursor=start),
        metadata=md,
        timeout=DEADLINE,
    )
    items = _take(stream, 4)

    assert [i.report for i in items] == batch
    assert items[0].topic == "polytraders.reports.settlement"
    assert items[0].partition_key == f"{builder.bot_slug}+{batch[0].header.epoch}"
    assert items[-1].cursor == published.last_cursor


def test_a_resumed_subscription_has_no_gap_and_no_duplicate(target: Target) -> None:
    builder = target.builder("operator")
    stub, md = target.reports(), target.metadata("operator")
    start = target.head_cursor(builder)
    first = [builder.decision(strategy_slug="contract", signal_name=f"a{i}") for i in range(5)]
    stub.PublishReports(pb.PublishReportsRequest(reports=first), metadata=md, timeout=DEADLINE)
    request = pb.SubscribeReportsRequest(bot_slugs=[builder.bot_slug], kinds=[rpb.REPORT_KIND_DECISION])

    request.cursor = start
    before_cut = _take(stub.SubscribeReports(request, metadata=md, timeout=DEADLINE), 3)
    later = [builder.decision(strategy_slug="contract", signal_name=f"b{i}") for i in range(4)]
    stub.PublishReports(pb.PublishReportsRequest(reports=later), metadata=md, timeout=DEADLINE)
    request.cursor = before_cut[-1].cursor
    after_cut = _take(stub.SubscribeReports(request, metadata=md, timeout=DEADLINE), 6)

    seen = [i.report.header.report_id for i in before_cut + after_cut]
    assert seen == [r.header.report_id for r in first + later]


def test_live_reports_follow_the_archive_without_a_gap(target: Target) -> None:
    builder = target.builder("operator")
    stub, md = target.reports(), target.metadata("operator")
    start = target.head_cursor(builder)
    archived = [builder.observation(source="contract", explanation=f"old{i}") for i in range(3)]
    stub.PublishReports(pb.PublishReportsRequest(reports=archived), metadata=md, timeout=DEADLINE)
    live = [builder.observation(source="contract", explanation=f"new{i}") for i in range(3)]
    stream = stub.SubscribeReports(
        pb.SubscribeReportsRequest(bot_slugs=[builder.bot_slug], cursor=start),
        metadata=md,
        timeout=DEADLINE,
    )
    received: list[pb.SubscribeReportsResponse] = []
    reader = threading.Thread(target=lambda: received.extend(_take(stream, 6)))
    reader.start()
    for report in live:  # one at a time, while the subscriber is already following
        stub.PublishReports(pb.PublishReportsRequest(reports=[report]), metadata=md, timeout=DEADLINE)
    reader.join(DEADLINE)

    assert [i.report for i in received] == archived + live


def test_a_bot_subscription_sees_only_its_own_reports(target: Target) -> None:
    operator, bot = target.builder("operator"), target.builder("bot")
    stub = target.reports()
    start = target.head_cursor(operator)
    other = operator.operations(component="contract", explanation="not for the bot")
    mine = bot.operations(component="contract", explanation="for the bot")
    stub.PublishReports(pb.PublishReportsRequest(reports=[other]), metadata=target.metadata("operator"))
    stub.PublishReports(pb.PublishReportsRequest(reports=[mine]), metadata=target.metadata("bot"))

    stream = stub.SubscribeReports(
        pb.SubscribeReportsRequest(cursor=start), metadata=target.metadata("bot"), timeout=DEADLINE
    )
    assert [i.report for i in _take(stream, 1)] == [mine]


def _valid(target: Target, role: str) -> rpb.Report:
    return target.builder(role).operations(component="contract", explanation="valid")


def _without_header(report: rpb.Report) -> rpb.Report:
    report.ClearField("header")
    return report


def _with_header(**changes: object):
    def change(report: rpb.Report) -> rpb.Report:
        for name, value in changes.items():
            setattr(report.header, name, value)
        return report

    return change


def _with_body_mismatch(report: rpb.Report) -> rpb.Report:
    report.header.kind = rpb.REPORT_KIND_EXECUTION
    return report


def _without_body(report: rpb.Report) -> rpb.Report:
    report.ClearField("operations")
    return report


def _with_bad_correction(report: rpb.Report) -> rpb.Report:
    report.header.kind = rpb.REPORT_KIND_SETTLEMENT
    report.settlement.corrects_report_id = "the-one-before"
    return report


def _with_two_ids_in_one(report: rpb.Report) -> rpb.Report:
    report.header.report_id = f"{report.header.report_id}\n{report.header.report_id}"
    return report


def _produced_at_the_unix_epoch(report: rpb.Report) -> rpb.Report:
    report.header.produced_at.FromSeconds(0)
    return report


def _unchanged(report: rpb.Report) -> rpb.Report:
    return report


# Each case: how the second report of a [valid, bad] batch is spoiled, who sends it,
# and the exact status code and field the server must answer with.
BAD_PUBLISHES = [
    (
        "missing header",
        "bot",
        _without_header,
        grpc.StatusCode.INVALID_ARGUMENT,
        "reports[1].header",
    ),
    (
        "empty report_id",
        "bot",
        _with_header(report_id=""),
        grpc.StatusCode.INVALID_ARGUMENT,
        "reports[1].header.report_id",
    ),
    (
        "report_id not a uuid",
        "bot",
        _with_header(report_id="not-a-uuid"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "reports[1].header.report_id",
    ),
    (
        "report_id holding two ids on two lines",
        "bot",
        _with_two_ids_in_one,
        grpc.StatusCode.INVALID_ARGUMENT,
        "reports[1].header.report_id",
    ),
    (
        "produced_at the unix epoch",
        "bot",
        _produced_at_the_unix_epoch,
        grpc.StatusCode.INVALID_ARGUMENT,
        "reports[1].header.produced_at",
    ),
    (
        "unknown kind",
        "bot",
        _with_header(kind=99),
        grpc.StatusCode.INVALID_ARGUMENT,
        "reports[1].header.kind",
    ),
    (
        "kind does not match body",
        "bot",
        _with_body_mismatch,
        grpc.StatusCode.INVALID_ARGUMENT,
        "reports[1].header.kind",
    ),
    ("no body", "bot", _without_body, grpc.StatusCode.INVALID_ARGUMENT, "reports[1].body"),
    (
        "epoch not a day",
        "bot",
        _with_header(epoch=20261345),
        grpc.StatusCode.INVALID_ARGUMENT,
        "reports[1].header.epoch",
    ),
    (
        "mode missing",
        "bot",
        _with_header(mode=0),
        grpc.StatusCode.INVALID_ARGUMENT,
        "reports[1].header.mode",
    ),
    (
        "retention missing",
        "bot",
        _with_header(retention=0),
        grpc.StatusCode.INVALID_ARGUMENT,
        "reports[1].header.retention",
    ),
    (
        "correction names no report_id",
        "bot",
        _with_bad_correction,
        grpc.StatusCode.INVALID_ARGUMENT,
        "reports[1].settlement.corrects_report_id",
    ),
    (
        "bad bot_slug",
        "operator",
        _with_header(bot_slug="Bad Slug!"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "reports[1].header.bot_slug",
    ),
    (
        "bot_slug holding two slugs on two lines",
        "operator",
        _with_header(bot_slug="alpha-bot\nbeta-bot"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "reports[1].header.bot_slug",
    ),
    (
        "another bot's bot_slug",
        "bot",
        _with_header(bot_slug="some-other-bot"),
        grpc.StatusCode.PERMISSION_DENIED,
        None,
    ),
    ("auditor may not publish", "auditor", _unchanged, grpc.StatusCode.PERMISSION_DENIED, None),
    ("no token", None, _unchanged, grpc.StatusCode.UNAUTHENTICATED, None),
]


@pytest.mark.parametrize(
    ("case", "role", "spoil", "code", "field"), BAD_PUBLISHES, ids=[c[0] for c in BAD_PUBLISHES]
)
def test_a_bad_publish_is_refused_with_its_code_and_field_and_stores_nothing(
    target: Target,
    case: str,
    role: str | None,
    spoil,
    code: grpc.StatusCode,
    field: str | None,
) -> None:
    sender = role if role in ("bot", "operator") else "operator"
    good, bad = _valid(target, sender), spoil(_valid(target, sender))
    stub = target.reports()
    size_before = target.archive_size() if target.archive_size else None

    with pytest.raises(grpc.RpcError) as refused:
        stub.PublishReports(
            pb.PublishReportsRequest(reports=[good, bad]),
            metadata=target.metadata(role),
            timeout=DEADLINE,
        )

    assert refused.value.code() == code, refused.value.details()
    if field is not None:
        assert field in violations(refused.value), violations(refused.value)
    if target.archive_size:
        assert target.archive_size() == size_before
    # All-or-nothing: the valid first report of the refused batch was not stored.
    retry = stub.PublishReports(
        pb.PublishReportsRequest(reports=[good]),
        metadata=target.metadata("operator"),
        timeout=DEADLINE,
    )
    assert (retry.accepted_count, retry.duplicate_count) == (1, 0)


def test_an_oversize_batch_is_refused_and_stores_nothing(target: Target) -> None:
    builder = target.builder("operator")
    batch = [builder.operations(component="contract") for _ in range(5001)]
    stub, md = target.reports(), target.metadata("operator")

    with pytest.raises(grpc.RpcError) as refused:
        stub.PublishReports(pb.PublishReportsRequest(reports=batch), metadata=md, timeout=DEADLINE)

    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "reports" in violations(refused.value)
    retry = stub.PublishReports(pb.PublishReportsRequest(reports=batch[:1]), metadata=md, timeout=DEADLINE)
    assert retry.accepted_count == 1


BAD_SUBSCRIBES = [
    (
        "cursor not issued by the bus",
        "operator",
        pb.SubscribeReportsRequest(cursor="abc"),
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    (
        "epoch range backwards",
        "operator",
        pb.SubscribeReportsRequest(epoch_from=20261124, epoch_to=20261101),
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    (
        "bot reading another bot",
        "bot",
        pb.SubscribeReportsRequest(bot_slugs=["some-other-bot"]),
        grpc.StatusCode.PERMISSION_DENIED,
    ),
    ("no token", None, pb.SubscribeReportsRequest(), grpc.StatusCode.UNAUTHENTICATED),
]


@pytest.mark.parametrize(
    ("case", "role", "request_", "code"), BAD_SUBSCRIBES, ids=[c[0] for c in BAD_SUBSCRIBES]
)
def test_a_bad_subscription_is_refused_with_its_code(
    target: Target,
    case: str,
    role: str | None,
    request_: pb.SubscribeReportsRequest,
    code: grpc.StatusCode,
) -> None:
    stream = target.reports().SubscribeReports(request_, metadata=target.metadata(role), timeout=DEADLINE)
    with pytest.raises(grpc.RpcError) as refused:
        next(iter(stream))
    assert refused.value.code() == code


@pytest.mark.parametrize("role", ["bot", "auditor", None])
def test_only_operators_purge(target: Target, role: str | None) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        target.reports().PurgeExpiredReports(
            pb.PurgeExpiredReportsRequest(), metadata=target.metadata(role), timeout=DEADLINE
        )
    expected = grpc.StatusCode.UNAUTHENTICATED if role is None else grpc.StatusCode.PERMISSION_DENIED
    assert refused.value.code() == expected


BAD_SET_ASIDE_LISTINGS = [
    ("limit over 1000", "auditor", pb.ListSetAsideReportsRequest(limit=1001), grpc.StatusCode.INVALID_ARGUMENT, "limit"),
    ("negative limit", "auditor", pb.ListSetAsideReportsRequest(limit=-1), grpc.StatusCode.INVALID_ARGUMENT, "limit"),
    ("cursor not a cursor", "auditor", pb.ListSetAsideReportsRequest(cursor="x1"), grpc.StatusCode.INVALID_ARGUMENT, "cursor"),
    ("cursor past int64", "auditor", pb.ListSetAsideReportsRequest(cursor="9" * 19), grpc.StatusCode.INVALID_ARGUMENT, "cursor"),
    ("follower too long", "auditor", pb.ListSetAsideReportsRequest(follower="f" * 65), grpc.StatusCode.INVALID_ARGUMENT, "follower"),
    ("NUL in follower", "auditor", pb.ListSetAsideReportsRequest(follower="p\x00"), grpc.StatusCode.INVALID_ARGUMENT, "follower"),
    ("a bot", "bot", pb.ListSetAsideReportsRequest(), grpc.StatusCode.PERMISSION_DENIED, None),
    ("no token", None, pb.ListSetAsideReportsRequest(), grpc.StatusCode.UNAUTHENTICATED, None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "role", "request_", "code", "field"), BAD_SET_ASIDE_LISTINGS, ids=[c[0] for c in BAD_SET_ASIDE_LISTINGS]
)
def test_a_bad_set_aside_listing_is_refused_with_its_code_and_field(
    target: Target,
    case: str,
    role: str | None,
    request_: pb.ListSetAsideReportsRequest,
    code: grpc.StatusCode,
    field: str | None,
) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        target.reports().ListSetAsideReports(request_, metadata=target.metadata(role), timeout=DEADLINE)
    assert refused.value.code() == code
    if field is not None:
        assert field in violations(refused.value)


def test_set_aside_reports_page_by_cursor_without_repeating_one(target: Target) -> None:
    """Three user-action records whose details are a list, not an action: the user-activity follower sets each
    aside; listed one to a page, they come in cursor order, each once, and the pages end."""
    builder = target.builder("operator")
    stub, operator, auditor = target.reports(), target.metadata("operator"), target.metadata("auditor")
    poisoned = [builder.settlement(record_type="user.action", subject="contract", details_json="[1, 2, 3]")
                for _ in range(3)]  # fmt: skip
    stub.PublishReports(pb.PublishReportsRequest(reports=poisoned), metadata=operator, timeout=DEADLINE)
    ids = {r.header.report_id for r in poisoned}

    def listed() -> list[pb.SetAsideReport]:
        everything = pb.ListSetAsideReportsRequest(limit=1000)
        return [r for r in stub.ListSetAsideReports(everything, metadata=auditor, timeout=DEADLINE).reports
                if r.report_id in ids]  # fmt: skip

    deadline = time.monotonic() + DEADLINE
    while len(listed()) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)  # the follower runs behind the bus
    everything = listed()
    paged: list[pb.SetAsideReport] = []
    cursor = str(int(everything[0].cursor) - 1) if everything else ""
    for _ in range(len(everything) + 1):
        page = stub.ListSetAsideReports(pb.ListSetAsideReportsRequest(limit=1, cursor=cursor), metadata=auditor,
                                        timeout=DEADLINE)  # fmt: skip
        assert len(page.reports) <= 1
        paged.extend(r for r in page.reports if r.report_id in ids)
        cursor = page.next_cursor
        if not cursor:
            break

    assert len(everything) == 3 and {r.follower for r in everything} == {"user.action"}
    assert paged == everything
    assert [int(r.cursor) for r in paged] == sorted(int(r.cursor) for r in paged)


def test_a_batch_never_outgrows_what_a_client_receives(target: Target) -> None:
    """Sixteen reports of about 250 KB: more than gRPC's default 4 MiB a client takes in one
    message, so the server cuts the batch (every report, in order, each message under 4 MiB)."""
    builder = target.builder("operator")
    stub, md = target.reports(), target.metadata("operator")
    start = target.head_cursor(builder)
    big = [builder.settlement(record_type="contract.big", subject=str(i), details_json=f'{{"pad": "{"x" * 250_000}"}}')
           for i in range(16)]  # fmt: skip
    for half in (big[:8], big[8:]):
        stub.PublishReports(pb.PublishReportsRequest(reports=half), metadata=md, timeout=DEADLINE)
    subscription = pb.SubscribeReportsRequest(bot_slugs=[builder.bot_slug], cursor=start)
    with target.dial() as default_client:  # gRPC's default receive limit
        batches = report_bus_pb2_grpc.ReportBusServiceStub(default_client).SubscribeReportBatches(
            pb.SubscribeReportBatchesRequest(subscription=subscription), metadata=md, timeout=DEADLINE
        )
        received: list[pb.SubscribeReportBatchesResponse] = []
        for batch in batches:
            received.append(batch)
            if sum(len(b.reports) for b in received) == 16:
                break
        batches.cancel()

    assert [item.report for b in received for item in b.reports] == big
    assert len(received) >= 2 and all(b.ByteSize() < 4 * 1024 * 1024 for b in received)


def test_batched_subscriptions_carry_the_same_reports_in_the_same_order_at_most_max_to_a_message(
    target: Target,
) -> None:
    builder = target.builder("operator")
    stub, md = target.reports(), target.metadata("operator")
    start = target.head_cursor(builder)
    archived = [builder.observation(source="contract", explanation=f"old{i}") for i in range(7)]
    stub.PublishReports(pb.PublishReportsRequest(reports=archived), metadata=md, timeout=DEADLINE)
    subscription = pb.SubscribeReportsRequest(bot_slugs=[builder.bot_slug], cursor=start)
    batches = stub.SubscribeReportBatches(
        pb.SubscribeReportBatchesRequest(subscription=subscription, max_reports=3), metadata=md, timeout=DEADLINE
    )
    received: list[pb.SubscribeReportBatchesResponse] = []

    def read() -> None:
        for batch in batches:
            received.append(batch)
            if sum(len(b.reports) for b in received) == 10:
                break
        batches.cancel()

    reader = threading.Thread(target=read)
    reader.start()
    live = [builder.observation(source="contract", explanation=f"new{i}") for i in range(3)]
    stub.PublishReports(pb.PublishReportsRequest(reports=live), metadata=md, timeout=DEADLINE)
    reader.join(DEADLINE)
    one_by_one = _take(stub.SubscribeReports(subscription, metadata=md, timeout=DEADLINE), 10)

    flattened = [item for batch in received for item in batch.reports]
    assert [i.report for i in flattened] == archived + live
    assert flattened == one_by_one  # cursors, topics and partition keys too
    assert all(1 <= len(batch.reports) <= 3 for batch in received) and len(received) >= 4


BAD_BATCHED_SUBSCRIBES = [
    ("max_reports over 5000", "operator", pb.SubscribeReportBatchesRequest(max_reports=5001), grpc.StatusCode.INVALID_ARGUMENT, "max_reports"),
    ("negative max_reports", "operator", pb.SubscribeReportBatchesRequest(max_reports=-1), grpc.StatusCode.INVALID_ARGUMENT, "max_reports"),
    ("cursor not a cursor", "operator", pb.SubscribeReportBatchesRequest(subscription=pb.SubscribeReportsRequest(cursor="x")),
     grpc.StatusCode.INVALID_ARGUMENT, "subscription.cursor"),
    ("epochs reversed", "operator", pb.SubscribeReportBatchesRequest(subscription=pb.SubscribeReportsRequest(epoch_from=20261201, epoch_to=20261101)),
     grpc.StatusCode.INVALID_ARGUMENT, "subscription.epoch_to"),
    ("a bot asking for another bot", "bot", pb.SubscribeReportBatchesRequest(subscription=pb.SubscribeReportsRequest(bot_slugs=["someone-else"])),
     grpc.StatusCode.PERMISSION_DENIED, None),
    ("no token", None, pb.SubscribeReportBatchesRequest(), grpc.StatusCode.UNAUTHENTICATED, None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "role", "request_", "code", "field"), BAD_BATCHED_SUBSCRIBES, ids=[c[0] for c in BAD_BATCHED_SUBSCRIBES]
)
def test_a_bad_batched_subscription_is_refused_with_its_code_and_field(
    target: Target,
    case: str,
    role: str | None,
    request_: pb.SubscribeReportBatchesRequest,
    code: grpc.StatusCode,
    field: str | None,
) -> None:
    stream = target.reports().SubscribeReportBatches(request_, metadata=target.metadata(role), timeout=DEADLINE)
    with pytest.raises(grpc.RpcError) as refused:
        next(iter(stream))
    assert refused.value.code() == code
    if field is not None:
        assert field in violations(refused.value), violations(refused.value)
