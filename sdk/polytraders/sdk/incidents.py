"""`gov.incidents`: how a guard or a monitor bot declares an incident, and how anyone reads one.

Declaring is the only act open to bots; operators run the rest of an incident's life (roles,
notes, resolution, post-mortem) from their consoles.
"""

from __future__ import annotations

from polytraders.governance.v1 import operations_pb2 as pb
from polytraders.governance.v1 import operations_pb2_grpc as pb_grpc

from .families import Family

SEVERITIES = {
    "SEV1": pb.INCIDENT_SEVERITY_SEV1,
    "SEV2": pb.INCIDENT_SEVERITY_SEV2,
    "SEV3": pb.INCIDENT_SEVERITY_SEV3,
}


class IncidentsFamily(Family):
    stub_class = pb_grpc.IncidentCommanderServiceStub
    idempotent = frozenset({"GetIncident", "ListIncidents", "ListOverdueRcas"})

    def declare(self, title: str, severity: str, description: str = "") -> pb.Incident:
        """Declare an incident ("SEV1", "SEV2" or "SEV3"); its auto-actions run at once (SEV1 pauses
        every live strategy and asks execution bots to flatten)."""
        if severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {sorted(SEVERITIES)}, got {severity!r}")
        request = pb.DeclareIncidentRequest(
            title=title, severity=SEVERITIES[severity], description=description
        )
        return self._invoke("DeclareIncident", request, lambda r: r.incident)

    def get(self, incident_id: str) -> pb.Incident:
        return self._invoke(
            "GetIncident", pb.GetIncidentRequest(incident_id=incident_id), lambda r: r.incident
        )

    def list(self, *, open_only: bool = False, limit: int = 0) -> list[pb.Incident]:
        states = [pb.INCIDENT_STATE_OPEN] if open_only else []
        return self._invoke("ListIncidents", pb.ListIncidentsRequest(states=states, limit=limit),
                            lambda r: list(r.incidents))  # fmt: skip
