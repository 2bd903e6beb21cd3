"""MeshService: what one process serves, and the commands it runs for processes of other groups."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from polytraders.governance.v1 import mesh_pb2 as pb
from polytraders.governance.v1 import mesh_pb2_grpc as pb_grpc
from polytraders.sdk.clock import Clock, from_timestamp

from . import auth
from .commands import Commands
from .errors import InvalidArgument, NotFound
from .leadership import HOLDER
from .requests import ServicerContext
from .server import ServiceBinding

ACCESS = {"DescribeProcess": auth.READ, "RunCommand": auth.OPERATE}
MESH_SERVICE = pb.DESCRIPTOR.services_by_name["MeshService"].full_name


class MeshServicer(pb_grpc.MeshServiceServicer):
    def __init__(
        self, groups: Sequence[str], services: Callable[[], list[str]], commands: Commands,
        leads: Callable[[], set[str]], clock: Clock, metrics_address: str = "",
    ) -> None:  # fmt: skip
        self._metrics_address = metrics_address
        self._groups = list(groups)
        self._services = services
        self._commands = commands
        self._leads = leads
        self._clock = clock

    async def DescribeProcess(
        self, request: pb.DescribeProcessRequest, context: ServicerContext
    ) -> pb.DescribeProcessResponse:
        return pb.DescribeProcessResponse(
            groups=self._groups, services=sorted(self._services()), commands=sorted(self._commands.local),
            leads=sorted(self._leads()), holder=HOLDER, metrics_address=self._metrics_address,
        )  # fmt: skip

    async def RunCommand(
        self, request: pb.RunCommandRequest, context: ServicerContext
    ) -> pb.RunCommandResponse:
        if not request.name:
            raise InvalidArgument.field("name", "is required")
        command = self._commands.local.get(request.name)
        if command is None:  # never sent on: a process runs only what its own groups offer
            raise NotFound(f"this process serves no command {request.name!r}; it serves {sorted(self._commands.local)}")
        scheduled = from_timestamp(request.scheduled_at) or self._clock.now()
        return pb.RunCommandResponse(detail=await command(dict(request.arguments), scheduled))


def mesh_binding(servicer: MeshServicer) -> ServiceBinding:
    return ServiceBinding.of(pb, "MeshService", servicer, ACCESS)
