"""`pnl`, `positions`, `portfolio sync|last`, `explain FILL`: the post-trade ledger."""

from __future__ import annotations

import argparse

from .audit import window
from .common import CHECK_FAILED, OK, Column, Commands, Output, connection, governance, money, verbs, when

_GROUP_COLUMNS: dict[str, Column] = {
    "bot": ("bot", lambda r: r.bot_slug),
    "market": ("market", lambda r: r.condition_id),
    "builder": ("builder", lambda r: r.builder_code or "-"),
}
_FIGURES: list[Column] = [
    ("fills", lambda r: r.fills), ("notional", lambda r: money(r.notional_micros)),
    ("realised", lambda r: money(r.realised_pnl_micros)), ("fees", lambda r: money(r.gross_fee_micros)),
    ("rebates", lambda r: money(r.rebate_micros)), ("net P&L", lambda r: money(r.net_pnl_micros)),
    ("unrealised", lambda r: money(r.unrealised_pnl_micros)), ("total P&L", lambda r: money(r.total_pnl_micros)),
]  # fmt: skip


def cmd_pnl(args: argparse.Namespace) -> int:
    out = Output(args)
    dimensions = list(dict.fromkeys(args.by))
    since, until = window(args)
    with governance(args) as gov:
        answer = gov.pnl.get(dimensions, since=since, until=until)
    if out.json:
        out.record(answer, [])
        return OK
    columns = [_GROUP_COLUMNS[d] for d in dimensions] + _FIGURES
    labels = ["total"] + [""] * (len(dimensions) - 1) if dimensions else []
    span = f"{since:%Y-%m-%d %H:%M} UTC" if since else "the start"
    out.table(answer.rows if dimensions else [], columns, footer=labels + [show(answer.total) for _, show in _FIGURES],
              title=f"P&L in pUSD from {span} to {f'{until:%Y-%m-%d %H:%M} UTC' if until else 'now'}")  # fmt: skip
    return OK


def cmd_positions(args: argparse.Namespace) -> int:
    with governance(args) as gov:
        positions = gov.pnl.positions(args.bot or "", include_closed=args.closed)
    Output(args).table(positions, [
        ("bot", lambda p: p.bot_slug), ("market", lambda p: p.condition_id), ("token", lambda p: p.token_id),
        ("size", lambda p: money(p.size_micros)), ("cost", lambda p: money(p.cost_micros)),
        ("mark", lambda p: p.mark or "-"), ("realised", lambda p: money(p.realised_pnl_micros)),
        ("unrealised", lambda p: money(p.unrealised_pnl_micros)), ("resolved", lambda p: "yes" if p.resolved else ""),
    ])  # fmt: skip
    return OK


def cmd_portfolio(args: argparse.Namespace) -> int:
    out = Output(args)
    with governance(args) as gov:
        if args.portfolio == "sync":
            with out.progress("reconciling against the CLOB and the chain"):
                cycle = gov.portfolio.sync_now()
        else:
            cycle = gov.portfolio.last_sync()
    if not cycle.cycle:
        out.record(cycle, [("portfolio sync", "no cycle has run yet")])
        return OK
    out.record(cycle, [
        ("cycle", cycle.cycle), ("at", when(cycle.at)), ("ok", "yes" if cycle.ok else f"NO: {cycle.failure}"),
        ("accounts", cycle.accounts), ("paused", ", ".join(cycle.paused_strategies) or "-"),
    ])  # fmt: skip
    if not out.json:
        out.table(cycle.discrepancies, [
            ("bot", lambda d: d.bot_slug), ("subject", lambda d: d.subject), ("ref", lambda d: d.ref),
            ("expected", lambda d: d.expected), ("actual", lambda d: d.actual), ("value", lambda d: money(d.value_micros)),
            ("alert", lambda d: "ALERT" if d.above_threshold else ""), ("explanation", lambda d: d.explanation),
        ], title="discrepancies")  # fmt: skip
    alerted = any(d.above_threshold for d in cycle.discrepancies)
    return CHECK_FAILED if not cycle.ok or alerted else OK


def cmd_explain(args: argparse.Namespace) -> int:
    out = Output(args)
    with governance(args) as gov:
        explanation = gov.explanations.explain(args.fill)
    out.record(explanation, [
        ("fill", explanation.fill_report_id), ("bot", explanation.bot_slug), ("matched", when(explanation.matched_at)),
        ("trace", explanation.trace_id), ("missing", ", ".join(explanation.missing) or "nothing"),
        ("corrects", explanation.corrects_report_id or "-"),
    ])  # fmt: skip
    out.say("")
    out.say(explanation.text)
    return OK


def register(commands: Commands) -> None:
    pnl = commands.add_parser("pnl", help="P&L by bot, market and/or builder over a window (pUSD, exact)")
    pnl.add_argument("--by", action="append", default=[], choices=sorted(_GROUP_COLUMNS),
                     help="group by (repeatable); none: one total")  # fmt: skip
    pnl.add_argument("--since", help="fills matched at or after: a date, an ISO 8601 instant (UTC), or 24h / 7d")
    pnl.add_argument("--until", help="fills matched before (same forms)")
    pnl.set_defaults(run=cmd_pnl)
    positions = commands.add_parser("positions", help="current positions with their marks")
    positions.add_argument("--bot", help="only this bot's")
    positions.add_argument("--closed", action="store_true", help="include closed (zero) positions")
    positions.set_defaults(run=cmd_positions)
    portfolio = verbs(commands, "portfolio", "portfolio sync against the CLOB and the chain")
    sync = portfolio.add_parser("sync", help="run a sync cycle now (operator); exit 1 on an alert or a failed read")
    last = portfolio.add_parser("last", help="the last sync cycle; exit 1 on an alert or a failed read")
    for command in (sync, last):
        command.set_defaults(run=cmd_portfolio)
    explain = commands.add_parser("explain", help="one fill in plain English")
    explain.add_argument("fill", help="the report_id of the fill's ExecutionReport")
    explain.set_defaults(run=cmd_explain)
    for command in (pnl, positions, sync, last, explain):
        connection(command)
