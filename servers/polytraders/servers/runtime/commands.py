"""Governance operations the scheduler (and other groups) may run, as each bot group offers them.

A process runs the commands of the groups it serves itself; a command of a group it does not
serve goes, when the service map says where that group is, to a process that serves it
(`MeshService/RunCommand`), so any split of the groups works as one process does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from functools import partial

from polytraders.governance.v1 import mesh_pb2, mesh_pb2_grpc
from polytraders.sdk.clock import to_timestamp

from .peers import Peers

Command = Callable[[Mapping[str, str], datetime], Awaitable[str]]
"""(the task's arguments, the moment it was scheduled for) → what it did, in words. A caller's
mistake raises a GovernanceError; the dispatch is then recorded as failed with that message."""

COMMAND_GROUPS = {
    "reports": "reports",
    "registry": "lifecycle",
    "attribution": "attribution",
    "pnl": "ledger",
    "slo": "operations",
    "incidents": "operations",
}
"""The group whose commands a name's prefix ("registry.pause" → lifecycle) names."""


class Commands:
    """The commands this process can run: its own groups', then any other group's the service
    map can reach."""

    def __init__(self, peers: Peers | None = None) -> None:
        self.local: dict[str, Command] = {}
        self._peers = peers or Peers()

    def __setitem__(self, name: str, command: Command) -> None:
        self.local[name] = command

    def group_elsewhere(self, name: str) -> str | None:
        """The group that serves `name` in another process, if the service map names one."""
        group = COMMAND_GROUPS.get(name.partition(".")[0])
        if name in self.local or group is None or not self._peers.serve(group):
            return None
        return group

    def get(self, name: str) -> Command | None:
        """The command, resolved when it runs (a group built later in this process still wins)."""
        if name in self.local or self.group_elsewhere(name):
            return partial(self.run, name)
        return None

    async def run(self, name: str, arguments: Mapping[str, str], scheduled: datetime) -> str:
        command = self.local.get(name)
        if command is not None:
            return await command(arguments, scheduled)
        group = self.group_elsewhere(name)
        if group is None:
            raise LookupError(f"no group of this mesh provides governance:{name}")
        request = mesh_pb2.RunCommandRequest(name=name, arguments=dict(arguments), scheduled_at=to_timestamp(scheduled))
        response = await self._peers.call(group, lambda channel: mesh_pb2_grpc.MeshServiceStub(channel).RunCommand(
            request, metadata=self._peers.metadata, timeout=self._peers.timeout))  # fmt: skip
        return f"{response.detail} (run by the {group} group's process)"
