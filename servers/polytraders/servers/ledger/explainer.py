"""PostTradeExplainer: every fill in plain English, from the reports that led to it.

It follows the bus and files every Decision, RiskVote and Execution report under its trace_id.
A FILL is explained from what its trace holds: which strategy (and the stage the registry had it
at when the fill matched), which signal, which guards voted how against what limits, why this
size and price, the fee set at match time and the rebate. Where a link is missing the text says
so, and never supplies a reason; when the missing report arrives later, a correction is published.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Boolean, Engine, Index, LargeBinary, RowMapping, String, Text, select
from sqlmodel import Field, SQLModel

from polytraders.governance.v1 import ledger_pb2 as pb
from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk.clock import from_micros, to_timestamp
from polytraders.sdk.config import canonical_json
from polytraders.servers.runtime.archive import ReportFilter
from polytraders.servers.runtime.bus import ReportBus
from polytraders.servers.runtime.errors import InvalidArgument, NotFound
from polytraders.servers.runtime.reporter import GovernanceReporter
from polytraders.servers.runtime.requests import page_size
from polytraders.servers.runtime.set_aside import SetAside
from polytraders.servers.runtime.storage import AnyRow, table_of, upsert

from .pnl import six_places

log = logging.getLogger(__name__)

FOLLOWER = "post-trade-explainer"
StageAt = Callable[[str, datetime], Awaitable[str | None]]
"""The registry's stage of a strategy at an instant (None when it has no such strategy)."""


class TraceReportRow(SQLModel, table=True):
    __tablename__ = "explainer_trace_reports"
    __table_args__ = (Index("explainer_trace_reports_by_trace", "trace_id"),)

    report_id: str = Field(sa_type=String(36), primary_key=True)
    trace_id: str = Field(sa_type=String(128))
    kind: int = Field(sa_type=BigInteger)
    payload: bytes = Field(sa_type=LargeBinary)


trace_reports = table_of(TraceReportRow)


class ExplanationRow(SQLModel, table=True):
    __tablename__ = "explainer_explanations"
    __table_args__ = (Index("explainer_by_fill", "fill_report_id", "seq"), Index("explainer_by_trace", "trace_id"))

    report_id: str = Field(sa_type=String(36), primary_key=True)
    fill_report_id: str = Field(sa_type=String(36))
    trace_id: str = Field(sa_type=String(128))
    bot_slug: str = Field(sa_type=String(128))
    corrects_report_id: str = Field(sa_type=String(36))
    text: str = Field(sa_type=Text)
    missing: str = Field(sa_type=String(128))
    complete: bool = Field(sa_type=Boolean)
    matched_us: int = Field(sa_type=BigInteger)
    seq: int = Field(sa_type=BigInteger)


explanations = table_of(ExplanationRow)

KINDS = frozenset({rpb.REPORT_KIND_DECISION, rpb.REPORT_KIND_RISK_VOTE, rpb.REPORT_KIND_EXECUTION})
VERDICTS = {rpb.VERDICT_APPROVE: "approved", rpb.VERDICT_REJECT: "rejected", rpb.VERDICT_RESIZE: "resized",
            rpb.VERDICT_ABSTAIN: "abstained"}  # fmt: skip


def shares(micros: int) -> str:
    return f"{Decimal(micros).scaleb(-6).normalize():f}"


def pusd(micros: int) -> str:
    return f"{six_places(micros)} pUSD"


def explain_fill(fill: rpb.Report, trace: list[rpb.Report], stage: str) -> tuple[str, list[str]]:
    """The text of a fill's explanation and the links it lacks; pure, from the reports alone.
    `stage` says where the strategy stood, e.g. " at stage LIMITED_LIVE", or why that is unknown."""
    e, header = fill.execution, fill.header
    side = "bought" if e.side == rpb.SIDE_BUY else "sold"
    liquidity = {rpb.LIQUIDITY_MAKER: "as maker", rpb.LIQUIDITY_TAKER: "as taker"}.get(e.liquidity, "")
    size = e.filled_size_micros or e.size_micros
    matched = (e.matched_at if e.HasField("matched_at") else header.produced_at).ToJsonString()
    parts = [f"At {matched} {header.bot_slug} {side} {shares(size)} shares of token {e.token_id} in market "
             f"{e.condition_id} at {e.price} {liquidity} (trade {e.trade_id or 'unknown'}, order {e.order_id or 'unknown'})."]  # fmt: skip
    missing: list[str] = []
    decisions = [r for r in trace if r.HasField("decision")]
    decision = decisions[-1] if decisions else None
    if decision is None:
        missing.append("decision")
        parts.append(f"No DecisionReport with trace {header.trace_id or '(none)'} reached governance, so which "
                     "strategy decided this trade, on which signal and why, is not known.")  # fmt: skip
    else:
        d = decision.decision
        parts.append(f"Strategy {d.strategy_slug} v{d.strategy_version}{stage} decided it"
                     + (f" on signal {d.signal_name} = {d.signal_value}" if d.signal_name else ", naming no signal")
                     + f": {d.explanation or 'it gave no reason'}.")  # fmt: skip
        asked = (
            f"It asked for {shares(d.size_micros)} shares at {d.price}"
            if d.size_micros
            else "It named no size"
        )
        parts.append(
            asked + (f"; {shares(size)} filled." if d.size_micros and d.size_micros != size else ".")
        )
    votes = [r.risk_vote for r in trace if r.HasField("risk_vote")]
    if not votes:
        missing.append("risk votes")
        parts.append("No guard's RiskVote on this trace reached governance: which checks ran is not known.")
    else:
        described = []
        for v in votes:
            text = f"{v.guard_name} {VERDICTS.get(v.verdict, 'voted')}"
            if v.observed_value or v.limit_value:
                text += f" ({v.observed_value or '?'} against a limit of {v.limit_value or '?'})"
            if v.verdict == rpb.VERDICT_RESIZE:
                text += f" to {shares(v.approved_size_micros)} shares"
            described.append(text)
        parts.append("Guards: " + "; ".join(described) + ".")
    fee = f"The fee, set by the exchange at match time, was {pusd(e.fee_micros)}"
    parts.append(
        fee + (f"; a maker rebate of {pusd(e.rebate_micros)} accrued." if e.rebate_micros else "; no rebate.")
    )
    steps = [r.execution for r in trace if r.HasField("execution") and r.header.report_id != header.report_id]
    tagged = [s for s in steps if s.event == rpb.EXECUTION_EVENT_ORDER_TAGGED]
    if e.builder_code or tagged:
        parts.append(f"The order carried builder code {e.builder_code or tagged[-1].builder_code}.")
    return " ".join(parts), missing


class PostTradeExplainer:
    def __init__(
        self, engine: Engine, bus: ReportBus, reporter: GovernanceReporter, stage_at: StageAt | None
    ) -> None:
        self._engine = engine
        self._bus = bus
        self._reporter = reporter
        self._stage_at = stage_at

    def _file(self, seq: int, report: rpb.Report) -> None:
        with self._engine.begin() as conn:
            upsert(conn, trace_reports, [{"report_id": report.header.report_id, "trace_id": report.header.trace_id,
                                          "kind": report.header.kind, "payload": report.SerializeToString()}],
                   ["report_id"], replace=False)  # fmt: skip

    def _trace(self, trace_id: str) -> list[rpb.Report]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(trace_reports.c.payload).where(trace_reports.c.trace_id == trace_id)
            ).scalars()
            found = [rpb.Report.FromString(payload) for payload in rows]
        return sorted(found, key=lambda r: (r.header.produced_at.ToMicroseconds(), r.header.report_id))

    def _latest(self, fill_report_id: str) -> AnyRow | None:
        e = explanations
        with self._engine.connect() as conn:
            return conn.execute(select(e).where(e.c.fill_report_id == fill_report_id)
                                .order_by(e.c.seq.desc()).limit(1)).first()  # fmt: skip

    def _incomplete_fills(self, trace_id: str) -> list[str]:
        e = explanations
        with self._engine.connect() as conn:
            rows = conn.execute(select(e.c.fill_report_id, e.c.complete, e.c.seq).where(e.c.trace_id == trace_id)
                                .order_by(e.c.seq)).all()  # fmt: skip
        latest = {row.fill_report_id: row.complete for row in rows}
        return [fill for fill, complete in latest.items() if not complete]

    async def explain(self, fill: rpb.Report, seq: int) -> pb.Explanation | None:
        """Explain a fill (or explain it again, when its trace gained a link); None when nothing changed."""
        trace = await asyncio.to_thread(self._trace, fill.header.trace_id) if fill.header.trace_id else []
        e = fill.execution
        matched = e.matched_at if e.HasField("matched_at") else fill.header.produced_at
        decisions = [r for r in trace if r.HasField("decision")]
        stage = ""
        if decisions:
            stage = await self._stage(
                decisions[-1].decision.strategy_slug, from_micros(matched.ToMicroseconds())
            )
        text, missing = explain_fill(fill, trace, stage)
        previous = await asyncio.to_thread(self._latest, fill.header.report_id)
        if previous is not None and previous.text == text:
            return None
        details = {"fill_report_id": fill.header.report_id, "trace_id": fill.header.trace_id, "missing": missing,
                   "linked_reports": [r.header.report_id for r in trace]}  # fmt: skip
        corrects = previous.report_id if previous is not None else ""
        report_id = await self._reporter.record(
            "explain.fill", fill.header.bot_slug, text, canonical_json(details), condition_id=e.condition_id,
            token_id=e.token_id, gross_fee_micros=e.fee_micros, rebate_micros=e.rebate_micros, corrects_report_id=corrects,
        )  # fmt: skip
        row = {"report_id": report_id, "fill_report_id": fill.header.report_id, "trace_id": fill.header.trace_id,
               "bot_slug": fill.header.bot_slug, "corrects_report_id": corrects, "text": text,
               "missing": ",".join(missing), "complete": not missing, "matched_us": matched.ToMicroseconds(), "seq": seq}  # fmt: skip
        await asyncio.to_thread(self._save, row)
        return _message(row)

    async def _stage(self, slug: str, at: datetime) -> str:
        if self._stage_at is None:
            return " (its stage is unknown: no strategy registry is served with this explainer)"
        try:
            stage = await self._stage_at(slug, at)
        except Exception:  # noqa: BLE001 - said in the text, never guessed
            log.exception("stage of %s at %s", slug, at)
            return " (its stage is unknown: the strategy registry could not be read)"
        return f" at stage {stage}" if stage else " (the registry has no record of this strategy)"

    def _save(self, row: dict[str, object]) -> None:
        with self._engine.begin() as conn:
            conn.execute(explanations.insert(), row)

    async def follow(self, set_aside: SetAside) -> None:
        """File every decision, vote and execution by trace; explain fills; re-explain when a link
        arrives; set aside a report that cannot be filed or explained."""
        with self._engine.connect() as conn:
            after = (
                conn.execute(select(explanations.c.seq).order_by(explanations.c.seq.desc()).limit(1)).scalar()
                or 0
            )
        async for archived in self._bus.subscribe(ReportFilter(kinds=KINDS), after_seq=after):
            report = rpb.Report.FromString(archived.payload)
            try:
                if report.header.trace_id:
                    await asyncio.to_thread(self._file, archived.seq, report)
                if report.HasField("execution") and report.execution.event == rpb.EXECUTION_EVENT_FILL:
                    await self.explain(report, archived.seq)
                elif report.header.trace_id:
                    for fill_id in await asyncio.to_thread(self._incomplete_fills, report.header.trace_id):
                        fill = next(r for r in await asyncio.to_thread(self._trace, report.header.trace_id)
                                    if r.header.report_id == fill_id)  # fmt: skip
                        await self.explain(fill, archived.seq)
            except Exception as error:  # noqa: BLE001 - one report must not stop the explanations of all others
                await set_aside.put(FOLLOWER, archived.seq, report, error)

    async def get(self, fill_report_id: str) -> pb.Explanation:
        if not fill_report_id:
            raise InvalidArgument.field("fill_report_id", "is required")
        row = await asyncio.to_thread(self._latest, fill_report_id)
        if row is None:
            raise NotFound(f"no explanation for fill {fill_report_id!r} (yet)")
        return _message(row._mapping)

    async def list(
        self, bot_slug: str, trace_id: str, incomplete_only: bool, limit: int
    ) -> list[pb.Explanation]:
        e = explanations
        query = select(e).order_by(e.c.seq)
        if bot_slug:
            query = query.where(e.c.bot_slug == bot_slug)
        if trace_id:
            query = query.where(e.c.trace_id == trace_id)
        size = page_size(limit)

        def fetch() -> list[pb.Explanation]:
            in_force: dict[str, pb.Explanation] = {}
            with self._engine.connect() as conn:
                for row in conn.execute(query):
                    in_force[row.fill_report_id] = _message(
                        row._mapping
                    )  # later corrections replace earlier text
            chosen = [x for x in in_force.values() if not incomplete_only or x.missing]
            return sorted(chosen, key=lambda x: x.matched_at.ToMicroseconds(), reverse=True)[:size]

        return await asyncio.to_thread(fetch)


def _message(row: Mapping[str, Any] | RowMapping) -> pb.Explanation:
    return pb.Explanation(
        fill_report_id=row["fill_report_id"], trace_id=row["trace_id"], bot_slug=row["bot_slug"],
        report_id=row["report_id"], corrects_report_id=row["corrects_report_id"], text=row["text"],
        missing=[m for m in str(row["missing"]).split(",") if m],
        matched_at=to_timestamp(from_micros(int(row["matched_us"]))),
    )  # fmt: skip
