"""`attribution`, `revenue`: builder attribution and the revenue it earns."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

from polytraders.governance.v1 import attribution_pb2 as pb

from .common import (
    CHECK_FAILED,
    OK,
    CommandError,
    Commands,
    Output,
    connection,
    enum_name,
    governance,
    money,
    verbs,
    when,
)


def _day(day: str) -> tuple[datetime, datetime]:
    try:
        start = datetime.strptime(day, "%Y%m%d").replace(tzinfo=UTC)
    except ValueError:
        raise CommandError(f"day {day!r} is not a UTC day: write it YYYYMMDD, e.g. 20261201") from None
    return start, start + timedelta(days=1)


def _kind(value: int) -> str:
    return enum_name(pb.DiscrepancyKind, value, "DISCREPANCY_KIND_")


def cmd_attribution(args: argparse.Namespace) -> int:
    out = Output(args)
    with governance(args) as gov:
        if args.attribution == "reconcile":
            window = _day(args.day)
            with out.progress(f"reconciling {args.day} against the exchange"):
                result = gov.attribution.reconcile(*window)
            status = enum_name(pb.ReconciliationStatus, result.status, "RECONCILIATION_STATUS_")
            out.record(result, [
                ("reconciliation", result.reconciliation_id), ("status", status),
                ("ours", f"{result.local_fills} fills, {money(result.local_volume_micros)} pUSD"),
                ("exchange", f"{result.exchange_trades} trades, {money(result.exchange_volume_micros)} pUSD"),
                ("drift", result.volume_drift or "-"), *([("failure", result.failure)] if result.failure else []),
            ])  # fmt: skip
            if not out.json:
                out.table(result.discrepancies, [
                    ("kind", lambda d: _kind(d.kind)), ("record", lambda d: f"{d.trade_id}:{d.liquidity}" if d.trade_id else "-"),
                    ("market", lambda d: d.condition_id or "total"), ("case", lambda d: d.case_id),
                    ("explanation", lambda d: d.explanation),
                ])  # fmt: skip
            return CHECK_FAILED if result.status == pb.RECONCILIATION_STATUS_FAILED else OK
        if args.attribution == "release":
            released = gov.attribution.release(args.case_id, args.reason)
            out.record(released, [("released", f"{released.case_id} ({len(released.record_keys)} records)"),
                                  ("by", released.released_by)])  # fmt: skip
            return OK
        cases = gov.attribution.quarantine(include_released=args.all)
    out.table(cases, [
        ("case", lambda c: c.case_id), ("kind", lambda c: _kind(c.kind)), ("opened", lambda c: when(c.opened_at)),
        ("records", lambda c: len(c.record_keys)), ("released", lambda c: c.released_by or "-"),
        ("explanation", lambda c: c.explanation),
    ])  # fmt: skip
    return OK


def cmd_revenue(args: argparse.Namespace) -> int:
    _day(args.day)
    out = Output(args)
    with governance(args) as gov:
        if args.revenue == "report":
            response = gov.revenue.report_day(int(args.day))
            if not response.published:
                raise CommandError(f"not reported: {response.failure}", CHECK_FAILED)
            report = response.report
        else:
            report = gov.revenue.get(int(args.day))
    out.say(report.explanation)
    out.table(report.markets, [
        ("market", lambda m: m.condition_id), ("builder fees", lambda m: money(m.builder_fee_micros)),
        ("expected", lambda m: money(m.expected_builder_fee_micros)),
        ("rebates (exchange)", lambda m: money(m.exchange_rebate_micros)),
        ("rebates (ours)", lambda m: money(m.internal_rebate_micros)), ("trades", lambda m: m.trades),
    ])  # fmt: skip
    return OK


def register(commands: Commands) -> None:
    attribution = verbs(commands, "attribution", "builder attribution")
    reconcile = attribution.add_parser("reconcile", help="reconcile a UTC day against the exchange (operator)")
    reconcile.add_argument("--day", required=True, help="YYYYMMDD")
    quarantine = attribution.add_parser("quarantine", help="records held back from revenue")
    quarantine.add_argument("--all", action="store_true", help="released cases too")
    release = attribution.add_parser("release", help="release a quarantine case (operator)")
    release.add_argument("case_id")
    release.add_argument("--reason", required=True)
    for command in (reconcile, quarantine, release):
        connection(command)
        command.set_defaults(run=cmd_attribution)

    revenue = verbs(commands, "revenue", "daily builder-fee revenue")
    for verb, text in (("report", "compute and publish a finished day (operator)"), ("show", "the report in force")):
        command = revenue.add_parser(verb, help=text)
        command.add_argument("day", help="YYYYMMDD")
        connection(command)
        command.set_defaults(run=cmd_revenue)
