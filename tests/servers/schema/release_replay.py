"""What the release-upgrade fixtures hold, and how a running mesh is asked the same questions again.

Shared by `make_release_13f859b.py` (run under the old release's code) and
`test_upgrade_from_release.py` (run under this tree's code). Nothing here imports a governance
module beyond the generated protobuf ones, so the same code reads the rows and replays the calls
under either release: a call is its service, method, token and request as JSON, and the generic
stub is built from the protobuf descriptors.
"""

from __future__ import annotations

import hashlib
import importlib
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import grpc
from google.protobuf import descriptor_pool, json_format, message_factory
from google.protobuf.message import Message
from sqlalchemy import Connection, Engine, Table, select, text

SERVICES = ("attribution", "audit", "ledger", "lifecycle", "operations", "report_bus")
TOKENS = {
    "operator": "dev-operator-token",
    "auditor": "dev-auditor-token",
    "bot": "dev-bot-token",  # acts for demo-bot only
}


def load_protos() -> None:
    """Register every governance service in the default descriptor pool."""
    for name in SERVICES:
        importlib.import_module(f"polytraders.governance.v1.{name}_pb2")


BLOB_HEX_LIMIT = 64
"""Blobs up to this size (hashes, Merkle roots) are kept as hex; longer ones (serialised reports,
strategies, incidents...) by their sha256, which the fixture database's own bytes must match."""


def plain(value: Any) -> Any:
    """A column value as JSON: short bytes as lowercase hex, longer ones as "sha256:<hex>",
    everything else as it is."""
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        return data.hex() if len(data) <= BLOB_HEX_LIMIT else "sha256:" + hashlib.sha256(data).hexdigest()
    return value


def _order(value: Any) -> tuple[bool, Any]:
    return (value is None, value if value is not None else 0)


def table_rows(connection: Connection, table: Table, columns: Sequence[str], key: Sequence[str]) -> list[list[Any]]:
    """Every row of `table` as a list of `columns` values, sorted by `key` (in Python, so the
    order does not depend on the database's collation)."""
    rows = connection.execute(select(*[table.c[name] for name in columns])).all()
    positions = [columns.index(name) for name in key]
    ordered = sorted(rows, key=lambda row: tuple(_order(row[i]) for i in positions))
    return [[plain(value) for value in row] for row in ordered]


def fingerprint(connection: Connection, tables: Iterable[str]) -> tuple[Any, ...]:
    """What changes when anything is written: each table's row count, the archive's last seq, the
    cron schedule's position, and dispatches still running."""
    counts = tuple(connection.execute(text(f"SELECT count(*) FROM {name}")).scalar_one() for name in sorted(tables))
    seq = connection.execute(text("SELECT coalesce(max(seq), 0) FROM report_archive")).scalar_one()
    cron = connection.execute(text("SELECT coalesce(sum(last_scheduled_us), 0) FROM cron_state")).scalar_one()
    running = connection.execute(text("SELECT count(*) FROM cron_dispatches WHERE outcome = 1")).scalar_one()
    return (*counts, seq, cron, running)


def settle(engine: Engine, tables: Iterable[str], *, quiet_seconds: float = 1.0, timeout: float = 120) -> None:
    """Wait until the mesh's background work (followers, cron, publishes) has stopped writing:
    nothing changed for `quiet_seconds` and no cron dispatch is still running."""
    names = list(tables)
    deadline = time.monotonic() + timeout
    last: tuple[Any, ...] | None = None
    since = time.monotonic()
    while True:
        with engine.connect() as connection:
            now = fingerprint(connection, names)
        if now != last:
            last, since = now, time.monotonic()
        elif now[-1] == 0 and time.monotonic() - since >= quiet_seconds:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"the mesh kept writing: {now}")
        time.sleep(0.05)


def digest(message: Message) -> str:
    return hashlib.sha256(message.SerializeToString(deterministic=True)).hexdigest()


def _shape(message: Message, compact: str) -> Any:
    """The answer as JSON; with `compact`, that field (a whole report, whose bytes the archive rows
    already hold) is named by its report_id and the sha256 of its deterministic serialisation."""
    answer = json_format.MessageToDict(message, preserving_proto_field_name=True)
    if compact:
        inner = getattr(message, compact)
        answer[compact] = {"report_id": inner.header.report_id, "sha256": digest(inner)}
    return answer


def call(
    service: str,
    method: str,
    request: Mapping[str, Any] | None = None,
    *,
    token: str = "auditor",
    take: int = 0,
    compact: str = "",
    note: str = "",
) -> dict[str, Any]:
    """One recorded question: `take` is how many messages of a server stream to read."""
    entry: dict[str, Any] = {"service": f"polytraders.governance.v1.{service}", "method": method,
                             "token": token, "request": dict(request or {})}  # fmt: skip
    if take:
        entry["take"] = take
    if compact:
        entry["compact"] = compact
    if note:
        entry["note"] = note
    return entry


def ask(channel: grpc.Channel, entry: Mapping[str, Any], timeout: float = 60) -> dict[str, Any]:
    """Put a recorded question to a mesh; the answer in the shape it is recorded in."""
    method = descriptor_pool.Default().FindServiceByName(entry["service"]).FindMethodByName(entry["method"])
    request_class = message_factory.GetMessageClass(method.input_type)
    response_class = message_factory.GetMessageClass(method.output_type)
    request = json_format.ParseDict(entry["request"], request_class())
    path = f"/{entry['service']}/{entry['method']}"
    metadata = [("authorization", f"Bearer {TOKENS[entry['token']]}")]
    compact = entry.get("compact", "")
    serializer: Callable[[Message], bytes] = request_class.SerializeToString
    try:
        if method.server_streaming:
            stream = channel.unary_stream(path, serializer, response_class.FromString)(
                request, metadata=metadata, timeout=timeout
            )
            items = []
            for item in stream:
                items.append(_shape(item, compact))
                if len(items) >= entry["take"]:
                    stream.cancel()
                    break
            return {"stream": items}
        response = channel.unary_unary(path, serializer, response_class.FromString)(
            request, metadata=metadata, timeout=timeout
        )
        return {"response": _shape(response, compact)}
    except grpc.RpcError as error:
        return {"error": {"code": error.code().name, "message": error.details()}}
