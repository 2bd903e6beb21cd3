"""Strategy rows: the current state as a serialised `Strategy`, guarded by its revision."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    LargeBinary,
    SmallInteger,
    String,
    Table,
    func,
    insert,
    select,
    update,
)

from polytraders.governance.v1 import lifecycle_pb2 as pb
from polytraders.servers.runtime.errors import AlreadyExists, FailedPrecondition
from polytraders.servers.runtime.storage import metadata

strategies = Table(
    "strategies",
    metadata,
    Column("slug", String(128), primary_key=True),
    Column("stage", SmallInteger, nullable=False),
    Column("revision", BigInteger, nullable=False),
    Column("state", LargeBinary, nullable=False),
)


class StrategyStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def list(self) -> list[pb.Strategy]:
        query = select(strategies.c.state).order_by(strategies.c.slug)
        with self._engine.connect() as conn:
            return [pb.Strategy.FromString(state) for state in conn.execute(query).scalars()]

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


experiments = Table(
    "experiments",
    metadata,
    Column("experiment_id", String(128), primary_key=True),
    Column("state", LargeBinary, nullable=False),
)

experiment_samples = Table(
    "experiment_samples",
    metadata,
    Column("experiment_id", String(128), primary_key=True),
    Column("condition_id", String(130), primary_key=True),
    Column("window_start_us", BigInteger, primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("window_end_us", BigInteger, nullable=False),
    Column("control_value", String(64), nullable=False),
    Column("variant_value", String(64), nullable=False),
)


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

    def add_samples(self, experiment_id: str, samples: list[dict]) -> int:  # type: ignore[type-arg]
        """Insert the samples not recorded yet (by market and window start); returns how many were new."""
        t = experiment_samples
        with self._engine.begin() as conn:
            existing = {
                (c, w) for c, w in conn.execute(select(t.c.condition_id, t.c.window_start_us).where(t.c.experiment_id == experiment_id))
            }  # fmt: skip
            position = conn.execute(
                select(func.count()).where(t.c.experiment_id == experiment_id)
            ).scalar_one()
            fresh = []
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

    def pairs(self, experiment_id: str) -> list[tuple[str, str]]:
        """(control, variant) values in the order they were recorded."""
        t = experiment_samples
        query = (
            select(t.c.control_value, t.c.variant_value)
            .where(t.c.experiment_id == experiment_id)
            .order_by(t.c.position)
        )
        with self._engine.connect() as conn:
            return [(c, v) for c, v in conn.execute(query)]
