"""PortfolioSync: what governance believes each bot holds, checked against the CLOB and the chain.

Governance's view: positions from the P&L ledger, open orders and pUSD movements from the bots'
ExecutionReports (ACCEPTED opens an order, FILLs fill it, CANCELLED/REJECTED close it; each
fill moves pUSD by its notional and fee). Every cycle reads each account's open orders from the
CLOB and its pUSD and outcome-token balances from the chain, and compares:

- pUSD: the balance the last cycle read, plus the fills since, against the balance now (each
  cycle re-bases, so a movement is reported once);
- tokens: the ledger's size against the chain's balance, except in a negative-risk event, where
  the payoff of the holdings in every outcome is compared instead (NO on one outcome is the same
  exposure as YES on all the others), so a conversion is not a discrepancy;
- open orders: the CLOB's against governance's, both ways.

A discrepancy's value (pUSD) above `discrepancy_alert_usd` raises an ERROR alert and, when
configured, pauses the bot's strategy through the registry with the evidence as the reason.
A cycle that cannot read the CLOB or the chain is reported as failed: nothing is compared, nothing
paused, and a missing answer is never read as zero.

Scheduled cycles are a duty one process leads: each cycle is stored under the duty's fencing token
before anything is alerted or paused (a deposed leader acts on nothing), and GetLastSync answers
from the stored cycle on every replica.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tomllib
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from polymarket.errors import PolymarketError
from sqlalchemy import Engine

from polytraders.clients.chain import ChainUnavailable
from polytraders.governance.v1 import ledger_pb2 as pb
from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk.clock import Clock, to_timestamp
from polytraders.sdk.config import canonical_json
from polytraders.servers.runtime.alerts import Alert, AlertSink
from polytraders.servers.runtime.archive import ReportFilter
from polytraders.servers.runtime.bus import ReportBus
from polytraders.servers.runtime.commands import Command
from polytraders.servers.runtime.leadership import current_fence, read_result, save_result
from polytraders.servers.runtime.reporter import GovernanceReporter
from polytraders.servers.runtime.set_aside import SetAside

from .book import PnLLedger
from .pnl import notional

log = logging.getLogger(__name__)
COMPONENT = "portfolio-sync"
SYNC_CYCLE = "ledger.portfolio-sync"
"""The duty result: the last cycle."""


@dataclass(frozen=True)
class Account:
    bot_slug: str
    strategy_slug: str
    address: str
    private_key_env: str
    """The environment variable holding the key the CLOB client authenticates with (never the file)."""


@dataclass(frozen=True)
class NegRiskEvent:
    event_id: str
    outcomes: tuple[tuple[str, str], ...]
    """(YES token, NO token) of every outcome of the event."""

    def payoffs(self, sizes: Mapping[str, int]) -> list[int]:
        """What the holdings pay, in micro-pUSD, if each outcome wins."""
        return [sum(sizes.get(yes, 0) if j == k else sizes.get(no, 0) for j, (yes, no) in enumerate(self.outcomes))
                for k in range(len(self.outcomes))]  # fmt: skip

    @property
    def tokens(self) -> set[str]:
        return {token for pair in self.outcomes for token in pair}


def load_portfolio(path: str | Path) -> tuple[list[Account], list[NegRiskEvent]]:
    """`[[account]]` (bot_slug, strategy_slug, address, private_key_env) and `[[neg_risk_event]]`
    (event_id, outcomes = [{yes = "...", no = "..."}]) tables."""
    data = tomllib.loads(Path(path).read_text())
    try:
        accounts = [Account(a["bot_slug"], a["strategy_slug"], a["address"], a["private_key_env"])
                    for a in data.get("account", [])]  # fmt: skip
        events = [NegRiskEvent(e["event_id"], tuple((o["yes"], o["no"]) for o in e["outcomes"]))
                  for e in data.get("neg_risk_event", [])]  # fmt: skip
    except KeyError as missing:
        raise ValueError(f"{path}: an entry has no {missing}") from None
    return accounts, events


class Chain(Protocol):
    def collateral_balance(self, owner: str) -> int: ...
    def token_balances(self, owner: str, token_ids: Sequence[str]) -> dict[str, int]: ...


class OpenOrders(Protocol):
    def open_orders(self) -> list[Any]: ...
    def close(self) -> None: ...


@dataclass
class _Order:
    token_id: str
    price: Decimal
    size: int
    filled: int = 0

    @property
    def remaining_value(self) -> int:
        return notional(self.price, max(0, self.size - self.filled))


@dataclass
class _BotView:
    orders: dict[str, _Order] = field(default_factory=dict)
    cash_since_sync: int = 0
    counted: set[str] = field(default_factory=set)
    """Fills whose pUSD was counted (a later status of the same fill moves nothing again)."""
    collateral: int | None = None
    """The pUSD balance the last good cycle read."""


@dataclass(frozen=True)
class _Read:
    collateral: int
    tokens: dict[str, int]
    orders: dict[str, Any]


class PortfolioSync:
    def __init__(
        self,
        accounts: Sequence[Account],
        events: Sequence[NegRiskEvent],
        ledger: PnLLedger,
        chain: Callable[[], Chain],
        orders: Callable[[Account], OpenOrders],
        bus: ReportBus,
        engine: Engine,
        clock: Clock,
        reporter: GovernanceReporter,
        alerts: AlertSink,
        *,
        threshold_micros: int,
        pause: Command | None,
    ) -> None:
        self._accounts = list(accounts)
        self._events = list(events)
        self._ledger = ledger
        self._chain = chain
        self._orders = orders
        self._bus = bus
        self._engine = engine
        self._clock = clock
        self._reporter = reporter
        self._alerts = alerts
        self._threshold = threshold_micros
        self._pause = pause
        self._views: dict[str, _BotView] = defaultdict(_BotView)
        self._cycles = 0
        self._lock = asyncio.Lock()
        self._bots = frozenset(a.bot_slug for a in self._accounts)
        self._caught_up = asyncio.Event()

    def observe(self, report: rpb.Report) -> None:
        """Governance's view of a bot's open orders and pUSD: its ExecutionReports, and the pUSD a
        negative-risk conversion paid it (PnLReporter's `pnl.conversion` records)."""
        if report.HasField("settlement"):
            if report.settlement.record_type == "pnl.conversion" and report.settlement.subject in self._bots:
                self._views[report.settlement.subject].cash_since_sync += report.settlement.cash_delta_micros
            return
        e, view = report.execution, self._views[report.header.bot_slug]
        if e.event == rpb.EXECUTION_EVENT_ORDER_ACCEPTED and e.order_id:
            view.orders[e.order_id] = _Order(e.token_id, Decimal(e.price or "0"), e.size_micros)
        elif e.event in (rpb.EXECUTION_EVENT_ORDER_CANCELLED, rpb.EXECUTION_EVENT_ORDER_REJECTED):
            view.orders.pop(e.order_id, None)
        elif e.event == rpb.EXECUTION_EVENT_FILL:
            key = f"{e.trade_id}:{e.liquidity}:{e.order_id}"
            if key in view.counted or e.trade_status.upper().endswith("FAILED"):
                return
            view.counted.add(key)
            amount = notional(Decimal(e.price or "0"), e.filled_size_micros)
            view.cash_since_sync += (amount if e.side == rpb.SIDE_SELL else -amount) - e.fee_micros
            order = view.orders.get(e.order_id)
            if order is not None:
                order.filled += e.filled_size_micros
                if order.filled >= order.size:
                    del view.orders[e.order_id]

    async def follow(self, set_aside: SetAside) -> None:
        """Replay the archive (no cycle runs before this is done: it would judge a half-built view),
        then follow live reports; one the view cannot take is set aside."""
        executions = ReportFilter(kinds=frozenset({rpb.REPORT_KIND_EXECUTION}), bot_slugs=self._bots,
                                  modes=frozenset({rpb.MODE_LIVE}))  # fmt: skip
        conversions = ReportFilter(
            kinds=frozenset({rpb.REPORT_KIND_SETTLEMENT}), bot_slugs=frozenset({"pnl-reporter"})
        )
        both = ReportFilter(kinds=executions.kinds | conversions.kinds)
        last = 0
        while True:
            page = await asyncio.to_thread(self._bus.archive.read_after, last, both, 5000)
            for archived in page:
                if executions.matches(archived) or conversions.matches(archived):
                    await self._observe(archived, set_aside)
            if page:
                last = page[-1].seq
            if len(page) < 5000:
                break
        self._caught_up.set()
        async for archived in self._bus.subscribe(both, after_seq=last):
            if executions.matches(archived) or conversions.matches(archived):
                await self._observe(archived, set_aside)

    async def _observe(self, archived: Any, set_aside: SetAside) -> None:
        report = rpb.Report.FromString(archived.payload)
        try:
            self.observe(report)
        except ArithmeticError:
            log.warning("report %s has no usable price", archived.report_id)
        except Exception as error:  # noqa: BLE001 - one report must not blind the view to the rest
            await set_aside.put(COMPONENT, archived.seq, report, error)

    def _read(self, positions: Mapping[str, list[pb.Position]]) -> dict[str, _Read]:
        """Everything the outside world says, for every account, or an exception: all or nothing."""
        chain = self._chain()
        found = {}
        for account in self._accounts:
            tokens = {p.token_id for p in positions.get(account.bot_slug, []) if not p.resolved}
            tokens |= {t for event in self._events for t in event.tokens}
            odd = sorted(t for t in tokens if not t.isdigit())
            if odd:
                raise ValueError(f"token ids must be uint256 decimals to be read on chain: {odd}")
            reader = self._orders(account)
            try:
                orders = {o.id: o for o in reader.open_orders()}
            finally:
                reader.close()
            found[account.bot_slug] = _Read(chain.collateral_balance(account.address),
                                            chain.token_balances(account.address, sorted(tokens)), orders)  # fmt: skip
        return found

    async def cycle(self) -> pb.SyncCycle:
        """Read the world, compare, then store the outcome under the duty's fencing token before
        alerting or pausing anything: a deposed leader acts on nothing."""
        await self._caught_up.wait()
        async with self._lock:
            fence = current_fence()
            # cycles count on from the last one stored, whichever process ran it (SyncNow runs anywhere)
            stored = await asyncio.to_thread(read_result, self._engine, SYNC_CYCLE, pb.SyncCycle)
            self._cycles = max(self._cycles, stored.cycle if stored else 0) + 1
            result = pb.SyncCycle(
                cycle=self._cycles, at=to_timestamp(self._clock.now()), accounts=len(self._accounts)
            )
            positions: dict[str, list[pb.Position]] = {}
            for account in self._accounts:
                positions[account.bot_slug] = await self._ledger.positions(
                    account.bot_slug, include_closed=True
                )
            try:
                read = await asyncio.to_thread(self._read, positions)
            except (PolymarketError, ValueError, *ChainUnavailable) as error:
                result.ok = False
                result.failure = f"{type(error).__name__}: {error}"
                await asyncio.to_thread(save_result, self._engine, SYNC_CYCLE, result, fence)
                await self._report_failure(result)
                return result
            result.ok = True
            for account in self._accounts:
                result.discrepancies.extend(
                    self._compare(account, positions[account.bot_slug], read[account.bot_slug])
                )
            await asyncio.to_thread(save_result, self._engine, SYNC_CYCLE, result, fence)
            await self._act(result)
            if result.paused_strategies:
                await asyncio.to_thread(save_result, self._engine, SYNC_CYCLE, result, fence)
            return result

    def _compare(
        self, account: Account, positions: list[pb.Position], read: _Read
    ) -> list[pb.PortfolioDiscrepancy]:
        bot, view = account.bot_slug, self._views[account.bot_slug]
        found = []

        def discrepancy(
            subject: str, ref: str, expected: str, actual: str, value: int, why: str, risk: bool = True
        ) -> None:
            """`risk`: money or tokens missing, or an order nobody reported; a surplus is told, never acted on."""
            found.append(pb.PortfolioDiscrepancy(bot_slug=bot, subject=subject, ref=ref, expected=expected, actual=actual,
                                                 value_micros=value, explanation=why,
                                                 above_threshold=risk and value > self._threshold))  # fmt: skip

        if view.collateral is not None:
            expected = view.collateral + view.cash_since_sync
            if read.collateral != expected:
                gap = read.collateral - expected
                discrepancy("collateral", account.address, str(expected), str(read.collateral), abs(gap),
                            f"{bot}'s pUSD is {read.collateral} micro-units on chain; its fills since the last sync "
                            f"explain {expected}: {gap:+} moved outside the bot", gap < 0)  # fmt: skip
        view.collateral, view.cash_since_sync = read.collateral, 0  # each cycle re-bases
        sizes = {
            p.token_id: p.size_micros for p in positions if not p.resolved
        }  # resolved ones await redemption
        marks = {p.token_id: Decimal(p.mark) for p in positions if p.mark}
        in_events = set()
        for event in self._events:
            in_events |= event.tokens
            our_payoffs, chain_payoffs = event.payoffs(sizes), event.payoffs(read.tokens)
            if our_payoffs != chain_payoffs:
                worst = max(abs(a - b) for a, b in zip(our_payoffs, chain_payoffs, strict=True))
                discrepancy("neg_risk_event", event.event_id, ",".join(map(str, our_payoffs)),
                            ",".join(map(str, chain_payoffs)), worst,
                            f"{bot}'s holdings in negative-risk event {event.event_id} pay {chain_payoffs} (micro-pUSD "
                            f"per outcome) on chain, {our_payoffs} by governance's ledger")  # fmt: skip
        for token in sorted(set(sizes) | set(read.tokens)):
            if token in in_events:
                continue
            ours, chain = sizes.get(token, 0), read.tokens.get(token, 0)
            if ours != chain:
                value = notional(marks.get(token, Decimal(1)), abs(chain - ours))
                discrepancy("token", token, str(ours), str(chain), value,
                            f"{bot} holds {chain} micro-shares of token {token} on chain; governance's ledger says {ours}",
                            chain < ours)  # fmt: skip
        for order_id, order in sorted(read.orders.items()):
            if order_id not in view.orders:
                remaining = int((order.original_size - order.size_matched) * 1_000_000)
                discrepancy("open_order", order_id, "absent", f"{remaining}@{order.price}", notional(order.price, remaining),
                            f"the CLOB lists open order {order_id} of {bot} ({order.side} {remaining} micro-shares of "
                            f"token {order.asset_id} at {order.price}); the bot never reported it to governance")  # fmt: skip
        for order_id, order in sorted(view.orders.items()):
            if order_id not in read.orders:
                discrepancy("open_order", order_id, f"{order.size - order.filled}@{order.price}", "absent",
                            order.remaining_value,
                            f"governance believes {bot}'s order {order_id} is open; the CLOB does not list it")  # fmt: skip
        return found

    async def _act(self, result: pb.SyncCycle) -> None:
        by_bot: dict[str, list[pb.PortfolioDiscrepancy]] = defaultdict(list)
        for d in result.discrepancies:
            by_bot[d.bot_slug].append(d)
        strategies = {a.bot_slug: a.strategy_slug for a in self._accounts}
        for bot, found in sorted(by_bot.items()):
            above = [d for d in found if d.above_threshold]
            evidence = "; ".join(d.explanation for d in found)
            await self._alerts.send(Alert(COMPONENT, f"portfolio:{bot}", rpb.SEVERITY_ERROR if above else rpb.SEVERITY_WARNING,
                                          f"portfolio sync found {len(found)} discrepancies for {bot}: {evidence}",
                                          {"bot_slug": bot, "above_threshold": str(len(above))}))  # fmt: skip
            if above and self._pause is not None:
                reason = f"PortfolioSync cycle {result.cycle}: {evidence}"
                try:
                    await self._pause({"slug": strategies[bot], "reason": reason}, self._clock.now())
                    result.paused_strategies.append(strategies[bot])
                except Exception as error:  # noqa: BLE001 - the alert stands; why the pause failed is logged
                    log.error("could not pause %s for %s: %s", strategies[bot], bot, error)
        for account in self._accounts:
            mine = by_bot.get(account.bot_slug, [])
            details = {"cycle": result.cycle, "discrepancies": [
                {"subject": d.subject, "ref": d.ref, "expected": d.expected, "actual": d.actual, "value_micros": d.value_micros}
                for d in mine]}  # fmt: skip
            await self._reporter.record(
                "portfolio.sync", account.bot_slug,
                f"portfolio sync cycle {result.cycle} for {account.bot_slug}: "
                + (f"{len(mine)} discrepancies" if mine else "governance's view matches the CLOB and the chain"),
                canonical_json(details),
            )  # fmt: skip
        status = rpb.COMPONENT_STATUS_DEGRADED if result.discrepancies else rpb.COMPONENT_STATUS_HEALTHY
        await self._reporter.operations(COMPONENT, "portfolio.sync", status,
                                        rpb.SEVERITY_WARNING if result.discrepancies else rpb.SEVERITY_INFO,
                                        f"sync cycle {result.cycle}: {len(result.discrepancies)} "
                                        f"discrepancies over {result.accounts} accounts",
                                        {"cycle": str(result.cycle), "discrepancies": str(len(result.discrepancies)),
                                         "paused": ",".join(result.paused_strategies)})  # fmt: skip

    async def _report_failure(self, result: pb.SyncCycle) -> None:
        explanation = f"sync cycle {result.cycle} FAILED, nothing compared or paused: {result.failure}"
        await self._reporter.operations(COMPONENT, "portfolio.sync", rpb.COMPONENT_STATUS_DOWN, rpb.SEVERITY_ERROR,
                                        explanation, {"cycle": str(result.cycle)})  # fmt: skip
        await self._alerts.send(Alert(COMPONENT, "portfolio:sync", rpb.SEVERITY_ERROR, explanation))

    async def last(self) -> pb.SyncCycle:
        """The last cycle, whichever process ran it."""
        stored = await asyncio.to_thread(read_result, self._engine, SYNC_CYCLE, pb.SyncCycle)
        return stored or pb.SyncCycle()


def private_key(account: Account) -> str:
    key = os.environ.get(account.private_key_env, "")
    if not key:
        raise ValueError(f"{account.bot_slug}: environment variable {account.private_key_env} holds no key")
    return key
