"""Commands that start or look after a process on this machine: serve, db, health, tokens,
contract-test."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import subprocess
import sys
from operator import itemgetter
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2

from polytraders.sdk.clock import SystemClock
from polytraders.sdk.health import health_check
from polytraders.sdk.transport import dial, resolve, split_scheme

from .common import OK, PROGRAM, Commands, Output, connection, targets, tls, tls_options, verbs


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


def cmd_serve(args: argparse.Namespace) -> int:
    from polytraders.servers.runtime.auth import TokensFileError
    from polytraders.servers.runtime.config import load_config
    from polytraders.servers.runtime.credentials import Credentials
    from polytraders.servers.runtime.tls import CertificateError

    refusals = (TokensFileError, CertificateError, OSError, ValueError)  # one line each, the usage code
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
        metrics_port=args.metrics_port,
    )
    try:  # before every group is imported: a refusal costs only reading these files
        credentials = Credentials.load(config, SystemClock().now())
    except refusals as refusal:
        return _refused(refusal)

    from polytraders.servers.mesh import Mesh
    from polytraders.servers.runtime.server import tune_interpreter_for_serving
    from polytraders.servers.schema import SchemaMismatch

    async def serve() -> None:
        try:
            mesh = await Mesh.start(config, credentials=credentials)
        except SchemaMismatch as refusal:
            raise SystemExit(f"{PROGRAM} serve: {refusal}") from None
        except refusals as refusal:
            raise SystemExit(_refused(refusal)) from None
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
        if mesh.metrics_server is not None:
            print(
                f"  Prometheus metrics on http://{config.metrics_host}:{mesh.metrics_server.port}/metrics",
                flush=True,
            )
        await mesh.serve_until_signalled()

    asyncio.run(serve())
    return 0


def _refused(refusal: Exception) -> int:
    print(f"{PROGRAM} serve: {refusal}", file=sys.stderr)
    return 2


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


def cmd_health(args: argparse.Namespace) -> int:
    address, secure = split_scheme(args.target)
    with dial(address, (), resolve(tls(args), secure)) as channel:  # one process's probe
        try:
            reply = health_check(channel)(
                health_pb2.HealthCheckRequest(service=args.service), timeout=args.timeout
            )
        except grpc.RpcError as error:
            print(f"{args.target}: {error.code().name} {error.details()}")
            return 2
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    print(f"{args.target} {args.service or '(server)'}: {status}")
    return 0 if reply.status == health_pb2.HealthCheckResponse.SERVING else 1


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
            columns = ("name", "role", "bot_slug", "stored as", "created", "revoked")
            Output(args).table(rows, [(heading, itemgetter(i)) for i, heading in enumerate(columns)])
    except TokensFileError as refusal:
        print(f"polytraders-gov tokens {args.tokens}: {refusal}", file=sys.stderr)
        return 2
    return 0


def cmd_contract_test(args: argparse.Namespace) -> int:
    """Run tests/contract against a running deploy; stops at the first broken contract."""
    suite = Path(__file__).resolve().parents[4] / "tests" / "contract"
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


def cmd_prometheus_targets(args: argparse.Namespace) -> int:
    """Prometheus's file_sd targets: every process of the service map that serves /metrics."""
    from polytraders.sdk import Governance, ServiceMap

    mesh = targets(args.target)
    found = []
    for address in sorted({a for replicas in mesh.targets.values() for a in replicas}):
        one = ServiceMap({"default": (address,)}, secure=mesh.secure)
        with Governance(one, token=args.token or "", bot_slug=PROGRAM, tls=tls(args)) as gov:
            described = gov.mesh.describe()
        if not described.metrics_address:
            print(f"{PROGRAM}: {address} serves no metrics (serve it with --metrics-port)", file=sys.stderr)
            continue
        host, port = described.metrics_address.rsplit(":", 1)
        if host in ("0.0.0.0", "::"):  # listening everywhere: reachable where its gRPC port is
            host = address.rsplit(":", 1)[0]
        found.append({"targets": [f"{host}:{port}"],
                      "labels": {"governance": address, "groups": ",".join(described.groups)}})  # fmt: skip
    print(json.dumps(found, indent=2))
    return OK


def register(commands: Commands) -> None:
    env = os.environ.get
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
    serve.add_argument("--metrics-port", type=int,
                       help="serve Prometheus metrics over HTTP on this port (0: any free one); default: none")  # fmt: skip
    serve.add_argument("--log-level", default=env("POLYTRADERS_LOG_LEVEL", "info"))
    serve.set_defaults(run=cmd_serve)

    db = verbs(commands, "db", "the database schema (Alembic revisions)")
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
    tls_options(health)
    health.set_defaults(run=cmd_health)

    contract = commands.add_parser("contract-test", help="run the contract suite against a running target")
    contract.add_argument(
        "target",
        help='HOST:PORT, or a service map: "reports=HOST:PORT;lifecycle=HOST:PORT,HOST:PORT;default=HOST:PORT"',
    )
    contract.add_argument("--token", default=env("POLYTRADERS_TOKEN"), help="operator token")
    contract.add_argument("--auditor-token")
    contract.add_argument("--bot-token")
    contract.add_argument("--bot-slug")
    tls_options(contract)
    contract.set_defaults(run=cmd_contract_test)

    scrape = commands.add_parser("prometheus-targets",
                                 help="Prometheus file_sd JSON: the /metrics of every process the service map names")  # fmt: skip
    connection(scrape, token_help="operator or auditor token")
    scrape.set_defaults(run=cmd_prometheus_targets)

    tokens = verbs(commands, "tokens", "the tokens file: add, list, revoke, hash")
    add = tokens.add_parser("add", help="a new token: prints its secret once, keeps only its SHA-256")
    add.add_argument("--role", required=True, choices=["bot", "operator", "auditor"])
    add.add_argument(
        "--name", required=True, help="who it is for (shows in access logs and the activity ledger)"
    )
    add.add_argument("--bot-slug", help="for a bot token: the only slug it may act for")
    listed = tokens.add_parser("list", help="every token: name, role, how it is stored, created, revoked")
    listed.add_argument("--output", choices=("table", "json"), default="table")
    revoke = tokens.add_parser("revoke", help="refuse a token from now on (a running server within a second)")
    revoke.add_argument("--name", required=True)
    hashed = tokens.add_parser("hash", help="replace the secrets a file holds in the clear by their SHA-256")
    for command in (add, listed, revoke, hashed):
        command.add_argument("--tokens-file", required=not env("POLYTRADERS_TOKENS_FILE"),
                             default=env("POLYTRADERS_TOKENS_FILE"))  # fmt: skip
        command.set_defaults(run=cmd_tokens)
