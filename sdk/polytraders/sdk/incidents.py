"""`gov.incidents`: how a guard or a monitor bot declares an incident, and how anyone reads one.

Declaring is the only act open to bots; operators run the rest of an incident's life (roles,
notes, resolution, post-mortem).
"""

from __future__ import annotations

from collections.abc import Iterable

from polytraders.governance.v1 import operations_pb2 as pb
from polytraders.governance.v1 import operations_pb2_grpc as pb_grpc

from .families import Family, Mode, remote

SEVERITIES = {
    "SEV1": pb.INCIDENT_SEVERITY_SEV1,
    "SEV2": pb.INCIDENT_SEVERITY_SEV2,
    "SEV3": pb.INCIDENT_SEVERITY_SEV3,
}


def open_first(incidents: Iterable[pb.Incident]) -> list[pb.Incident]:
    """Open incidents first, the worst first; otherwise in the order given (newest first, as listed)."""
    return sorted(incidents, key=lambda i: (i.state != pb.INCIDENT_STATE_OPEN, i.severity))


class IncidentsFamily(Family[pb_grpc.IncidentCommanderServiceStub, Mode]):
    stub_class = pb_grpc.IncidentCommanderServiceStub
    idempotent = frozenset({"GetIncident", "ListIncidents", "ListOverdueRcas"})

    @remote
    def declare(self, title: str, severity: str, description: str = "") -> pb.Incident:
        """Declare an incident ("SEV1", "SEV2" or "SEV3"); its auto-actions run at once (SEV1 pauses
        every live strategy and asks execution bots to flatten)."""
        if severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {sorted(SEVERITIES)}, got {severity!r}")
        request = pb.DeclareIncidentRequest(
            title=title, severity=SEVERITIES[severity], description=description
        )
        return self._invoke(self._rpc.DeclareIncident, request, lambda r: r.incident)

    @remote
    def get(self, incident_id: str) -> pb.Incident:
        return self._invoke(
            self._rpc.GetIncident, pb.GetIncidentRequest(incident_id=incident_id), lambda r: r.incident
        )

    @remote
    def list(self, *, open_only: bool = False, limit: int = 0) -> list[pb.Incident]:
        states = [pb.INCIDENT_STATE_OPEN] if open_only else []
        return self._invoke(self._rpc.ListIncidents, pb.ListIncidentsRequest(states=states, limit=limit),
                            lambda r: list(r.incidents))  # fmt: skip

    # Operator verbs (a bot token gets PermissionDeniedError).

    @remote
    def assign_role(self, incident_id: str, role: str, holder: str) -> pb.Incident:
        """Give `holder` a role ("commander" is who acknowledged the page and runs the response)."""
        request = pb.AssignRoleRequest(incident_id=incident_id, role=role, holder=holder)
        return self._invoke(self._rpc.AssignRole, request, lambda r: r.incident)

    @remote
    def add_note(self, incident_id: str, note: str) -> pb.Incident:
        return self._invoke(
            self._rpc.AddNote, pb.AddNoteRequest(incident_id=incident_id, note=note), lambda r: r.incident
        )

    @remote
    def resolve(self, incident_id: str, resolution: str) -> pb.Incident:
        """The impact is over; the post-mortem is still to come."""
        request = pb.ResolveIncidentRequest(incident_id=incident_id, resolution=resolution)
        return self._invoke(self._rpc.ResolveIncident, request, lambda r: r.incident)
