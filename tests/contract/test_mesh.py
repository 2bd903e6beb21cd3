"""MeshService on any target: it says what the process serves, and runs only its own groups'
commands, for operators, refusing anything else with its exact code and field."""

from __future__ import annotations

import grpc
import pytest

from polytraders.governance.v1 import mesh_pb2 as pb
from polytraders.governance.v1 import mesh_pb2_grpc as pb_grpc
from tests.contract.conftest import DEADLINE, Target
from tests.contract.rpc import violations


def _mesh(target: Target) -> pb_grpc.MeshServiceStub:
    return pb_grpc.MeshServiceStub(target.channel)


def test_a_process_says_what_it_serves(target: Target) -> None:
    described = _mesh(target).DescribeProcess(
        pb.DescribeProcessRequest(), metadata=target.metadata("auditor"), timeout=DEADLINE
    )
    assert described.groups and described.holder
    assert "polytraders.governance.v1.MeshService" in described.services
    assert "grpc.health.v1.Health" in described.services
    if "reports" in described.groups:
        assert "polytraders.governance.v1.ReportBusService" in described.services
        assert "reports.purge" in described.commands


def test_an_operator_runs_a_command_of_a_group_the_process_serves(target: Target) -> None:
    described = _mesh(target).DescribeProcess(
        pb.DescribeProcessRequest(), metadata=target.metadata("auditor"), timeout=DEADLINE
    )
    if "reports.purge" not in described.commands:
        pytest.skip("this process does not serve the reports group")
    ran = _mesh(target).RunCommand(
        pb.RunCommandRequest(name="reports.purge"), metadata=target.metadata("operator"), timeout=DEADLINE
    )
    assert ran.detail.startswith("purged "), ran.detail


BAD_COMMANDS = [
    ("no name", "operator", pb.RunCommandRequest(), grpc.StatusCode.INVALID_ARGUMENT, "name"),
    ("NUL in name", "operator", pb.RunCommandRequest(name="reports.\x00"), grpc.StatusCode.INVALID_ARGUMENT, "name"),
    ("name too long", "operator", pb.RunCommandRequest(name="r" * 257), grpc.StatusCode.INVALID_ARGUMENT, "name"),
    ("argument key too long", "operator", pb.RunCommandRequest(name="reports.purge", arguments={"k" * 257: "v"}),
     grpc.StatusCode.INVALID_ARGUMENT, "arguments"),
    ("no such command", "operator", pb.RunCommandRequest(name="nothing.here"), grpc.StatusCode.NOT_FOUND, None),
    ("an auditor", "auditor", pb.RunCommandRequest(name="reports.purge"), grpc.StatusCode.PERMISSION_DENIED, None),
    ("a bot", "bot", pb.RunCommandRequest(name="reports.purge"), grpc.StatusCode.PERMISSION_DENIED, None),
    ("no token", None, pb.RunCommandRequest(name="reports.purge"), grpc.StatusCode.UNAUTHENTICATED, None),
]  # fmt: skip


@pytest.mark.parametrize(("case", "role", "request_", "code", "field"), BAD_COMMANDS, ids=[c[0] for c in BAD_COMMANDS])
def test_a_bad_command_is_refused_with_its_code_and_field(
    target: Target, case: str, role: str | None, request_: pb.RunCommandRequest, code: grpc.StatusCode,
    field: str | None,
) -> None:  # fmt: skip
    with pytest.raises(grpc.RpcError) as refused:
        _mesh(target).RunCommand(request_, metadata=target.metadata(role), timeout=DEADLINE)
    assert refused.value.code() == code, refused.value.details()
    if field is not None:
        assert any(path.startswith(field) for path in violations(refused.value)), violations(refused.value)
