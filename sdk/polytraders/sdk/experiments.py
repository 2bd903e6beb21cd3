"""`gov.experiments`: read experiments and their always-valid results; operators create and feed them."""

from __future__ import annotations

from collections.abc import Iterable

from polytraders.governance.v1 import lifecycle_pb2 as pb
from polytraders.governance.v1 import lifecycle_pb2_grpc as pb_grpc

from .families import Family, Mode, remote


class ExperimentsFamily(Family[pb_grpc.ExperimentTrackerServiceStub, Mode]):
    stub_class = pb_grpc.ExperimentTrackerServiceStub
    # Samples are keyed by market and window, so re-sending them is harmless.
    idempotent = frozenset({"GetExperiment", "ListExperiments", "RecordSamples"})

    @remote
    def get(self, experiment_id: str) -> pb.Experiment:
        request = pb.GetExperimentRequest(experiment_id=experiment_id)
        return self._invoke(self._rpc.GetExperiment, request, lambda r: r.experiment)

    @remote
    def list(self) -> list[pb.Experiment]:
        return self._invoke(
            self._rpc.ListExperiments, pb.ListExperimentsRequest(), lambda r: list(r.experiments)
        )

    @remote
    def create(self, experiment: pb.Experiment) -> pb.Experiment:
        request = pb.CreateExperimentRequest(experiment=experiment)
        return self._invoke(self._rpc.CreateExperiment, request, lambda r: r.experiment)

    @remote
    def record_samples(
        self, experiment_id: str, samples: Iterable[pb.MatchedSample]
    ) -> pb.RecordSamplesResponse:
        request = pb.RecordSamplesRequest(experiment_id=experiment_id, samples=list(samples))
        return self._invoke(self._rpc.RecordSamples, request)
