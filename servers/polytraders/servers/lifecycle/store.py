"""Strategy rows: the current state as a serialised `Strategy`, guarded by its revision."""

from __future__ import annotations

import builtins
from typing import TypedDict

from sqlalchemy import (
    BigInteger,
    Engine,
    LargeBinary,
    SmallInteger,
    String,
    func,
    insert,
    select,
    update,
)
from sqlmodel import Field, SQLModel

from polytraders.governance.v1 import lifecycle_pb2 as pb
from polytraders.servers.runtime.errors import AlreadyExists, FailedPrecondition
from polytraders.servers.runtime.storage import table_of


class StrategyRow(SQLModel, table=True):
    __tablename__ = "strategies"

    slug: str = Field(sa_type=String(128), primary_key=True)
    stage: int = Field(sa_type=SmallInteger)
    revision: int = Field(sa_type=BigInteger)
    state: bytes = Field(sa_type=LargeBinary)


strategies = table_of(StrategyRow)

class StrategyStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def list(self) -> list[pb.Strategy]:
        query = select(strategies.c.state).order_by(strategies.c.slug)
        with self._engine.connect() as conn:
            return [pb.Strategy.FromString(state) for state in conn.execute(query).scalars()]

    def get(self, slug: str) -> pb.Strategy | None:
        query = select(strategies.c.state).where(strategies.c.slug == slug)
        with self._engine.connect() as conn:
            state = conn.execute(query).scalar()
        return None if state is None else pb.Strategy.FromString(state)

    def create(self, strategy: pb.Strategy) -> None:
        row = {"slug": strategy.slug, "stage": strategy.stage, "revision": strategy.revision,
               "state": strategy.SerializeToString(deterministic=True)}  # fmt: skip
        with self._engine.begin() as conn:
            if conn.execute(select(strategies.c.slug).where(strategies.c.slug == strategy.slug)).first():
                raise AlreadyExists(f"strategy {strategy.slug!r} is already registered")
            conn.execute(insert(strategies), row)

    def replace(self, strategy: pb.Strategy) -> None:
        """Store `strategy` if nobody changed it since it was read (its revision is one ahead)."""
        with self._engine.begin() as conn:
            changed = conn.execute(
                update(strategies)
                .where(strategies.c.slug == strategy.slug, strategies.c.revision == strategy.revision - 1)
                .values(
                    stage=strategy.stage,
                    revision=strategy.revision,
                    state=strategy.SerializeToString(deterministic=True),
                )  # fmt: skip
            ).rowcount
        if changed != 1:
            raise FailedPrecondition(f"strategy {strategy.slug!r} changed meanwhile; read it again and retry")


class ExperimentRow(SQLModel, table=True):
    __tablename__ = "experiments"

    experiment_id: str = Field(sa_type=String(128), primary_key=True)
    state: bytes = Field(sa_type=LargeBinary)


experiments = table_of(ExperimentRow)


class ExperimentSampleRow(SQLModel, table=True):
    __tablename__ = "experiment_samples"

    experiment_id: str = Field(sa_type=String(128), primary_key=True)
    condition_id: str = Field(sa_type=String(130), primary_key=True)
    window_start_us: int = Field(sa_type=BigInteger, primary_key=True)
    position: int = Field(sa_type=BigInteger)
    window_end_us: int = Field(sa_type=BigInteger)
    control_value: str = Field(sa_type=String(64))
    variant_value: str = Field(sa_type=String(64))


experiment_samples = table_of(ExperimentSampleRow)


class SampleRow(TypedDict):
    """A matched sample's row of experiment_samples, less the experiment and position `add_samples` adds."""

    condition_id: str
    window_start_us: int
    window_end_us: int
    control_value: str
    variant_value: str


class ExperimentStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def create(self, experiment: pb.Experiment) -> None:
        with self._engine.begin() as conn:
            known = experiments.c.experiment_id == experiment.experiment_id
            if conn.execute(select(experiments.c.experiment_id).where(known)).first():
                raise AlreadyExists(f"experiment {experiment.experiment_id!r} exists already")
            conn.execute(insert(experiments), {"experiment_id": experiment.experiment_id,
                                                "state": experiment.SerializeToString(deterministic=True)})  # fmt: skip

    def get(self, experiment_id: str) -> pb.Experiment | None:
        query = select(experiments.c.state).where(experiments.c.experiment_id == experiment_id)
        with self._engine.connect() as conn:
            state = conn.execute(query).scalar_one_or_none()
        return None if state is None else pb.Experiment.FromString(state)

    def list(self) -> list[pb.Experiment]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(experiments.c.state).order_by(experiments.c.experiment_id)).scalars()
            return [pb.Experiment.FromString(state) for state in rows]

    def save(self, experiment: pb.Experiment) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                update(experiments)
                .where(experiments.c.experiment_id == experiment.experiment_id)
                .values(state=experiment.SerializeToString(deterministic=True))
            )

    def add_samples(self, experiment_id: str, samples: builtins.list[SampleRow]) -> int:
        """Insert the samples not recorded yet (by market and window start); returns how many were new."""
        t = experiment_samples
        with self._engine.begin() as conn:
            existing = {
                (c, w) for c, w in conn.execute(select(t.c.condition_id, t.c.window_start_us).where(t.c.experiment_id == experiment_id))
            }  # fmt: skip
            position = conn.execute(
                select(func.count()).where(t.c.experiment_id == experiment_id)
            ).scalar_one()
            fresh: list[dict[str, object]] = []
            for sample in samples:
                key = (sample["condition_id"], sample["window_start_us"])
                if key not in existing:
                    existing.add(key)
                    fresh.append(
                        {**sample, "experiment_id": experiment_id, "position": position + len(fresh)}
                    )
            if fresh:
                conn.execute(insert(t), fresh)
        return len(fresh)

    def pairs(self, experiment_id: str) -> builtins.list[tuple[str, str]]:
        """(control, variant) values in the order they were recorded."""
        t = experiment_samples
        query = (
            select(t.c.control_value, t.c.variant_value)
            .where(t.c.experiment_id == experiment_id)
            .order_by(t.c.position)
        )
        with self._engine.connect() as conn:
            return [(c, v) for c, v in conn.execute(query)]
