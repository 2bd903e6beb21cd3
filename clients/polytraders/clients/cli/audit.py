"""`audit verify`, `config history|at`, `activity`: the records kept seven years."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from itertools import groupby

from polytraders.governance.v1 import audit_pb2 as pb
from polytraders.governance.v1 import audit_pb2_grpc as pb_grpc
from polytraders.sdk.service_map import RoutedChannel

from .common import (
    CHECK_FAILED,
    OK,
    Commands,
    Output,
    connection,
    enum_name,
    governance,
    instant,
    metadata,
    targets,
    tls,
    verbs,
    when,
)


def cmd_verify(args: argparse.Namespace) -> int:
    out = Output(args)
    request = pb.VerifyLedgerRequest(stream=args.stream or "", from_latest_checkpoint=args.from_checkpoint)
    with RoutedChannel(targets(args.target), tls(args)) as channel, out.progress("walking the hash chains"):
        reply = channel.stub(pb_grpc.ComplianceLedgerServiceStub).VerifyLedger(
            request, metadata=metadata(args.token), timeout=3600
        )
    if out.json:
        out.record(reply, [])
    elif reply.ok:
        out.say(
            f"ledger ok: {reply.entries_checked} entries, {reply.checkpoints_checked} checkpoints verified"
        )
    else:
        broken = reply.first_break
        problem = enum_name(pb.LedgerProblem, broken.problem, "LEDGER_PROBLEM_")
        out.say(
            f"ledger BROKEN at stream {broken.stream} entry {broken.seq} ({problem}): {broken.explanation}"
        )
    return OK if reply.ok else CHECK_FAILED


def window(args: argparse.Namespace) -> tuple[datetime | None, datetime | None]:
    """--since and --until, each optional."""
    return (instant(args.since, "--since") if args.since else None,
            instant(args.until, "--until") if args.until else None)  # fmt: skip


def cmd_config(args: argparse.Namespace) -> int:
    out = Output(args)
    with governance(args) as gov:
        if args.config == "at":
            found = gov.audit.config_at(args.bot, instant(args.at, "--at"))
            out.record(found, [("bot", args.bot), ("in force since", when(found.as_of.changed_at)),
                               ("set by", f"{found.as_of.actor} ({found.as_of.source})"),
                               ("configuration", json.dumps(json.loads(found.snapshot_json or "{}"), indent=2))])  # fmt: skip
            return OK
        since, until = window(args)
        changes = gov.audit.changes(args.bot, key=args.key or "", actor=args.actor or "", since=since, until=until,
                                    limit=args.limit)  # fmt: skip
    out.table(changes, [
        ("changed at", lambda c: when(c.changed_at)), ("actor", lambda c: c.actor), ("source", lambda c: c.source),
        ("diff", lambda c: c.diff), ("reason", lambda c: c.reason or "-"),
    ], title=f"configuration changes of {args.bot}, newest first")  # fmt: skip
    return OK


def cmd_activity(args: argparse.Namespace) -> int:
    out = Output(args)
    with governance(args) as gov:
        since, until = window(args)
        actions = gov.activity.list(user=args.user or "", session_id=args.session or "", action=args.action or "",
                                    since=since, until=until, limit=args.limit)  # fmt: skip
    out.table(actions, [
        ("at", lambda a: when(a.at)), ("user", lambda a: a.user), ("session", lambda a: a.session_id or "-"),
        ("action", lambda a: a.action), ("target", lambda a: a.target or "-"),
    ], title="actions, newest first")  # fmt: skip
    if not out.json:
        by_session = sorted(actions, key=lambda a: (a.user, a.session_id))
        sessions = [(user, session, list(group)) for (user, session), group in
                    groupby(by_session, key=lambda a: (a.user, a.session_id)) if session]  # fmt: skip
        out.table(sessions, [
            ("user", lambda s: s[0]), ("session", lambda s: s[1]), ("actions", lambda s: len(s[2])),
            ("first", lambda s: when(min((a.at for a in s[2]), key=lambda t: t.ToNanoseconds()))),
            ("last", lambda s: when(max((a.at for a in s[2]), key=lambda t: t.ToNanoseconds()))),
        ], title="sessions")  # fmt: skip
    return OK


def register(commands: Commands) -> None:
    audit = verbs(commands, "audit", "the compliance ledger")
    verify = audit.add_parser("verify", help="walk the hash chains; exit 1 naming the first broken entry")
    connection(verify, token_help="operator or auditor token")
    verify.add_argument("--stream", help="one stream (a bot slug); default every stream")
    verify.add_argument(
        "--from-checkpoint", action="store_true", help="start at each stream's latest checkpoint"
    )
    verify.set_defaults(run=cmd_verify)

    config = verbs(commands, "config", "bots' configuration changes")
    history = config.add_parser("history", help="a bot's configuration changes, newest first")
    history.add_argument("bot", help="bot slug")
    history.add_argument("--key", help="only changes touching this key")
    history.add_argument("--actor", help="only changes by this actor")
    at = config.add_parser("at", help="the exact configuration a bot had in force at an instant")
    at.add_argument("bot", help="bot slug")
    at.add_argument("--at", required=True, help="a date, an ISO 8601 instant (UTC), or a span back: 2h, 7d")
    activity = commands.add_parser("activity", help="user sessions and actions (the seven-year ledger)")
    activity.add_argument("--user", help="only this user (a token's name)")
    activity.add_argument("--session", help="only this session")
    activity.add_argument("--action", help="only this action, e.g. PromoteStrategy")
    activity.set_defaults(run=cmd_activity)
    for command in (history, activity):
        command.add_argument("--since", help="a date, an ISO 8601 instant (UTC), or a span back: 24h, 7d")
        command.add_argument("--until", help="same forms; exclusive")
        command.add_argument("--limit", type=int, default=100, help="most rows, up to 1000")
    for command in (history, at, activity):
        connection(command, token_help="operator or auditor token (a bot token reads its own)")
    history.set_defaults(run=cmd_config)
    at.set_defaults(run=cmd_config)
