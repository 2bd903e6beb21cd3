"""`strategies`, `experiments`, `backtest`, `paper`: a strategy's way from spec to live money."""

from __future__ import annotations

import argparse
from pathlib import Path

from polytraders.governance.v1 import lifecycle_pb2 as pb
from polytraders.sdk.clock import to_timestamp
from polytraders.sdk.registry import latest_paper_gate

from .common import (
    CHECK_FAILED,
    OK,
    CommandError,
    Commands,
    Output,
    connection,
    enum_name,
    enum_value,
    governance,
    instant,
    money,
    verbs,
    when,
)


def stage(value: int) -> str:
    return enum_name(pb.Stage, value, "STAGE_")


def cmd_strategies(args: argparse.Namespace) -> int:
    out = Output(args)
    with governance(args) as gov:
        if args.strategies == "list":
            out.table(gov.registry.list([enum_value(pb.Stage, "STAGE_", s, "--stage") for s in args.stage]), [
                ("slug", lambda s: s.slug), ("stage", lambda s: stage(s.stage)), ("version", lambda s: s.version),
                ("owner", lambda s: s.owner), ("revision", lambda s: s.revision),
            ])  # fmt: skip
            return OK
        if args.strategies == "promote":
            strategy = gov.registry.promote(args.slug, enum_value(pb.Stage, "STAGE_", args.to, "--to"), args.reason)
        elif args.strategies == "pause":
            strategy = gov.registry.pause(args.slug, args.reason)
        elif args.strategies == "resume":
            strategy = gov.registry.resume(args.slug, args.reason)
        else:
            strategy = gov.registry.get(args.slug)
    paused = f" (paused from {stage(strategy.paused_from)})" if strategy.paused_from else ""
    out.record(strategy, [
        ("strategy", f"{strategy.slug} v{strategy.version}"), ("owner", strategy.owner),
        ("stage", f"{stage(strategy.stage)}{paused}"), ("revision", strategy.revision),
        ("authority", ", ".join(strategy.authority) or "any operator"),
    ])  # fmt: skip
    if out.json:
        return OK
    out.table(strategy.history, [("at", lambda c: when(c.at)), ("from", lambda c: stage(c.from_stage)),
                                 ("to", lambda c: stage(c.to_stage)), ("actor", lambda c: c.actor),
                                 ("reason", lambda c: c.reason)], title="history")  # fmt: skip
    if strategy.artefacts:
        out.table(strategy.artefacts, [("artefact", lambda a: enum_name(pb.ArtefactKind, a.kind, "ARTEFACT_KIND_")),
                                       ("ref", lambda a: a.ref), ("linked by", lambda a: a.linked_by)])  # fmt: skip
    if strategy.live_caps:
        out.table(strategy.live_caps, [("cap stage", lambda c: stage(c.stage)),
                                       ("max notional (pUSD)", lambda c: money(c.max_notional_micros)),
                                       ("max position (pUSD)", lambda c: money(c.max_position_micros))])  # fmt: skip
    return OK


def cmd_experiments(args: argparse.Namespace) -> int:
    with governance(args) as gov:
        found = [gov.experiments.get(args.experiment_id)] if args.experiment_id else gov.experiments.list()
    Output(args).table(found, [
        ("experiment", lambda e: e.experiment_id), ("variant vs control", lambda e: f"{e.variant_slug} vs {e.control_slug}"),
        ("metric", lambda e: e.metric), ("status", lambda e: enum_name(pb.ExperimentStatus, e.status, "EXPERIMENT_STATUS_")),
        ("samples", lambda e: e.result.samples), ("mean diff", lambda e: e.result.mean_difference or "-"),
        ("always-valid interval",
         lambda e: f"[{e.result.sequential_lower or '-inf'}, {e.result.sequential_upper or 'inf'}]"),
        ("p", lambda e: e.result.p_value or "-"),
    ])  # fmt: skip
    return OK


def cmd_backtest(args: argparse.Namespace) -> int:
    out = Output(args)
    if args.backtest == "run":
        start, end = instant(args.start, "--from"), instant(args.end, "--until")
    with governance(args) as gov:
        if args.backtest == "run":
            request = pb.StartBacktestRequest(
                strategy=args.strategy, parameters_json=args.params, parameters_b_json=args.params_b or "",
                strategy_slug=args.slug or "", token_ids=args.token_ids,
                window_start=to_timestamp(start), window_end=to_timestamp(end),
            )  # fmt: skip
            with out.progress(f"replaying {', '.join(args.token_ids)} through {args.strategy}"):
                run = gov.backtests.run(request)
        else:
            run = gov.backtests.get(args.backtest_id, timeout=60)
    if args.html:
        try:
            Path(args.html).write_text(run.html)
        except OSError as error:
            raise CommandError(f"--html {args.html}: {error.strerror}") from None
    if out.json:
        out.record(run, [])
        return OK
    out.say(f"backtest {run.backtest_id}: inputs {run.input_digest[:16]}…, outputs {run.output_digest[:16]}…")
    a, b = run.result, run.result_b
    with_b = bool(run.request.parameters_b_json)
    figures = [("P&L (pUSD)", "pnl_micros", money), ("fees (pUSD)", "fee_micros", money), ("Sharpe", "sharpe", str),
               ("Sortino", "sortino", str), ("max drawdown (pUSD)", "max_drawdown_micros", money),
               ("fill ratio", "fill_ratio", str), ("events", "events", str), ("fills", "fills", str)]  # fmt: skip
    out.table(figures, [("", lambda f: f[0]), ("A", lambda f: f[2](getattr(a, f[1]))),
                        ("B", lambda f: f[2](getattr(b, f[1])) if with_b else "-")])  # fmt: skip
    return OK


def cmd_paper(args: argparse.Namespace) -> int:
    out = Output(args)
    with governance(args) as gov:
        if args.paper == "runs":
            out.table(gov.paper.list(args.strategy or ""), [
                ("session", lambda s: s.session_id), ("strategy", lambda s: s.strategy_slug),
                ("running", lambda s: "yes" if s.running else f"no{': ' + s.failure if s.failure else ''}"),
                ("events", lambda s: s.events), ("fills", lambda s: s.fills), ("equity (pUSD)", lambda s: money(s.equity_micros)),
            ])  # fmt: skip
            return OK
        if args.paper == "status":
            strategy = gov.registry.get(args.slug)
            gate = latest_paper_gate(strategy)
            if gate is None:
                out.record(strategy, [("strategy", args.slug), ("paper gate", "not evaluated yet")])
                return OK
            out.record(gate, [
                ("strategy", args.slug), ("paper gate", f"{gate.paper_gate.continuous_paper_days} continuous paper days"),
                ("risk-adjusted return", gate.paper_gate.risk_adjusted_return or "-"),
                ("evaluated", f"{when(gate.linked_at)} by {gate.linked_by}"),
            ])  # fmt: skip
            return OK
        if args.paper == "gate":
            evaluated = gov.paper.evaluate_gate(args.slug)
            out.record(evaluated, [("strategy", args.slug), ("passes", "yes" if evaluated.passes else "NO"),
                                   ("why", evaluated.explanation)])  # fmt: skip
            return OK if evaluated.passes else CHECK_FAILED
        found = gov.paper.get(args.session_id)
    session = found.session
    out.record(found, [
        ("session", session.session_id), ("strategy", f"{session.strategy_slug} ({session.strategy})"),
        ("running", "yes" if session.running else f"no{': ' + session.failure if session.failure else ''}"),
        ("tokens", ", ".join(session.token_ids)), ("events", session.events), ("fills", session.fills),
        ("equity (pUSD)", money(session.equity_micros)),
    ])  # fmt: skip
    if not out.json:
        out.table(found.days, [("day", lambda d: d.day), ("equity start", lambda d: money(d.equity_start_micros)),
                               ("equity end", lambda d: money(d.equity_end_micros))], title="paper days")  # fmt: skip
    return OK


def register(commands: Commands) -> None:
    strategies = verbs(commands, "strategies", "the strategy registry")
    for verb, text in (("list", "every strategy"), ("show", "one strategy with its history"),
                       ("promote", "move a strategy to a stage"), ("pause", "pause a strategy"),
                       ("resume", "resume a paused strategy")):  # fmt: skip
        command = strategies.add_parser(verb, help=text)
        connection(command)
        if verb == "list":
            command.add_argument("--stage", action="append", default=[], help="only this stage (repeatable)")
        else:
            command.add_argument("slug")
        if verb == "promote":
            command.add_argument(
                "--to", required=True, help="stage: backtest, paper, shadow, limited_live, ..."
            )
        if verb in ("promote", "pause", "resume"):
            command.add_argument("--reason", required=True)
        command.set_defaults(run=cmd_strategies)

    experiments = verbs(commands, "experiments", "the experiment tracker")
    show = experiments.add_parser("show", help="one experiment, or all, with their always-valid results")
    show.add_argument("experiment_id", nargs="?")
    connection(show)
    show.set_defaults(run=cmd_experiments)

    backtest = verbs(commands, "backtest", "the backtester")
    run = backtest.add_parser("run", help="replay archived books through a strategy (operator)")
    run.add_argument("--strategy", required=True, help="package.module:ClassName")
    run.add_argument("--params", default="{}", help="its parameters, a JSON object")
    run.add_argument("--params-b", help="a second parameter set for an A/B comparison")
    run.add_argument("--token-id", dest="token_ids", action="append", required=True,
                     help="an outcome token to replay (repeatable)")  # fmt: skip
    run.add_argument("--from", dest="start", required=True, help="start: a date or an ISO 8601 instant (UTC)")
    run.add_argument("--until", dest="end", required=True, help="end (exclusive)")
    run.add_argument("--slug", help="the registry strategy the run is linked to")
    shown = backtest.add_parser("show", help="one run's figures")
    shown.add_argument("backtest_id")
    for command in (run, shown):
        connection(command)
        command.add_argument("--html", help="write the HTML report (with the equity curve) to this file")
        command.set_defaults(run=cmd_backtest)

    paper = verbs(commands, "paper", "paper trading")
    runs = paper.add_parser("runs", help="the paper sessions the answering process started, newest first")
    runs.add_argument("--strategy", help="only this registry strategy's")
    session = paper.add_parser("show", help="a paper session: account, fills, its strategy's paper days")
    session.add_argument("session_id")
    status = paper.add_parser("status", help="a strategy's paper gate as last evaluated (read only)")
    status.add_argument("slug")
    gate = paper.add_parser(
        "gate", help="evaluate a strategy's paper gate (operator); exit 1 when it does not pass"
    )
    gate.add_argument("slug")
    for command in (runs, session, status, gate):
        connection(command)
        command.set_defaults(run=cmd_paper)
