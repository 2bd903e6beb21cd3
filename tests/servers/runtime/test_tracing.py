"""OpenTelemetry traces through the SDK, the servers and a cross-group call, recorded by an
in-memory span exporter: one trace id from the operator's span to the process that ran the command."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from polytraders.governance.v1 import operations_pb2 as pb
from polytraders.governance.v1 import operations_pb2_grpc as pb_grpc
from polytraders.governance.v1 import report_bus_pb2 as bus_pb
from polytraders.governance.v1 import report_bus_pb2_grpc as bus_grpc
from polytraders.sdk import Governance, ManualClock, ServiceMap
from polytraders.sdk.tracing import enabled
from polytraders.servers.mesh import MeshThread
from tests.conftest import start_mesh
from tests.support.governance_process import GovernanceProcess
from tests.support.mesh_processes import until
from tests.support.otlp import otlp_receiver

TRIGGER = "/polytraders.governance.v1.CronRunnerService/TriggerNow"
RUN_COMMAND = "/polytraders.governance.v1.MeshService/RunCommand"
SUBSCRIBE = "/polytraders.governance.v1.ReportBusService/SubscribeReports"
CALLER_TRACE, CALLER_SPAN = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"


@pytest.fixture
def traced() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


@pytest.fixture
def split(tmp_path: Path, clock: ManualClock, traced) -> Iterator[tuple[MeshThread, MeshThread]]:
    """Reports on one server, everything else on another that reaches it through the service map
    (both in this process, so one in-memory exporter sees both sides; on SQLite, since PostgreSQL
    holds one lock per process for its leadership)."""
    provider, _ = traced
    database_url = f"sqlite:///{tmp_path / 'governance.db'}"
    reports = start_mesh(database_url, clock, groups=("reports",), tracer_provider=provider)
    rest = start_mesh(database_url, clock, groups=("lifecycle", "audit", "attribution", "ledger", "operations"),
                      targets=ServiceMap.parse(f"reports={reports.address}"), mesh_token="dev-operator-token",
                      tracer_provider=provider)  # fmt: skip
    try:
        yield reports, rest
    finally:
        rest.stop()
        reports.stop()


def test_one_trace_from_the_operators_span_through_both_servers_and_onto_the_report(
    split: tuple[MeshThread, MeshThread], traced
) -> None:
    provider, exporter = traced
    reports, rest = split
    tracer = provider.get_tracer("operator-tool")
    with Governance(ServiceMap.parse(f"reports={reports.address};default={rest.address}"), token="dev-operator-token",
                    bot_slug="demo-bot", tracer_provider=provider) as gov:  # fmt: skip
        with tracer.start_as_current_span("purge the expired reports") as root:
            dispatch = gov.cron.trigger("retention-purge")  # operations runs reports.purge on the other process
            published = gov.builder.decision(strategy_slug="s", explanation="decided inside the span")
            gov.reports.publish_now([published])
        outside = gov.builder.decision(strategy_slug="s", explanation="decided outside any span")
    trace_id = format(root.get_span_context().trace_id, "032x")

    assert dispatch.outcome == pb.DISPATCH_OUTCOME_SUCCEEDED, dispatch.detail
    assert published.header.trace_id == trace_id and outside.header.trace_id == ""
    spans = exporter.get_finished_spans()
    by_name = {}
    for span in spans:
        by_name.setdefault(span.name, []).append(span)
    server_trigger = [s for s in by_name[TRIGGER] if s.kind.name == "SERVER"]
    server_run = [s for s in by_name[RUN_COMMAND] if s.kind.name == "SERVER"]
    assert [format(s.context.trace_id, "032x") for s in server_trigger] == [trace_id]  # the SDK call, on its server
    assert [format(s.context.trace_id, "032x") for s in server_run] == [trace_id]  # the cross-group call, on the other
    client_run = [s for s in by_name[RUN_COMMAND] if s.kind.name == "CLIENT"]  # the operations process's call
    assert [s.context.span_id for s in client_run] == [server_run[0].parent.span_id]


def test_a_stream_is_a_server_span_in_the_callers_trace_ended_with_its_code(
    tmp_path: Path, clock: ManualClock, traced
) -> None:
    provider, exporter = traced
    mesh = start_mesh(f"sqlite:///{tmp_path / 'governance.db'}", clock, groups=("reports",), tracer_provider=provider)
    try:
        with Governance(ServiceMap.parse(f"default={mesh.address}"), token="dev-operator-token", bot_slug="demo-bot") as gov:
            gov.reports.publish_now([gov.builder.decision(strategy_slug="s", explanation="one to read back")])
        with grpc.insecure_channel(mesh.address) as channel:
            stream = bus_grpc.ReportBusServiceStub(channel).SubscribeReports(bus_pb.SubscribeReportsRequest(), metadata=[
                ("authorization", "Bearer dev-auditor-token"), ("traceparent", f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"),
            ])  # fmt: skip
            assert next(stream).report.decision.explanation == "one to read back"
            stream.cancel()
        until(lambda: any(s.name == SUBSCRIBE for s in exporter.get_finished_spans()), "the stream's span ended")
    finally:
        mesh.stop()
    span = next(s for s in exporter.get_finished_spans() if s.name == SUBSCRIBE)
    assert (format(span.context.trace_id, "032x"), format(span.parent.span_id, "016x")) == (CALLER_TRACE, CALLER_SPAN)
    assert span.kind.name == "SERVER"
    assert dict(span.attributes) == {"rpc.system": "grpc", "rpc.service": "polytraders.governance.v1.ReportBusService",
                                     "rpc.method": "SubscribeReports",
                                     "rpc.grpc.status_code": grpc.StatusCode.CANCELLED.value[0]}  # fmt: skip


def test_tracing_is_off_unless_the_otel_variables_turn_it_on() -> None:
    assert not enabled({})
    assert not enabled({"OTEL_TRACES_EXPORTER": "none"})
    assert enabled({"OTEL_TRACES_EXPORTER": "otlp"})
    assert enabled({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317"})
    assert not enabled({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317", "OTEL_SDK_DISABLED": "true"})


def test_a_serve_process_exports_its_spans_by_otlp_when_the_otel_variables_say_so(tmp_path: Path) -> None:
    trace_id = CALLER_TRACE
    with otlp_receiver() as collector:
        settings = {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
                    "OTEL_EXPORTER_OTLP_INSECURE": "true", "OTEL_BSP_SCHEDULE_DELAY": "100", "OTEL_SERVICE_NAME": "gov-a"}  # fmt: skip
        governance = GovernanceProcess(f"sqlite:///{tmp_path / 'governance.db'}", None, env=settings).start()
        try:
            with grpc.insecure_channel(governance.address) as channel:
                pb_grpc.CronRunnerServiceStub(channel).ListSchedule(pb.ListScheduleRequest(), metadata=[
                    ("authorization", "Bearer dev-auditor-token"), ("traceparent", f"00-{trace_id}-{CALLER_SPAN}-01"),
                ])  # fmt: skip
            until(lambda: any(span.trace_id.hex() == trace_id for _, span in collector.spans()),
                  "the ListSchedule span reached the collector")  # fmt: skip
        finally:
            governance.stop()
    resource, span = next((r, s) for r, s in collector.spans() if s.trace_id.hex() == trace_id)
    assert span.name == "/polytraders.governance.v1.CronRunnerService/ListSchedule"
    assert span.parent_span_id.hex() == CALLER_SPAN  # the caller's span, from its traceparent
    assert resource["service.name"] == "gov-a"
