"""The edge's limits (`request_limits`): what the storage layer and the domain cannot hold is
refused with INVALID_ARGUMENT naming the field, the same on SQLite and PostgreSQL, and stores
nothing. One case per defect found by trying every RPC with hostile values, each over a served
mesh on both backends; then the columns fast path against the walk, and the `.proto` comments
against the limits they state.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from polytraders.governance.v1 import attribution_pb2 as attribution
from polytraders.governance.v1 import audit_pb2 as audit
from polytraders.governance.v1 import ledger_pb2 as ledger
from polytraders.governance.v1 import lifecycle_pb2 as lifecycle
from polytraders.governance.v1 import operations_pb2 as operations
from polytraders.governance.v1 import report_bus_pb2 as bus
from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk.report_builders import ReportBuilder
from polytraders.servers.lifecycle.experiments import ExperimentTracker
from polytraders.servers.mesh import MeshThread
from polytraders.servers.runtime import request_limits
from polytraders.servers.runtime.bus_service import parse_cursor
from polytraders.servers.runtime.errors import InvalidArgument
from polytraders.servers.runtime.request_limits import (
    AMOUNT,
    CURSOR,
    JSON,
    MAX_REPORT_BYTES,
    check_request,
    limit_text,
    rule_for,
)
from polytraders.servers.runtime.requests import WireRequest
from tests.conftest import REPO
from tests.contract.rpc import violations
from tests.support.rpc_catalog import governance_methods

OPERATOR = [("authorization", "Bearer dev-operator-token")]
BOT = [("authorization", "Bearer dev-bot-token")]
DEADLINE = 20.0
YEAR_10000 = 253_402_300_800  # 10000-01-01T00:00:00Z, seconds
MARKET = "0x" + "ab" * 32
START = datetime(2026, 11, 1, tzinfo=UTC)
STRATEGY = "tests.servers.lifecycle.test_backtest:SignalFollower"


@dataclass(frozen=True)
class Rpc:
    service: str
    method: str
    response: type[Message]
    streaming: bool = False

    @property
    def path(self) -> str:
        return f"/polytraders.governance.v1.{self.service}/{self.method}"


def _rpc(module: Any, service: str, method: str) -> Rpc:
    descriptor = module.DESCRIPTOR.services_by_name[service].methods_by_name[method]
    response = getattr(module, descriptor.output_type.name)
    return Rpc(service, method, response, descriptor.server_streaming)


def call(
    channel: grpc.Channel, rpc: Rpc, request: Message, metadata: list[tuple[str, str]] | None = None
) -> Any:
    metadata = OPERATOR if metadata is None else metadata
    if rpc.streaming:
        stub = channel.unary_stream(
            rpc.path, request_serializer=type(request).SerializeToString, response_deserializer=rpc.response.FromString
        )
        return list(stub(request, metadata=metadata, timeout=DEADLINE))
    stub = channel.unary_unary(
        rpc.path, request_serializer=type(request).SerializeToString, response_deserializer=rpc.response.FromString
    )
    return stub(request, metadata=metadata, timeout=DEADLINE)


def _ts(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def _sample(hour: int = 0, control: str = "100", variant: str = "90", **fields: Any) -> lifecycle.MatchedSample:
    window = START + timedelta(hours=hour)
    sample = lifecycle.MatchedSample(
        condition_id=MARKET, window_start=_ts(window), window_end=_ts(window + timedelta(hours=1)),
        control_value=control, variant_value=variant,
    )  # fmt: skip
    for name, value in fields.items():
        if isinstance(value, Message):
            getattr(sample, name).CopyFrom(value)
        else:
            setattr(sample, name, value)
    return sample


def _fill(token: str, trade: str, **metrics: str) -> rpb.Report:
    return ReportBuilder("arb-1", bot_class="execution").execution(
        event=rpb.EXECUTION_EVENT_FILL, trade_id=trade, condition_id=MARKET, token_id=token, side=rpb.SIDE_BUY,
        price="0.5", filled_size_micros=10_000_000, builder_code="0x" + "cd" * 32, matched_at=_ts(START),
        metrics=metrics,
    )  # fmt: skip


# What each case reads before and after: a refused request leaves every one of them as it was.
READS: dict[str, tuple[Rpc, Message]] = {
    "strategies": (_rpc(lifecycle, "StrategyRegistryService", "ListStrategies"), lifecycle.ListStrategiesRequest()),
    "experiments": (_rpc(lifecycle, "ExperimentTrackerService", "ListExperiments"), lifecycle.ListExperimentsRequest()),
    "backtests": (_rpc(lifecycle, "BacktesterService", "ListBacktests"), lifecycle.ListBacktestsRequest(limit=1000)),
    "positions": (_rpc(ledger, "PnLReporterService", "ListPositions"), ledger.ListPositionsRequest(include_closed=True)),
    "pnl": (_rpc(ledger, "PnLReporterService", "GetPnl"), ledger.GetPnlRequest()),
    "incidents": (_rpc(operations, "IncidentCommanderService", "ListIncidents"), operations.ListIncidentsRequest(limit=1000)),
    "user actions": (_rpc(audit, "UserActivityLedgerService", "ListUserActions"), audit.ListUserActionsRequest(limit=1000)),
    "ledger": (_rpc(audit, "ComplianceLedgerService", "VerifyLedger"), audit.VerifyLedgerRequest()),
}  # fmt: skip
EVERYTHING = tuple(READS)


def _archive(channel: grpc.Channel) -> bytes:
    """The cursor of every archived report, read until the stream has had nothing for a moment."""
    subscribe = _rpc(bus, "ReportBusService", "SubscribeReports")
    stub = channel.unary_stream(
        subscribe.path, request_serializer=bus.SubscribeReportsRequest.SerializeToString,
        response_deserializer=subscribe.response.FromString,
    )  # fmt: skip
    cursors = []
    try:
        for item in stub(bus.SubscribeReportsRequest(), metadata=OPERATOR, timeout=1.0):
            cursors.append(item.cursor)
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    return ",".join(cursors).encode()


def snapshot(channel: grpc.Channel, reads: tuple[str, ...]) -> dict[str, bytes]:
    """What the reads answer once the mesh is quiet (followers materialise from the bus)."""
    def once() -> dict[str, bytes]:
        answers = {name: call(channel, *READS[name]).SerializeToString(deterministic=True)
                   for name in reads if name in READS}  # fmt: skip
        if "archive" in reads:
            answers["archive"] = _archive(channel)
        return answers

    previous, ends = once(), time.monotonic() + 10
    while time.monotonic() < ends:
        time.sleep(0.1)
        current = once()
        if current == previous:
            return current
        previous = current
    return previous


# -- the world every case starts from ---------------------------------------------------------


REGISTRY = "StrategyRegistryService"
EXPERIMENTS = "ExperimentTrackerService"
PNL = "PnLReporterService"


@pytest.fixture
def world(mesh: MeshThread) -> Iterator[grpc.Channel]:
    """Two registered strategies in SHADOW, an experiment on them with one sample, a position in
    "no-a" and a conversion of it (id "conv-1") already booked."""
    with grpc.insecure_channel(mesh.address) as channel:
        for slug in ("control", "variant"):
            call(channel, _rpc(lifecycle, REGISTRY, "RegisterStrategy"),
                 lifecycle.RegisterStrategyRequest(slug=slug, owner="alpha", version="1", reason="test"))  # fmt: skip
            for stage in (lifecycle.STAGE_BACKTEST, lifecycle.STAGE_PAPER, lifecycle.STAGE_SHADOW):
                call(channel, _rpc(lifecycle, REGISTRY, "PromoteStrategy"),
                     lifecycle.PromoteStrategyRequest(slug=slug, to_stage=stage, reason="ready"))  # fmt: skip
        call(channel, _rpc(lifecycle, EXPERIMENTS, "CreateExperiment"), lifecycle.CreateExperimentRequest(
            experiment=lifecycle.Experiment(
                experiment_id="exp", control_slug="control", variant_slug="variant", mode=lifecycle.EXPERIMENT_MODE_SHADOW,
                metric="pnl_micros_per_hour", minimum_detectable_effect="0.5", alpha="0.05",
            )))  # fmt: skip
        call(channel, _rpc(lifecycle, EXPERIMENTS, "RecordSamples"),
             lifecycle.RecordSamplesRequest(experiment_id="exp", samples=[_sample(0)]))  # fmt: skip
        call(channel, _rpc(ledger, PNL, "RecordFill"), ledger.RecordFillRequest(report=_fill("no-a", "t-1")))
        call(channel, _rpc(ledger, PNL, "RecordConversion"), CONVERSION)
        yield channel


CONVERSION = ledger.RecordConversionRequest(
    bot_slug="arb-1", from_no_token_ids=["no-a"], amount_micros=1_000_000, conversion_id="conv-1",
    to_yes=[ledger.OutcomeToken(condition_id=MARKET, token_id="yes-b")],
)  # fmt: skip


# -- the cases ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    rpc: Rpc
    request: Callable[[], Message]
    field: str
    """The field path the refusal must name."""
    reads: tuple[str, ...] = EVERYTHING
    metadata: list[tuple[str, str]] = field(default_factory=lambda: OPERATOR)


def _deep(levels: int) -> str:
    return '{"a":' * levels + "1" + "}" * levels


def _year_10000() -> Timestamp:
    return Timestamp(seconds=YEAR_10000)


def _report_with_explanation(size: int) -> rpb.Report:
    return ReportBuilder("demo-bot").operations(component="x", explanation="y" * size)


def _conversion_retry_with_other_tokens() -> Message:
    retry = ledger.RecordConversionRequest()
    retry.CopyFrom(CONVERSION)
    del retry.to_yes[:]
    retry.to_yes.add(condition_id=MARKET, token_id="yes-never-held")
    return retry


CASES: dict[str, Case] = {
    # PostgreSQL refused NUL characters with INTERNAL (DataError) on read and write paths alike
    "nul in SubscribeReports bot_slugs": Case(_rpc(bus, "ReportBusService", "SubscribeReports"),
                                              lambda: bus.SubscribeReportsRequest(bot_slugs=["demo\x00bot"]), "bot_slugs[0]"),
    "nul in GetReconciliation": Case(_rpc(attribution, "BuilderAttributionService", "GetReconciliation"),
                                     lambda: attribution.GetReconciliationRequest(reconciliation_id="r\x00"), "reconciliation_id"),
    "nul in ListFills": Case(_rpc(attribution, "BuilderAttributionService", "ListFills"),
                             lambda: attribution.ListFillsRequest(condition_id="0x\x00"), "condition_id"),
    "nul in ListQuarantine": Case(_rpc(attribution, "BuilderAttributionService", "ListQuarantine"),
                                  lambda: attribution.ListQuarantineRequest(condition_id="0x\x00"), "condition_id"),
    "nul in ReleaseQuarantine": Case(_rpc(attribution, "BuilderAttributionService", "ReleaseQuarantine"),
                                     lambda: attribution.ReleaseQuarantineRequest(case_id="c\x00", reason="r"), "case_id"),
    "nul in VerifyLedger": Case(_rpc(audit, "ComplianceLedgerService", "VerifyLedger"),
                                lambda: audit.VerifyLedgerRequest(stream="s\x00"), "stream"),
    "nul in GetConfigAt": Case(_rpc(audit, "ParameterChangeAuditService", "GetConfigAt"),
                               lambda: audit.GetConfigAtRequest(bot_slug="demo\x00", at=_ts(START)), "bot_slug"),
    "nul in ListChanges": Case(_rpc(audit, "ParameterChangeAuditService", "ListChanges"),
                               lambda: audit.ListChangesRequest(bot_slug="demo-bot", key="k\x00"), "key"),
    "nul in ListUserActions": Case(_rpc(audit, "UserActivityLedgerService", "ListUserActions"),
                                   lambda: audit.ListUserActionsRequest(user="u\x00"), "user"),
    "nul in RecordMark": Case(_rpc(ledger, PNL, "RecordMark"),
                              lambda: ledger.RecordMarkRequest(token_id="t\x00", best_bid="0.4", best_ask="0.5"), "token_id"),
    "nul in RecordConversion": Case(_rpc(ledger, PNL, "RecordConversion"),
                                    lambda: ledger.RecordConversionRequest(bot_slug="arb-1", from_no_token_ids=["no-a\x00"]),
                                    "from_no_token_ids[0]"),
    "nul in Explain": Case(_rpc(ledger, "PostTradeExplainerService", "Explain"),
                           lambda: ledger.ExplainRequest(fill_report_id="f\x00"), "fill_report_id"),
    "nul in ListExplanations": Case(_rpc(ledger, "PostTradeExplainerService", "ListExplanations"),
                                    lambda: ledger.ListExplanationsRequest(trace_id="t\x00"), "trace_id"),
    "nul in GetExperiment": Case(_rpc(lifecycle, EXPERIMENTS, "GetExperiment"),
                                 lambda: lifecycle.GetExperimentRequest(experiment_id="exp\x00"), "experiment_id"),
    "nul in RecordSamples": Case(_rpc(lifecycle, EXPERIMENTS, "RecordSamples"),
                                 lambda: lifecycle.RecordSamplesRequest(experiment_id="exp", samples=[_sample(1, condition_id="0x\x00")]),
                                 "samples[0].condition_id"),
    "nul in GetBacktest": Case(_rpc(lifecycle, "BacktesterService", "GetBacktest"),
                               lambda: lifecycle.GetBacktestRequest(backtest_id="b\x00"), "backtest_id"),
    "nul in StreamBacktestReports": Case(_rpc(lifecycle, "BacktesterService", "StreamBacktestReports"),
                                         lambda: lifecycle.StreamBacktestReportsRequest(backtest_id="b\x00"), "backtest_id"),
    "nul in GetIncident": Case(_rpc(operations, "IncidentCommanderService", "GetIncident"),
                               lambda: operations.GetIncidentRequest(incident_id="i\x00"), "incident_id"),
    "nul in AddNote": Case(_rpc(operations, "IncidentCommanderService", "AddNote"),
                           lambda: operations.AddNoteRequest(incident_id="i\x00", note="n"), "incident_id"),
    "nul in RecordUserAction target": Case(_rpc(audit, "UserActivityLedgerService", "RecordUserAction"),
                                           lambda: audit.RecordUserActionRequest(action="halt", target="bot\x00"), "target"),
    # values the domain could not compute with (INTERNAL on both backends)
    "RecordSamples decimal.Overflow": Case(
        _rpc(lifecycle, EXPERIMENTS, "RecordSamples"),
        lambda: lifecycle.RecordSamplesRequest(experiment_id="exp", samples=[_sample(1, control="1E+999999999")]),
        "samples[0].control_value",
    ),
    "RecordSamples OverflowError storing a huge window": Case(
        _rpc(lifecycle, EXPERIMENTS, "RecordSamples"),
        lambda: lifecycle.RecordSamplesRequest(
            experiment_id="exp", samples=[_sample(1, window_start=Timestamp(seconds=2**62))]
        ),
        "samples[0].window_start",
    ),
    "RecordSamples a number past 10^18": Case(
        _rpc(lifecycle, EXPERIMENTS, "RecordSamples"),
        lambda: lifecycle.RecordSamplesRequest(experiment_id="exp", samples=[_sample(1, variant="9" * 60)]),
        "samples[0].variant_value",
    ),
    "StartBacktest ValueError in start": Case(
        _rpc(lifecycle, "BacktesterService", "StartBacktest"),
        lambda: lifecycle.StartBacktestRequest(
            strategy=STRATEGY, token_ids=["1"], window_start=_ts(START),
            window_end=Timestamp(seconds=YEAR_10000 + 3600),
        ),  # fmt: skip
        "window_end",
    ),
    "StartBacktest RecursionError on nested parameters": Case(
        _rpc(lifecycle, "BacktesterService", "StartBacktest"),
        lambda: lifecycle.StartBacktestRequest(strategy=STRATEGY, parameters_json=_deep(5000)),
        "parameters_json",
    ),
    "StartPaperSession RecursionError on nested parameters": Case(
        _rpc(lifecycle, "PaperTradeService", "StartPaperSession"),
        lambda: lifecycle.StartPaperSessionRequest(strategy=STRATEGY, parameters_json=_deep(5000)),
        "parameters_json",
    ),
    "RecordUserAction RecursionError on nested details": Case(
        _rpc(audit, "UserActivityLedgerService", "RecordUserAction"),
        lambda: audit.RecordUserActionRequest(action="halt", details_json=_deep(5000)),
        "details_json",
    ),
    "RecordFill ValueError in the book": Case(
        _rpc(ledger, PNL, "RecordFill"),
        lambda: ledger.RecordFillRequest(report=_fill("no-a", "t-2", taker_fee_micros="\N{SUPERSCRIPT TWO}")),
        "report.execution.metrics",
    ),
    "RecordConversion KeyError": Case(_rpc(ledger, PNL, "RecordConversion"), _conversion_retry_with_other_tokens, "conversion_id"),
    "CheckLiveCap a resulting position past int64": Case(
        _rpc(lifecycle, REGISTRY, "CheckLiveCap"),
        lambda: lifecycle.CheckLiveCapRequest(slug="variant", position_micros=2**62, position_change_micros=2**62),
        "position_micros",
    ),
    "SubscribeReports cursor past int64": Case(_rpc(bus, "ReportBusService", "SubscribeReports"),
                                               lambda: bus.SubscribeReportsRequest(cursor="9" * 19), "cursor"),
    "SubscribeReports malformed cursor": Case(_rpc(bus, "ReportBusService", "SubscribeReports"),
                                              lambda: bus.SubscribeReportsRequest(cursor="\N{SUPERSCRIPT TWO}"), "cursor"),
    # operator calls that answered OK while their user-activity record could not be written
    "LinkArtefact linked_at in year 10000": Case(
        _rpc(lifecycle, REGISTRY, "LinkArtefact"),
        lambda: lifecycle.LinkArtefactRequest(slug="variant", artefact=lifecycle.Artefact(
            kind=lifecycle.ARTEFACT_KIND_BACKTEST_RUN, ref="run-1", linked_at=_year_10000())),  # fmt: skip
        "artefact.linked_at",
    ),
    "RecordDriftSignal raised_at in year 10000": Case(
        _rpc(lifecycle, REGISTRY, "RecordDriftSignal"),
        lambda: lifecycle.RecordDriftSignalRequest(slug="variant", signal=lifecycle.DriftSignal(
            experiment_id="exp", explanation="worse", open=True, raised_at=_year_10000())),  # fmt: skip
        "signal.raised_at",
    ),
    "CreateExperiment created_at in year 10000": Case(
        _rpc(lifecycle, EXPERIMENTS, "CreateExperiment"),
        lambda: lifecycle.CreateExperimentRequest(experiment=lifecycle.Experiment(
            experiment_id="exp-2", control_slug="control", variant_slug="variant", mode=lifecycle.EXPERIMENT_MODE_SHADOW,
            metric="pnl", minimum_detectable_effect="0.5", alpha="0.05", created_at=_year_10000())),  # fmt: skip
        "experiment.created_at",
    ),
    "RecordSamples window_end in year 10000": Case(
        _rpc(lifecycle, EXPERIMENTS, "RecordSamples"),
        lambda: lifecycle.RecordSamplesRequest(experiment_id="exp", samples=[_sample(1, window_end=_year_10000())]),
        "samples[0].window_end",
    ),
    "an operator call under a session id the ledger cannot hold": Case(
        _rpc(lifecycle, REGISTRY, "PauseStrategy"),
        lambda: lifecycle.PauseStrategyRequest(slug="variant", reason="r", source=lifecycle.PAUSE_SOURCE_OPERATOR),
        "x-polytraders-session",
        metadata=[*OPERATOR, ("x-polytraders-session", "s" * 1000)],
    ),
    # sizes
    "a report with an 8 MiB explanation": Case(
        _rpc(bus, "ReportBusService", "PublishReports"),
        lambda: bus.PublishReportsRequest(reports=[_report_with_explanation(8 * 1024 * 1024)]),
        "reports[0]",
        reads=("archive",),
        metadata=BOT,
    ),
    "a report with a 20 KB explanation": Case(
        _rpc(bus, "ReportBusService", "PublishReports"),
        lambda: bus.PublishReportsRequest(
            reports=[ReportBuilder("demo-bot").operations(component="x"), _report_with_explanation(20_000)]
        ),
        "reports[1].operations.explanation",
        reads=("archive",),
        metadata=BOT,
    ),
    "EndSession with a 100,000-character session id": Case(
        _rpc(audit, "UserActivityLedgerService", "EndSession"),
        lambda: audit.EndSessionRequest(session_id="s" * 100_000),
        "session_id",
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", list(CASES))
def test_each_defect_is_refused_naming_the_field_and_storing_nothing(world: grpc.Channel, name: str) -> None:
    case = CASES[name]
    before = snapshot(world, case.reads)
    with pytest.raises(grpc.RpcError) as refused:
        call(world, case.rpc, case.request(), case.metadata)
    error = refused.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert case.field in violations(error), violations(error)
    assert snapshot(world, case.reads) == before


def test_a_valid_sample_after_a_refused_hostile_one_is_recorded(world: grpc.Channel) -> None:
    record = _rpc(lifecycle, EXPERIMENTS, "RecordSamples")
    with pytest.raises(grpc.RpcError) as refused:
        call(world, record, lifecycle.RecordSamplesRequest(experiment_id="exp", samples=[_sample(1, control="1E+999999999")]))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    reply = call(world, record, lifecycle.RecordSamplesRequest(experiment_id="exp", samples=[_sample(1), _sample(2)]))
    assert (reply.accepted_count, reply.duplicate_count, reply.experiment.result.samples) == (2, 0, 3)


@pytest.mark.parametrize("cursor", [str(2**63), "9" * 19, "\N{SUPERSCRIPT TWO}", "1" * 20])
def test_the_bus_refuses_a_cursor_outside_int64_or_of_other_digits_itself(cursor: str) -> None:
    with pytest.raises(InvalidArgument):
        parse_cursor(cursor)


def test_record_samples_refuses_a_value_it_could_not_compute_with_before_storing_anything() -> None:
    """The tracker's own check, whoever calls it: nothing reaches the store unvalidated."""
    hostile = [_sample(1), _sample(2, control="1E+999999999"), _sample(3, variant="1E-40")]
    with pytest.raises(InvalidArgument) as refused:
        ExperimentTracker._sample_rows(hostile)
    assert [v.field for v in refused.value.violations] == ["samples[1].control_value", "samples[2].variant_value"]


# -- the rules themselves -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "text", "fine"),
    [
        (AMOUNT, "123.45", True),
        (AMOUNT, "-1e3", True),
        (AMOUNT, "1E+999999999", False),
        (AMOUNT, "1E-40", False),
        (AMOUNT, "NaN", False),
        (AMOUNT, "Infinity", False),
        (AMOUNT, "abc", False),
        (AMOUNT, "9" * 18, True),
        (AMOUNT, "9" * 19, False),
        (JSON, '{"a": [1, 2, {"b": null}]}', True),
        (JSON, _deep(32), True),
        (JSON, _deep(33), False),
        (JSON, "[" * 100_000 + "]" * 100_000, False),
        (JSON, '{"a": NaN}', False),
        (JSON, '{"a": 1e999}', False),
        (JSON, "{", False),
        (CURSOR, "0", True),
        (CURSOR, str(2**63 - 1), True),
        (CURSOR, str(2**63), False),
        (CURSOR, "\N{SUPERSCRIPT TWO}", False),
        (CURSOR, "-1", False),
        (CURSOR, "1 ", False),
    ],
)
def test_content_rules(content: request_limits.Content, text: str, fine: bool) -> None:
    assert (content.problem(text) is None) is fine


def test_deep_json_is_measured_before_anything_parses_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """A parser recurses once per level: with the interpreter's recursion limit raised (as some
    libraries do) a deep enough document overflows the C stack and takes the whole server down.
    So the depth is counted first, and only a document within it is parsed."""
    parsed: list[str] = []
    monkeypatch.setattr(request_limits.json, "loads", lambda text, **_: parsed.append(text))
    assert JSON.problem("[" * 1_000_000 + "]" * 1_000_000) == "nests deeper than 32 levels"
    assert JSON.problem('["' + "[" * 100 + '"]') is None  # brackets inside a string do not nest
    assert JSON.problem(r'["\\"' + "[" * 100 + '"]') == "nests deeper than 32 levels"  # the quote after an escaped backslash ends the string
    assert parsed == ['["' + "[" * 100 + '"]']


def _publish(*reports: rpb.Report) -> WireRequest:
    message = bus.PublishReportsRequest(reports=reports)
    wire = message.SerializeToString(deterministic=True)
    return WireRequest(bus.PublishReportsRequest.FromString(wire), wire)


def _observation(**fields: Any) -> rpb.Report:
    return ReportBuilder("demo-bot").observation(**fields)


def _with_header(**fields: Any) -> rpb.Report:
    report = ReportBuilder("demo-bot").operations(component="x")
    for name, value in fields.items():
        if isinstance(value, Message):
            getattr(report.header, name).CopyFrom(value)
        else:
            setattr(report.header, name, value)
    return report


GOOD = [ReportBuilder("demo-bot").operations(component="x", metrics={"a": ""}) for _ in range(3)]
BATCHES: dict[str, tuple[list[rpb.Report], str | None]] = {
    "ordinary reports": (GOOD, None),
    "a NUL in a metric's key": ([*GOOD, ReportBuilder("demo-bot").operations(component="x", metrics={"a\x00": "1"})],
                                "reports[3].operations.metrics['a\\x00'].key"),
    "a NUL in a body's string": ([*GOOD, _observation(source="clob\x00")], "reports[3].observation.source"),
    "a NUL in the header": ([_with_header(trace_id="t\x00"), *GOOD], "reports[0].header.trace_id"),
    "a 2 KB trace id": ([*GOOD, _with_header(trace_id="t" * 2000)], "reports[3].header.trace_id"),
    "an explanation over its limit": ([*GOOD, _observation(explanation="x" * 16_385)], "reports[3].observation.explanation"),
    "an explanation at its limit": ([*GOOD, _observation(explanation="\N{SNOWMAN}" * 16_384)], None),
    "a report over its size": ([*GOOD, _observation(explanation="x" * 10, metrics={f"m{i}": "1" * 1000 for i in range(1100)})],
                               "reports[3]"),
    "a book side over its count": ([_observation(bids=[rpb.BookLevel(price="0.1")] * 10_001)],
                                   "reports[0].observation.bids"),
    "a book side at its count": ([_observation(bids=[rpb.BookLevel(price="0.1")] * 10_000)], None),
    "produced in year 10000": ([*GOOD, _with_header(produced_at=Timestamp(seconds=YEAR_10000))],
                               "reports[3].header.produced_at"),
    "observed before year 1": ([_observation(observed_at=Timestamp(seconds=-62_135_596_801))],
                               "reports[0].observation.observed_at"),
    "negative nanos": ([_observation(observed_at=Timestamp(seconds=1, nanos=-1))], "reports[0].observation.observed_at"),
    "details that are not JSON": ([ReportBuilder("demo-bot").settlement(record_type="x", details_json="{")],
                                  "reports[0].settlement.details_json"),
}  # fmt: skip


@pytest.mark.parametrize("name", list(BATCHES))
def test_a_batch_is_refused_exactly_when_the_walk_finds_a_fault(name: str) -> None:
    """The columns read from the bytes let through only what the walk would: each batch is
    checked both ways, and a refusal names the very field."""
    reports, path = BATCHES[name]
    request = _publish(*reports)
    walked = request_limits.request_problems(request.message)
    assert [v.field for v in walked][:1] == ([path] if path else [])
    if path is None:
        check_request(request)
    else:
        with pytest.raises(InvalidArgument) as refused:
            check_request(request)
        assert path in [v.field for v in refused.value.violations]


def test_ordinary_batches_pass_on_their_columns_without_a_walk() -> None:
    """The publish path's cost: a batch of ordinary reports is never walked field by field."""
    fills = [
        ReportBuilder(f"bot-{i % 7}").execution(
            event=rpb.EXECUTION_EVENT_FILL, order_id=f"0x{i:064x}", condition_id=MARKET, token_id="7" * 77,
            side=rpb.SIDE_BUY, price="0.43", size_micros=25_000_000, builder_code="0x" + "cd" * 32,
            explanation="filled at the touch", trace_id=str(i), metrics={"taker_fee_micros": "1250"},
        )
        for i in range(500)
    ]  # fmt: skip
    for reports in (GOOD, fills, [*fills, _observation(bids=[rpb.BookLevel(price="0.1", size_micros=5)] * 100)]):
        request = _publish(*reports)
        assert request_limits._columns_pass(request.message, request.wire)


def test_a_refusal_names_at_most_a_handful_of_fields() -> None:
    many = lifecycle.RecordSamplesRequest(samples=[_sample(i, condition_id="\x00") for i in range(500)])
    with pytest.raises(InvalidArgument) as refused:
        check_request(many)
    assert len(refused.value.violations) == request_limits.MAX_VIOLATIONS


def test_no_report_the_sdk_would_send_is_refused_for_its_size() -> None:
    from polytraders.sdk.publisher import PublisherConfig

    assert PublisherConfig().max_report_bytes <= MAX_REPORT_BYTES


# -- the limits as the .proto comments state them ------------------------------------------------


def _comments() -> dict[str, str]:
    """Each field's leading comment, by full name, read from the .proto sources."""
    protos = sorted(str(p.relative_to(REPO / "proto")) for p in (REPO / "proto").rglob("*.proto"))
    out = subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{REPO / 'proto'}", "--include_source_info",
         "--descriptor_set_out=/dev/stdout", *protos],
        check=True, capture_output=True, cwd=REPO,
    ).stdout  # fmt: skip
    found: dict[str, str] = {}

    def visit(messages: Any, prefix: str, path: tuple[int, ...], comments: dict[tuple[int, ...], str]) -> None:
        for i, message in enumerate(messages):
            name = f"{prefix}.{message.name}"
            for j, f in enumerate(message.field):
                found[f"{name}.{f.name}"] = " ".join(comments.get((*path, i, 2, j), "").split())
            visit(message.nested_type, name, (*path, i, 3), comments)

    for file in descriptor_pb2.FileDescriptorSet.FromString(out).file:
        comments = {tuple(loc.path): loc.leading_comments for loc in file.source_code_info.location}
        visit(file.message_type, file.package, (4,), comments)
    return found


def _request_fields() -> list[FieldDescriptor]:
    """Every field of every message a request can carry (map entries stand for their map)."""
    seen: set[str] = set()
    fields: list[FieldDescriptor] = []

    def visit(message: Any) -> None:
        if message.full_name in seen or message.full_name.startswith("google.protobuf."):
            return
        seen.add(message.full_name)
        for f in message.fields:
            fields.append(f)
            if f.type == FieldDescriptor.TYPE_MESSAGE and not f.message_type.GetOptions().map_entry:
                visit(f.message_type)

    for method in governance_methods():
        visit(method.input_type)
    return fields


def test_every_request_field_states_its_limits_in_its_proto_comment() -> None:
    comments = _comments()
    missing = [
        f"{f.full_name}: {limit_text(f)!r}"
        for f in _request_fields()
        if limit_text(f) and limit_text(f) not in comments.get(f.full_name, "")
    ]
    assert missing == []


def test_a_limit_is_within_what_its_column_holds() -> None:
    """The narrow columns a request's value is stored in as it came (not through the bus)."""
    widths = {
        "polytraders.governance.v1.RecordUserActionRequest.session_id": 64,
        "polytraders.governance.v1.RecordUserActionRequest.action": 128,
        "polytraders.governance.v1.RecordUserActionRequest.target": 256,
        "polytraders.governance.v1.EndSessionRequest.session_id": 64,
        "polytraders.governance.v1.MatchedSample.condition_id": 130,
        "polytraders.governance.v1.MatchedSample.control_value": 64,
        "polytraders.governance.v1.MatchedSample.variant_value": 64,
        "polytraders.governance.v1.RecordMarkRequest.token_id": 80,
        "polytraders.governance.v1.RecordConversionRequest.bot_slug": 128,
        "polytraders.governance.v1.OutcomeToken.condition_id": 80,
        "polytraders.governance.v1.OutcomeToken.token_id": 80,
        "polytraders.governance.v1.RegisterStrategyRequest.slug": 128,
    }
    by_name = {f.full_name: f for f in _request_fields()}
    too_wide = {name: rule_for(by_name[name]).chars for name, width in widths.items()
                if (rule_for(by_name[name]).chars or width + 1) > width}  # fmt: skip
    assert too_wide == {}
