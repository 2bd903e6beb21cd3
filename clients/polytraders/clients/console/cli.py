"""`polytraders-gov console`: serve the web console (uvicorn) for a mesh it reaches like any client."""

from __future__ import annotations

import argparse
import asyncio
import socket

import uvicorn

from ..cli.common import OK, Commands, default_target, targets, tls, tls_options
from .app import create_app


def cmd_console(args: argparse.Namespace) -> int:
    app = create_app(targets(args.target), tls(args), refresh_seconds=args.refresh_seconds)
    listener = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((args.host, args.port))
    listener.listen()  # before the banner: whoever reads it may connect at once (uvicorn accepts from this backlog)
    host, port = listener.getsockname()[:2]
    # the first line names the address (port 0 picks one): scripts and tests wait for it
    print(f"polytraders console on http://{host}:{port} for {args.target} (read-only; sign in with a token)", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level=args.log_level, access_log=args.log_level == "debug"))
    asyncio.run(server.serve(sockets=[listener]))
    return OK


def register(commands: Commands) -> None:
    console = commands.add_parser("console", help="serve the read-only web console")
    console.add_argument("--target", default=default_target(), help="the mesh: HOST:PORT, grpcs://..., or a service map")
    tls_options(console)
    console.add_argument("--host", default="127.0.0.1")
    console.add_argument("--port", type=int, default=8080)
    console.add_argument("--refresh-seconds", type=float, default=5.0, help="how often live pages refresh")
    console.add_argument("--log-level", default="warning")
    console.set_defaults(run=cmd_console)
