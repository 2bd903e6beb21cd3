"""What every command shares: where its calls go, how it prints, and what its exit code says.

Exit codes: 0 done; 1 the check failed (a broken ledger, a failed reconciliation, a refused
transition); 2 bad usage or an unreachable target (a wrong target, the mesh down, a bad
token, an unknown slug, a bad date). Every error a person can cause is one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tomllib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from rich import box
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

if TYPE_CHECKING:  # mypy-protobuf's enums are this generic wrapper, over each enum's own values
    from google.protobuf.internal.enum_type_wrapper import _EnumTypeWrapper

from polytraders.sdk import Governance, GovernanceError
from polytraders.sdk.errors import (
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    UnauthenticatedError,
    UnavailableError,
    from_rpc_error,
)
from polytraders.sdk.service_map import ENV as ENV_TARGETS
from polytraders.sdk.service_map import ServiceMap
from polytraders.sdk.transport import TlsOptions

OK, CHECK_FAILED, USAGE = 0, 1, 2
PROGRAM = "polytraders-gov"


class CommandError(Exception):
    """One line for the person at the terminal, and the exit code it ends with."""

    def __init__(self, message: str, exit_code: int = USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


# -- where calls go ---------------------------------------------------------------------------


CONFIG_FILE = "polytraders.toml"


def default_target() -> str:
    """POLYTRADERS_TARGETS (a service map), else POLYTRADERS_TARGET, else the `[targets]` of
    polytraders.toml here (the mesh's own config file), else the local mesh."""
    if found := os.environ.get(ENV_TARGETS) or os.environ.get("POLYTRADERS_TARGET"):
        return found
    config = Path(CONFIG_FILE)
    try:
        if config.is_file() and "targets" in tomllib.loads(config.read_text()):
            return CONFIG_FILE
    except (OSError, ValueError):
        return CONFIG_FILE  # read again when used, which says what is wrong with it in one line
    return "127.0.0.1:50051"


def connection(command: argparse.ArgumentParser, *, token_help: str | None = None) -> None:
    """Where a command's calls go, how they are secured and how it prints; each option also comes
    from the environment (POLYTRADERS_TARGETS or POLYTRADERS_TARGET, POLYTRADERS_TOKEN,
    POLYTRADERS_TLS_*)."""
    command.add_argument("--target", default=default_target(),
                         help="HOST:PORT, grpcs://HOST:PORT for TLS, a service map, or a TOML file with [targets]")  # fmt: skip
    command.add_argument("--token", default=os.environ.get("POLYTRADERS_TOKEN"), help=token_help)
    tls_options(command)
    command.add_argument("--output", choices=("table", "json"), default="table",
                         help="table (default) or json: one object per answer, one per line for lists")  # fmt: skip


Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
"""Where a module registers its commands (argparse has no public name for it)."""


def verbs(commands: Commands, name: str, help: str) -> Commands:
    """A command group (`polytraders-gov NAME VERB ...`); the verb chosen lands in `args.NAME`."""
    return commands.add_parser(name, help=help).add_subparsers(dest=name, required=True)


def tls_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--tls-ca", help="PEM roots of the servers' certificates (turns TLS on)")
    command.add_argument("--tls-cert", help="PEM client certificate, for a mesh that requires one (mTLS)")
    command.add_argument("--tls-key", help="the client certificate's PEM key")
    command.add_argument(
        "--tls-server-name", help="the name the server's certificate carries, if not the host"
    )


def tls(args: argparse.Namespace) -> TlsOptions | None:
    """The command's TLS options; None leaves it to POLYTRADERS_TLS_* and the target's scheme."""
    given = (args.tls_ca, args.tls_cert, args.tls_key, args.tls_server_name)
    if not any(given):
        return None
    try:
        return TlsOptions(*given)
    except ValueError as error:
        raise CommandError(f"{error}: give --tls-cert with --tls-key") from None


def targets(target: str) -> ServiceMap:
    """`--target`: one HOST:PORT, a service map ("reports=HOST:PORT;lifecycle=...;default=..."), or a
    TOML file whose `[targets]` table is one."""
    try:
        if target.endswith(".toml"):
            return ServiceMap.from_toml(target)
        return ServiceMap.parse(target)
    except (ValueError, OSError) as error:
        raise CommandError(f"--target {target!r}: {error}") from None


@contextmanager
def governance(args: argparse.Namespace) -> Iterator[Governance]:
    """The SDK client a command calls through, as `polytraders-gov` (its calls are the caller's:
    the token names who acts)."""
    with Governance(targets(args.target), token=args.token or "", bot_slug=PROGRAM, tls=tls(args)) as gov:
        yield gov


def metadata(token: str | None) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),) if token else ()


def explain(
    error: GovernanceError | grpc.RpcError,
    target: str,
    *,
    token_hint: str = "check --token or POLYTRADERS_TOKEN",
) -> CommandError:
    """What a failed call means to the person who made it, and its exit code."""
    if isinstance(error, grpc.RpcError):
        error = from_rpc_error(error)
    fields = "; ".join(f"{v.field}: {v.description}" for v in error.violations)
    if isinstance(error, UnavailableError):
        return CommandError(f"cannot reach governance at {target} ({error.message or error.code.name}): "
                            "is the mesh up, and is --target right?")  # fmt: skip
    if isinstance(error, UnauthenticatedError):
        return CommandError(f"the mesh refused the token ({error.message}): {token_hint}")
    if isinstance(error, PermissionDeniedError):
        return CommandError(f"this token may not do that: {error.message}")
    if isinstance(error, InvalidArgumentError):
        return CommandError(f"bad request: {fields or error.message}")
    if isinstance(error, NotFoundError):
        return CommandError(error.message or "not found")
    if isinstance(error, FailedPreconditionError):
        return CommandError(error.message, CHECK_FAILED)
    return CommandError(f"{error.code.name}: {error.message}", CHECK_FAILED)


# -- what a person types ----------------------------------------------------------------------

_AGO = re.compile(r"^(\d+)([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def instant(text: str, option: str, *, now: datetime | None = None) -> datetime:
    """`--since`/`--until`/`--at`: 2026-12-01 (UTC midnight), an ISO 8601 instant (UTC unless it
    says otherwise), or a span back from now: 90m, 24h, 7d, 2w."""
    if found := _AGO.match(text.strip()):
        return (now or datetime.now(UTC)) - timedelta(**{_UNITS[found.group(2)]: int(found.group(1))})
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise CommandError(
            f"{option} {text!r} is not a date: write 2026-12-01, 2026-12-01T12:00:00Z, or 24h / 7d for a span back"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# -- how it prints ----------------------------------------------------------------------------


def money(micros: int) -> str:
    """pUSD micro-units as an exact decimal, e.g. 12.500000."""
    return f"{Decimal(micros).scaleb(-6):f}"


def when(stamp: Timestamp) -> str:
    """A Timestamp as UTC to the second, "-" when unset."""
    if not stamp.seconds and not stamp.nanos:
        return "-"
    return stamp.ToDatetime(tzinfo=UTC).strftime("%Y-%m-%d %H:%M:%S")


EnumValue = TypeVar("EnumValue", bound=int)


def enum_name(enum: _EnumTypeWrapper[Any], value: int, prefix: str) -> str:
    return enum.Name(value).removeprefix(prefix).lower() if value else "-"


def enum_value(enum: _EnumTypeWrapper[EnumValue], prefix: str, name: str, option: str) -> EnumValue:
    """The value a person named ("live" for STAGE_LIVE); a bad name lists the good ones. The zero
    value ("unspecified") is no choice, so it is refused like a name that does not exist."""
    value: EnumValue | None
    try:
        value = enum.Value(f"{prefix}{name.upper()}")
    except ValueError:
        value = None
    if value is None or value == 0:  # 0 is the proto default, UNSPECIFIED: it names no choice
        known = ", ".join(n.removeprefix(prefix).lower() for n in enum.keys()[1:])
        raise CommandError(f"{option}: unknown {name!r}; one of {known}")
    return value


Column = tuple[str, Callable[[Any], object]]
"""A table column: its heading, and what it shows of each item."""


class Output:
    """Rich tables for people, JSON for scripts (`--output json`)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.json = getattr(args, "output", "table") == "json"
        # Piped output keeps whole rows: rich would otherwise fold columns to 80 characters.
        width = None if sys.stdout.isatty() else 240
        # markup off: server text (titles, diffs, reasons) is shown as it is, brackets included
        self.console = Console(width=width, highlight=False, soft_wrap=False, markup=False)

    def table(self, items: Iterable[Any], columns: Sequence[Column], *, title: str | None = None,
              footer: Sequence[object] | None = None) -> None:  # fmt: skip
        """One row per item (one JSON object per line under --output json)."""
        items = list(items)
        if self.json:
            for item in items:
                print(json.dumps(as_json(item)), flush=True)
            return
        table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", show_footer=footer is not None)
        for index, (heading, _) in enumerate(columns):
            table.add_column(heading, footer=str(footer[index]) if footer is not None else "")
        for item in items:
            table.add_row(*(str(show(item)) for _, show in columns))
        self.console.print(table)

    def record(self, message: Any, lines: Sequence[tuple[str, object]]) -> None:
        """One thing: its fields as `name  value` lines (or one JSON object)."""
        if self.json:
            print(json.dumps(as_json(message)), flush=True)
            return
        table = Table(box=None, show_header=False, padding=(0, 2, 0, 0))
        table.add_column(style="bold")
        table.add_column()
        for name, value in lines:
            table.add_row(name, str(value))
        self.console.print(table)

    def say(self, text: str) -> None:
        """A line for people only (scripts reading JSON never see it)."""
        if not self.json:
            self.console.print(text, markup=False)

    @contextmanager
    def progress(self, what: str) -> Iterator[None]:
        """A spinner with the time elapsed on stderr while long work runs (only on a terminal)."""
        if not sys.stderr.isatty():
            yield
            return
        columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
        with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
            bar.add_task(what, total=None)
            yield


def as_json(item: Any) -> Any:
    if isinstance(item, Message):
        return json_format.MessageToDict(item, preserving_proto_field_name=True)
    return item
