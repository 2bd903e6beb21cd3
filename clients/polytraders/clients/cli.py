"""`polytraders-gov`: the operator's command line for the governance mesh."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import grpc
from google.protobuf import json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc

from polytraders.governance.v1 import report_bus_pb2, report_bus_pb2_grpc
from polytraders.reports.v1 import reports_pb2
from polytraders.sdk.service_map import ENV as ENV_TARGETS
from polytraders.sdk.service_map import RoutedChannel, ServiceMap
from polytraders.sdk.transport import TlsFileError, TlsOptions, dial, resolve, split_scheme


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"at": self.formatTime(record), "level": record.levelname, "logger": record.name}
        message = record.getMessage()
        try:
            entry.update(json.loads(message))
        except (ValueError, TypeError):
            entry["message"] = message
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def _configure_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(_JsonFormatter())
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    # Alembic narrates every step at INFO; the schema module logs the one line that matters.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.getLogger().level))


def _metadata(token: str | None) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")] if token else []


def cmd_serve(args: argparse.Namespace) -> int:
    from polytraders.servers.runtime.auth import TokensFileError
    from polytraders.servers.runtime.config import load_config
    from polytraders.servers.runtime.mesh import Mesh
    from polytraders.servers.runtime.server import tune_interpreter_for_serving
    from polytraders.servers.runtime.tls import CertificateError
    from polytraders.servers.schema import SchemaMismatch

    _configure_logging(args.log_level)
    config = load_config(args.config).replace(
        port=args.port,
        host=args.host,
        database_url=args.database_url,
        tokens_file=args.tokens_file,
        groups=tuple(g.strip() for g in args.groups.split(",") if g.strip()) if args.groups else None,
        auth=False if args.no_auth else None,
        upgrade_schema=args.upgrade,
        bus_url=args.bus,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        tls_client_ca=args.tls_client_ca,
    )

    async def serve() -> None:
        try:
            mesh = await Mesh.start(config)
        except SchemaMismatch as refusal:
            raise SystemExit(f"polytraders-gov serve: {refusal}") from None
        except (TokensFileError, CertificateError) as refusal:  # one line, and the usage error's code
            print(f"polytraders-gov serve: {refusal}", file=sys.stderr)
            raise SystemExit(2) from None
        tune_interpreter_for_serving()
        if mesh.tls is None:
            print(f"polytraders governance serving {', '.join(mesh.groups)} on {mesh.address} "
                  "(plaintext: loopback only)", flush=True)  # fmt: skip
            print(f"  try: grpcurl -plaintext {mesh.address} list", flush=True)
        else:
            mutual = " (mutual: client certificates required)" if mesh.tls.mutual else ""
            print(f"polytraders governance serving {', '.join(mesh.groups)} on {mesh.address} over TLS{mutual}",
                  flush=True)  # fmt: skip
            print(f"  try: grpcurl -cacert CA.pem {mesh.address} list", flush=True)
        await mesh.serve_until_signalled()

    asyncio.run(serve())
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import OperationalError

    from polytraders.servers import schema
    from polytraders.servers.runtime.config import load_config
    from polytraders.servers.runtime.storage import make_engine

    if args.db == "history":
        head = schema.head()
        for revision, message in schema.history():
            print(f"{revision}{' (head)' if revision == head else ''}  {message}")
        return 0
    _configure_logging(args.log_level)
    config = load_config(args.config).replace(database_url=args.database_url)
    engine = make_engine(config.database_url)
    try:
        if args.db == "upgrade":
            found = schema.prepare(engine, upgrade=True)
        else:
            with engine.connect() as connection:
                found = schema.state(connection)
    except schema.SchemaMismatch as refusal:
        print(f"polytraders-gov db {args.db}: {refusal}", file=sys.stderr)
        return 1
    except OperationalError as error:  # an unreachable server, an unwritable file
        reason = str(error.orig).strip().splitlines()[0]
        print(f"polytraders-gov db {args.db}: cannot open {config.database_url}: {reason}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    print(f"{found.describe()}{' (head)' if found.at_head else f', head is {found.head}'}")
    return 0 if found.at_head else 1


def _default_target() -> str:
    """POLYTRADERS_TARGETS (a service map), else POLYTRADERS_TARGET, else the local mesh."""
    return os.environ.get(ENV_TARGETS) or os.environ.get("POLYTRADERS_TARGET") or "127.0.0.1:50051"


def _connection(command: argparse.ArgumentParser, *, token_help: str | None = None) -> None:
    """Where a command's calls go and how they are secured; each option also comes from the
    environment (POLYTRADERS_TARGETS or POLYTRADERS_TARGET, POLYTRADERS_TOKEN, POLYTRADERS_TLS_*)."""
    command.add_argument("--target", default=_default_target(),
                         help="HOST:PORT, grpcs://HOST:PORT for TLS, or a service map")  # fmt: skip
    command.add_argument("--token", default=os.environ.get("POLYTRADERS_TOKEN"), help=token_help)
    _tls_options(command)


def _tls_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--tls-ca", help="PEM roots of the servers' certificates (turns TLS on)")
    command.add_argument("--tls-cert", help="PEM client certificate, for a mesh that requires one (mTLS)")
    command.add_argument("--tls-key", help="the client certificate's PEM key")
    command.add_argument(
        "--tls-server-name", help="the name the server's certificate carries, if not the host"
    )


def _tls(args: argparse.Namespace) -> TlsOptions | None:
    """The command's TLS options; None leaves it to POLYTRADERS_TLS_* and the target's scheme."""
    given = (args.tls_ca, args.tls_cert, args.tls_key, args.tls_server_name)
    if not any(given):
        return None
    try:
        return TlsOptions(*given)
    except ValueError as error:
        print(f"polytraders-gov: {error}: give --tls-cert with --tls-key", file=sys.stderr)
        raise SystemExit(2) from None


def _targets(target: str) -> ServiceMap:
    """`--target`: one HOST:PORT, or a service map ("reports=HOST:PORT;lifecycle=...;default=...")."""
    try:
        return ServiceMap.parse(target)
    except ValueError as error:
        print(f"polytraders-gov: --target {target!r}: {error}", file=sys.stderr)
        raise SystemExit(2) from None


def cmd_health(args: argparse.Namespace) -> int:
    address, secure = split_scheme(args.target)
    with dial(address, (), resolve(_tls(args), secure)) as channel:  # one process's probe
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=args.service), timeout=args.timeout)
        except grpc.RpcError as error:
            print(f"{args.target}: {error.code().name} {error.details()}")
            return 2
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    print(f"{args.target} {args.service or '(server)'}: {status}")
    return 0 if reply.status == health_pb2.HealthCheckResponse.SERVING else 1


def cmd_reports_tail(args: argparse.Namespace) -> int:
    request = report_bus_pb2.SubscribeReportsRequest(
        kinds=[reports_pb2.ReportKind.Value(f"REPORT_KIND_{k.upper()}") for k in args.kind],
        bot_slugs=args.bot,
        modes=[reports_pb2.Mode.Value(f"MODE_{m.upper()}") for m in args.mode],
        cursor=args.cursor or "",
        live_only=args.live_only,
    )
    with RoutedChannel(_targets(args.target), _tls(args)) as channel:
        stub = report_bus_pb2_grpc.ReportBusServiceStub(channel)
        try:
            for item in stub.SubscribeReports(request, metadata=_metadata(args.token)):
                line = json_format.MessageToDict(item, preserving_proto_field_name=True)
                print(json.dumps(line), flush=True)
        except grpc.RpcError as error:
            print(f"{error.code().name}: {error.details()}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            return 0
    return 0


def cmd_reports_purge(args: argparse.Namespace) -> int:
    with RoutedChannel(_targets(args.target), _tls(args)) as channel:
        stub = report_bus_pb2_grpc.ReportBusServiceStub(channel)
        reply = stub.PurgeExpiredReports(
            report_bus_pb2.PurgeExpiredReportsRequest(), metadata=_metadata(args.token), timeout=600
        )
    print(f"purged {reply.purged_count} expired reports")
    return 0


def _stage(name: str) -> int:
    from polytraders.governance.v1 import lifecycle_pb2

    try:
        return lifecycle_pb2.Stage.Value(f"STAGE_{name.upper()}")
    except ValueError:
        raise SystemExit(
            f"unknown stage {name!r}; one of {[n[6:].lower() for n in lifecycle_pb2.Stage.keys()[1:]]}"
        ) from None


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows, strict=False)]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)) for row in [headers, *rows]
    ]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])


def cmd_strategies(args: argparse.Namespace) -> int:
    from polytraders.governance.v1 import lifecycle_pb2
    from polytraders.sdk import Governance, GovernanceError

    def stage(value: int) -> str:
        return lifecycle_pb2.Stage.Name(value).removeprefix("STAGE_") if value else "-"

    with Governance(
        _targets(args.target), token=args.token or "", bot_slug="polytraders-gov", tls=_tls(args)
    ) as gov:
        try:
            if args.strategies == "list":
                strategies = gov.registry.list([_stage(s) for s in args.stage])
                print(_table(["slug", "stage", "version", "owner", "revision"],
                             [[s.slug, stage(s.stage), s.version, s.owner, str(s.revision)] for s in strategies]))  # fmt: skip
                return 0
            if args.strategies == "promote":
                strategy = gov.registry.promote(args.slug, _stage(args.to), args.reason)
            elif args.strategies == "pause":
                strategy = gov.registry.pause(args.slug, args.reason)
            elif args.strategies == "resume":
                strategy = gov.registry.resume(args.slug, args.reason)
            else:
                strategy = gov.registry.get(args.slug)
        except GovernanceError as error:
            print(error, file=sys.stderr)
            return 1
    paused = f" (paused from {stage(strategy.paused_from)})" if strategy.paused_from else ""
    print(f"{strategy.slug} v{strategy.version}  owner {strategy.owner}  stage {stage(strategy.stage)}{paused}  "
          f"revision {strategy.revision}")  # fmt: skip
    print(f"authority: {', '.join(strategy.authority) or 'any operator'}")
    history = [[c.at.ToJsonString(), stage(c.from_stage), stage(c.to_stage),
                c.actor, c.reason] for c in strategy.history]  # fmt: skip
    print(_table(["at", "from", "to", "actor", "reason"], history))
    if strategy.artefacts:
        print(_table(["artefact", "ref", "linked by"], [[lifecycle_pb2.ArtefactKind.Name(a.kind)[14:].lower(), a.ref,
                                                        a.linked_by] for a in strategy.artefacts]))  # fmt: skip
    if strategy.live_caps:
        print(_table(["cap stage", "max notional (µ)", "max position (µ)"], [[stage(c.stage), str(c.max_notional_micros),
                                                                            str(c.max_position_micros)] for c in strategy.live_caps]))  # fmt: skip
    return 0


def cmd_experiments(args: argparse.Namespace) -> int:
    from polytraders.governance.v1 import lifecycle_pb2
    from polytraders.sdk import Governance, GovernanceError

    with Governance(
        _targets(args.target), token=args.token or "", bot_slug="polytraders-gov", tls=_tls(args)
    ) as gov:
        try:
            experiments = (
                [gov.experiments.get(args.experiment_id)] if args.experiment_id else gov.experiments.list()
            )
        except GovernanceError as error:
            print(error, file=sys.stderr)
            return 1
    rows = []
    for e in experiments:
        r = e.result
        rows.append([e.experiment_id, f"{e.variant_slug} vs {e.control_slug}", e.metric,
                     lifecycle_pb2.ExperimentStatus.Name(e.status).removeprefix("EXPERIMENT_STATUS_"), str(r.samples),
                     r.mean_difference or "-", f"[{r.sequential_lower or '-inf'}, {r.sequential_upper or 'inf'}]",
                     r.p_value or "-"])  # fmt: skip
    print(_table(["experiment", "variant vs control", "metric", "status", "samples", "mean diff",
                  "always-valid interval", "p"], rows))  # fmt: skip
    return 0


def _day_window(day: str):  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime, timedelta

    try:
        start = datetime.strptime(day, "%Y%m%d").replace(tzinfo=UTC)
    except ValueError:
        raise SystemExit(f"--day must be a UTC day as YYYYMMDD, got {day!r}") from None
    return start, start + timedelta(days=1)


def _money(micros: int) -> str:
    from decimal import Decimal

    return f"{Decimal(micros).scaleb(-6):f}"


def cmd_attribution(args: argparse.Namespace) -> int:
    from polytraders.governance.v1 import attribution_pb2
    from polytraders.sdk import Governance, GovernanceError

    def kind(value: int) -> str:
        return attribution_pb2.DiscrepancyKind.Name(value).removeprefix("DISCREPANCY_KIND_")

    with Governance(
        _targets(args.target), token=args.token or "", bot_slug="polytraders-gov", tls=_tls(args)
    ) as gov:
        try:
            if args.attribution == "reconcile":
                result = gov.attribution.reconcile(*_day_window(args.day))
                status = attribution_pb2.ReconciliationStatus.Name(result.status).removeprefix(
                    "RECONCILIATION_STATUS_"
                )
                print(f"{result.reconciliation_id}  {status}  ours {result.local_fills} fills / "
                      f"{_money(result.local_volume_micros)} pUSD, exchange {result.exchange_trades} trades / "
                      f"{_money(result.exchange_volume_micros)} pUSD, drift {result.volume_drift or '-'}")  # fmt: skip
                if result.failure:
                    print(result.failure)
                print(_table(["kind", "record", "market", "case", "explanation"],
                             [[kind(d.kind), f"{d.trade_id}:{d.liquidity}" if d.trade_id else "-", d.condition_id or "total",
                               d.case_id, d.explanation] for d in result.discrepancies]))  # fmt: skip
                return 0 if result.status != attribution_pb2.RECONCILIATION_STATUS_FAILED else 1
            if args.attribution == "release":
                released = gov.attribution.release(args.case_id, args.reason)
                print(
                    f"released {released.case_id} ({len(released.record_keys)} records) by {released.released_by}"
                )
                return 0
            cases = gov.attribution.quarantine(include_released=args.all)
        except GovernanceError as error:
            print(error, file=sys.stderr)
            return 1
    print(_table(["case", "kind", "opened", "records", "released", "explanation"],
                 [[c.case_id, kind(c.kind), c.opened_at.ToJsonString(), str(len(c.record_keys)),
                   c.released_by or "-", c.explanation] for c in cases]))  # fmt: skip
    return 0


def cmd_revenue(args: argparse.Namespace) -> int:
    from polytraders.sdk import Governance, GovernanceError

    _day_window(args.day)
    with Governance(
        _targets(args.target), token=args.token or "", bot_slug="polytraders-gov", tls=_tls(args)
    ) as gov:
        try:
            if args.revenue == "report":
                response = gov.revenue.report_day(int(args.day))
                if not response.published:
                    print(f"not reported: {response.failure}", file=sys.stderr)
                    return 1
                report = response.report
            else:
                report = gov.revenue.get(int(args.day))
        except GovernanceError as error:
            print(error, file=sys.stderr)
            return 1
    print(report.explanation)
    print(_table(["market", "builder fees", "expected", "rebates (exchange)", "rebates (ours)", "trades"],
                 [[m.condition_id, _money(m.builder_fee_micros), _money(m.expected_builder_fee_micros),
                   _money(m.exchange_rebate_micros), _money(m.internal_rebate_micros), str(m.trades)]
                  for m in report.markets]))  # fmt: skip
    return 0


def cmd_backtest(args: argparse.Namespace) -> int:
    from datetime import datetime

    from polytraders.governance.v1 import lifecycle_pb2, lifecycle_pb2_grpc
    from polytraders.sdk.clock import to_timestamp

    if args.backtest == "run":
        try:
            window = [datetime.fromisoformat(moment) for moment in (args.start, args.end)]
        except ValueError as error:
            print(f"--from and --until must be ISO 8601 instants: {error}", file=sys.stderr)
            return 2
        if any(moment.tzinfo is None for moment in window):
            print("--from and --until need a timezone, e.g. 2026-11-23T00:00:00+00:00", file=sys.stderr)
            return 2
    with RoutedChannel(_targets(args.target), _tls(args)) as channel:
        stub = lifecycle_pb2_grpc.BacktesterServiceStub(channel)
        try:
            if args.backtest == "run":
                request = lifecycle_pb2.StartBacktestRequest(
                    strategy=args.strategy, parameters_json=args.params, parameters_b_json=args.params_b or "",
                    strategy_slug=args.slug or "", token_ids=args.token_ids,
                    window_start=to_timestamp(window[0]), window_end=to_timestamp(window[1]),
                )  # fmt: skip
                run = stub.StartBacktest(request, metadata=_metadata(args.token), timeout=3600).backtest
            else:
                run = stub.GetBacktest(lifecycle_pb2.GetBacktestRequest(backtest_id=args.backtest_id),
                                       metadata=_metadata(args.token), timeout=60).backtest  # fmt: skip
        except grpc.RpcError as error:
            print(f"{error.code().name}: {error.details()}", file=sys.stderr)
            return 1
    if args.html:
        Path(args.html).write_text(run.html)
    a, b = run.result, run.result_b
    print(f"backtest {run.backtest_id}: inputs {run.input_digest[:16]}…, outputs {run.output_digest[:16]}…")
    rows = [[name, str(getattr(a, field)), str(getattr(b, field)) if run.request.parameters_b_json else "-"]
            for name, field in (("P&L (µpUSD)", "pnl_micros"), ("fees", "fee_micros"), ("Sharpe", "sharpe"),
                                ("Sortino", "sortino"), ("max drawdown", "max_drawdown_micros"),
                                ("fill ratio", "fill_ratio"), ("events", "events"), ("fills", "fills"))]  # fmt: skip
    print(_table(["", "A", "B"], rows))
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from polytraders.governance.v1 import audit_pb2, audit_pb2_grpc

    with RoutedChannel(_targets(args.target), _tls(args)) as channel:
        try:
            reply = audit_pb2_grpc.ComplianceLedgerServiceStub(channel).VerifyLedger(
                audit_pb2.VerifyLedgerRequest(stream=args.stream or "", from_latest_checkpoint=args.from_checkpoint),
                metadata=_metadata(args.token), timeout=3600,
            )  # fmt: skip
        except grpc.RpcError as error:
            print(f"{error.code().name}: {error.details()}", file=sys.stderr)
            return 2
    if reply.ok:
        print(f"ledger ok: {reply.entries_checked} entries, {reply.checkpoints_checked} checkpoints verified")
        return 0
    b = reply.first_break
    problem = audit_pb2.LedgerProblem.Name(b.problem).removeprefix("LEDGER_PROBLEM_").lower()
    print(f"ledger BROKEN at stream {b.stream} entry {b.seq} ({problem}): {b.explanation}")
    return 1


def cmd_tokens(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from polytraders.servers.runtime import tokens_file
    from polytraders.servers.runtime.auth import Role, TokensFileError, read_tokens_file

    now = datetime.now(UTC)
    try:
        if args.tokens == "add":
            secret = tokens_file.add(
                args.tokens_file, name=args.name, role=Role(args.role), bot_slug=args.bot_slug, now=now
            )
            print(f"token {args.name!r} ({args.role}) added to {args.tokens_file}; its secret, shown this once:",
                  file=sys.stderr)  # fmt: skip
            print(secret)
        elif args.tokens == "revoke":
            tokens_file.revoke(args.tokens_file, name=args.name, now=now)
            print(
                f"token {args.name!r} revoked in {args.tokens_file} (a running server refuses it within a second)"
            )
        elif args.tokens == "hash":
            count = tokens_file.hash_secrets(args.tokens_file)
            print(f"{count} secrets in {args.tokens_file} replaced by their SHA-256")
        else:
            entries, certificates = read_tokens_file(args.tokens_file)
            rows = [[t.name, t.role.value, t.bot_slug or "", f"sha256 {t.sha256[:12]}…" if t.sha256 else "IN THE CLEAR",
                     t.created_at, t.revoked_at] for t in entries]  # fmt: skip
            rows += [
                [c.name, c.role.value, c.bot_slug or "", f"certificate CN={c.common_name}", "", ""]
                for c in certificates
            ]
            print(_table(["name", "role", "bot_slug", "stored as", "created", "revoked"], rows))
    except TokensFileError as refusal:
        print(f"polytraders-gov tokens {args.tokens}: {refusal}", file=sys.stderr)
        return 2
    return 0


def cmd_contract_test(args: argparse.Namespace) -> int:
    """Run tests/contract against a running deploy; stops at the first broken contract."""
    suite = Path(__file__).resolve().parents[3] / "tests" / "contract"
    if not suite.is_dir():
        print(f"contract suite not found at {suite} (run from a source checkout)", file=sys.stderr)
        return 2
    env = dict(os.environ, POLYTRADERS_CONTRACT_TARGET=args.target)
    for name, value in (
        ("OPERATOR_TOKEN", args.token),
        ("AUDITOR_TOKEN", args.auditor_token),
        ("BOT_TOKEN", args.bot_token),
        ("BOT_SLUG", args.bot_slug),
    ):
        if value:
            env[f"POLYTRADERS_CONTRACT_{name}"] = value
    for name in ("ca", "cert", "key", "server_name"):  # the suite's channels take TLS from the environment
        if getattr(args, f"tls_{name}"):
            env[f"POLYTRADERS_TLS_{name.upper()}"] = getattr(args, f"tls_{name}")
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-rs", "-p", "no:cacheprovider", str(suite)]
    return subprocess.call(command, env=env, cwd=suite.parents[1])


def build_parser() -> argparse.ArgumentParser:
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="polytraders-gov", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the governance mesh")
    serve.add_argument("--config", help="TOML config file (default: polytraders.toml if present)")
    serve.add_argument("--groups", help="comma-separated bot groups (default: every available group)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--database-url")
    serve.add_argument("--tokens-file")
    serve.add_argument("--tls-cert", help="PEM certificate to serve TLS with (required off loopback)")
    serve.add_argument("--tls-key", help="its PEM private key")
    serve.add_argument("--tls-client-ca", help="PEM CA of client certificates: require one (mutual TLS)")
    serve.add_argument(
        "--no-auth", action="store_true", help="treat every caller as an operator (logged loudly)"
    )
    serve.add_argument(
        "--upgrade", action=argparse.BooleanOptionalAction, default=None,
        help="bring a database that is behind to this release's schema first "
        "(default: yes on SQLite, no on PostgreSQL)",
    )  # fmt: skip
    serve.add_argument(
        "--bus", help="NATS JetStream URL carrying reports between processes, e.g. nats://127.0.0.1:4222"
    )
    serve.add_argument("--log-level", default=env("POLYTRADERS_LOG_LEVEL", "info"))
    serve.set_defaults(run=cmd_serve)

    db = commands.add_parser("db", help="the database schema (Alembic revisions)").add_subparsers(
        dest="db", required=True
    )
    for verb, text in (
        ("upgrade", "upgrade to this release's head, under a lock (safe while others start)"),
        ("current", "print the database's revision; exit 1 when it is not the head"),
        ("history", "every revision, newest first"),
    ):
        command = db.add_parser(verb, help=text)
        if verb != "history":
            command.add_argument("--database-url", help="default: the config's, else the SQLite file")
            command.add_argument("--config", help="TOML config file (default: polytraders.toml if present)")
            command.add_argument("--log-level", default=env("POLYTRADERS_LOG_LEVEL", "info"))
        command.set_defaults(run=cmd_db)

    health = commands.add_parser("health", help="grpc.health.v1 check of a target")
    health.add_argument("target")
    health.add_argument("--service", default="", help="service name (default: the whole server)")
    health.add_argument("--timeout", type=float, default=5.0)
    _tls_options(health)
    health.set_defaults(run=cmd_health)

    reports = commands.add_parser("reports", help="the report bus").add_subparsers(
        dest="reports", required=True
    )
    tail = reports.add_parser("tail", help="follow the bus, one JSON line per report")
    _connection(tail)
    tail.add_argument("--kind", action="append", default=[], help="observation, decision, risk_vote, ...")
    tail.add_argument("--bot", action="append", default=[], help="bot_slug (repeatable)")
    tail.add_argument("--mode", action="append", default=[], help="live, paper, replay, shadow")
    tail.add_argument("--cursor", help="resume after this cursor")
    tail.add_argument("--live-only", action="store_true", help="skip the archive")
    tail.set_defaults(run=cmd_reports_tail)
    purge = reports.add_parser("purge", help="delete reports whose retention ended (operator)")
    _connection(purge)
    purge.set_defaults(run=cmd_reports_purge)

    strategies = commands.add_parser("strategies", help="the strategy registry").add_subparsers(
        dest="strategies", required=True
    )
    for verb, text in (("list", "every strategy"), ("show", "one strategy with its history"),
                       ("promote", "move a strategy to a stage"), ("pause", "pause a strategy"),
                       ("resume", "resume a paused strategy")):  # fmt: skip
        command = strategies.add_parser(verb, help=text)
        _connection(command)
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

    experiments = commands.add_parser("experiments", help="the experiment tracker").add_subparsers(
        dest="experiments", required=True
    )
    show = experiments.add_parser("show", help="one experiment, or all, with their always-valid results")
    show.add_argument("experiment_id", nargs="?")
    _connection(show)
    show.set_defaults(run=cmd_experiments)

    audit = commands.add_parser("audit", help="the compliance ledger").add_subparsers(
        dest="audit", required=True
    )
    verify = audit.add_parser("verify", help="walk the hash chains; exit 1 naming the first broken entry")
    _connection(verify, token_help="operator or auditor token")
    verify.add_argument("--stream", help="one stream (a bot slug); default every stream")
    verify.add_argument(
        "--from-checkpoint", action="store_true", help="start at each stream's latest checkpoint"
    )
    verify.set_defaults(run=cmd_audit_verify)

    attribution = commands.add_parser("attribution", help="builder attribution").add_subparsers(
        dest="attribution", required=True
    )
    reconcile = attribution.add_parser(
        "reconcile", help="reconcile a UTC day against the exchange (operator)"
    )
    reconcile.add_argument("--day", required=True, help="YYYYMMDD")
    quarantine = attribution.add_parser("quarantine", help="records held back from revenue")
    quarantine.add_argument("--all", action="store_true", help="released cases too")
    release = attribution.add_parser("release", help="release a quarantine case (operator)")
    release.add_argument("case_id")
    release.add_argument("--reason", required=True)
    for command in (reconcile, quarantine, release):
        _connection(command)
        command.set_defaults(run=cmd_attribution)

    revenue = commands.add_parser("revenue", help="daily builder-fee revenue").add_subparsers(
        dest="revenue", required=True
    )
    for verb, text in (
        ("report", "compute and publish a finished day (operator)"),
        ("show", "the report in force"),
    ):
        command = revenue.add_parser(verb, help=text)
        command.add_argument("day", help="YYYYMMDD")
        _connection(command)
        command.set_defaults(run=cmd_revenue)

    backtest = commands.add_parser("backtest", help="the backtester").add_subparsers(
        dest="backtest", required=True
    )
    run = backtest.add_parser("run", help="replay archived books through a strategy (operator)")
    run.add_argument("--strategy", required=True, help="package.module:ClassName")
    run.add_argument("--params", default="{}", help="its parameters, a JSON object")
    run.add_argument("--params-b", help="a second parameter set for an A/B comparison")
    run.add_argument("--token-id", dest="token_ids", action="append", required=True,
                     help="an outcome token to replay (repeatable)")  # fmt: skip
    run.add_argument("--from", dest="start", required=True, help="start, ISO 8601 with a timezone")
    run.add_argument("--until", dest="end", required=True, help="end (exclusive), ISO 8601 with a timezone")
    run.add_argument("--slug", help="the registry strategy the run is linked to")
    shown = backtest.add_parser("show", help="one run's figures")
    shown.add_argument("backtest_id")
    for command in (run, shown):
        _connection(command)
        command.add_argument("--html", help="write the HTML report (with the equity curve) to this file")
        command.set_defaults(run=cmd_backtest)

    contract = commands.add_parser("contract-test", help="run the contract suite against a running target")
    contract.add_argument(
        "target",
        help='HOST:PORT, or a service map: "reports=HOST:PORT;lifecycle=HOST:PORT,HOST:PORT;default=HOST:PORT"',
    )
    contract.add_argument("--token", default=env("POLYTRADERS_TOKEN"), help="operator token")
    contract.add_argument("--auditor-token")
    contract.add_argument("--bot-token")
    contract.add_argument("--bot-slug")
    _tls_options(contract)
    contract.set_defaults(run=cmd_contract_test)

    tokens = commands.add_parser("tokens", help="the tokens file: add, list, revoke, hash").add_subparsers(
        dest="tokens", required=True
    )
    add = tokens.add_parser("add", help="a new token: prints its secret once, keeps only its SHA-256")
    add.add_argument("--role", required=True, choices=["bot", "operator", "auditor"])
    add.add_argument(
        "--name", required=True, help="who it is for (shows in access logs and the activity ledger)"
    )
    add.add_argument("--bot-slug", help="for a bot token: the only slug it may act for")
    listed = tokens.add_parser("list", help="every token: name, role, how it is stored, created, revoked")
    revoke = tokens.add_parser("revoke", help="refuse a token from now on (a running server within a second)")
    revoke.add_argument("--name", required=True)
    hashed = tokens.add_parser("hash", help="replace the secrets a file holds in the clear by their SHA-256")
    for command in (add, listed, revoke, hashed):
        command.add_argument("--tokens-file", required=not env("POLYTRADERS_TOKENS_FILE"),
                             default=env("POLYTRADERS_TOKENS_FILE"))  # fmt: skip
        command.set_defaults(run=cmd_tokens)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except TlsFileError as error:
        print(f"polytraders-gov: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
