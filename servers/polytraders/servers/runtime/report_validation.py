"""What makes a report acceptable to the bus; every violation names the field it is about."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from functools import lru_cache

from polytraders.reports.v1 import reports_pb2
from polytraders.sdk.outbox import framed_size

from .archive import IncomingBatch
from .errors import FieldViolation
from .header_columns import HeaderColumns, published_reports, read_header_columns
from .requests import WireRequest

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
_KINDS = frozenset(BODY_FOR_KIND)
_SEVEN_YEARS = reports_pb2.RETENTION_SEVEN_YEARS
_SETTLEMENT = reports_pb2.REPORT_KIND_SETTLEMENT


def _each_matches(one_per_line: re.Pattern[str], values: list[str]) -> bool:
    """Every value matches, checked in one regex call; a value holding a newline fails."""
    lines = "\n".join(values) + "\n"
    return lines.count("\n") == len(values) and one_per_line.fullmatch(lines) is not None


def to_incoming(
    reports: Sequence[reports_pb2.Report], request: WireRequest | None = None
) -> IncomingBatch | None:
    """The archive rows of a batch of valid reports, or None if anything is wrong (report_violations says what).

    `request` is the PublishReportsRequest the reports were parsed from, with its bytes (its
    reports are then the ones read): the headers are then read as columns from it
    (`header_columns`), and each report is stored as it came (a copy of an ordinary report may
    keep bytes a parser overrides). Without it, or when a column does not line up, each header
    is read from its parsed message. SEVEN_YEARS
    records are always serialised deterministically. Each column is checked in one call (the
    ids and slugs by one regex over all of them). A missing header or timestamp reads as empty and fails.
    """
    if request is not None:
        reports = request.message.reports  # the very reports the columns were read from
    columns = read_header_columns(request) if request is not None else None
    columns_from_wire = columns is not None  # the request's bytes are then its reports framed, and only that
    if columns is None:
        columns = _read_each_header(reports, published_reports(request.wire) if request is not None else None)
    ids, kinds, slugs, epochs, modes, retentions, produced, payloads = columns
    if not (
        _each_matches(_REPORT_IDS, ids)
        and _each_matches(_BOT_SLUGS, slugs)
        and all(map(is_epoch, set(epochs)))
        and set(kinds) <= _KINDS
        and set(modes) <= _MODES
        and set(retentions) <= _RETENTIONS
        and min(produced) > 0
    ):
        return None
    corrects = [""] * len(ids)
    if _SETTLEMENT in kinds:
        corrects = [
            r.settlement.corrects_report_id if k == _SETTLEMENT else ""
            for r, k in zip(reports, kinds, strict=True)
        ]
        if any(c and not REPORT_ID.fullmatch(c) for c in corrects):
            return None
    framed = request.wire if request is not None and columns_from_wire else None
    if framed is not None and framed_size(payloads) != len(framed):  # more than its reports (unknown fields)
        framed = None
    if _SEVEN_YEARS in retentions:  # the compliance ledger keeps exactly what was validated, canonically
        payloads = [
            r.SerializeToString(deterministic=True) if kept == _SEVEN_YEARS else payload
            for r, kept, payload in zip(reports, retentions, payloads, strict=True)
        ]
        framed = None
    return IncomingBatch(ids, kinds, slugs, epochs, modes, retentions, produced, payloads, corrects, framed)


def _read_each_header(reports: Sequence[reports_pb2.Report], payloads: list[bytes] | None) -> HeaderColumns:
    """The general path: each field read off each parsed report; a body that does not match
    its kind reads as kind 0, which fails validation. Without `payloads` (the reports as
    published) each report is serialised."""
    headers = [r.header for r in reports]
    kinds = [
        h.kind if (h.kind, r.WhichOneof("body")) in _KIND_BODIES else 0
        for h, r in zip(headers, reports, strict=True)
    ]
    return HeaderColumns(
        [h.report_id for h in headers],
        kinds,
        [h.bot_slug for h in headers],
        [h.epoch for h in headers],
        [h.mode for h in headers],
        [h.retention for h in headers],
        [t.seconds * 1_000_000 + t.nanos // 1000 for t in [h.produced_at for h in headers]],
        payloads or [r.SerializeToString(deterministic=True) for r in reports],
    )


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
