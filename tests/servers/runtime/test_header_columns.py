"""Header columns read from the wire agree with the parser on every report, or step aside."""

from __future__ import annotations

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from polytraders.governance.v1 import report_bus_pb2 as pb
from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk.outbox import frame_offsets
from polytraders.sdk.outbox import frame_reports as request_body
from polytraders.sdk.report_builders import ReportBuilder
from polytraders.servers.runtime.header_columns import BODIES, HEADER_FIELDS, read_header_columns
from polytraders.servers.runtime.report_validation import BODY_FOR_KIND, to_incoming
from polytraders.servers.runtime.requests import WireRequest

ID = "0190c4e0-1c2d-7a3b-8c4d-5e6f708192a3"
OTHER_ID = "0190c4e0-1c2d-7a3b-8c4d-000000000000"


def _parsed_columns(payloads: list[bytes]) -> tuple[list, ...]:
    """What the protobuf parser makes of each report: the columns the fast read must equal."""
    reports = [rpb.Report.FromString(p) for p in payloads]
    headers = [r.header for r in reports]
    return (
        [h.report_id for h in headers],
        [
            h.kind if BODY_FOR_KIND.get(h.kind) == r.WhichOneof("body") else 0
            for h, r in zip(headers, reports, strict=True)
        ],
        [h.bot_slug for h in headers],
        [h.epoch for h in headers],
        [h.mode for h in headers],
        [h.retention for h in headers],
        [h.produced_at.seconds * 1_000_000 + h.produced_at.nanos // 1000 for h in headers],
        payloads,
    )


def _request(payloads: list[bytes]) -> WireRequest:
    """A PublishReportsRequest of these reports, as the server receives it: parsed, beside its bytes."""
    wire = request_body(payloads)
    return WireRequest(pb.PublishReportsRequest.FromString(wire), wire)


def _header(**fields: object) -> bytes:
    """A Report holding only a header with these fields: appended to a report, it merges into it."""
    return rpb.Report(header=rpb.ReportHeader(**fields)).SerializeToString()


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field, as the wire carries it."""
    size, length = len(payload), bytearray()
    while size > 0x7F:
        length.append(size & 0x7F | 0x80)
        size >>= 7
    return bytes((number << 3 | 2, *length, size)) + payload


def _varied_reports() -> list[rpb.Report]:
    builder = ReportBuilder("alpha-bot", bot_class="strategy", mode=rpb.MODE_PAPER)
    return [
        builder.observation(condition_id="0xab", token_id="1", trace_id="t-1"),
        builder.decision(explanation="naïve ünïcode ✓", trace_id="t-1", causation_id=ID),
        builder.risk_vote(guard_name="max-position", verdict=rpb.VERDICT_APPROVE),
        builder.execution(event=rpb.EXECUTION_EVENT_FILL, price="0.43", size_micros=1),
        builder.settlement(explanation="kept", retention=rpb.RETENTION_SEVEN_YEARS, corrects_report_id=ID),
        ReportBuilder("b" * 128, mode=rpb.MODE_SHADOW).operations(component="x" * 300),
    ]


def test_the_view_messages_carry_the_reports_own_field_numbers() -> None:
    body = rpb.Report.DESCRIPTOR.oneofs_by_name["body"]
    assert [(f.name, f.number) for f in body.fields] == [(name, n) for n, name in enumerate(BODIES, 2)]
    header = rpb.ReportHeader.DESCRIPTOR.fields_by_name
    assert all(header[name].number == number for name, number, _ in HEADER_FIELDS)


def test_columns_of_ordinary_reports_equal_what_the_parser_reads() -> None:
    payloads = [r.SerializeToString() for r in _varied_reports()]
    columns = read_header_columns(_request(payloads))
    assert columns is not None
    assert tuple(columns) == _parsed_columns(payloads)


def test_validation_reads_the_same_batch_with_and_without_the_wire() -> None:
    reports = _varied_reports()
    payloads = [r.SerializeToString(deterministic=True) for r in reports]
    assert to_incoming(reports, _request(payloads)) == to_incoming(reports)


ORDINARY = ReportBuilder("alpha-bot").execution(event=rpb.EXECUTION_EVENT_FILL, price="0.5")
WHOLE_SECOND = rpb.Report()
WHOLE_SECOND.CopyFrom(ORDINARY)
WHOLE_SECOND.header.produced_at.CopyFrom(Timestamp(seconds=1_790_000_000))
PLAIN = ORDINARY.SerializeToString()
HEADER = ORDINARY.header.SerializeToString()

# Wires the parser reads in ways a naive column reader would not: each either steps aside
# (None) or agrees with the parser on every column.
TRICKY = {
    "a field repeated in the header (the last wins)": PLAIN + _header(report_id=OTHER_ID),
    "a second header merged into the first": PLAIN + _header(bot_slug="evil-bot", epoch=20300101),
    "a second body after the first (the oneof keeps the last)": PLAIN
    + rpb.Report(settlement=rpb.SettlementReport(explanation="x")).SerializeToString(),
    "the header after the body": _field(5, ORDINARY.execution.SerializeToString()) + _field(1, HEADER),
    "header fields in reverse order": b"".join(
        _header(**{name: getattr(ORDINARY.header, name)}) for name, _, _ in reversed(HEADER_FIELDS)
    )
    + rpb.Report(execution=ORDINARY.execution).SerializeToString(),
    "unknown fields in the report and the header": PLAIN + b"\xf8\x06\x01" + _field(1, b"\xf8\x06\x02"),
    "no nanoseconds in the timestamp": WHOLE_SECOND.SerializeToString(),
    "no body": rpb.Report(header=ORDINARY.header).SerializeToString(),
    "no header": rpb.Report(execution=ORDINARY.execution).SerializeToString(),
    "kind left unset": rpb.Report(
        header=rpb.ReportHeader(report_id=ID), execution=ORDINARY.execution
    ).SerializeToString(),
    "a body holding what looks like a header": rpb.Report(
        header=ORDINARY.header, execution=rpb.ExecutionReport(order_id=HEADER.decode("latin-1"))
    ).SerializeToString(),
    "a negative epoch": PLAIN + _header(epoch=-20261124),
    "a field twice within one header (the last wins)": _field(1, HEADER + _field(1, OTHER_ID.encode()))
    + _field(5, ORDINARY.execution.SerializeToString()),
    "an unknown number at the end of a header": _field(1, HEADER + b"\xf8\x06\x01")
    + _field(5, ORDINARY.execution.SerializeToString()),
    "the epoch a second time, packed (the parser keeps it as an unknown field)": _field(
        1, HEADER + _field(5, bytes((0xFF, 0x01)))
    )
    + _field(5, ORDINARY.execution.SerializeToString()),
    "a header of 16 KiB or more (its length takes three bytes)": rpb.Report(
        header=rpb.ReportHeader(
            trace_id="t" * 0x4000, **{n: getattr(ORDINARY.header, n) for n, _, _ in HEADER_FIELDS}
        ),
        execution=ORDINARY.execution,
    ).SerializeToString(),
}


READ_AS_COLUMNS = {"a body holding what looks like a header", "an unknown number at the end of a header"}
"""The cases whose bytes are the parser's own serialisation, with headers whose known fields
the columns can read: the rest take the general path."""


@pytest.mark.parametrize("case", list(TRICKY))
def test_a_non_canonical_report_is_read_as_the_parser_reads_it_or_not_at_all(case: str) -> None:
    payloads = [PLAIN, TRICKY[case], PLAIN]
    columns = read_header_columns(_request(payloads))
    if case in READ_AS_COLUMNS:
        assert columns is not None
        assert tuple(columns) == _parsed_columns(payloads)
    else:
        assert columns is None


def test_a_field_given_twice_cannot_stand_in_for_another_reports_missing_one() -> None:
    """Merged, the two reports' report_ids make a column of the right length, but the second
    report has none: the batch must take the general path and be refused."""
    twice = _field(1, HEADER + _field(1, OTHER_ID.encode())) + _field(
        5, ORDINARY.execution.SerializeToString()
    )
    missing = rpb.Report()
    missing.CopyFrom(ORDINARY)
    missing.header.ClearField("report_id")
    payloads = [twice, missing.SerializeToString()]
    assert read_header_columns(_request(payloads)) is None
    assert to_incoming([rpb.Report.FromString(p) for p in payloads], _request(payloads)) is None


def test_a_packed_number_cannot_stand_in_for_another_reports_missing_one() -> None:
    """The first report's kind is given a second time, packed: the parser keeps that as an
    unknown field (and writes it back as it came), a repeated column would read it as a value.
    The second report has no kind at all; the batch must take the general path and be refused."""
    unkinded = rpb.ReportHeader()
    unkinded.CopyFrom(ORDINARY.header)
    unkinded.ClearField("kind")
    body = _field(5, ORDINARY.execution.SerializeToString())
    kind = bytes((rpb.REPORT_KIND_EXECUTION,))
    payloads = [
        _field(1, unkinded.SerializeToString() + _field(2, kind + kind)) + body,
        _field(1, unkinded.SerializeToString()) + body,
    ]
    request = _request(payloads)
    assert request.message.SerializeToString(deterministic=True) == request.wire  # it passes as canonical
    assert read_header_columns(request) is None
    assert to_incoming(list(request.message.reports), request) is None


def test_a_batch_of_every_kind_with_metrics_maps_is_read_as_columns() -> None:
    builder = ReportBuilder("alpha-bot")
    reports = _varied_reports() * 3 + [
        builder.operations(component="publisher", metrics={f"shed.{k}": str(k) for k in range(8)})
    ]
    payloads = [r.SerializeToString(deterministic=True) for r in reports]  # as the SDK publishes them
    columns = read_header_columns(_request(payloads))
    assert columns is not None
    assert tuple(columns) == _parsed_columns(payloads)


def test_a_kind_naming_another_body_than_the_one_set_is_never_read_as_valid() -> None:
    """The wire sets an execution body, then a settlement one: the parser keeps the settlement."""
    payload = PLAIN + rpb.Report(settlement=rpb.SettlementReport(explanation="x")).SerializeToString()
    reports = [rpb.Report.FromString(payload)]
    assert reports[0].WhichOneof("body") == "settlement"
    assert to_incoming(reports, _request([payload])) is None


def test_a_batch_read_off_its_wire_lends_the_relay_its_bytes_and_every_slice_is_framed_reports() -> None:
    builder = ReportBuilder("alpha-bot", bot_class="strategy")
    reports = [builder.observation(condition_id="0xab", token_id="1", trace_id=f"t-{i}") for i in range(4)]
    reports.append(builder.decision(explanation="x" * 200, trace_id="t-4"))  # a length of two bytes
    payloads = [r.SerializeToString(deterministic=True) for r in reports]
    incoming = to_incoming(reports, _request(payloads))
    assert incoming is not None and incoming.framed == request_body(payloads)
    offsets = frame_offsets(payloads)
    for start, end in [(0, 5), (0, 1), (1, 4), (4, 5)]:
        assert incoming.framed[offsets[start] : offsets[end]] == request_body(payloads[start:end])
    assert incoming.select([0, 2]).framed is None  # a batch cut by duplicates is framed afresh


def test_a_batch_whose_payloads_are_not_its_wire_lends_nothing() -> None:
    read_one_by_one = [PLAIN, TRICKY["a second header merged into the first"]]
    incoming = to_incoming([rpb.Report.FromString(p) for p in read_one_by_one], _request(read_one_by_one))
    assert incoming is not None and incoming.framed is None
    with_unknown_fields = request_body([PLAIN]) + b"\x12\x01a"  # a field the request does not define, kept by the parser
    request = WireRequest(pb.PublishReportsRequest.FromString(with_unknown_fields), with_unknown_fields)
    incoming = to_incoming(list(request.message.reports), request)
    assert incoming is not None and incoming.payloads == [PLAIN] and incoming.framed is None
    kept_seven_years = ReportBuilder("alpha-bot").settlement(explanation="kept", retention=rpb.RETENTION_SEVEN_YEARS)
    payloads = [kept_seven_years.SerializeToString()]
    assert to_incoming([kept_seven_years], _request(payloads)).framed is None  # stored canonically, framed afresh
