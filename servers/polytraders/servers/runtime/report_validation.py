"""What makes a report acceptable to the bus; every violation names the field it is about."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from functools import lru_cache

from polytraders.reports.v1 import reports_pb2

from .archive import IncomingReport
from .errors import FieldViolation

REPORT_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
BOT_SLUG = re.compile(r"[a-z0-9][a-z0-9._-]{0,127}")

BODY_FOR_KIND = {
    reports_pb2.REPORT_KIND_OBSERVATION: "observation",
    reports_pb2.REPORT_KIND_DECISION: "decision",
    reports_pb2.REPORT_KIND_RISK_VOTE: "risk_vote",
    reports_pb2.REPORT_KIND_EXECUTION: "execution",
    reports_pb2.REPORT_KIND_SETTLEMENT: "settlement",
    reports_pb2.REPORT_KIND_OPERATIONS: "operations",
}
_MODES = frozenset(v for v in reports_pb2.Mode.values() if v)
_RETENTIONS = frozenset(v for v in reports_pb2.Retention.values() if v)


@lru_cache(maxsize=4096)
def is_epoch(value: int) -> bool:
    """YYYYMMDD naming a real calendar day."""
    try:
        date(value // 10_000, value // 100 % 100, value % 100)
    except ValueError:
        return False
    return 19_700_101 <= value <= 99_991_231


_REPORT_IDS = re.compile(rf"(?:{REPORT_ID.pattern}\n)+")
_BOT_SLUGS = re.compile(rf"(?:{BOT_SLUG.pattern}\n)+")
_KIND_BODIES = frozenset(BODY_FOR_KIND.items())
_SEVEN_YEARS = reports_pb2.RETENTION_SEVEN_YEARS
_new_incoming = tuple.__new__  # IncomingReport without its keyword-handling constructor: the hot path


def _each_matches(one_per_line: re.Pattern[str], values: list[str]) -> bool:
    """Every value matches, checked in one regex call; a value holding a newline fails."""
    lines = "\n".join(values) + "\n"
    return lines.count("\n") == len(values) and one_per_line.fullmatch(lines) is not None


def to_incoming(
    reports: Sequence[reports_pb2.Report], payloads: Sequence[bytes] | None = None
) -> list[IncomingReport] | None:
    """The archive rows of a batch of valid reports, or None if anything is wrong (report_violations says what).

    `payloads` are the reports' bytes as published, stored as they came (a copy of an ordinary
    report may keep bytes a parser overrides); without them, and always for SEVEN_YEARS records,
    a report is serialised deterministically. The publish path's fast lane: each field is read
    once per report into a column, and each column is checked in one call (the ids and slugs
    by one regex over all of them). A missing header or timestamp reads as empty and fails.
    """
    headers = [r.header for r in reports]
    ids = [h.report_id for h in headers]
    slugs = [h.bot_slug for h in headers]
    kinds = [h.kind for h in headers]
    epochs = [h.epoch for h in headers]
    modes = [h.mode for h in headers]
    retentions = [h.retention for h in headers]
    produced = [t.seconds * 1_000_000 + t.nanos // 1000 for t in [h.produced_at for h in headers]]
    bodies = [r.WhichOneof("body") for r in reports]
    if not (
        set(zip(kinds, bodies, strict=True)) <= _KIND_BODIES
        and _each_matches(_REPORT_IDS, ids)
        and _each_matches(_BOT_SLUGS, slugs)
        and all(map(is_epoch, set(epochs)))
        and set(modes) <= _MODES
        and set(retentions) <= _RETENTIONS
        and min(produced) > 0
    ):
        return None
    corrects = [
        r.settlement.corrects_report_id if b == "settlement" else ""
        for r, b in zip(reports, bodies, strict=True)
    ]
    if any(c and not REPORT_ID.fullmatch(c) for c in corrects):
        return None
    if payloads is None:
        payloads = [r.SerializeToString(deterministic=True) for r in reports]
    elif _SEVEN_YEARS in retentions:  # the compliance ledger keeps exactly what was validated, canonically
        payloads = [
            r.SerializeToString(deterministic=True) if kept == _SEVEN_YEARS else payload
            for r, kept, payload in zip(reports, retentions, payloads, strict=True)
        ]
    columns = zip(ids, kinds, slugs, epochs, modes, retentions, produced, payloads, corrects, strict=True)
    return [_new_incoming(IncomingReport, row) for row in columns]


def repeated_field_bytes(wire: bytes, field_number: int) -> list[bytes] | None:
    """Each entry of a repeated message field, cut from its message's wire bytes, in order.

    Cutting costs less than re-serialising each entry once parsed. None when the bytes do
    not walk as a well-formed message (the caller serialises instead).
    """
    wanted = field_number << 3 | 2
    entries: list[bytes] = []
    pos, end = 0, len(wire)
    try:
        while pos < end:
            key = wire[pos]
            pos += 1
            if key & 0x80 or key & 7 != 2:  # anything but a length-delimited field below 16: give up
                return None
            byte = wire[pos]
            pos += 1
            length, shift = byte & 0x7F, 7
            while byte & 0x80:
                byte = wire[pos]
                pos += 1
                length |= (byte & 0x7F) << shift
                shift += 7
            if key == wanted:
                entries.append(wire[pos : pos + length])
            pos += length
    except IndexError:
        return None
    return entries if pos == end else None


def report_violations(report: reports_pb2.Report, where: str) -> list[FieldViolation]:
    """Everything wrong with one report; `where` prefixes each field path, e.g. "reports[3]"."""
    if not report.HasField("header"):
        return [FieldViolation(f"{where}.header", "is required")]
    header = report.header
    problems: list[FieldViolation] = []

    def bad(field: str, description: str) -> None:
        problems.append(FieldViolation(f"{where}.header.{field}", description))

    if not header.report_id:
        bad("report_id", "is required")
    elif not REPORT_ID.fullmatch(header.report_id):
        bad("report_id", f"must be a canonical lowercase UUID, got {header.report_id[:64]!r}")
    body = report.WhichOneof("body")
    expected_body = BODY_FOR_KIND.get(header.kind)
    if header.kind == reports_pb2.REPORT_KIND_UNSPECIFIED:
        bad("kind", "is required")
    elif expected_body is None:
        bad("kind", f"unknown report kind {header.kind}")
    if body is None:
        problems.append(FieldViolation(f"{where}.body", "one report body is required"))
    elif expected_body is not None and body != expected_body:
        bad("kind", f"{reports_pb2.ReportKind.Name(header.kind)} does not match the {body} body")
    if not BOT_SLUG.fullmatch(header.bot_slug):
        bad(
            "bot_slug",
            "is required"
            if not header.bot_slug
            else "must be 1-128 of a-z, 0-9, '.', '_', '-', starting with a letter or digit",
        )
    if not is_epoch(header.epoch):
        bad(
            "epoch",
            "is required"
            if not header.epoch
            else f"must be a UTC trading day as YYYYMMDD, got {header.epoch}",
        )
    if header.mode not in _MODES:
        bad("mode", "is required" if not header.mode else f"unknown mode {header.mode}")
    if not header.HasField("produced_at"):
        bad("produced_at", "is required")
    elif header.produced_at.seconds * 1_000_000 + header.produced_at.nanos // 1000 <= 0:
        bad("produced_at", "must be after 1970-01-01T00:00:00Z")
    corrects = report.settlement.corrects_report_id if body == "settlement" else ""
    if corrects and not REPORT_ID.fullmatch(corrects):
        problems.append(
            FieldViolation(f"{where}.settlement.corrects_report_id", "must be a canonical lowercase UUID")
        )
    if header.retention not in _RETENTIONS:
        bad(
            "retention",
            "is required" if not header.retention else f"unknown retention {header.retention}",
        )
    return problems
