"""What a caller may send that no servicer should see, answered by the runtime with its own code.

Undecodable request bytes are INVALID_ARGUMENT naming the message type (never UNKNOWN), the
token is checked before the body is decoded, a status quoting a huge value still carries its
real code, and ending a stream early leaves nothing in the log. Every case goes over loopback.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import random
import time
from collections.abc import Callable

import grpc
import pytest
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import DecodeError, Message
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from polytraders.governance.v1 import lifecycle_pb2, lifecycle_pb2_grpc
from polytraders.governance.v1 import report_bus_pb2 as pb
from polytraders.governance.v1 import report_bus_pb2_grpc as pb_grpc
from polytraders.sdk.report_builders import ReportBuilder
from polytraders.servers.mesh import MeshThread
from polytraders.servers.runtime import auth
from polytraders.servers.runtime.bus_service import ACCESS
from polytraders.servers.runtime.errors import (
    FieldViolation,
    GovernanceError,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from polytraders.servers.runtime.interceptors import (
    DESCRIPTION_LIMIT,
    FIELD_LIMIT,
    MAX_VIOLATIONS,
    MESSAGE_LIMIT,
)
from polytraders.servers.runtime.server import ServiceBinding, start_server
from tests.conftest import DEV_TOKENS
from tests.support.rpc_catalog import governance_methods

OPERATOR = [("authorization", "Bearer dev-operator-token")]
DEADLINE = 10.0


METHODS = governance_methods()
_PLACEHOLDER = "\N{SNOWMAN}placeholder"


def _with_placeholder(message: Message, depth: int = 0) -> bool:
    """Set the first string field found (depth first, through nested messages) to the placeholder."""
    fields = message.DESCRIPTOR.fields
    for field in fields:
        if field.type == FieldDescriptor.TYPE_STRING:
            if field.is_repeated:
                getattr(message, field.name).append(_PLACEHOLDER)
            else:
                setattr(message, field.name, _PLACEHOLDER)
            return True
    for field in fields:
        if (
            depth < 5
            and field.type == FieldDescriptor.TYPE_MESSAGE
            and not field.message_type.GetOptions().map_entry
        ):
            inner = getattr(message, field.name).add() if field.is_repeated else getattr(message, field.name)
            if _with_placeholder(inner, depth + 1):
                return True
    return False


def _placeholder_wire(request_type: Descriptor) -> bytes | None:
    """A valid request of this type holding the placeholder in a string field (None: it has none)."""
    message = message_factory.GetMessageClass(request_type)()
    return message.SerializeToString() if _with_placeholder(message) else None


def _bad_utf8(request_type: Descriptor) -> bytes | None:
    wire = _placeholder_wire(request_type)
    if wire is None:
        return None
    encoded = _PLACEHOLDER.encode()
    return wire.replace(encoded, b"\xc3\x28" + b"x" * (len(encoded) - 2))  # same length, not UTF-8


def _truncated(request_type: Descriptor) -> bytes:
    wire = _placeholder_wire(request_type)
    return wire[:-3] if wire is not None else b"\x0a\x05ab"  # field 1 promises 5 bytes, 2 follow


UNDECODABLE: dict[str, Callable[[Descriptor], bytes | None]] = {
    "random bytes": lambda _: random.Random(32).randbytes(64),
    "a truncated message": _truncated,
    "bad UTF-8 in a string field": _bad_utf8,
    "a 2^31 length prefix": lambda _: b"\x0a\x80\x80\x80\x80\x08" + b"x" * 8,
}


def _path(method: MethodDescriptor) -> str:
    return f"/{method.containing_service.full_name}/{method.name}"


def _send_raw(
    channel: grpc.Channel, method: MethodDescriptor, wire: bytes, metadata: list[tuple[str, str]]
) -> grpc.RpcError | None:
    """Send `wire` as the request, as bytes nothing checked; the error it got (None: it was answered)."""
    try:
        if method.server_streaming:
            list(channel.unary_stream(_path(method))(wire, metadata=metadata, timeout=DEADLINE))
        else:
            channel.unary_unary(_path(method))(wire, metadata=metadata, timeout=DEADLINE)
    except grpc.RpcError as error:
        return error
    return None


def _bad_request(error: grpc.RpcError) -> list[error_details_pb2.BadRequest.FieldViolation]:
    status = rpc_status.from_call(error)
    found: list[error_details_pb2.BadRequest.FieldViolation] = []
    for detail in status.details if status else ():
        bad_request = error_details_pb2.BadRequest()
        if detail.Unpack(bad_request):
            found.extend(bad_request.field_violations)
    return found


@pytest.mark.parametrize("kind", list(UNDECODABLE))
def test_undecodable_request_bytes_are_invalid_argument_naming_the_type_on_every_rpc(
    mesh: MeshThread, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Unary, server-streaming and PublishReports' own wire path alike, never UNKNOWN."""
    wrong: list[str] = []
    sent = 0
    with grpc.insecure_channel(mesh.address) as channel:
        for method in METHODS:
            wire = UNDECODABLE[kind](method.input_type)
            if wire is None:
                continue  # no string field to spoil
            with pytest.raises(DecodeError):  # the case itself is sound: the bytes do not parse
                message_factory.GetMessageClass(method.input_type).FromString(wire)
            sent += 1
            error = _send_raw(channel, method, wire, OPERATOR)
            code = error.code() if error else grpc.StatusCode.OK
            details = error.details() if error else ""
            if (
                code != grpc.StatusCode.INVALID_ARGUMENT
                or f"not a valid {method.input_type.full_name}" not in details
                or [v.field for v in _bad_request(error)] != ["request"]
            ):
                wrong.append(f"{_path(method)}: {code.name} {details[:120]}")
    assert sent >= 50
    assert wrong == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


@pytest.mark.parametrize(
    ("metadata", "methods", "code"),
    [
        pytest.param([], METHODS, grpc.StatusCode.UNAUTHENTICATED, id="no token"),
        pytest.param(
            [("authorization", "Bearer not-a-known-token")],
            METHODS,
            grpc.StatusCode.UNAUTHENTICATED,
            id="an unknown token",
        ),
        pytest.param(
            [("authorization", "Bearer dev-bot-token")],
            [m for m in METHODS if m.name == "PurgeExpiredReports"],
            grpc.StatusCode.PERMISSION_DENIED,
            id="a bot token on an operator's RPC",
        ),
    ],
)
def test_the_token_is_checked_before_the_request_bytes_are_decoded(
    mesh: MeshThread, metadata: list[tuple[str, str]], methods: list[MethodDescriptor], code: grpc.StatusCode
) -> None:
    garbage = b"\x0a\x80\x80\x80\x80\x08" + b"x" * 8
    with grpc.insecure_channel(mesh.address) as channel:
        got = {_path(m): _send_raw(channel, m, garbage, metadata) for m in methods}
    assert methods
    assert {path: error and error.code() for path, error in got.items()} == dict.fromkeys(got, code)


@pytest.mark.parametrize(
    ("slug", "code", "quoted"),
    [
        ("s" * 100_000, grpc.StatusCode.INVALID_ARGUMENT, None),  # past the edge's 128 characters
        ("s" * 128, grpc.StatusCode.NOT_FOUND, f"no strategy '{'s' * 128}'"),  # the longest held, unknown
    ],
    ids=["100 KB slug", "longest slug held"],
)
def test_a_long_id_reaches_the_caller_with_its_code_and_a_short_message(
    mesh: MeshThread, slug: str, code: grpc.StatusCode, quoted: str | None
) -> None:
    """It came back RESOURCE_EXHAUSTED: the message quoted the whole id, past the metadata limit."""
    with grpc.insecure_channel(mesh.address) as channel:
        with pytest.raises(grpc.RpcError) as refused:
            lifecycle_pb2_grpc.StrategyRegistryServiceStub(channel).GetStrategy(
                lifecycle_pb2.GetStrategyRequest(slug=slug), metadata=OPERATOR, timeout=DEADLINE
            )
    details = refused.value.details()
    assert refused.value.code() == code, details
    assert len(details) <= MESSAGE_LIMIT
    if quoted is not None:
        assert quoted in details
    else:
        assert [v.field for v in _bad_request(refused.value)] == ["slug"]


def _wait_until(mesh: MeshThread, done: Callable[[], bool], seconds: float = 10.0) -> None:
    """Let the mesh's loop run (and the collector finalise what was dropped) until `done`."""
    ends = time.monotonic() + seconds
    while not done() and time.monotonic() < ends:
        gc.collect()
        mesh.call(asyncio.sleep(0.05))


def test_a_call_whose_deadline_passes_is_logged_as_deadline_exceeded_not_cancelled(
    mesh: MeshThread, caplog: pytest.LogCaptureFixture
) -> None:
    """A live subscription outlives its caller's deadline: the server's record (access log, and the
    metrics and span fed from the same code) says DEADLINE_EXCEEDED, as the caller hears it."""
    caplog.set_level(logging.INFO)
    with grpc.insecure_channel(mesh.address) as channel:
        stream = pb_grpc.ReportBusServiceStub(channel).SubscribeReports(
            pb.SubscribeReportsRequest(), metadata=OPERATOR, timeout=0.3
        )
        with pytest.raises(grpc.RpcError) as ended:
            next(stream)
    assert ended.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED

    def logged() -> list[str]:
        return [r.getMessage() for r in caplog.records if "SubscribeReports" in r.getMessage() and '"code"' in r.getMessage()]

    ends = time.monotonic() + 10
    while not logged() and time.monotonic() < ends:
        mesh.call(asyncio.sleep(0.05))
    assert [json.loads(line)["code"] for line in logged()] == ["DEADLINE_EXCEEDED"]


def test_ending_a_subscription_early_logs_no_context_error(
    mesh: MeshThread, caplog: pytest.LogCaptureFixture
) -> None:
    """The principal set for the stream is reset in the task and context that set it."""
    caplog.set_level(logging.INFO)
    builder = ReportBuilder("demo-bot")
    with grpc.insecure_channel(mesh.address) as channel:
        stub = pb_grpc.ReportBusServiceStub(channel)
        stub.PublishReports(
            pb.PublishReportsRequest(reports=[builder.operations(component="t") for _ in range(3)]),
            metadata=OPERATOR,
            timeout=DEADLINE,
        )
        stream = stub.SubscribeReports(pb.SubscribeReportsRequest(), metadata=OPERATOR, timeout=30)
        next(stream)
        stream.cancel()

        def ended() -> bool:
            return any(
                "SubscribeReports" in r.getMessage() and "CANCELLED" in r.getMessage() for r in caplog.records
            )

        def complained() -> list[str]:
            return [
                r.getMessage() + (str(r.exc_info[1]) if r.exc_info else "")
                for r in caplog.records
                if r.levelno >= logging.ERROR
            ]

        _wait_until(mesh, lambda: ended() or bool(complained()))
    assert complained() == []
    assert ended()  # the stream's end was logged where it ran


class _Refusing(pb_grpc.ReportBusServiceServicer):
    """A servicer whose every call fails with the error a test gives it."""

    def __init__(self, error: GovernanceError) -> None:
        self.error = error

    async def PurgeExpiredReports(self, request, context):
        raise self.error


NAMES = [f"operator-{i:08d}-{'n' * 20}" for i in range(10_000)]  # about 358 KB once joined
FOUR_BYTES = "\N{PILE OF POO}"  # the worst case for the percent-encoded message and the details


@pytest.mark.parametrize(
    ("error", "code"),
    [
        pytest.param(NotFound(f"no strategy {'s' * 100_000!r}"), grpc.StatusCode.NOT_FOUND, id="a 100 KB id"),
        pytest.param(
            NotFound(f"no strategy {FOUR_BYTES * 100_000!r}"),
            grpc.StatusCode.NOT_FOUND,
            id="a 100 K-character id of four-byte characters",
        ),
        pytest.param(
            PermissionDenied(f"ops is not in alpha's authority ({', '.join(NAMES)})"),
            grpc.StatusCode.PERMISSION_DENIED,
            id="a 358 KB list of stored authorities",
        ),
        pytest.param(
            InvalidArgument.field("slugs", f"unknown slugs {NAMES}"),
            grpc.StatusCode.INVALID_ARGUMENT,
            id="a 10,000-element list in a description",
        ),
        pytest.param(
            InvalidArgument([FieldViolation(f"ids[{i}]", f"no id {'i' * 1000!r}") for i in range(10_000)]),
            grpc.StatusCode.INVALID_ARGUMENT,
            id="10,000 field violations",
        ),
        pytest.param(
            InvalidArgument.field(f"parameters[{'k' * 100_000!r}]", FOUR_BYTES * 100_000),
            grpc.StatusCode.INVALID_ARGUMENT,
            id="a 100 KB field path",
        ),
    ],
)
def test_a_status_quoting_a_huge_value_keeps_its_code_and_fits_the_metadata_limit(
    error: GovernanceError, code: grpc.StatusCode
) -> None:
    async def scenario() -> grpc.aio.AioRpcError:
        binding = ServiceBinding.of(pb, "ReportBusService", _Refusing(error), ACCESS)
        server = await start_server(
            [binding],
            host="127.0.0.1",
            port=0,
            tokens=auth.TokenBook.from_file(DEV_TOKENS),
            max_message_bytes=1 << 20,
        )
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await pb_grpc.ReportBusServiceStub(channel).PurgeExpiredReports(
                        pb.PurgeExpiredReportsRequest(), metadata=OPERATOR, timeout=DEADLINE
                    )
                return refused.value
        finally:
            await server.drain(0)

    refused = asyncio.run(scenario())
    assert refused.code() == code
    assert len(refused.details()) <= MESSAGE_LIMIT
    violations = _bad_request(refused)  # also proves the details agree with the message
    assert len(violations) <= MAX_VIOLATIONS
    assert all(len(v.field) <= FIELD_LIMIT and len(v.description) <= DESCRIPTION_LIMIT for v in violations)
    assert bool(violations) == isinstance(error, InvalidArgument)
