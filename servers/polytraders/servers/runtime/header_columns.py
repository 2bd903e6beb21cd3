"""A batch's report headers read as columns, in C, straight from the request's wire bytes.

Reading a header field off a parsed message costs a Python call per field per report;
on the publish path that was most of the server's time. Protobuf's own parser can do the
same work a column at a time, through private *view* messages that share the reports'
field numbers:

1. `PublishCore` re-reads the request keeping only the header fields the archive needs and
   an empty marker for the body (a oneof, like the real one), then drops everything else
   and serialises itself. That serialisation is canonical: each field at most once per
   report, in field order, last occurrence winning, exactly as the real parser decides.
2. Concatenating canonical messages and parsing the result as a message whose fields are
   all `repeated` collects each field into one list. Because every message held each
   field at most once, a list with one entry per report is aligned with the reports; a
   shorter one (a field left at its default somewhere) means the batch takes the general
   path, never a guess.
3. The body marker of each canonical report is its last two bytes: its tag names the body
   that is set, which must match the header's kind.

The real `Report` parse still runs (the gRPC deserialiser does it) and is what proves the
bodies well-formed; these columns only replace reading the headers one report at a time.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any, NamedTuple

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor_pb2 import FieldDescriptorProto as Field

_STRING, _BYTES, _INT32, _INT64, _MESSAGE = (
    Field.TYPE_STRING,
    Field.TYPE_BYTES,
    Field.TYPE_INT32,
    Field.TYPE_INT64,
    Field.TYPE_MESSAGE,
)
_PACKAGE = "polytraders.servers.views"
BODIES = ("observation", "decision", "risk_vote", "execution", "settlement", "operations")
"""Report's oneof `body`, fields 2 to 7: the body of kind k is field k + 1."""
HEADER_FIELDS = (
    ("report_id", 1, _STRING),
    ("kind", 2, _INT32),
    ("bot_slug", 3, _STRING),
    ("epoch", 5, _INT32),
    ("mode", 6, _INT32),
    ("produced_at", 7, _MESSAGE),
    ("retention", 10, _INT32),
)


def _build_views() -> dict[str, Any]:
    file = descriptor_pb2.FileDescriptorProto(
        name="polytraders/servers/views/header_columns.proto", package=_PACKAGE, syntax="proto3"
    )

    def message(name: str, fields: list[tuple[str, int, int, str]], repeated: bool = False) -> None:
        label = Field.LABEL_REPEATED if repeated else Field.LABEL_OPTIONAL
        added = file.message_type.add(name=name)
        for field_name, number, kind, type_name in fields:
            field = added.field.add(name=field_name, number=number, type=kind, label=label)
            if type_name:
                field.type_name = f".{_PACKAGE}.{type_name}"

    message("Present", [])
    timestamp = [("seconds", 1, _INT64, ""), ("nanos", 2, _INT32, "")]
    message("Timestamp", timestamp)
    message("TimestampColumns", timestamp, repeated=True)
    header = [(n, num, kind, "Timestamp" if kind == _MESSAGE else "") for n, num, kind in HEADER_FIELDS]
    message("HeaderCore", header)
    columns = [(n, num, _BYTES if kind == _MESSAGE else kind, "") for n, num, kind in HEADER_FIELDS]
    message("HeaderColumns", columns, repeated=True)
    message(
        "ReportCore",
        [("header", 1, _MESSAGE, "HeaderCore")]
        + [(body, number, _MESSAGE, "Present") for number, body in enumerate(BODIES, 2)],
    )
    core = file.message_type[-1]
    core.oneof_decl.add(name="body")
    for field in core.field[1:]:
        field.oneof_index = 0
    message("PublishCore", [("reports", 1, _MESSAGE, "ReportCore")], repeated=True)
    message("Entries", [("entries", 1, _BYTES, "")], repeated=True)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return {
        m.name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.{m.name}"))
        for m in file.message_type
    }


_VIEWS = _build_views()
_Entries = _VIEWS["Entries"]
"""Field 1 as raw bytes: a request's reports, or a report's headers, cut without parsing them."""
_PublishCore = _VIEWS["PublishCore"]
_HeaderColumns = _VIEWS["HeaderColumns"]
_TimestampColumns = _VIEWS["TimestampColumns"]
_BODY_MARKER = {kind: bytes(((kind + 1) << 3 | 2, 0)) for kind in range(1, len(BODIES) + 1)}
"""The canonical bytes of an empty body of the kind's own field: its tag and a zero length."""
_last_two = itemgetter(slice(-2, None))


class HeaderColumns(NamedTuple):
    """One list per header field, one entry per report, in batch order."""

    report_ids: list[str]
    kinds: list[int]
    bot_slugs: list[str]
    epochs: list[int]
    modes: list[int]
    retentions: list[int]
    produced_at_us: list[int]
    payloads: list[bytes]
    """Each report's bytes as published, cut from the request."""


def published_reports(wire: bytes) -> list[bytes]:
    """Each report of a PublishReportsRequest, as the bytes it was published as."""
    return list(_Entries.FromString(wire).entries)


def read_header_columns(wire: bytes, count: int) -> HeaderColumns | None:
    """The header columns of a PublishReportsRequest of `count` reports, or None when a column
    cannot be aligned (a field missing or at its default, a body not matching the kind): the
    caller then reads the batch report by report. Values are not validated here."""
    payloads = published_reports(wire)
    core = _PublishCore.FromString(wire)
    core.DiscardUnknownFields()
    canonical = _Entries.FromString(core.SerializeToString()).entries
    headers = _Entries.FromString(b"".join(canonical)).entries
    if not len(payloads) == len(canonical) == len(headers) == count:
        return None
    columns = _HeaderColumns.FromString(b"".join(headers))
    fields = (columns.report_id, columns.kind, columns.bot_slug, columns.epoch, columns.mode)
    if any(len(field) != count for field in (*fields, columns.produced_at, columns.retention)):
        return None
    kinds = list(columns.kind)
    if list(map(_last_two, canonical)) != list(map(_BODY_MARKER.get, kinds)):
        return None
    stamps = _TimestampColumns.FromString(b"".join(columns.produced_at))
    if not len(stamps.seconds) == len(stamps.nanos) == count:
        return None
    produced = [s * 1_000_000 + n // 1000 for s, n in zip(stamps.seconds, stamps.nanos, strict=True)]
    return HeaderColumns(
        list(columns.report_id),
        kinds,
        list(columns.bot_slug),
        list(columns.epoch),
        list(columns.mode),
        list(columns.retention),
        produced,
        payloads,
    )
