"""`incidents`, `cron`, `fleet`, `slo`: governance's own operations."""

from __future__ import annotations

import argparse
import getpass
from collections import Counter

from polytraders.governance.v1 import operations_pb2 as pb
from polytraders.sdk.incidents import open_first

from .common import CHECK_FAILED, OK, Commands, Output, connection, enum_name, governance, verbs, when


def severity(value: int) -> str:
    return enum_name(pb.IncidentSeverity, value, "INCIDENT_SEVERITY_").upper()


def state(value: int) -> str:
    return enum_name(pb.IncidentState, value, "INCIDENT_STATE_")


INCIDENT_COLUMNS = [
    ("incident", lambda i: i.incident_id), ("severity", lambda i: severity(i.severity)), ("state", lambda i: state(i.state)),
    ("declared", lambda i: when(i.declared_at)), ("by", lambda i: i.declared_by),
    ("commander", lambda i: next((r.holder for r in i.roles if r.role == "commander"), "-")), ("title", lambda i: i.title),
]  # fmt: skip


def cmd_incidents(args: argparse.Namespace) -> int:
    out = Output(args)
    with governance(args) as gov:
        if args.incidents in ("open", "list"):
            found = gov.incidents.list(open_only=args.incidents == "open", limit=args.limit)
            out.table(open_first(found), INCIDENT_COLUMNS)
            return OK
        if args.incidents == "ack":
            incident = gov.incidents.assign_role(args.incident_id, "commander", args.holder)
        elif args.incidents == "close":
            incident = gov.incidents.resolve(args.incident_id, args.resolution)
        elif args.incidents == "note":
            incident = gov.incidents.add_note(args.incident_id, args.text)
        else:
            incident = gov.incidents.get(args.incident_id)
    out.record(incident, [
        ("incident", incident.incident_id), ("title", incident.title), ("severity", severity(incident.severity)),
        ("state", state(incident.state)), ("declared", f"{when(incident.declared_at)} by {incident.declared_by}"),
        ("resolved", when(incident.resolved_at)), ("roles", ", ".join(f"{r.role}: {r.holder}" for r in incident.roles) or "-"),
        *([("rca", f"{incident.rca_owner}, due {when(incident.rca_due_at)}")] if incident.rca_owner else []),
    ])  # fmt: skip
    if not out.json:
        out.table(incident.timeline, [("at", lambda e: when(e.at)), ("actor", lambda e: e.actor),
                                      ("action", lambda e: e.action), ("detail", lambda e: e.detail)],
                  title="timeline")  # fmt: skip
    return OK


def cmd_cron(args: argparse.Namespace) -> int:
    out = Output(args)
    dispatch_columns = [
        ("task", lambda d: d.task), ("scheduled", lambda d: when(d.scheduled_at)),
        ("late (ms)", lambda d: d.lateness_micros // 1000 if d.started_at.seconds else "-"),
        ("outcome", lambda d: enum_name(pb.DispatchOutcome, d.outcome, "DISPATCH_OUTCOME_")),
        ("by", lambda d: d.triggered_by), ("detail", lambda d: d.detail),
    ]  # fmt: skip
    with governance(args) as gov:
        if args.cron == "list":
            out.table(gov.cron.schedule(), [
                ("task", lambda t: t.name), ("cron (UTC)", lambda t: t.cron_expression), ("target", lambda t: t.target),
                ("enabled", lambda t: "yes" if t.enabled else "no"), ("last", lambda t: when(t.last_scheduled_at)),
                ("next", lambda t: when(t.next_at)),
            ])  # fmt: skip
            return OK
        if args.cron == "runs":
            out.table(gov.cron.runs(args.task or "", limit=args.limit), dispatch_columns)
            return OK
        with out.progress(f"running {args.task}"):
            dispatch = gov.cron.trigger(args.task, timeout=3600)
    out.table([dispatch], dispatch_columns)
    return CHECK_FAILED if dispatch.outcome == pb.DISPATCH_OUTCOME_FAILED else OK


def bot_state(bot: pb.BotHealth) -> str:
    return enum_name(pb.BotStatus, bot.status, "BOT_STATUS_")


def cmd_fleet(args: argparse.Namespace) -> int:
    out = Output(args)
    with governance(args) as gov:
        fleet = gov.fleet.health(args.layer or "")
    if out.json:
        out.record(fleet, [])
        return OK
    if not fleet.sweep:
        out.say("no heartbeat sweep has run yet")
        return OK
    states = Counter(bot_state(b) for b in fleet.bots)
    out.say(f"sweep {fleet.sweep} at {when(fleet.swept_at)} UTC ({fleet.duration_micros // 1000} ms): "
            + ", ".join(f"{count} {name}" for name, count in sorted(states.items())))  # fmt: skip
    out.table(fleet.layers, [("layer", lambda layer: layer.layer), ("bots", lambda layer: layer.bots),
                             ("serving", lambda layer: layer.serving), ("paged", lambda layer: layer.alerting)])  # fmt: skip
    shown = fleet.bots if args.all else [b for b in fleet.bots if b.status != pb.BOT_STATUS_SERVING or b.restarts]
    out.table(shown, [
        ("bot", lambda b: b.bot_slug), ("layer", lambda b: b.layer), ("state", bot_state),
        ("misses", lambda b: b.consecutive_misses), ("last serving", lambda b: when(b.last_serving_at)),
        ("paged", lambda b: "yes" if b.alerting else ""), ("restarts", lambda b: b.restarts), ("detail", lambda b: b.detail),
    ], title="every bot" if args.all else "bots not serving or restarted (--all for every bot)")  # fmt: skip
    return OK


def cmd_slo(args: argparse.Namespace) -> int:
    out = Output(args)
    with governance(args) as gov:
        slos = gov.slos.list()

    def burn(s: pb.SloStatus) -> str:
        return "; ".join(f"{a.severity} {a.long_burn_rate or '0'}/{a.short_burn_rate or '0'} (>{a.threshold})"
                         f"{' FIRING' if a.firing else ''}" for a in s.alerts)  # fmt: skip

    out.table(slos, [
        ("objective", lambda s: s.name), ("service", lambda s: s.service.rsplit(".", 1)[-1]),
        ("target", lambda s: s.objective), ("good/total", lambda s: f"{s.good}/{s.total}"),
        ("budget left", lambda s: s.error_budget_remaining or "-"), ("burn long/short", burn),
    ])  # fmt: skip
    return OK


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container user without a passwd entry or $USER
        return "operator"


def register(commands: Commands) -> None:
    incidents = verbs(commands, "incidents", "the incident commander")
    for verb, text in (("open", "open incidents, the worst first"), ("list", "every incident, open ones first")):
        command = incidents.add_parser(verb, help=text)
        command.add_argument("--limit", type=int, default=100)
    show, ack, close, note = (incidents.add_parser(verb, help=text) for verb, text in (
        ("show", "one incident with its timeline"), ("ack", "acknowledge: take the commander role (operator)"),
        ("close", "resolve: the impact is over (operator)"), ("note", "add a note to the timeline (operator)"),
    ))  # fmt: skip
    for command in (show, ack, close, note):
        command.add_argument("incident_id")
    ack.add_argument("--as", dest="holder", default=_login(), help="who takes it (default: your login name)")
    close.add_argument("--resolution", required=True, help="how the impact ended")
    note.add_argument("text")
    for command in incidents.choices.values():
        connection(command)
        command.set_defaults(run=cmd_incidents)

    cron = verbs(commands, "cron", "the cron runner")
    cron.add_parser("list", help="every task with its last and next firing")
    runs = cron.add_parser("runs", help="past dispatches, newest first")
    runs.add_argument("--task", help="only this task")
    runs.add_argument("--limit", type=int, default=50)
    trigger = cron.add_parser("trigger", help="fire a task now (operator); exit 1 when it fails")
    trigger.add_argument("task")
    for command in cron.choices.values():
        connection(command)
        command.set_defaults(run=cmd_cron)

    fleet = commands.add_parser("fleet", help="the fleet as the last heartbeat sweep saw it")
    fleet.add_argument("--layer", help="only this layer")
    fleet.add_argument("--all", action="store_true", help="every bot, not only those not serving")
    slo = commands.add_parser("slo", help="each objective: error budget left and burn rates")
    for command, run in ((fleet, cmd_fleet), (slo, cmd_slo)):
        connection(command)
        command.set_defaults(run=run)
