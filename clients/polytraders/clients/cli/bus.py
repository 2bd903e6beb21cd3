"""`reports tail|purge`: the report bus."""

from __future__ import annotations

import argparse
import json

from google.protobuf import json_format

from polytraders.governance.v1 import report_bus_pb2, report_bus_pb2_grpc
from polytraders.reports.v1 import reports_pb2
from polytraders.sdk.service_map import RoutedChannel

from .common import (
    OK,
    Commands,
    Output,
    connection,
    enum_name,
    enum_value,
    metadata,
    targets,
    tls,
    verbs,
    when,
)


def cmd_tail(args: argparse.Namespace) -> int:
    request = report_bus_pb2.SubscribeReportsRequest(
        kinds=[enum_value(reports_pb2.ReportKind, "REPORT_KIND_", k, "--kind") for k in args.kind],
        bot_slugs=args.bot,
        modes=[enum_value(reports_pb2.Mode, "MODE_", m, "--mode") for m in args.mode],
        cursor=args.cursor or "",
        live_only=args.live_only,
    )
    out = Output(args)
    with RoutedChannel(targets(args.target), tls(args)) as channel:
        stub = channel.stub(report_bus_pb2_grpc.ReportBusServiceStub)
        try:
            for item in stub.SubscribeReports(request, metadata=metadata(args.token)):
                if out.json:
                    print(
                        json.dumps(json_format.MessageToDict(item, preserving_proto_field_name=True)),
                        flush=True,
                    )
                    continue
                header = item.report.header
                kind = enum_name(reports_pb2.ReportKind, header.kind, "REPORT_KIND_")
                print(f"{when(header.produced_at)}  {kind:<12} {header.bot_slug:<24} {header.report_id}  "
                      f"cursor {item.cursor}", flush=True)  # fmt: skip
        except KeyboardInterrupt:
            return OK
    return OK


def cmd_purge(args: argparse.Namespace) -> int:
    out = Output(args)
    with RoutedChannel(targets(args.target), tls(args)) as channel, out.progress("purging expired reports"):
        reply = channel.stub(report_bus_pb2_grpc.ReportBusServiceStub).PurgeExpiredReports(
            report_bus_pb2.PurgeExpiredReportsRequest(), metadata=metadata(args.token), timeout=600
        )
    out.record(reply, [("purged", f"{reply.purged_count} expired reports")])
    return OK


def register(commands: Commands) -> None:
    reports = verbs(commands, "reports", "the report bus")
    tail = reports.add_parser("tail", help="follow the bus (--output json: one JSON line per report)")
    connection(tail)
    tail.add_argument("--kind", action="append", default=[], help="observation, decision, risk_vote, ...")
    tail.add_argument("--bot", action="append", default=[], help="bot_slug (repeatable)")
    tail.add_argument("--mode", action="append", default=[], help="live, paper, replay, shadow")
    tail.add_argument("--cursor", help="resume after this cursor")
    tail.add_argument("--live-only", action="store_true", help="skip the archive")
    tail.set_defaults(run=cmd_tail)
    purge = reports.add_parser("purge", help="delete reports whose retention ended (operator)")
    connection(purge)
    purge.set_defaults(run=cmd_purge)
