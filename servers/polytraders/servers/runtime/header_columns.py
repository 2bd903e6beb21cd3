"""A batch's report headers read as columns, in C, from the request's bytes.

Reading a header field off a parsed message costs a Python call per field per report; on
the publish path that was most of the server's time. Protobuf's parser can do the same work
a column at a time, because of how it reads concatenated messages: each field that occurs
again is *appended* when it is repeated. So the reports' header bytes, joined and parsed as a
private view whose fields are all repeated, give one list per field, in report order.

Those lists line up with the reports only if every report holds each field exactly once:
- at most once: the request's bytes are exactly the real parser's deterministic
  serialisation of it, which writes each field it knows once, in field order, map entries
  by key (the SDK writes reports that way; anything else takes the general path). A field it
  does not know is written back as it came, so one more view checks that no header carries
  a number field length-delimited (packed): the real parser keeps that as an unknown field,
  a repeated column would read it as values;
- at least once: each list has one entry per report (a field at its default is left out of
  a serialisation, and then the batch takes the general path too).

Each report's body must match its header's kind. A report so serialised is its header
(field 1) followed by its body, so the byte after the header is the body's tag.

The real `Report` parse still runs (the gRPC deserialiser does it) and proves the bodies
well-formed; these columns only replace reading the headers one report at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor_pb2 import FieldDescriptorProto as Field
from google.protobuf.message import DecodeError

from .requests import WireRequest

_STRING, _BYTES, _INT32, _INT64, _MESSAGE = (
    Field.TYPE_STRING,
    Field.TYPE_BYTES,
    Field.TYPE_INT32,
    Field.TYPE_INT64,
    Field.TYPE_MESSAGE,
)
_REPEATED, _SINGULAR = Field.LABEL_REPEATED, Field.LABEL_OPTIONAL
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

    def message(name: str, fields: list[tuple[str, int, int, int, str]]) -> None:
        added = file.message_type.add(name=name)
        for field_name, number, kind, label, type_name in fields:
            field = added.field.add(name=field_name, number=number, type=kind, label=label)
            if type_name:
                field.type_name = f".{_PACKAGE}.{type_name}"

    for view, number_type in (("Columns", None), ("Packed", _BYTES)):
        # Columns: every field a list of its values. Packed: each number field's length-delimited
        # occurrences only (a plain number does not match a bytes field and is skipped).
        stamp, header = f"Timestamp{view}", f"Header{view}"
        message(
            stamp,
            [
                ("seconds", 1, number_type or _INT64, _REPEATED, ""),
                ("nanos", 2, number_type or _INT32, _REPEATED, ""),
            ],
        )
        message(
            header,
            [
                (name, number, kind, _SINGULAR, stamp)
                if kind == _MESSAGE
                else (name, number, kind if kind == _STRING else number_type or kind, _REPEATED, "")
                for name, number, kind in HEADER_FIELDS
            ],
        )
    message("Entries", [("entries", 1, _BYTES, _REPEATED, "")])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return {
        m.name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.{m.name}"))
        for m in file.message_type
    }


_VIEWS = _build_views()
_HeaderColumns = _VIEWS["HeaderColumns"]
_HeaderPacked = _VIEWS["HeaderPacked"]
_Entries = _VIEWS["Entries"]
"""Field 1 as raw bytes: a request's reports, or reports' headers, cut without parsing them."""
_BODY_TAG = {kind: bytes(((kind + 1) << 3 | 2,)) for kind in range(1, len(BODIES) + 1)}
"""The tag of the body of each kind: field kind + 1, length-delimited."""


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
    entries: list[bytes] = _Entries.FromString(wire).entries[:]
    return entries


def read_header_columns(request: WireRequest) -> HeaderColumns | None:
    """The header columns of a parsed PublishReportsRequest, or None when they cannot be lined
    up with its reports (a field missing, at its default or given twice, a body not matching
    the kind): the caller then reads the batch report by report. Values are not validated here."""
    count = len(request.message.reports)
    if request.message.SerializeToString(deterministic=True) != request.wire:
        return None
    payloads = published_reports(request.wire)
    headers = _Entries.FromString(b"".join(payloads)).entries[:]  # each report's first field 1: its header
    if len(headers) != count:
        return None
    joined = b"".join(headers)
    packed = _HeaderPacked.FromString(joined)
    if any((packed.kind, packed.epoch, packed.mode, packed.retention, *packed.produced_at.ListFields())):
        return None
    header = _HeaderColumns.FromString(joined)
    stamps = header.produced_at
    columns = (header.report_id, header.kind, header.bot_slug, header.epoch, header.mode, header.retention)
    if any(len(column) != count for column in (*columns, stamps.seconds, stamps.nanos)):
        return None
    kinds = header.kind[:]  # a slice copies a column to a list in C, quicker than list()
    if _body_tags(payloads, headers) != [_BODY_TAG.get(kind) for kind in kinds]:
        return None
    return HeaderColumns(
        header.report_id[:],
        kinds,
        header.bot_slug[:],
        header.epoch[:],
        header.mode[:],
        header.retention[:],
        [s * 1_000_000 + n // 1000 for s, n in zip(stamps.seconds[:], stamps.nanos[:], strict=True)],
        payloads,
    )


class StoredHeaders(NamedTuple):
    """What a subscriber's filter reads of stored reports' headers, one list per field."""

    report_ids: list[str]
    kinds: list[int]
    bot_slugs: list[str]
    epochs: list[int]
    modes: list[int]


def stored_headers(payloads: Sequence[bytes]) -> StoredHeaders | None:
    """The columns of reports the archive stored, or None when they cannot be lined up: the
    caller then parses report by report. Each of these fields was required when the report was
    stored, so it occurs at least once in each report; a report stored as published may repeat
    one (the parser keeps the last), and then a column has more entries than there are reports."""
    count = len(payloads)
    try:
        headers = _Entries.FromString(b"".join(payloads)).entries
        if len(headers) != count:
            return None
        header = _HeaderColumns.FromString(b"".join(headers))
    except DecodeError:
        return None
    columns = (header.report_id, header.kind, header.bot_slug, header.epoch, header.mode)
    if any(len(column) != count for column in columns):
        return None
    return StoredHeaders(*(column[:] for column in columns))


def _body_tags(payloads: list[bytes], headers: Sequence[bytes]) -> list[bytes] | None:
    """The byte after each report's header, for serialised reports (so each starts with its
    header, whose length is written in the fewest bytes) whose headers are under 16 KiB (so
    that length takes one or two bytes); None if any header is longer."""
    sizes = list(map(len, headers))
    if max(sizes, default=0) >= 0x4000:
        return None
    at = [size + 2 + (size > 0x7F) for size in sizes]
    return [p[i : i + 1] for p, i in zip(payloads, at, strict=True)]
