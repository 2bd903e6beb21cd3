"""What every governance process counts for the SLOs: its unary calls, per SLO and UTC minute.

Counted in every process, whatever groups it serves, and added to `slo_minutes` (additive upserts:
processes never overwrite each other's counts) every `slo_flush_seconds`; SLAMonitor, in the
process that serves it, evaluates the table. A call is bad when the server failed it; a caller's
mistake is good.
"""

from __future__ import annotations

import asyncio
import tomllib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import grpc
from sqlalchemy import BigInteger, Engine, Integer, String
from sqlmodel import Field, SQLModel

from polytraders.governance.v1 import operations_pb2 as pb
from polytraders.sdk.clock import Clock

from .storage import insert_for, table_of

DEFAULT_SLOS = Path(__file__).with_name("default_slos.toml")
FLEET = "fleet"
SERVER_FAULTS = frozenset({grpc.StatusCode.INTERNAL, grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNKNOWN,
                           grpc.StatusCode.DATA_LOSS, grpc.StatusCode.DEADLINE_EXCEEDED})  # fmt: skip


class SloMinuteRow(SQLModel, table=True):
    __tablename__ = "slo_minutes"

    slo: str = Field(sa_type=String(128), primary_key=True)
    minute: int = Field(sa_type=BigInteger, primary_key=True)
    good: int = Field(sa_type=Integer)
    total: int = Field(sa_type=Integer)


slo_minutes = table_of(SloMinuteRow)


@dataclass(frozen=True)
class Slo:
    name: str
    service: str
    """A full gRPC service name, or "fleet" for HealthHeartbeat sweeps."""
    kind: pb.SloKind.ValueType
    objective: Decimal
    latency_threshold_ms: int = 0
    window: timedelta = timedelta(days=30)


def parse_slos(text: str, source: str = "SLO manifest") -> list[Slo]:
    """`[[slo]]` tables: name, service, kind (availability | latency), objective, latency_threshold_ms, window_days."""
    slos: list[Slo] = []
    for i, entry in enumerate(tomllib.loads(text).get("slo", [])):
        where = f"{source}: [[slo]] #{i}"
        try:
            kind = {"availability": pb.SLO_KIND_AVAILABILITY, "latency": pb.SLO_KIND_LATENCY}[entry["kind"]]
            slo = Slo(entry["name"], entry["service"], kind, Decimal(str(entry["objective"])),
                      int(entry.get("latency_threshold_ms", 0)), timedelta(days=int(entry.get("window_days", 30))))  # fmt: skip
        except KeyError as missing:
            raise ValueError(f"{where} has no valid {missing}") from None
        if not Decimal(0) < slo.objective < Decimal(1):
            raise ValueError(f"{where} ({slo.name}): objective must lie strictly between 0 and 1")
        if slo.kind == pb.SLO_KIND_LATENCY and slo.latency_threshold_ms <= 0:
            raise ValueError(f"{where} ({slo.name}): a latency SLO needs latency_threshold_ms > 0")
        if slo.kind == pb.SLO_KIND_LATENCY and slo.service == FLEET:
            raise ValueError(f"{where} ({slo.name}): the fleet has availability SLOs only")
        slos.append(slo)
    return slos


def load_slos(path: str | Path | None) -> list[Slo]:
    """The SLOs of `path`, or governance's defaults."""
    path = path or DEFAULT_SLOS
    return parse_slos(Path(path).read_text(), str(path))


class SloCounter:
    """This process's SLO events since its last flush, per (SLO, UTC minute)."""

    def __init__(self, slos: Sequence[Slo], engine: Engine, clock: Clock) -> None:
        self.slos = list(slos)
        self.engine = engine
        self.clock = clock
        self._by_service: dict[str, list[Slo]] = defaultdict(list)
        for slo in self.slos:
            self._by_service[slo.service].append(slo)
        self._pending: dict[tuple[str, int], list[int]] = {}
        self._flushing = asyncio.Lock()

    def count(self, slo: Slo, good: int, total: int) -> None:
        key = (slo.name, int(self.clock.now().timestamp()) // 60)
        counts = self._pending.setdefault(key, [0, 0])
        counts[0] += good
        counts[1] += total

    def of_service(self, service: str) -> list[Slo]:
        return self._by_service.get(service, [])

    def record_call(self, method: str, code: grpc.StatusCode, seconds: float) -> None:
        """The interceptor's outcome hook: one unary call of `method` ("/pkg.Service/Method")."""
        slos = self._by_service.get(method.split("/")[1])
        if not slos:
            return
        fault = code in SERVER_FAULTS
        for slo in slos:
            if slo.kind == pb.SLO_KIND_AVAILABILITY:
                self.count(slo, 0 if fault else 1, 1)
            else:
                self.count(slo, 0 if fault or seconds * 1000 > slo.latency_threshold_ms else 1, 1)

    async def flush(self) -> None:
        """Add what was counted to the table; on failure it is kept, and added next time."""
        async with self._flushing:
            pending, self._pending = self._pending, {}  # swapped on the loop, where the hooks count
            if not pending:
                return
            try:
                await asyncio.to_thread(self._add, pending)
            except Exception:
                for key, (good, total) in pending.items():
                    counts = self._pending.setdefault(key, [0, 0])
                    counts[0] += good
                    counts[1] += total
                raise

    def _add(self, pending: dict[tuple[str, int], list[int]]) -> None:
        rows = [{"slo": name, "minute": minute, "good": good, "total": total}
                for (name, minute), (good, total) in pending.items()]  # fmt: skip
        with self.engine.begin() as conn:
            statement = insert_for(conn, slo_minutes)
            conn.execute(statement.on_conflict_do_update(
                index_elements=["slo", "minute"],
                set_={"good": slo_minutes.c.good + statement.excluded.good,
                      "total": slo_minutes.c.total + statement.excluded.total},
            ), rows)  # fmt: skip
