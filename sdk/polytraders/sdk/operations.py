"""`gov.cron`, `gov.fleet`, `gov.slos`: governance's own operations, read by operators and auditors."""

from __future__ import annotations

from polytraders.governance.v1 import operations_pb2 as pb
from polytraders.governance.v1 import operations_pb2_grpc as pb_grpc

from .families import Family, Mode, remote


class CronFamily(Family[pb_grpc.CronRunnerServiceStub, Mode]):
    stub_class = pb_grpc.CronRunnerServiceStub
    idempotent = frozenset({"ListSchedule", "ListDispatches"})

    @remote
    def schedule(self) -> list[pb.CronTask]:
        """Every task with its last and next firing, in manifest order."""
        return self._invoke(self._rpc.ListSchedule, pb.ListScheduleRequest(), lambda r: list(r.tasks))

    @remote
    def runs(self, task: str = "", *, limit: int = 0) -> list[pb.Dispatch]:
        """Past dispatches, newest first."""
        request = pb.ListDispatchesRequest(task=task, limit=limit)
        return self._invoke(self._rpc.ListDispatches, request, lambda r: list(r.dispatches))

    @remote
    def trigger(self, task: str, *, timeout: float | None = None) -> pb.Dispatch:
        """Fire a task now, out of schedule (operators); returns once it finished."""
        request = pb.TriggerNowRequest(task=task)
        return self._invoke(self._rpc.TriggerNow, request, lambda r: r.dispatch, timeout=timeout)


class FleetHealthFamily(Family[pb_grpc.HealthHeartbeatServiceStub, Mode]):
    stub_class = pb_grpc.HealthHeartbeatServiceStub
    idempotent = frozenset({"GetFleetHealth"})

    @remote
    def health(self, layer: str = "") -> pb.FleetHealth:
        """The fleet as the last heartbeat sweep saw it."""
        return self._invoke(
            self._rpc.GetFleetHealth, pb.GetFleetHealthRequest(layer=layer), lambda r: r.fleet
        )


class SlosFamily(Family[pb_grpc.SlaMonitorServiceStub, Mode]):
    stub_class = pb_grpc.SlaMonitorServiceStub
    idempotent = frozenset({"ListSlos"})

    @remote
    def list(self) -> list[pb.SloStatus]:
        """Every objective with its error budget left and burn rates, as last evaluated."""
        return self._invoke(self._rpc.ListSlos, pb.ListSlosRequest(), lambda r: list(r.slos))
