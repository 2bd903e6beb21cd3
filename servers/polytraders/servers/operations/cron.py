"""CronRunner: governance's scheduled jobs, each firing once, in order, at its UTC moment.

Schedule math is croniter's, in UTC (local daylight-saving changes cannot move a firing).

Policy, in this order:
- Ordering: every firing due at a tick joins one queue, ordered by scheduled moment, then by the
  task's position in the manifest; the queue runs one dispatch at a time.
- At most once: every firing due at a tick is recorded (and each task's last scheduled moment
  advanced) in one transaction *before* any target runs. A process that stops before a firing's
  end is recorded leaves it RUNNING; the next leader marks it INTERRUPTED and alerts, and never
  runs it again. Each target starts the moment the one before it ends; outcomes are written
  behind the queue (several to a transaction) and heartbeats published as they end (a queue
  whose outcomes cannot be stored stops there), so the
  firings late in a busy second wait for the targets before them, not for the database.
- One leader: across processes one leads cron (`Leadership`); each dispatch row carries the
  fencing token of the hold it was written under, and every write checks that token in its
  transaction, so a deposed leader that has not noticed yet writes nothing. A new leader marks
  INTERRUPTED only the RUNNING rows of earlier holds (what the leaders before it left) and the
  manual runs of processes that are gone (a TriggerNow on a standby carries no token, only its
  process, which holds a lock of its own for its life: one still running is left to finish).
- Missed runs (the process was down, or a tick came late): of the firings a task missed, only
  the latest may run, and only if it is no later than the task's deadline; the others, and a
  latest one past its deadline, are recorded as MISSED with the reason. Nothing is skipped
  silently.
- First start: a task that has never fired starts from now (no backlog from the past).
"""

from __future__ import annotations

import asyncio
import logging
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from croniter import croniter  # type: ignore[import-untyped]  # croniter ships no py.typed; typeshed's types-croniter follows 6.x, not the 7 installed
from sqlalchemy import (
    BigInteger,
    Boolean,
    Engine,
    Index,
    Integer,
    RowMapping,
    String,
    Text,
    insert,
    select,
    update,
)
from sqlmodel import Field, SQLModel

from polytraders.governance.v1 import operations_pb2 as pb
from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk.clock import Clock, from_micros, to_micros, to_timestamp
from polytraders.sdk.report_builders import new_report_id
from polytraders.servers.runtime.alerts import Alert, AlertSink
from polytraders.servers.runtime.commands import Command, Commands
from polytraders.servers.runtime.errors import FailedPrecondition, GovernanceError, InvalidArgument, NotFound
from polytraders.servers.runtime.leadership import (
    HOLDER,
    Deposed,
    Fence,
    current_fence,
    fenced_write,
    process_alive,
)
from polytraders.servers.runtime.reporter import GovernanceReporter
from polytraders.servers.runtime.storage import AnyRow, table_of, upsert

log = logging.getLogger(__name__)
COMPONENT = "cron"
MISSED_LISTED = 100
"""Missed firings recorded one by one; earlier ones are recorded as one summary row."""


class CronTaskStateRow(SQLModel, table=True):
    __tablename__ = "cron_state"

    task: str = Field(sa_type=String(128), primary_key=True)
    last_scheduled_us: int = Field(sa_type=BigInteger)
    enabled: bool = Field(default=True, sa_type=Boolean, sa_column_kwargs={"default": True})


cron_state = table_of(CronTaskStateRow)


class CronDispatchRow(SQLModel, table=True):
    __tablename__ = "cron_dispatches"
    __table_args__ = (Index("cron_dispatches_by_task", "task", "scheduled_us"), Index("cron_dispatches_by_time", "scheduled_us"))

    dispatch_id: str = Field(sa_type=String(36), primary_key=True)
    task: str = Field(sa_type=String(128))
    scheduled_us: int = Field(sa_type=BigInteger)
    started_us: int | None = Field(default=None, sa_type=BigInteger)
    finished_us: int | None = Field(default=None, sa_type=BigInteger)
    outcome: int = Field(sa_type=Integer)
    detail: str = Field(sa_type=Text)
    triggered_by: str = Field(sa_type=String(128))
    fencing_token: int | None = Field(default=None, sa_type=BigInteger)
    """The cron hold it was written under (see `Leadership`); none for a manual trigger on a
    process that does not lead cron."""
    holder: str | None = Field(default=None, sa_type=String(256))
    """The process that runs it (HOLDER): one left RUNNING by a process that is gone is interrupted."""


cron_dispatches = table_of(CronDispatchRow)

@dataclass(frozen=True)
class CronTask:
    name: str
    cron_expression: str
    target: str
    """"governance:<command>" or "bus:<event>"."""
    arguments: Mapping[str, str]
    enabled: bool
    deadline: timedelta


def parse_manifest(text: str, source: str = "cron manifest") -> list[CronTask]:
    """`[[task]]` tables: name, cron_expression, target, arguments, enabled, deadline_seconds."""
    tasks: list[CronTask] = []
    for i, entry in enumerate(tomllib.loads(text).get("task", [])):
        where = f"{source}: [[task]] #{i}"
        try:
            task = CronTask(entry["name"], entry["cron_expression"], entry["target"],
                            {k: str(v) for k, v in entry.get("arguments", {}).items()}, bool(entry.get("enabled", True)),
                            timedelta(seconds=int(entry.get("deadline_seconds", 3600))))  # fmt: skip
        except KeyError as missing:
            raise ValueError(f"{where} has no {missing}") from None
        if not croniter.is_valid(task.cron_expression):
            raise ValueError(f"{where} ({task.name}): invalid cron_expression {task.cron_expression!r}")
        kind, _, name = task.target.partition(":")
        if kind not in ("governance", "bus") or not name:
            raise ValueError(f"{where} ({task.name}): target must be governance:<command> or bus:<event>")
        if task.deadline < timedelta(0):
            raise ValueError(f"{where} ({task.name}): deadline_seconds must not be negative")
        if any(t.name == task.name for t in tasks):
            raise ValueError(f"{where}: task {task.name!r} is listed twice")
        tasks.append(task)
    return tasks


def load_manifest(path: str | Path) -> list[CronTask]:
    return parse_manifest(Path(path).read_text(), str(path))


DUTY = "operations.cron"
PREPARE_SECONDS = 0.05
"""How long before a moment the run loop records its firings (they run at the moment itself)."""
COUNT_CAP = 100_000
"""Missed firings are counted up to this many; past it the record says "100000 or more"."""


def firings(
    expression: str, after: datetime, until: datetime, listed: int
) -> tuple[list[datetime], int, datetime | None]:
    """Scheduled moments in (after, until], UTC: the latest `listed` + 1 of them, how many earlier
    ones that leaves out (counted up to COUNT_CAP), and the first of those.

    The latest are found walking back from `until`; the earlier ones are counted forward, at most
    COUNT_CAP steps, so a process that wakes years late (or a clock set forward) costs at most
    COUNT_CAP + `listed` steps, not one per missed firing."""
    forward = croniter(expression, after)
    first = forward.get_next(datetime)
    if first > until:
        return [], 0, None
    if forward.get_next(datetime) > until:  # the usual tick: exactly one due, nothing missed
        return [first], 0, None
    forward = croniter(expression, after)
    forward.get_next(datetime)
    backward = croniter(expression, until + timedelta(seconds=1))
    latest: list[datetime] = []
    while len(latest) < listed + 1 and (moment := backward.get_prev(datetime)) > after:
        if moment <= until:
            latest.append(moment)
    latest.reverse()
    earlier, moment = 0, first
    while moment < latest[0] and earlier < COUNT_CAP:
        earlier += 1
        moment = forward.get_next(datetime)
    return latest, earlier, first


def _missed_row(task: CronTask, moment: datetime, reason: str) -> dict[str, Any]:
    return {"dispatch_id": new_report_id(), "task": task.name, "scheduled_us": to_micros(moment), "started_us": None,
            "finished_us": None, "outcome": pb.DISPATCH_OUTCOME_MISSED, "detail": f"missed: {reason}",
            "triggered_by": "schedule", "holder": HOLDER}  # fmt: skip


def _running_row(task: CronTask, scheduled: datetime, by: str) -> dict[str, Any]:
    """A firing recorded before its target runs: RUNNING, not started yet."""
    return {"dispatch_id": new_report_id(), "task": task.name, "scheduled_us": to_micros(scheduled),
            "started_us": None, "finished_us": None, "outcome": pb.DISPATCH_OUTCOME_RUNNING, "detail": "",
            "triggered_by": by, "holder": HOLDER}  # fmt: skip


def _dispatch_message(row: Mapping[str, Any] | RowMapping) -> pb.Dispatch:
    dispatch = pb.Dispatch(dispatch_id=row["dispatch_id"], task=row["task"], outcome=row["outcome"],
                           scheduled_at=to_timestamp(from_micros(row["scheduled_us"])), detail=row["detail"],
                           triggered_by=row["triggered_by"])  # fmt: skip
    if row["started_us"] is not None:
        dispatch.started_at.CopyFrom(to_timestamp(from_micros(row["started_us"])))
        dispatch.lateness_micros = row["started_us"] - row["scheduled_us"]
    if row["finished_us"] is not None:
        dispatch.finished_at.CopyFrom(to_timestamp(from_micros(row["finished_us"])))
    return dispatch


class CronRunner:
    def __init__(
        self,
        tasks: Sequence[CronTask],
        engine: Engine,
        clock: Clock,
        commands: Commands | Mapping[str, Command],
        reporter: GovernanceReporter,
        alerts: AlertSink,
        on_dispatch: Callable[[pb.Dispatch], None] | None = None,
    ) -> None:
        self.tasks = list(tasks)
        self._on_dispatch = on_dispatch
        """Told of every dispatch once its outcome is stored (the metrics count them)."""
        self._engine = engine
        self._clock = clock
        self._commands = commands
        self._reporter = reporter
        self._alerts = alerts
        self._last: dict[str, datetime] = {}
        self._next: dict[str, datetime] = {}
        """Each task's next moment after its last: a tick skips a task not due without croniter."""
        self._lock = asyncio.Lock()
        self._started = False
        self._fence: Fence | None = None

    async def start(self) -> None:
        """Load the last fire of every task; settle dispatches a stopped leader left RUNNING."""
        self._fence = current_fence()
        now = self._clock.now()
        interrupted = await asyncio.to_thread(self._recover, now)
        for row in interrupted:
            explanation = (f"cron task {row.task} (scheduled {from_micros(row.scheduled_us).isoformat()}) was running "
                           "when governance stopped; it is not run again (at most once)")  # fmt: skip
            await self._alerts.send(Alert(COMPONENT, f"cron:{row.task}:{row.scheduled_us}", rpb.SEVERITY_ERROR,
                                          explanation, {"task": row.task, "dispatch_id": row.dispatch_id}))  # fmt: skip
        for task in self.tasks:
            if task.target.startswith("governance:") and self._commands.get(task.target.partition(":")[2]) is None:
                log.warning(
                    "cron task %s targets %s, which no group of this process provides and the service map "
                    "names no process for", task.name, task.target
                )
        self._started = True

    @property
    def _token(self) -> int | None:
        """The fencing token this runner's rows carry (none when it does not lead cron)."""
        return self._fence.token if self._fence is not None else None

    def _recover(self, now: datetime) -> Sequence[AnyRow]:
        d = cron_dispatches
        with fenced_write(self._engine, self._fence) as conn:
            token = self._token
            rows = conn.execute(select(cron_state)).all()
            stored = {r.task: r.last_scheduled_us for r in rows}
            was_enabled = {r.task: r.enabled for r in rows}
            # a new task, or one disabled until now, starts from now: no backlog from before
            for t in self.tasks:
                if t.name not in stored or (t.enabled and not was_enabled[t.name]) or not t.enabled:
                    stored[t.name] = to_micros(now)
            upsert(conn, cron_state, [{"task": t.name, "last_scheduled_us": stored[t.name], "enabled": t.enabled}
                                      for t in self.tasks], ["task"])  # fmt: skip
            running = d.c.outcome == pb.DISPATCH_OUTCOME_RUNNING
            if token is None:  # not led (one process): whatever is RUNNING was left by its last run
                left = running
            else:  # the earlier holds' firings, and manual runs of processes that are gone
                manual = select(d.c.holder).where(running, d.c.fencing_token.is_(None), d.c.holder.is_not(None))
                gone = [h for h in conn.execute(manual.distinct()).scalars() if not process_alive(conn, h)]
                left = running & ((d.c.fencing_token < token) | (d.c.fencing_token.is_(None) & d.c.holder.in_(gone)))
            interrupted = conn.execute(select(d).where(left)).all()
            conn.execute(update(d).where(left).values(
                outcome=pb.DISPATCH_OUTCOME_INTERRUPTED, finished_us=to_micros(now),
                detail="governance stopped before this firing's end was recorded; not run again"))  # fmt: skip
        self._last = {t.name: from_micros(stored.get(t.name, to_micros(now))) for t in self.tasks}
        self._next.clear()
        return interrupted

    async def tick(self, moment: datetime | None = None) -> list[pb.Dispatch]:
        """Dispatch everything due by `moment` (by now, when it is None or past), in the documented
        order; returns what it recorded. The firings are recorded at once and run from `moment`
        on: the run loop calls this just before a moment comes, so the database's time is spent
        before it, not after."""
        if not self._started:
            await self.start()
        async with self._lock:
            now = max(moment or self._clock.now(), self._clock.now())
            queue: list[tuple[datetime, int, CronTask, list[datetime], int, datetime | None]] = []
            for position, task in enumerate(self.tasks):
                if not task.enabled or self._next_of(task) > now:
                    continue
                due, unlisted, first = firings(
                    task.cron_expression, self._last[task.name], now, MISSED_LISTED
                )
                if due:
                    queue.append((due[-1], position, task, due[:-1], unlisted, first))
            queue.sort(key=lambda entry: (entry[0], entry[1]))
            rows: list[dict[str, Any]] = []
            to_run: list[tuple[CronTask, dict[str, Any]]] = []
            for latest, _, task, superseded, unlisted, first in queue:
                if unlisted:
                    assert first is not None
                    rows.append(_missed_row(
                        task, first, f"{unlisted}{' or more' if unlisted >= COUNT_CAP else ''} firings from {first.isoformat()} until before "
                        f"{superseded[0].isoformat()} (not listed one by one), superseded by the firing at {latest.isoformat()}",
                    ))  # fmt: skip
                rows.extend(_missed_row(task, m, f"superseded by the firing at {latest.isoformat()}") for m in superseded)
                late = self._clock.now() - latest
                if late > task.deadline:
                    rows.append(_missed_row(task, latest, f"found {late} late, past its deadline of {task.deadline}"))
                else:
                    to_run.append((task, _running_row(task, latest, "schedule")))
                    rows.append(to_run[-1][1])
            if not rows:
                return []
            advanced = {task.name: latest for latest, _, task, *_ in queue}
            recording = asyncio.ensure_future(asyncio.to_thread(self._begin, rows, advanced))
            try:
                await asyncio.shield(recording)
                early = (now - self._clock.now()).total_seconds()
                if early > 0:
                    await asyncio.sleep(early)
            except asyncio.CancelledError:  # stopping before the moment: once recorded, never run
                await asyncio.shield(self._abandon(recording, [row for _, row in to_run]))
                raise
            return await self._run_recorded(rows, to_run)

    async def trigger_now(self, name: str, by: str) -> pb.Dispatch:
        if not name:
            raise InvalidArgument.field("task", "is required")
        task = next((t for t in self.tasks if t.name == name), None)
        if task is None:
            raise NotFound(f"no cron task {name!r}; tasks: {[t.name for t in self.tasks]}")
        async with self._lock:
            row = _running_row(task, self._clock.now(), by)
            await asyncio.to_thread(self._begin, [row], {})
            try:
                (dispatch,) = await self._run_recorded([row], [(task, row)])
            except Deposed as deposed:  # the target ran; its outcome could not be stored here
                self._fence = None
                raise FailedPrecondition(f"{task.name} ran, but its outcome was refused: {deposed}") from None
            return dispatch

    async def _run_recorded(
        self, rows: list[dict[str, Any]], to_run: list[tuple[CronTask, dict[str, Any]]]
    ) -> list[pb.Dispatch]:
        """Run the recorded firings' targets one after another, each started the moment the one
        before it ends. Outcomes are written (and heartbeats published) behind the queue, in order,
        and are all stored when this returns."""
        loop = asyncio.get_running_loop()
        heartbeats = [loop.create_task(self._heartbeat(_dispatch_message(r), rpb.SEVERITY_WARNING)) for r in rows
                      if r["outcome"] == pb.DISPATCH_OUTCOME_MISSED]  # fmt: skip
        finished: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        writer = loop.create_task(self._write_outcomes(finished))
        try:
            for task, row in to_run:
                if writer.done():  # its outcomes could not be stored (deposed, or the database): stop
                    break
                await self._run(task, row)
                finished.put_nowait(row)
                severity = rpb.SEVERITY_INFO if row["outcome"] == pb.DISPATCH_OUTCOME_SUCCEEDED else rpb.SEVERITY_ERROR
                heartbeats.append(loop.create_task(self._heartbeat(_dispatch_message(row), severity)))
        finally:
            finished.put_nowait(None)
            try:
                await writer
            finally:
                await asyncio.gather(*heartbeats, return_exceptions=True)
        dispatches = [_dispatch_message(row) for row in rows]
        if self._on_dispatch is not None:
            for dispatch in dispatches:
                self._on_dispatch(dispatch)
        return dispatches

    async def _run(self, task: CronTask, row: dict[str, Any]) -> None:
        row["started_us"] = to_micros(self._clock.now())
        try:
            detail = await self._run_target(task, from_micros(row["scheduled_us"]))
            outcome = pb.DISPATCH_OUTCOME_SUCCEEDED
        except GovernanceError as error:
            detail, outcome = f"{type(error).__name__}: {error}", pb.DISPATCH_OUTCOME_FAILED
        except Exception as error:  # noqa: BLE001 - any failure of a target is that dispatch's outcome
            log.exception("cron task %s failed", task.name)
            detail, outcome = f"{type(error).__name__}: {error}", pb.DISPATCH_OUTCOME_FAILED
        row.update(outcome=outcome, detail=detail, finished_us=to_micros(self._clock.now()))

    async def _write_outcomes(self, finished: asyncio.Queue[dict[str, Any] | None]) -> None:
        """Store outcomes as they come, whatever has gathered meanwhile in one transaction."""
        while True:
            rows = [await finished.get()]
            while not finished.empty():
                rows.append(finished.get_nowait())
            done = [r for r in rows if r is not None]
            if done:
                await asyncio.to_thread(self._finish, done)
            if len(done) < len(rows):
                return

    def _begin(self, rows: list[dict[str, Any]], advanced: dict[str, datetime]) -> None:
        """Record the firings and advance each task's schedule in one transaction."""
        with fenced_write(self._engine, self._fence) as conn:
            token = self._token
            conn.execute(insert(cron_dispatches), [{**row, "fencing_token": token} for row in rows])
            for task, moment in advanced.items():
                conn.execute(update(cron_state).where(cron_state.c.task == task)
                             .values(last_scheduled_us=to_micros(moment)))  # fmt: skip
        self._last.update(advanced)
        for task in advanced:
            self._next.pop(task, None)

    async def _abandon(self, recording: asyncio.Future[None], rows: list[dict[str, Any]]) -> None:
        """Firings recorded for a moment this process stopped before: MISSED, with why (when the
        recording itself failed there is nothing to mark)."""
        detail = "missed: governance stopped before its moment; not run (at most once)"
        for row in rows:
            row.update(outcome=pb.DISPATCH_OUTCOME_MISSED, detail=detail)
        try:
            await recording
            await asyncio.to_thread(self._finish, rows)
        except Exception:  # noqa: BLE001 - left RUNNING, the next leader marks them INTERRUPTED
            log.warning("recording firings abandoned at stop failed", exc_info=True)

    def _finish(self, rows: list[dict[str, Any]]) -> None:
        with fenced_write(self._engine, self._fence) as conn:
            for row in rows:
                conn.execute(update(cron_dispatches).where(cron_dispatches.c.dispatch_id == row["dispatch_id"])
                             .values(outcome=row["outcome"], detail=row["detail"], started_us=row["started_us"],
                                     finished_us=row["finished_us"]))  # fmt: skip

    async def _run_target(self, task: CronTask, scheduled: datetime) -> str:
        kind, _, name = task.target.partition(":")
        if kind == "bus":
            report_id = await self._reporter.operations(
                COMPONENT, name, rpb.COMPONENT_STATUS_HEALTHY, rpb.SEVERITY_INFO,
                f"cron task {task.name} requests {name} (scheduled {scheduled.isoformat()})", dict(task.arguments),
            )  # fmt: skip
            return f"published {name} as report {report_id}"
        command = self._commands.get(name)
        if command is None:
            raise ValueError(f"no group of this mesh provides governance:{name}")
        return await command(task.arguments, scheduled)

    async def _heartbeat(self, dispatch: pb.Dispatch, severity: rpb.Severity.ValueType) -> None:
        """The OperationsReport every dispatch (or recorded miss) emits."""
        outcome = pb.DispatchOutcome.Name(dispatch.outcome).removeprefix("DISPATCH_OUTCOME_")
        metrics = {"task": dispatch.task, "scheduled_at": dispatch.scheduled_at.ToJsonString(), "outcome": outcome,
                   "dispatch_id": dispatch.dispatch_id, "triggered_by": dispatch.triggered_by}  # fmt: skip
        if dispatch.HasField("started_at"):
            metrics.update(
                started_at=dispatch.started_at.ToJsonString(), lateness_micros=str(dispatch.lateness_micros)
            )
        status = (
            rpb.COMPONENT_STATUS_HEALTHY if severity == rpb.SEVERITY_INFO else rpb.COMPONENT_STATUS_DEGRADED
        )
        await self._reporter.operations(COMPONENT, "cron.dispatch", status, severity,
                                        f"cron task {dispatch.task}: {outcome.lower()}; {dispatch.detail}".rstrip("; "),
                                        metrics)  # fmt: skip

    def schedule(self) -> list[pb.CronTask]:
        now = self._clock.now()
        listed = []
        for task in self.tasks:
            last = self._last.get(task.name)
            entry = pb.CronTask(name=task.name, cron_expression=task.cron_expression, target=task.target,
                                arguments=dict(task.arguments), enabled=task.enabled,
                                deadline_seconds=int(task.deadline.total_seconds()),
                                next_at=to_timestamp(croniter(task.cron_expression, max(now, last or now)).get_next(datetime)))  # fmt: skip
            if last is not None:
                entry.last_scheduled_at.CopyFrom(to_timestamp(last))
            listed.append(entry)
        return listed

    def _next_of(self, task: CronTask) -> datetime:
        if task.name not in self._next:
            last = self._last.get(task.name, self._clock.now())
            self._next[task.name] = croniter(task.cron_expression, last).get_next(datetime)
        return self._next[task.name]

    def seconds_to_next(self) -> float:
        """Until the earliest next firing of any enabled task (0 when one is due)."""
        upcoming = [self._next_of(t) for t in self.tasks if t.enabled]
        return max(0.0, (min(upcoming) - self._clock.now()).total_seconds()) if upcoming else float("inf")

    async def run(self, stopping: asyncio.Event, max_wait_seconds: float) -> None:
        """Tick when the next task is due (re-checking at least every `max_wait_seconds`) until `stopping`."""
        await self.start()
        try:
            await self._ticks(stopping, max_wait_seconds)
        finally:
            self._fence = None  # no longer leading: a manual trigger here is fenced like a standby's

    async def _ticks(self, stopping: asyncio.Event, max_wait_seconds: float) -> None:
        while not stopping.is_set():
            wait = max_wait_seconds
            try:
                upcoming = self.seconds_to_next()
                if upcoming <= PREPARE_SECONDS:
                    await self.tick(self._clock.now() + timedelta(seconds=upcoming))
                wait = min(max(self.seconds_to_next() - PREPARE_SECONDS, 0.0), max_wait_seconds)
            except Deposed:
                raise  # another process leads now: stop (Leadership stands this one by)
            except Exception:  # noqa: BLE001 - a failing tick must not stop the schedule (nor spin)
                log.exception("cron tick failed")
            try:
                await asyncio.wait_for(stopping.wait(), wait)
            except TimeoutError:
                pass

    def dispatches(self, task: str, limit: int) -> list[pb.Dispatch]:
        d = cron_dispatches
        query = select(d).order_by(d.c.scheduled_us.desc(), d.c.started_us.desc()).limit(limit)
        if task:
            query = query.where(d.c.task == task)
        with self._engine.connect() as conn:
            return [_dispatch_message(row._mapping) for row in conn.execute(query)]
