"""What makes a report acceptable to the bus; every violation names the field it is about."""

from __future__ import annotations

import re
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


def to_incoming(report: reports_pb2.Report) -> IncomingReport | None:
    """The archive row of a valid report, or None if anything is wrong (report_violations says what).

    The publish path's fast lane: every field is read once and checked in one expression.
    """
    if not report.HasField("header"):
        return None
    header = report.header
    report_id, kind, slug, epoch = header.report_id, header.kind, header.bot_slug, header.epoch
    mode, retention = header.mode, header.retention
    body = report.WhichOneof("body")
    if not (
        body is not None
        and BODY_FOR_KIND.get(kind) == body
        and REPORT_ID.fullmatch(report_id)
        and BOT_SLUG.fullmatch(slug)
        and is_epoch(epoch)
        and mode in _MODES
        and retention in _RETENTIONS
        and header.HasField("produced_at")
    ):
        return None
    corrects = report.settlement.corrects_report_id if body == "settlement" else ""
    if corrects and not REPORT_ID.fullmatch(corrects):
        return None
    produced = header.produced_at
    return IncomingReport(
        report_id,
        kind,
        slug,
        epoch,
        mode,
        retention,
        produced.seconds * 1_000_000 + produced.nanos // 1000,
        report.SerializeToString(deterministic=True),
        corrects,
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
