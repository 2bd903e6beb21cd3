"""The report bus between processes: the archive relayed to NATS JetStream, every bus fed from it.

Subjects make the topics real: `polytraders.reports.<kind>.<bot_slug>.<epoch>` (a `.` in a slug
is written `%2E`). One relay for the whole database (a duty under `Leadership`) follows the
archive, woken by every other process's commit (PostgreSQL NOTIFY, sent by the archive's write
transaction; its own process's commits announce nothing while it leads: they come with their
reports, which it sends on without reading them back) and
at least every `poll_seconds`, and publishes each run of consecutive reports of one subject as one
message: the reports framed as a `PublishReportsRequest` (byte for byte as archived), headers
`Polytraders-Cursor` the first report's cursor and `Polytraders-Count` how many (so a process that
has them already drops the message unread), `Nats-Msg-Id` "<first report_id>:<count>" so the
stream drops a resend within its duplicate window. A run larger than the broker's max_payload goes
as several messages, and a report no message can hold as its headers alone (an empty body: its
readers take it from the archive), so a refusal never stalls the relay. The archive is the outbox
and the stream its record of what was sent: a relay taking over starts after the stream's last
report (the database keeps a floor, stored now and then rather than once a page, for a stream that
has aged empty), so a crash loses nothing, and what it may send twice every reader drops by cursor.

Every process with a subscriber of its own (a follower, a caller's stream) subscribes to
`polytraders.reports.>` and hands what arrives to its bus's sequencer, which fills any gap from
the archive; one with none takes nothing from the broker (its sequencer's mark follows the
archive), so a process added for ingest takes nothing from the broker's feed. The broker away: publishing still stores, health shows the
bus NOT_SERVING and an alert says so; back, the relay sends what it missed and the sequencers
catch up from the archive, with no gap and no duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from bisect import bisect_right
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from functools import lru_cache
from itertools import chain, count, groupby
from operator import sub
from typing import NamedTuple

import nats
import psycopg
from nats.aio.client import Client as Nats
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from sqlalchemy import BigInteger, Engine, String, select
from sqlmodel import Field, SQLModel

from polytraders.reports.v1 import reports_pb2
from polytraders.sdk.outbox import frame_offsets, frame_reports

from .archive import SEQUENCER, ArchivedReport, ReportFilter, StoredBatch, topic_for
from .bus import ReportBus
from .header_columns import published_reports, stored_headers
from .storage import archive_channel, libpq_url, lock_key, table_of, upsert

log = logging.getLogger(__name__)

STREAM = "POLYTRADERS_REPORTS"
SUBJECTS = "polytraders.reports.>"
CURSOR_HEADER = "Polytraders-Cursor"
COUNT_HEADER = "Polytraders-Count"
RELAY = "jetstream"
_PAGE = 2000
_PAGE_BYTES = 8 * 1024 * 1024
"""A page's reports also stop at about this many bytes (never below one batch or report): large
reports neither pile up in the relay's memory nor outlast the page's acknowledgement deadline."""
_RECENT_BATCHES = 64
"""This process's latest commits kept for the relay to send on without reading them back."""
_HEADER_ROOM = 1024
"""Of the broker's max_payload (which counts headers too), what a message's headers may take."""


class RelayCursorRow(SQLModel, table=True):
    """How far a relay has handed the archive to its broker (acknowledged)."""

    __tablename__ = "bus_relay_cursors"

    relay: str = Field(sa_type=String(32), primary_key=True)
    cursor: int = Field(sa_type=BigInteger)


relay_cursors = table_of(RelayCursorRow)


@lru_cache(maxsize=4096)
def _subject(kind: int, bot_slug: str, epoch: int) -> str:
    """One subject per bot per day, so each is made once (the relay asks for every report's)."""
    return f"{topic_for(kind)}.{bot_slug.replace('.', '%2E')}.{epoch}"


def _unframed(first: int, body: bytes) -> Iterator[ArchivedReport]:
    """A message's reports, read only when a subscriber reads them (a generator function, since a
    generator expression would unframe its first iterable at once): their headers a column at a
    time where they line up, else report by report."""
    payloads = published_reports(body)
    headers = stored_headers(payloads)
    if headers is None:
        yield from map(_archived, count(first), payloads)
    else:
        yield from map(ArchivedReport._make, zip(count(first), *headers, payloads, strict=False))


def _archived(cursor: int, payload: bytes) -> ArchivedReport:
    header = reports_pb2.Report.FromString(payload).header
    return ArchivedReport(cursor, header.report_id, header.kind, header.bot_slug, header.epoch, header.mode, payload)


class JetStreamLink:
    """One process's connection to the broker: the feed into its bus, and the relay when it leads."""

    def __init__(
        self,
        url: str,
        bus: ReportBus,
        engine: Engine,
        on_state: Callable[[bool, str], Awaitable[None]],
        *,
        max_age_seconds: float = 7 * 24 * 3600,
        poll_seconds: float = 1.0,
    ) -> None:
        self._url = url
        self._bus = bus
        self._engine = engine
        self._on_state = on_state
        self._max_age_seconds = max_age_seconds
        self._poll_seconds = poll_seconds
        self._nats: Nats | None = None
        self._jetstream: JetStreamContext | None = None
        """One context for the connection's life: each context subscribes an inbox of its own for
        publish acknowledgements, so a context per publish would pile up subscriptions."""
        self._up = asyncio.Event()
        self._closed = asyncio.Event()
        self._said: bool | None = None
        self._wake = asyncio.Event()
        self._recent: deque[StoredBatch] = deque(maxlen=_RECENT_BATCHES)
        self._floor = 0
        """The cursor the database holds for the relay: where a relay taking over would start if the
        stream had aged empty."""
        self._floor_stored_at = 0.0
        self._page_reports = _PAGE
        """How many reports to read back at a time: fewer than a page when they run large."""
        self.relayed = 0
        """The last cursor the relay handed to the broker (while this process leads it)."""

    @property
    def up(self) -> bool:
        return self._up.is_set()

    def stored(self, batches: Sequence[StoredBatch]) -> None:
        """A commit of this process: the relay (if it leads here) sends it on now, from memory
        when it follows on from what the relay sent last."""
        self._recent.extend(batch for batch in batches if batch.last_seq is not None)
        self._wake.set()

    async def connect(self) -> None:
        """Connect (trying until the broker answers), make sure the stream exists, follow it; then
        stay until the link is closed (the client reconnects by itself meanwhile)."""
        while self._nats is None:
            try:
                client = await nats.connect(
                    self._url, max_reconnect_attempts=-1, reconnect_time_wait=0.5, connect_timeout=2,
                    disconnected_cb=self._disconnected, reconnected_cb=self._reconnected,
                    error_cb=self._error, name="polytraders-governance", no_echo=True,
                )  # fmt: skip
            except Exception as error:  # noqa: BLE001 - governance never blocks: serve, and try again
                await self._set_down(f"cannot reach the report broker at {self._url}: {error}")
                await asyncio.sleep(self._poll_seconds)
                continue
            self._nats, self._jetstream = client, client.jetstream()
        await self._ensure_stream()
        await self._set_up()
        if self._bus.archive.shared:  # reports other processes stored reach this one's subscribers
            await self._feed_on_demand(self._nats)
        await self._closed.wait()

    async def _feed_on_demand(self, client: Nats) -> None:
        """Take the stream's messages only while the bus has subscribers: a subscriber reads the
        archive first, and the sequencer fills from it whatever came before the feed did."""
        while await self._unless_closed(self._bus.demand):
            feed = await client.subscribe(SUBJECTS, cb=self._received)
            await self._unless_closed(self._bus.no_demand)
            with contextlib.suppress(Exception):  # closing: the drain takes it down
                await feed.unsubscribe()

    async def _unless_closed(self, event: asyncio.Event) -> bool:
        """Wait for `event`, or for the link to close (False then)."""
        waits = {asyncio.ensure_future(event.wait()), asyncio.ensure_future(self._closed.wait())}
        _, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for wait in pending:
            wait.cancel()
        return not self._closed.is_set()

    async def _ensure_stream(self) -> None:
        assert self._jetstream is not None
        config = StreamConfig(
            name=STREAM, subjects=[SUBJECTS], retention=RetentionPolicy.LIMITS, storage=StorageType.FILE,
            discard=DiscardPolicy.OLD, max_age=self._max_age_seconds, duplicate_window=120.0,
        )  # fmt: skip
        try:
            await self._jetstream.add_stream(config)
        except nats.js.errors.BadRequestError:  # exists with another config: ours wins
            await self._jetstream.update_stream(config)

    async def _received(self, message: Msg) -> None:
        """Another process's relay sent these (the broker echoes none of this process's own)."""
        headers = message.headers or {}
        first, count = int(headers.get(CURSOR_HEADER, "0")), int(headers.get(COUNT_HEADER, "0"))
        if not first or not count or first + count - 1 <= self._bus.delivered:
            return  # not a relay's message, or this process has them already
        self._bus.deliver(first, first + count - 1, _unframed(first, message.data))

    async def relay(self) -> None:
        """The duty: hand the archive to the stream in cursor order, for as long as this leads."""
        await self._up.wait()
        self._floor = await asyncio.to_thread(self._stored_cursor)
        cursor = self.relayed = max(self._floor, await self._streamed_cursor())
        listener = asyncio.get_running_loop().create_task(self._listen_for_commits())
        self._bus.archive.announce_commits = False  # this process's own commits reach `stored`
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._poll_seconds):  # woken in one step, as wait_for's task is not
                        await self._wake.wait()
                self._wake.clear()
                cursor = await self._relay_after(cursor)
                await self._store_floor(cursor)  # once caught up too: an idle relay looks once a poll
        finally:
            self._bus.archive.announce_commits = True
            listener.cancel()

    async def _relay_after(self, cursor: int) -> int:
        sent_from_memory = False
        while True:
            batches, wanted = self._from_memory(cursor), _PAGE
            if batches:
                sent_from_memory = True
                messages = _memory_page(batches)
                last = messages[-1].first + messages[-1].reports - 1
            elif sent_from_memory:  # what follows is not this process's: a wake or the poll reads it
                return cursor
            else:  # up to what this process holds next: only what it does not hold is read back
                wanted = min(self._unheld(cursor), self._page_reports)
                read = await asyncio.to_thread(self._bus.archive.read_after, cursor, ReportFilter(), wanted)
                if not read:
                    return cursor
                self._page_reports = _reports_within(_PAGE_BYTES, read)
                self._bus.deliver(read[0].seq, read[-1].seq, read)  # the broker echoes none to this process
                page = _Page(*zip(*read, strict=True))
                messages = list(_messages(page.seqs, page.report_ids, page.kinds, page.bot_slugs, page.epochs,
                                          page.payloads))  # fmt: skip
                last = page.seqs[-1]
            await self._up.wait()
            try:
                await self._publish(messages)
            except Exception as error:  # noqa: BLE001 - the broker went away mid-page: again when back
                await self._set_down(f"the report broker refused or lost a page: {error}")
                await asyncio.sleep(self._poll_seconds)
                continue
            cursor = self.relayed = last
            await self._store_floor(cursor)
            if not batches and len(read) < wanted:  # all there is (what it holds comes next round)
                return cursor

    async def _store_floor(self, cursor: int) -> None:
        """Store how far the relay has sent, at most once a poll (the stream holds the exact mark):
        a write per page or per commit would cost the database more than a restart saves."""
        if cursor > self._floor and time.monotonic() - self._floor_stored_at >= self._poll_seconds:
            await asyncio.to_thread(self._store_cursor, cursor)
            self._floor, self._floor_stored_at = cursor, time.monotonic()

    def _from_memory(self, cursor: int) -> list[StoredBatch]:
        """What this process stored right after `cursor`, as committed (whole batches, up to about
        a page of reports or `_PAGE_BYTES`); none when the next report is not among them (another
        process stored it, or it is older)."""
        while self._recent and (self._recent[0].last_seq or 0) <= cursor:
            self._recent.popleft()
        batches: list[StoredBatch] = []
        size = volume = 0
        for batch in self._recent:
            if batch.first_seq != cursor + size + 1 or size >= _PAGE or volume >= _PAGE_BYTES:
                break
            batches.append(batch)
            size += len(batch.reports)
            volume += sum(map(len, batch.reports.payloads))
        return batches

    def _unheld(self, cursor: int) -> int:
        """How many reports after `cursor` to read back: a page, or fewer when this process holds
        the ones after them (`seq` has no gaps, so the count reaches exactly that far)."""
        held = [batch.first_seq for batch in self._recent if batch.first_seq > cursor]
        return min(_PAGE, min(held) - cursor - 1) if held else _PAGE

    async def _streamed_cursor(self) -> int:
        """Where to go on (asked until the broker answers): the relay stores its own cursor only
        now and then, so it is read off the stream."""
        assert self._jetstream is not None
        while True:
            try:
                return await streamed_through(self._jetstream)
            except Exception as error:  # noqa: BLE001 - the broker went away meanwhile: ask again
                log.warning("reading the stream's last report: %s", error)
                await asyncio.sleep(self._poll_seconds)

    async def _publish(self, messages: Sequence[_Message]) -> None:
        assert self._jetstream is not None
        assert self._nats is not None
        acks = []
        for m in _fitted(messages, self._nats.max_payload - _HEADER_ROOM):
            headers = {CURSOR_HEADER: str(m.first), COUNT_HEADER: str(m.reports), "Nats-Msg-Id": m.id}
            acks.append(await self._jetstream.publish_async(m.subject, m.body, headers=headers))
        await asyncio.wait_for(asyncio.gather(*acks), timeout=10)

    def _stored_cursor(self) -> int:
        with self._engine.connect() as conn:
            found = conn.execute(select(relay_cursors.c.cursor).where(relay_cursors.c.relay == RELAY)).scalar()
        return int(found or 0)

    def _store_cursor(self, cursor: int) -> None:
        with self._engine.begin() as conn:
            upsert(conn, relay_cursors, [{"relay": RELAY, "cursor": cursor}], ["relay"])

    async def _listen_for_commits(self) -> None:
        """Wake the relay at every commit of another process (PostgreSQL only; SQLite has one):
        this process's own come with their reports (`stored`), so the relay need not read them back."""
        if self._engine.dialect.name != "postgresql":
            return
        url = libpq_url(self._engine)
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                    schema = (await (await conn.execute("SELECT current_schema()")).fetchone() or [""])[0]
                    await conn.execute(f"LISTEN {archive_channel(lock_key(SEQUENCER, str(schema)))}")
                    self._wake.set()  # anything committed before we listened
                    async for notice in conn.notifies():
                        if notice.payload != self._bus.archive.writer:  # one sent before this led
                            self._wake.set()
            except Exception:  # noqa: BLE001 - polling covers the gap until we listen again
                log.warning("listening for archive commits failed; polling meanwhile", exc_info=True)
                await asyncio.sleep(self._poll_seconds)

    async def _set_up(self) -> None:
        self._up.set()
        await self._say(True, f"the report broker at {self._url} is reachable")

    async def _set_down(self, why: str) -> None:
        self._up.clear()
        await self._say(False, why)

    async def _say(self, up: bool, why: str) -> None:
        """Tell the mesh (health, an alert) when the broker comes or goes, once per change."""
        if self._said is not up:
            self._said = up
            await self._on_state(up, why)

    async def _disconnected(self) -> None:
        await self._set_down(f"lost the report broker at {self._url}")

    async def _reconnected(self) -> None:
        await self._set_up()
        self._wake.set()

    async def _error(self, error: Exception) -> None:
        log.warning("report broker: %s", error)

    async def close(self) -> None:
        self._closed.set()
        if self._nats is not None:
            with contextlib.suppress(Exception):
                await self._nats.drain()


async def streamed_through(jetstream: JetStreamContext) -> int:
    """The cursor of the last report on the stream (0 while it holds none): exactly how far the
    relay has sent."""
    try:
        state = (await jetstream.stream_info(STREAM)).state
        if not state.messages:
            return 0
        last = await jetstream.get_msg(STREAM, seq=state.last_seq)
    except nats.js.errors.NotFoundError:
        return 0
    headers = last.headers or {}
    first = int(headers.get(CURSOR_HEADER, "0"))
    return first + int(headers.get(COUNT_HEADER, "0")) - 1 if first else 0


def _reports_within(volume: int, read: Sequence[ArchivedReport]) -> int:
    """How many reports the size of those `read` make about `volume` bytes (one to a page)."""
    return max(1, min(_PAGE, volume * len(read) // max(1, sum(len(report.payload) for report in read))))


class _Page(NamedTuple):
    """Archived reports read back, a column per field."""

    seqs: Sequence[int]
    report_ids: Sequence[str]
    kinds: Sequence[int]
    bot_slugs: Sequence[str]
    epochs: Sequence[int]
    modes: Sequence[int]
    payloads: Sequence[bytes]


class _Message(NamedTuple):
    """A run of consecutive reports of one subject (which `_fitted` may cut to the broker's limit)."""

    subject: str
    first: int
    """The cursor of its first report."""
    report_ids: tuple[str, ...]
    body: bytes
    """The reports framed; empty for a report too large for any message."""

    @property
    def reports(self) -> int:
        return len(self.report_ids)

    @property
    def id(self) -> str:
        """What the stream dedupes a resend by."""
        return f"{self.report_ids[0]}:{len(self.report_ids)}"


def _memory_page(batches: Sequence[StoredBatch]) -> list[_Message]:
    """The messages of the first `_PAGE` reports of consecutive `batches`, as the archive's page of
    them makes them: a run of one subject spans batches (its body joins their slices), so a page
    sent again from the archive goes as the same messages, which the stream then drops."""
    runs: list[list[_Message]] = []  # each run's pieces, joined once (not a copy per batch)
    room = _PAGE
    for batch in batches:
        taken = min(len(batch.reports), room)
        room -= taken
        for message in _batch_messages(batch, taken):
            last = runs[-1][-1] if runs else None
            if last is not None and last.subject == message.subject and last.first + last.reports == message.first:
                runs[-1].append(message)
            else:
                runs.append([message])
        if not room:
            break
    return [run[0] if len(run) == 1 else _joined(run) for run in runs]


def _joined(pieces: Sequence[_Message]) -> _Message:
    """One message of consecutive pieces of one subject."""
    report_ids = tuple(chain.from_iterable(piece.report_ids for piece in pieces))
    return _Message(pieces[0].subject, pieces[0].first, report_ids, b"".join(piece.body for piece in pieces))


def _batch_messages(batch: StoredBatch, taken: int | None = None) -> Iterator[_Message]:
    """The messages of a stored batch's first `taken` reports (all, by default)."""
    r = batch.reports
    seqs = range(batch.first_seq, batch.first_seq + (len(r) if taken is None else taken))
    return _messages(seqs, r.report_ids, r.kinds, r.bot_slugs, r.epochs, r.payloads, r.framed)


def _messages(
    seqs: Sequence[int],
    report_ids: Sequence[str],
    kinds: Sequence[int],
    bot_slugs: Sequence[str],
    epochs: Sequence[int],
    payloads: Sequence[bytes],
    framed: bytes | None = None,
) -> Iterator[_Message]:
    """The reports cut into runs of consecutive cursors that share a subject, in cursor order, one
    message each (before `_fitted`). Grouped over the columns (in C), not per report; a batch that
    arrived framed lends its bytes, sliced, rather than being framed again."""
    offsets: list[int] = []
    start = 0
    gaps = map(sub, seqs, count())  # constant along consecutive cursors
    # `seqs` may stop short of the other columns (a page ending inside a batch): zip stops with it
    for (kind, bot_slug, epoch, _), run in groupby(zip(kinds, bot_slugs, epochs, gaps, strict=False)):
        end = start + len(list(run))
        if framed is None:
            body = frame_reports(payloads[start:end])
        elif start == 0 and end == len(payloads):
            body = framed
        else:
            offsets = offsets or frame_offsets(payloads)
            body = framed[offsets[start] : offsets[end]]
        yield _Message(_subject(kind, bot_slug, epoch), seqs[start], tuple(report_ids[start:end]), body)
        start = end


def _fitted(messages: Iterable[_Message], limit: int) -> Iterator[_Message]:
    """The messages with each body of more than `limit` bytes cut, greedily from its first report,
    into bodies that fit (the same cuts however the run was put together, so a resend is dropped);
    a report larger than `limit` alone goes with an empty body."""
    for message in messages:
        if len(message.body) <= limit:
            yield message
            continue
        offsets = frame_offsets(published_reports(message.body))
        start = 0
        while start < message.reports:
            end = bisect_right(offsets, offsets[start] + limit, lo=start + 1) - 1
            body = message.body[offsets[start] : offsets[end]]
            end = max(end, start + 1)  # one report alone over the limit: its headers only
            yield _Message(message.subject, message.first + start, message.report_ids[start:end], body)
            start = end
