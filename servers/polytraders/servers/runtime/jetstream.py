"""The report bus between processes: the archive relayed to NATS JetStream, every bus fed from it.

Subjects make the topics real: `polytraders.reports.<kind>.<bot_slug>.<epoch>` (a `.` in a slug
is written `%2E`). One relay for the whole database (a duty under `Leadership`) follows the
archive and publishes each run of consecutive reports of one subject as one message: the reports
framed as a `PublishReportsRequest` (byte for byte as archived), headers `Polytraders-Cursor` the
first report's cursor and `Polytraders-Count` how many (so a process that has them already drops
the message unread), `Nats-Msg-Id` "<first report_id>:<count>" so the stream drops a resend
within its duplicate window. A run larger than the broker's max_payload goes as several messages,
and a report no message can hold as its headers alone (an empty body: its readers take it from
the archive), so a refusal never stalls the relay.

What the relay sends it mostly holds in memory: its own process's commits, and those each other
process connected to the broker hands it once committed (core NATS, `polytraders.relay.<archive>`,
framed and headed as the stream's messages are). What it lacks (a hand-off lost or late past
`_HANDOFF_GRACE`, a commit of a process without the broker) it reads back from the archive, up to
the next report it holds. It is woken by each commit it holds or is handed, by PostgreSQL NOTIFY
from the write transaction of a process that cannot hand its commits over, and at least every
`poll_seconds`. The archive is the outbox and the stream its record of what was sent: a relay
taking over starts after the stream's last report (the database keeps a floor, stored now and then
rather than once a page, for a stream that has aged empty), so a crash loses nothing, and what it
may send twice every reader drops by cursor.

Every process with a subscriber of its own (a follower, a caller's stream) subscribes to
`polytraders.reports.>` and hands what arrives to its bus's sequencer, which fills any gap from
the archive; one with none takes nothing from the broker (its sequencer's mark follows the
archive), so a process added for ingest takes nothing from the broker's feed. The broker away:
publishing still stores (and NOTIFYs), health shows the bus NOT_SERVING and an alert says so;
back, the relay sends what it missed and the sequencers catch up from the archive, with no gap and
no duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from bisect import bisect_right
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from functools import lru_cache
from itertools import chain, compress, count, islice, pairwise
from operator import ne
from typing import NamedTuple, TypeVar

import nats
import psycopg
from nats.aio.client import Client as Nats
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from sqlalchemy import BigInteger, Engine, String, select
from sqlmodel import Field, SQLModel

from polytraders.reports.v1 import reports_pb2
from polytraders.sdk.outbox import frame_offsets, frame_reports, framed_size

from .archive import SEQUENCER, ArchivedReport, ReportFilter, StoredBatch, topic_for
from .bus import ReportBus
from .config import STREAM_MAX_AGE_SECONDS
from .header_columns import StoredHeaders, published_reports, stored_headers
from .storage import advisory_key, archive_channel, libpq_url, lock_key, table_of, upsert

log = logging.getLogger(__name__)
_T = TypeVar("_T")

STREAM = "POLYTRADERS_REPORTS"
SUBJECTS = "polytraders.reports.>"
CURSOR_HEADER = "Polytraders-Cursor"
COUNT_HEADER = "Polytraders-Count"
RELAY = "jetstream"
_PAGE = 2000
_PAGE_BYTES = 8 * 1024 * 1024
"""A page's reports also stop at about this many bytes (never below one batch or report): large
reports neither pile up in the relay's memory nor outlast the page's acknowledgement deadline."""
_HELD_BATCHES, _HELD_BYTES = 256, 64 * 1024 * 1024
"""Commits kept for the relay to send on without reading them back (its own and those handed to it):
the latest, up to so many and so many bytes of reports, past which the oldest are read back instead
(a relay held up by its broker holds no more)."""
_HANDOFF_GRACE = 0.01
"""Seconds the relay waits for a commit it does not hold to be handed over before reading it back:
the process that stored it hands it over a moment after its commit, which a later commit or the
poll may come before."""
HANDOFFS = "polytraders.relay"
"""Where processes hand the relay their commits: `<HANDOFFS>.<archive>`, outside the stream's subjects."""
_PING_SECONDS = 10
"""How often the link pings the broker (nats-py's default is 120 s): a half-open socket is noticed
after two unanswered, so a process stops handing commits over it (and NOTIFYs) within half a minute."""
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
    generator expression would unframe its first iterable at once)."""
    payloads = published_reports(body)
    yield from map(ArchivedReport._make, zip(count(first), *_headers(payloads), payloads, strict=False))


def _headers(payloads: Sequence[bytes]) -> StoredHeaders:
    """The reports' header columns: a column at a time where they line up, else report by report."""
    columns = stored_headers(payloads)
    if columns is None:
        headers = [reports_pb2.Report.FromString(payload).header for payload in payloads]
        columns = StoredHeaders(
            [h.report_id for h in headers], [h.kind for h in headers], [h.bot_slug for h in headers],
            [h.epoch for h in headers], [h.mode for h in headers],
        )  # fmt: skip
    return columns


class _Held(NamedTuple):
    """Committed reports one after another, a column per field: a batch this process stored, part
    of one another process handed over (which the relay may send without reading them back), or a
    page read back."""

    first_seq: int
    report_ids: Sequence[str]
    kinds: Sequence[int]
    bot_slugs: Sequence[str]
    epochs: Sequence[int]
    modes: Sequence[int]
    payloads: Sequence[bytes]
    framed: bytes | None
    """The payloads framed, when they were at hand so (`IncomingBatch.framed`, a hand-off's body)."""
    volume: int
    """The payloads' bytes."""

    @classmethod
    def stored(cls, batch: StoredBatch) -> _Held:
        r = batch.reports
        volume = sum(map(len, r.payloads))
        return cls(batch.first_seq, r.report_ids, r.kinds, r.bot_slugs, r.epochs, r.modes, r.payloads, r.framed, volume)

    @classmethod
    def handed_over(cls, first: int, body: bytes) -> _Held:
        payloads = published_reports(body)
        return cls(first, *_headers(payloads), payloads, body, sum(map(len, payloads)))

    @classmethod
    def read_back(cls, page: Sequence[ArchivedReport]) -> _Held:
        """A page the archive gave, a column per field (its cursors have no gaps)."""
        seqs, report_ids, kinds, bot_slugs, epochs, modes, payloads = zip(*page, strict=True)
        return cls(seqs[0], report_ids, kinds, bot_slugs, epochs, modes, payloads, None, sum(map(len, payloads)))

    def __len__(self) -> int:
        return len(self.report_ids)

    @property
    def last_seq(self) -> int:
        return self.first_seq + len(self.report_ids) - 1

    @property
    def body(self) -> bytes:
        return frame_reports(self.payloads) if self.framed is None else self.framed

    def archived(self) -> Iterator[ArchivedReport]:
        rows = zip(count(self.first_seq), self.report_ids, self.kinds, self.bot_slugs, self.epochs, self.modes, self.payloads)
        return map(ArchivedReport._make, rows)


class JetStreamLink:
    """One process's connection to the broker: the feed into its bus, and the relay when it leads."""

    def __init__(
        self,
        url: str,
        bus: ReportBus,
        engine: Engine,
        on_state: Callable[[bool, str], Awaitable[None]],
        *,
        max_age_seconds: float = STREAM_MAX_AGE_SECONDS,
        poll_seconds: float = 1.0,
        ping_seconds: float = _PING_SECONDS,
    ) -> None:
        self._url = url
        self._bus = bus
        self._engine = engine
        self._on_state = on_state
        self._max_age_seconds = max_age_seconds
        self._poll_seconds = poll_seconds
        self._ping_seconds = ping_seconds
        self._nats: Nats | None = None
        self._jetstream: JetStreamContext | None = None
        """One context for the connection's life: each context subscribes an inbox of its own for
        publish acknowledgements, so a context per publish would pile up subscriptions."""
        self._up = asyncio.Event()
        self._closed = asyncio.Event()
        self._said: bool | None = None
        self._wake = asyncio.Event()
        self._held: dict[int, _Held] = {}
        """Commits the relay may send from memory, by first cursor (while this process leads it)."""
        self._held_bytes = 0
        self._leading = False
        self._handoffs = ""
        """The subject this archive's commits are handed to the relay on (a shared archive's only)."""
        self._handing: set[asyncio.Task[None]] = set()
        self._floor = 0
        """The cursor the database holds for the relay: where a relay taking over would start if the
        stream had aged empty."""
        self._floor_stored_at = 0.0
        self._flooring: asyncio.Task[None] | None = None
        self._page_reports = _PAGE
        """How many reports to read back at a time: fewer than a page when they run large."""
        self.relayed = 0
        """The last cursor the relay handed to the broker (while this process leads it)."""
        self.sent_from = {"memory": 0, "archive": 0}
        """Reports the relay sent from memory (held or handed over) and read back from the archive."""

    @property
    def up(self) -> bool:
        return self._up.is_set()

    @property
    def leading(self) -> bool:
        """Whether this process's relay is sending: it holds the duty and knows where to go on."""
        return self._leading

    def stored(self, batches: Sequence[StoredBatch]) -> None:
        """A commit of this process: the relay sends it on from memory, here when it leads here,
        else handed over to the process that does."""
        held = [_Held.stored(batch) for batch in batches if batch.last_seq is not None]
        if self._leading:
            self._hold(held)
        elif self._handoffs and self._up.is_set() and held:
            handing = asyncio.get_running_loop().create_task(self._hand_over(held))
            self._handing.add(handing)  # the loop keeps only a weak reference to a task
            handing.add_done_callback(self._handing.discard)

    def _hold(self, held: Iterable[_Held]) -> None:
        for batch in held:
            self._forget(batch.first_seq)  # handed over twice
            self._held[batch.first_seq] = batch
            self._held_bytes += batch.volume
        while len(self._held) > _HELD_BATCHES or self._held_bytes > _HELD_BYTES:  # the oldest are read back
            self._forget(next(iter(self._held)))
        self._wake.set()

    def _forget(self, first: int) -> None:
        batch = self._held.pop(first, None)
        if batch is not None:
            self._held_bytes -= batch.volume

    async def _hand_over(self, held: Sequence[_Held]) -> None:
        """Send the relay what a commit stored, as the stream's messages carry reports (a report no
        message can hold as its headers alone: the relay reads it back). Lost, it costs the relay a
        read of the archive, never a report: core NATS, no acknowledgement waited for."""
        assert self._nats is not None
        limit = self._nats.max_payload - _HEADER_ROOM
        try:
            for batch in held:
                whole = _Message(self._handoffs, batch.first_seq, tuple(batch.report_ids), batch.body)
                for piece in _fitted([whole], limit):
                    await self._nats.publish(self._handoffs, piece.body, headers=stream_headers(piece.first, piece.report_ids))
        except Exception as error:  # noqa: BLE001 - the relay reads them back at its next look
            log.info("handing commits to the relay: %s", error)

    async def _handed_over(self, message: Msg) -> None:
        """Another process's commit: into this process's bus (the broker echoes nothing the relay
        sends back to it), and held for the relay."""
        first, count = _run_of(message.headers)
        if not count or first + count - 1 <= self.relayed:
            return
        if not message.data:  # a report too large to hand over: the relay reads it back
            self._wake.set()
            return
        held = _Held.handed_over(first, message.data)
        self._bus.deliver(first, held.last_seq, held.archived())
        self._hold([held])

    def _announce(self) -> None:
        """Whether this process's commits NOTIFY the relay: not while it leads (they reach `stored`)
        nor while it can hand them over."""
        self._bus.archive.announce_commits = not (self._leading or self._handoffs and self._up.is_set())

    async def connect(self) -> None:
        """Connect (trying until the broker answers), make sure the stream exists, follow it; then
        stay until the link is closed (the client reconnects by itself meanwhile)."""
        while self._nats is None:
            try:
                client = await nats.connect(
                    self._url, max_reconnect_attempts=-1, reconnect_time_wait=0.5, connect_timeout=2,
                    ping_interval=self._ping_seconds, disconnected_cb=self._disconnected,
                    reconnected_cb=self._reconnected, error_cb=self._error, name="polytraders-governance",
                    no_echo=True,
                )  # fmt: skip
            except Exception as error:  # noqa: BLE001 - governance never blocks: serve, and try again
                await self._set_down(f"cannot reach the report broker at {self._url}: {error}")
                await asyncio.sleep(self._poll_seconds)
                continue
            self._nats, self._jetstream = client, client.jetstream()
        if self._bus.archive.shared:
            key = await self._persistently("reading the archive's key", lambda: asyncio.to_thread(self._archive_key))
            self._handoffs = f"{HANDOFFS}.{abs(key)}"
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
        config = stream_config(self._max_age_seconds)
        try:
            await self._jetstream.add_stream(config)
        except nats.js.errors.BadRequestError:  # exists with another config: ours wins
            await self._jetstream.update_stream(config)

    async def _received(self, message: Msg) -> None:
        """Another process's relay sent these (the broker echoes none of this process's own)."""
        first, count = _run_of(message.headers)
        if not count or first + count - 1 <= self._bus.delivered:
            return  # not a relay's message, or this process has them already
        self._bus.deliver(first, first + count - 1, _unframed(first, message.data))

    async def relay(self) -> None:
        """The duty: hand the archive to the stream in cursor order, for as long as this leads."""
        await self._up.wait()
        assert self._nats is not None and self._jetstream is not None
        client, jetstream = self._nats, self._jetstream
        self._floor = await self._persistently("reading the relay's floor", lambda: asyncio.to_thread(self._stored_cursor))
        # the relay stores its own cursor only now and then: where to go on is read off the stream
        streamed = await self._persistently("reading the stream's last report", lambda: streamed_through(jetstream))
        cursor = self.relayed = max(self._floor, streamed)
        handoffs = await client.subscribe(self._handoffs, cb=self._handed_over) if self._handoffs else None
        listener = asyncio.get_running_loop().create_task(self._listen_for_commits())
        self._leading = True
        self._announce()
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._poll_seconds):  # woken in one step, as wait_for's task is not
                        await self._wake.wait()
                self._wake.clear()
                cursor = await self._relay_after(cursor)
                self._store_floor(cursor)  # once caught up too: an idle relay looks once a poll
        finally:
            self._leading = False
            self._announce()
            self._held.clear()
            self._held_bytes = 0
            listener.cancel()
            if handoffs is not None:
                with contextlib.suppress(Exception):  # the connection went meanwhile
                    await handoffs.unsubscribe()

    async def _relay_after(self, cursor: int) -> int:
        sent_from_memory = waited = False
        while True:
            batches, wanted = self._from_memory(cursor), _PAGE
            if batches:
                sent_from_memory = True
                messages = _memory_page(batches)
                last = messages[-1].first + messages[-1].reports - 1
            elif sent_from_memory:  # what follows is not held (yet): a wake or the poll reads it
                return cursor
            elif not waited and self._handoffs:
                # another process's commit, most likely handed over this moment: read back only
                # what does not come by the grace
                waited = True
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(_HANDOFF_GRACE):
                        await self._wake.wait()
                self._wake.clear()  # spent here: what woke it is looked at now
                continue
            else:  # up to what this process holds next: only what it does not hold is read back
                wanted = min(self._unheld(cursor), self._page_reports)
                read = await asyncio.to_thread(self._bus.archive.read_after, cursor, ReportFilter(), wanted)
                if not read:
                    return cursor
                self._page_reports = _reports_within(_PAGE_BYTES, read)
                self._bus.deliver(read[0].seq, read[-1].seq, read)  # the broker echoes none to this process
                messages = list(_batch_messages(_Held.read_back(read)))
                last = read[-1].seq
            await self._up.wait()
            try:
                await self._publish(messages)
            except Exception as error:  # noqa: BLE001 - again when the broker is back or takes it
                await self._refused(f"the report broker refused or lost a page: {error}")
                continue
            await self._say(True, f"the report broker at {self._url} takes the relay's pages")
            self.sent_from["memory" if batches else "archive"] += last - cursor
            cursor = self.relayed = last
            self._store_floor(cursor)
            if not batches and len(read) < wanted:  # all there is (what it holds comes next round)
                return cursor

    def _store_floor(self, cursor: int) -> None:
        """Store how far the relay has sent, at most once a poll (the stream holds the exact mark):
        a write per page or per commit would cost the database more than a restart saves. On a task
        of its own, one at a time: the relay does not wait for the database (a commit can take tens
        of milliseconds, and the reports committed meanwhile would wait with it)."""
        if (
            cursor > self._floor
            and time.monotonic() - self._floor_stored_at >= self._poll_seconds
            and (self._flooring is None or self._flooring.done())
        ):
            self._floor_stored_at = time.monotonic()
            self._flooring = asyncio.get_running_loop().create_task(self._write_floor(cursor))

    async def _write_floor(self, cursor: int) -> None:
        try:
            await asyncio.to_thread(self._store_cursor, cursor)
        except Exception:  # noqa: BLE001 - the database away: the next look stores it
            log.warning("storing the relay's floor failed", exc_info=True)
            self._floor_stored_at = 0.0
        else:
            self._floor = max(self._floor, cursor)

    def _from_memory(self, cursor: int) -> list[_Held]:
        """The commits held right after `cursor`, one after another (whole, up to about a page of
        reports or `_PAGE_BYTES`); none when the next report is not held."""
        for first in [first for first, batch in self._held.items() if batch.last_seq <= cursor]:
            self._forget(first)
        batches: list[_Held] = []
        size = volume = 0
        while size < _PAGE and volume < _PAGE_BYTES and (batch := self._held.get(cursor + size + 1)):
            batches.append(batch)
            size += len(batch)
            volume += batch.volume
        return batches

    def _unheld(self, cursor: int) -> int:
        """How many reports after `cursor` to read back: a page, or fewer when the ones after them
        are held (`seq` has no gaps, so the count reaches exactly that far)."""
        later = min((first for first in self._held if first > cursor), default=None)
        return _PAGE if later is None else min(_PAGE, later - cursor - 1)

    async def _persistently(self, what: str, ask: Callable[[], Awaitable[_T]]) -> _T:
        """`ask()`, again a poll later for as long as it fails (the broker or the database away)."""
        while True:
            try:
                return await ask()
            except Exception as error:  # noqa: BLE001 - away meanwhile: ask again
                log.warning("%s: %s", what, error)
                await asyncio.sleep(self._poll_seconds)

    async def _publish(self, messages: Sequence[_Message]) -> None:
        assert self._jetstream is not None
        assert self._nats is not None
        acks = []
        for m in _fitted(messages, self._nats.max_payload - _HEADER_ROOM):
            acks.append(await self._jetstream.publish_async(m.subject, m.body, headers=stream_headers(m.first, m.report_ids)))
        await asyncio.wait_for(asyncio.gather(*acks), timeout=10)

    def _archive_key(self) -> int:
        with self._engine.connect() as conn:
            return advisory_key(SEQUENCER, conn)

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

    async def _refused(self, why: str) -> None:
        """A page the broker did not take. Gone, the link waits to reconnect; still connected (an
        acknowledgement timed out, the stream was deleted, its storage is full), the relay says so
        and tries again a poll later, making the stream again should it be gone."""
        assert self._nats is not None
        if not self._nats.is_connected:
            await self._set_down(why)
        else:
            await self._say(False, why)
        await asyncio.sleep(self._poll_seconds)
        if self._nats.is_connected:
            with contextlib.suppress(Exception):  # still refused: the next page says so
                await self._ensure_stream()

    async def _set_up(self) -> None:
        self._up.set()
        self._announce()
        await self._say(True, f"the report broker at {self._url} is reachable")

    async def _set_down(self, why: str) -> None:
        self._up.clear()
        self._announce()
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


def stream_headers(first: int, report_ids: Sequence[str]) -> dict[str, str]:
    """A stream message's headers: its first report's cursor and how many it holds (a reader that
    has them drops it unread), and the id the stream drops a resend by."""
    count = len(report_ids)
    return {CURSOR_HEADER: str(first), COUNT_HEADER: str(count), "Nats-Msg-Id": f"{report_ids[0]}:{count}"}


def _run_of(headers: Mapping[str, str] | None) -> tuple[int, int]:
    """The first cursor and the count `stream_headers` gave a message; (0, 0) for any other,
    headers of the same names that are no numbers included: anyone may publish on the subjects,
    and a relay that raised on the stream's last message would never start."""
    headers = headers or {}
    try:
        first, count = int(headers.get(CURSOR_HEADER, "0")), int(headers.get(COUNT_HEADER, "0"))
    except ValueError:
        return (0, 0)
    return (first, count) if first > 0 and count > 0 else (0, 0)


def stream_config(max_age_seconds: float = STREAM_MAX_AGE_SECONDS) -> StreamConfig:
    """The stream the relay keeps: on disk, bounded by age (the archive keeps the long record), a
    resend within two minutes dropped by `Nats-Msg-Id`."""
    return StreamConfig(
        name=STREAM, subjects=[SUBJECTS], retention=RetentionPolicy.LIMITS, storage=StorageType.FILE,
        discard=DiscardPolicy.OLD, max_age=max_age_seconds, duplicate_window=120.0,
    )  # fmt: skip


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
    first, count = _run_of(last.headers)
    return first + count - 1 if count else 0


def _reports_within(volume: int, read: Sequence[ArchivedReport]) -> int:
    """How many reports the size of those `read` make about `volume` bytes (one to a page)."""
    return max(1, min(_PAGE, volume * len(read) // max(1, sum(len(report.payload) for report in read))))


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


def _memory_page(batches: Sequence[_Held]) -> list[_Message]:
    """The messages of the first `_PAGE` reports of consecutive `batches`, as the archive's page of
    them makes them: a run of one subject spans batches (its body joins their slices), so a page
    sent again from the archive goes as the same messages, which the stream then drops."""
    runs: list[list[_Message]] = []  # each run's pieces, joined once (not a copy per batch)
    room = _PAGE
    for batch in batches:
        taken = min(len(batch), room)
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


def _batch_messages(batch: _Held, taken: int | None = None) -> Iterator[_Message]:
    """The messages of a held batch's first `taken` reports (all, by default): each run of
    consecutive reports that share a subject, in cursor order (before `_fitted`). A batch that
    arrived framed lends its bytes, sliced, rather than being framed again."""
    taken = len(batch) if taken is None else taken
    framed, at = batch.framed, 0  # where the run starts in `framed`
    for start, end in pairwise(_run_starts(taken, batch.kinds, batch.bot_slugs, batch.epochs)):
        run = batch.payloads[start:end]
        if framed is None:
            body = frame_reports(run)
        elif end - start == len(batch):
            body = framed
        else:
            body = framed[at : at + framed_size(run)]
            at += len(body)
        subject = _subject(batch.kinds[start], batch.bot_slugs[start], batch.epochs[start])
        yield _Message(subject, batch.first_seq + start, tuple(batch.report_ids[start:end]), body)


def _run_starts(taken: int, *columns: Sequence[object]) -> list[int]:
    """Where each run of reports alike in every column starts among the first `taken`, then
    `taken`: compared a column at a time in C, and a column of one value throughout (a batch of one
    bot's, of one day) only counted."""
    if not taken:
        return [0]
    starts = {0, taken}
    for column in columns:
        if column.count(column[0]) != len(column):
            starts.update(compress(count(1), map(ne, islice(column, taken - 1), islice(column, 1, taken))))
    return sorted(starts)


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
