"""Hostile requests against every RPC of a served mesh, on SQLite and PostgreSQL.

Driven by the services' descriptors, so a new RPC is fuzzed without a new test: for each one,
hypothesis builds request messages full of what callers get wrong or send on purpose (NUL and
other odd characters, huge and extreme numbers, NaN, bad enum values, long lists, nested
messages, timestamps past year 9999) and raw bytes that do not decode. Every answer must be a
code the contract allows (never INTERNAL or UNKNOWN), a request answered OK must log no error,
the server must stay healthy, and a refused request must leave every table as it was.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import grpc
import psycopg
import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from polytraders.sdk.clock import ManualClock
from polytraders.servers.mesh import MeshThread
from polytraders.servers.runtime.storage import make_engine
from polytraders.servers.schema.models import metadata
from tests.conftest import POSTGRES_URL, drop_schema, start_mesh
from tests.support.rpc_catalog import governance_methods

OPERATOR = (("authorization", "Bearer dev-operator-token"),)
NEVER = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}
EXAMPLES = 25
"""Generated requests per RPC and backend: the fixed budget that keeps the suite's time bounded."""
CALLED_TABLES = {"slo_minutes"}
"""Tables every call writes to whatever its outcome (SLAMonitor counts refusals too)."""


METHODS = governance_methods()

HOSTILE_TEXT = st.one_of(
    st.sampled_from(["a\x00b", "x" * 100_000, "\x00", "1E+999999999", "[" * 5000 + "]" * 5000, "", "-1",
                     "0" * 40, "NaN", "Infinity", "../../etc/passwd", "{" * 5000, "\ud7ff\ue000\U0010ffff", "🙂" * 300]),
    st.text(max_size=40),
)  # fmt: skip
"""Hostile strings first: hypothesis draws the first branch more often, and its shrinking leans there."""
HOSTILE_INTS = st.one_of(st.integers(-(2**63), 2**63 - 1), st.sampled_from([0, -1, 2**31, 2**63 - 1, -(2**63)]))
HOSTILE_UINTS = st.one_of(st.integers(0, 2**64 - 1), st.sampled_from([0, 2**63, 2**64 - 1]))
HOSTILE_DOUBLES = st.one_of(st.floats(), st.sampled_from([float("nan"), float("inf"), -float("inf"), 1e308, -0.0]))


def _scalar(field: FieldDescriptor) -> st.SearchStrategy[object]:
    kind = field.type
    if kind == FieldDescriptor.TYPE_STRING:
        return HOSTILE_TEXT
    if kind == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=64)
    if kind == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return HOSTILE_DOUBLES if kind == FieldDescriptor.TYPE_DOUBLE else st.floats(width=32)
    if kind == FieldDescriptor.TYPE_ENUM:
        return st.one_of(st.sampled_from([v.number for v in field.enum_type.values]), st.integers(-5, 10_000))
    if kind in (FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32):
        return st.integers(0, 2**32 - 1)
    if kind in (FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SFIXED32):
        return st.integers(-(2**31), 2**31 - 1)
    if kind in (FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64):
        return HOSTILE_UINTS
    return HOSTILE_INTS


def _timestamp() -> st.SearchStrategy[dict[str, int]]:
    return st.fixed_dictionaries({"seconds": st.one_of(st.integers(-(2**40), 2**40), st.sampled_from([253402300800, -62135596801])),
                                  "nanos": st.integers(0, 999_999_999)})  # fmt: skip


def _message(descriptor: Descriptor, depth: int = 0) -> st.SearchStrategy[Message]:
    """A message of `descriptor` with a random subset of its fields set to hostile values."""
    cls = GetMessageClass(descriptor)
    if descriptor.full_name == "google.protobuf.Timestamp":
        return _timestamp().map(lambda values: cls(**values))
    fields: dict[str, st.SearchStrategy[object]] = {}
    for field in descriptor.fields:
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            if field.message_type.GetOptions().map_entry:
                value_field = field.message_type.fields_by_name["value"]
                values = _scalar(value_field) if value_field.type != FieldDescriptor.TYPE_MESSAGE else st.nothing()
                fields[field.name] = st.dictionaries(HOSTILE_TEXT, values, max_size=4)
                continue
            if depth >= 3:
                continue
            single = _message(field.message_type, depth + 1)
        else:
            single = _scalar(field)
        is_repeated = field.is_repeated
        fields[field.name] = st.lists(single, max_size=3 if depth else 5) if is_repeated else single
    chosen = st.fixed_dictionaries({}, optional=fields)

    def build(values: dict[str, object]) -> Message:
        message = cls()
        for name, value in values.items():
            field = descriptor.fields_by_name[name]
            try:
                if field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type.GetOptions().map_entry:
                    getattr(message, name).update(value)
                elif field.is_repeated:
                    getattr(message, name).extend(value)
                elif field.type == FieldDescriptor.TYPE_MESSAGE:
                    getattr(message, name).CopyFrom(value)
                else:
                    setattr(message, name, value)
            except (TypeError, ValueError):  # a value protobuf itself will not hold: leave the field out
                message.ClearField(name)
        return message

    return chosen.map(build)


UNDECODABLE = st.one_of(
    st.binary(min_size=1, max_size=64),
    st.sampled_from([b"\x0a\xff\xff\xff\xff\x0f", b"\x0a\x05ab", b"\x0a\x02\xff\xfe", b"\xff", b"\x08"]),
)


class Served:
    def __init__(self, mesh: MeshThread, engine: Engine) -> None:
        self.mesh = mesh
        self.engine = engine
        self.channel = grpc.insecure_channel(mesh.address, options=[("grpc.max_receive_message_length", 64 << 20)])

    def call(self, method: MethodDescriptor, body: bytes) -> grpc.StatusCode:
        path = f"/{method.containing_service.full_name}/{method.name}"
        if method.server_streaming:
            call = self.channel.unary_stream(path) if not method.client_streaming else self.channel.stream_stream(path)
            stream = call(body if not method.client_streaming else iter([body]), metadata=OPERATOR, timeout=2)
            try:
                for count, _ in enumerate(stream):
                    if count >= 2:
                        stream.cancel()
                        break
                return grpc.StatusCode.OK
            except grpc.RpcError as error:
                return error.code()
        call = self.channel.unary_unary(path) if not method.client_streaming else self.channel.stream_unary(path)
        try:
            call(body if not method.client_streaming else iter([body]), metadata=OPERATOR, timeout=10)
            return grpc.StatusCode.OK
        except grpc.RpcError as error:
            return error.code()

    def settled_rows(self) -> dict[str, int]:
        """The row counts once what an earlier accepted call set going (a follower filing its
        record from the bus) has landed: the same counts three times in a row."""
        seen = [self.rows(), self.rows()]
        for _ in range(200):
            time.sleep(0.01)
            seen.append(self.rows())
            if seen[-1] == seen[-2] == seen[-3]:
                break
        return seen[-1]

    def rows(self) -> dict[str, int]:
        names = sorted(set(metadata.tables) - CALLED_TABLES)
        counts = ", ".join(f"(SELECT count(*) FROM {name})" for name in names)
        with self.engine.connect() as conn:
            return dict(zip(names, conn.execute(text(f"SELECT {counts}")).one(), strict=True))

    def healthy(self) -> bool:
        stub = health_pb2_grpc.HealthStub(self.channel)
        return stub.Check(health_pb2.HealthCheckRequest(), timeout=5).status == health_pb2.HealthCheckResponse.SERVING


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'governance.db'}"
        drop = None
    else:
        request.getfixturevalue("postgres_available")
        schema = f"fuzz_{uuid.uuid4().hex[:10]}"
        parsed = make_url(POSTGRES_URL)
        conninfo = dict(host=parsed.host, port=parsed.port or 5432, user=parsed.username, dbname=parsed.database)
        with psycopg.connect(**conninfo, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        url = parsed.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
        drop = (conninfo, schema)
    mesh = start_mesh(url, ManualClock(datetime(2026, 11, 24, 12, 0, tzinfo=UTC)))
    engine = make_engine(url)
    leadership = mesh.mesh.parts.leadership
    deadline = time.monotonic() + 30
    while "operations.cron" not in (leadership.held if leadership else ()) and time.monotonic() < deadline:
        time.sleep(0.02)  # on PostgreSQL cron starts (and writes its state) once it leads
    served = Served(mesh, engine)
    served.settled_rows()
    yield served
    mesh.stop()
    engine.dispose()
    if drop is not None:
        drop_schema(*drop)


class ErrorLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.mark.parametrize("method", METHODS, ids=[m.full_name.removeprefix("polytraders.governance.v1.") for m in METHODS])
def test_no_hostile_request_gets_internal_or_unknown_or_changes_the_store_when_refused(
    served: Served, method: MethodDescriptor
) -> None:
    errors = ErrorLog()
    logging.getLogger("polytraders").addHandler(errors)
    request = _message(method.input_type).map(lambda message: message.SerializeToString())
    accepted = [True]  # whether the last call may still be changing the store

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(st.one_of(request, UNDECODABLE))
    def answers_exactly(body: bytes) -> None:
        before = served.settled_rows() if accepted[0] else served.rows()
        errors.records.clear()
        code = served.call(method, body)
        accepted[:] = [code in (grpc.StatusCode.OK, grpc.StatusCode.DEADLINE_EXCEEDED)]
        assert code not in NEVER, f"{method.full_name} answered {code.name} to {body[:200]!r}"
        if code == grpc.StatusCode.OK:
            assert [r.getMessage() for r in errors.records] == [], f"{method.full_name} logged errors for an OK call"
        elif code != grpc.StatusCode.DEADLINE_EXCEEDED:
            assert served.rows() == before, f"{method.full_name} refused with {code.name} yet changed the store"
        assert served.healthy()

    try:
        answers_exactly()
    finally:
        logging.getLogger("polytraders").removeHandler(errors)


def test_every_rpc_of_every_group_is_fuzzed() -> None:
    """The list above comes from the descriptors: a new RPC cannot be left out."""
    assert len(METHODS) >= 66
    assert {m.containing_service.name for m in METHODS} >= {"ReportBusService", "StrategyRegistryService",
                                                           "IncidentCommanderService", "PnLReporterService"}  # fmt: skip

