"""`polytraders-gov demo`: drive a simulated fleet against a mesh, or (`--serve DIR`) start a mesh
and a console for it first: `make demo`."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from polytraders.clients.cli.common import OK, PROGRAM, CommandError, Commands, Output, connection, targets

from .fleet import DemoFleet

DEV_TOKENS = Path(__file__).resolve().parents[4] / "config" / "dev-tokens.toml"


@contextmanager
def _child(command: list[str], ready: str, env: dict[str, str]) -> Iterator[str]:
    """A polytraders-gov process of the demo's; yields the address its first line names."""
    executable = str(Path(sys.executable).parent / command[0])  # the same installation's polytraders-gov
    process = subprocess.Popen([executable, *command[1:]], stdout=subprocess.PIPE, text=True,
                               env={**os.environ, **env})  # fmt: skip
    assert process.stdout is not None  # stdout=PIPE
    try:
        line = process.stdout.readline()
        found = re.search(ready, line)
        if not found:
            raise CommandError(f"{command[1]} did not start: {line.strip() or 'no output'}")
        threading.Thread(target=process.stdout.read, daemon=True).start()  # drained: never blocks on a full pipe
        yield found.group(1)
    finally:
        process.terminate()
        process.wait(timeout=30)


def cmd_demo(args: argparse.Namespace) -> int:
    out = Output(args)
    rounds = args.rounds or max(1, int(args.minutes * 60 / args.round_seconds))
    workdir = Path(args.serve or ".demo")
    target = f"127.0.0.1:{args.port}" if args.serve else args.target
    (workdir / "outboxes").mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        fleet = DemoFleet(targets(target), args.token or "dev-operator-token", bots=args.bots,
                          health_port=args.health_port, seed=args.seed, outbox_dir=workdir / "outboxes")  # fmt: skip
        stack.callback(fleet.close)
        manifest = workdir / "fleet.toml"
        manifest.write_text(fleet.manifest())
        if args.serve:
            env = {"POLYTRADERS_FLEET_MANIFEST": str(manifest), "POLYTRADERS_HEARTBEAT_INTERVAL_SECONDS": "2"}
            database = f"sqlite:///{workdir / 'governance.sqlite'}"
            stack.enter_context(_child([PROGRAM, "serve", "--port", str(args.port), "--database-url", database,
                                        "--tokens-file", str(DEV_TOKENS), "--upgrade", "--log-level", "warning"],
                                       r"on (\S+:\d+)", env))  # fmt: skip
            out.say(f"mesh serving on {target} ({database}), polling the demo fleet's health")
        else:
            out.say(f"the fleet page fills when the mesh polls these bots: serve it with "
                    f"POLYTRADERS_FLEET_MANIFEST={manifest}")  # fmt: skip
        if args.console_port is not None:
            address = stack.enter_context(
                _child([PROGRAM, "console", "--port", str(args.console_port), "--target", target], r"(http://\S+)", {})
            )
            out.say(f"console on {address}: sign in with dev-auditor-token or dev-operator-token")
        fleet.plan(rounds)
        out.say(f"{args.bots} demo bots, {rounds} rounds of {args.round_seconds} s")
        for _ in range(rounds):
            started = time.monotonic()
            fleet.round()
            time.sleep(max(0.0, args.round_seconds - (time.monotonic() - started)))
        out.say(f"done: {fleet.rounds} rounds")
        if args.console_port is not None and args.stay:
            out.say("the mesh and the console stay up until Ctrl-C")
            while True:
                time.sleep(3600)
    return OK


def register(commands: Commands) -> None:
    demo = commands.add_parser("demo", help="drive a simulated fleet through the SDK, as real bots would")
    connection(demo, token_help="an operator token: the demo acts for many bots (default dev-operator-token)")
    demo.add_argument("--bots", type=int, default=20, help="simulated bots (default 20)")
    demo.add_argument("--minutes", type=float, default=5.0, help="how long it runs (default 5)")
    demo.add_argument("--rounds", type=int, help="how many ticks it runs instead (tests)")
    demo.add_argument("--round-seconds", type=float, default=1.0, help="time between ticks (default 1 s)")
    demo.add_argument("--seed", type=int, default=7, help="the random walk's seed: a run is repeatable")
    demo.add_argument("--health-port", type=int, default=7100,
                      help="bot i serves grpc.health.v1 on this port + i (0: any free port)")  # fmt: skip
    demo.add_argument("--serve", metavar="DIR", help="start a mesh first, on SQLite in DIR, polling the fleet")
    demo.add_argument("--port", type=int, default=50061, help="the port of the mesh --serve starts")
    demo.add_argument("--console-port", type=int, help="start a console on this port too")
    demo.add_argument("--stay", action="store_true", help="keep the mesh and the console up after the run")
    demo.set_defaults(run=cmd_demo)
