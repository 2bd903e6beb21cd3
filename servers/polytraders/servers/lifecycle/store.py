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
