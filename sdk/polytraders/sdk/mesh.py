"""`gov.mesh`: what a governance process serves, and (operators) a group's command run on it."""

from __future__ import annotations

from collections.abc import Mapping

from polytraders.governance.v1 import mesh_pb2 as pb
from polytraders.governance.v1 import mesh_pb2_grpc as pb_grpc

from .families import Family, Mode, remote


class MeshFamily(Family[pb_grpc.MeshServiceStub, Mode]):
    stub_class = pb_grpc.MeshServiceStub
    idempotent = frozenset({"DescribeProcess"})

    @remote
    def describe(self) -> pb.DescribeProcessResponse:
        """The groups, services and commands of the process that answers, and the duties it leads."""
        return self._invoke(self._rpc.DescribeProcess, pb.DescribeProcessRequest())

    @remote
    def run_command(self, name: str, arguments: Mapping[str, str] | None = None) -> str:
        """Run a command of a group the answering process serves (e.g. "reports.purge"); what it did."""
        request = pb.RunCommandRequest(name=name, arguments=dict(arguments or {}))
        return self._invoke(self._rpc.RunCommand, request, lambda r: r.detail)
