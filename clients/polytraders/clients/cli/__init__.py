"""`polytraders-gov`: the operator's command line for the governance mesh, a subcommand group
per bot group. Tables for people, `--output json` for scripts; exit codes in `common`."""

from __future__ import annotations

import argparse
import os
import sys

import grpc

from polytraders.sdk import GovernanceError
from polytraders.sdk.transport import TlsFileError

from . import attribution, audit, bus, ledger, lifecycle, operations, serving
from .common import OK, PROGRAM, CommandError, explain

_GROUPS = (serving, bus, lifecycle, attribution, ledger, audit, operations)


def build_parser() -> argparse.ArgumentParser:
    from polytraders.clients.console import cli as console
    from polytraders.clients.demo import cli as demo

    parser = argparse.ArgumentParser(prog=PROGRAM, description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for group in (*_GROUPS, console, demo):
        group.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except (GovernanceError, grpc.RpcError) as error:
        failure = explain(error, getattr(args, "target", ""))
    except CommandError as error:
        failure = error
    except TlsFileError as error:
        failure = CommandError(str(error))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (`| head`): nothing is wrong
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # and no complaint at exit
        return OK
    print(f"{PROGRAM}: {failure}", file=sys.stderr)
    return failure.exit_code


if __name__ == "__main__":
    sys.exit(main())
