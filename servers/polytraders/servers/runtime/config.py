"""Server configuration: defaults that run on one machine, a TOML file, then POLYTRADERS_* env vars."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from polytraders.sdk.service_map import ServiceMap

DEFAULT_CONFIG_FILE = "polytraders.toml"


STREAM_MAX_AGE_SECONDS = 7 * 24 * 3600.0
"""How long the broker's stream keeps a report by default (the archive keeps the long record)."""


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    """Interface to listen on."""
    port: int = 50051
    """Port every group shares in the embedded default; 0 picks a free one."""
    database_url: str = "sqlite:///polytraders-governance.db"
    """SQLAlchemy URL; the default is a SQLite file (WAL) in the working directory."""
    upgrade_schema: bool | None = None
    """Bring a database that is behind to the code's schema at start (under a lock); unset means
    yes on SQLite (the embedded default) and no on PostgreSQL, where a deploy runs `db upgrade`."""
    bus_url: str = ""
    """NATS JetStream (e.g. nats://127.0.0.1:4222) carrying reports between processes; empty: the
    in-process bus only (one process, or processes that see each other's reports via the archive)."""
    bus_stream_max_age_s: float = STREAM_MAX_AGE_SECONDS
    """How long the broker's stream keeps a report (the archive keeps the 1- and 7-year record)."""
    leader_retry_seconds: float = 1.0
    """How often a standby tries to take a duty, and a leader checks it still holds it."""
    groups: tuple[str, ...] = ()
    """Bot groups to serve; empty serves every available group."""
    targets: ServiceMap | None = None
    """Where the groups this process does not serve are (a `[targets]` table: group = address or
    addresses); commands of those groups are sent there. None: this process serves them all, or
    does without."""
    mesh_token: str = ""
    """The bearer token (an operator's) this process sends to the others it calls."""
    command_timeout_seconds: float = 900.0
    """Deadline of a command run by another process (a day's reconcile may take minutes)."""
    tokens_file: str = "polytraders-tokens.toml"
    """Bearer tokens and their roles (see config/dev-tokens.toml)."""
    auth: bool = True
    """Switch bearer-token auth off only for local experiments: it is logged loudly."""
    tokens_reload_seconds: float = 0.5
    """How often the tokens file is checked for changes (a revoked token is refused within this)."""
    tls_cert: str = ""
    """PEM certificate (chain) the server presents; with tls_key, every port serves TLS only.
    Required unless the host is loopback. SIGHUP reloads it (and the tokens file)."""
    tls_key: str = ""
    """The certificate's PEM private key (unencrypted; keep the file readable by the server alone)."""
    tls_client_ca: str = ""
    """PEM CA bundle: set, every client must present a certificate it signed (mutual TLS), and a
    call without a bearer token is the principal the tokens file's [[certificate]] names."""
    tls_ca: str = ""
    """PEM roots the other processes' certificates chain to, for a split mesh over TLS (its
    [targets] written grpcs://); under mutual TLS this process presents tls_cert to them."""
    denied_records_per_minute: int = 60
    """Refused calls recorded one by one per minute (OperationsReport and user activity); the rest
    of the minute is one summary."""
    auth_failures_per_minute: int = 30
    """Refused credentials from one address in a minute before its calls are answered
    RESOURCE_EXHAUSTED (for up to a minute)."""
    max_message_bytes: int = 16 * 1024 * 1024
    """Largest request or response message."""
    max_batch_reports: int = 5000
    """Most reports one PublishReports call may carry."""
    drain_seconds: float = 10.0
    """How long SIGTERM waits for in-flight calls before closing."""
    subscriber_queue: int = 10_000
    """Live reports buffered per subscriber before it falls back to reading the archive."""
    follower_lag_limit: int = 10_000
    """Reports a bus follower (P&L, explainer, user activity...) may have still to take before its
    health says NOT_SERVING (fallen behind)."""
    follower_check_seconds: float = 5.0
    """How often each follower's lag is put in health."""
    metrics_port: int | None = None
    """Port of the Prometheus /metrics endpoint (0: any free port; `make run` uses 9464); unset:
    no metrics are served and calls are not timed for them."""
    metrics_host: str = "127.0.0.1"
    """Interface the /metrics endpoint listens on (plain HTTP: counts and timings, no secrets)."""
    min_paper_days: int = 14
    """Continuous paper-trading days a paper gate must show before LIMITED_LIVE."""
    require_positive_risk_adj: bool = True
    """Whether that paper gate must also show a positive risk-adjusted return."""
    min_limited_live_days: int = 7
    """Days in LIMITED_LIVE before GENERAL_LIVE."""
    builder_code: str = ""
    """Polytraders' bytes32 builder code; attribution and revenue need it (empty: they refuse to run)."""
    clob_url: str = ""
    """The CLOB's base URL; empty means polymarket-client's production environment."""
    clob_market_ws_url: str = ""
    """The CLOB's market websocket channel (paper trading's feed); empty means production's."""
    clob_requests_per_second: float = 5.0
    """Rate limit of every request governance makes to the CLOB."""
    clob_attempts: int = 5
    """Tries per CLOB request (transport errors, 429 and 5xx are retried)."""
    clob_backoff_seconds: float = 0.5
    """First wait before a retry; doubles per retry (a 429's Retry-After wins)."""
    volume_drift_tolerance: str = "0.001"
    """Attributed notional may differ by this share (0.001 = 0.1 %) per market and in total."""
    maker_addresses: tuple[str, ...] = ()
    """Our makers' addresses, whose daily rebates the revenue report reads."""
    builder_taker_fee_bps: int = 0
    """Our builder fee on taker fills (basis points of notional), for the expected-revenue column."""
    builder_maker_fee_bps: int = 0
    """Our builder fee on maker fills."""
    maker_rebate_share: str = "0.20"
    """Share of the taker fee a maker fill earns as rebate, when its report names none (20-25 % on Polymarket)."""
    maker_rebate_shares: tuple[str, ...] = ()
    """Per-market shares as "condition_id=share" (comma-separated in the environment)."""
    portfolio_manifest: str = ""
    """PortfolioSync's accounts and negative-risk events (TOML); empty syncs nothing."""
    sync_interval_s: float = 60.0
    """Time between PortfolioSync cycles."""
    discrepancy_alert_usd: str = "50"
    """A portfolio discrepancy worth more than this (pUSD) alerts as an error and may pause the strategy."""
    pause_on_discrepancy: bool = True
    """Whether such a discrepancy pauses the bot's strategy through the registry."""
    chain_rpc_url: str = ""
    """Polygon JSON-RPC endpoint; empty means polymarket-client's production RPC."""
    collateral_address: str = ""
    """pUSD's address; empty means polymarket-client's production CollateralToken."""
    conditional_tokens_address: str = ""
    """The Conditional Tokens (ERC-1155) address; empty means production's."""
    strategy_packages: tuple[str, ...] = ("strategies",)
    """Packages the backtester and the paper runner may import strategies from (nothing else)."""
    cron_manifest: str = ""
    """CronRunner's TOML manifest; empty means the governance default shipped with the package."""
    cron_poll_seconds: float = 1.0
    """CronRunner wakes when the next task is due, and at least this often (to notice clock jumps)."""
    fleet_manifest: str = ""
    """HealthHeartbeat's fleet (config/fleet.toml holds the 97 production bots); empty polls nothing."""
    heartbeat_interval_seconds: float = 10.0
    """Time between health sweeps of the fleet."""
    missed_heartbeats_to_alert: int = 3
    """Consecutive missed heartbeats before a bot is paged (and restarted, if it has a command)."""
    probe_deadline_seconds: float = 0.5
    """Deadline of one health probe."""
    slo_manifest: str = ""
    """The SLO definitions (every process counts its calls for them); empty means the default
    shipped with the package."""
    slo_flush_seconds: float = 5.0
    """How often a process adds its SLO counts to the shared table (SLAMonitor's evaluation is at
    most this far behind another process's calls)."""
    pager_webhook_url: str = ""
    """PagerDuty Events API v2 endpoint (or anything speaking it); empty pages to the log and the bus only."""
    pager_routing_key: str = ""
    """The integration's routing key."""
    incident_sev1_actions: tuple[str, ...] = ("pause_live", "flatten", "page")
    """Auto-actions of a SEV1 incident: pause_live, flatten, page."""
    incident_sev2_actions: tuple[str, ...] = ("page",)
    """Auto-actions of a SEV2 incident."""
    incident_sev3_actions: tuple[str, ...] = ("page",)
    """Auto-actions of a SEV3 incident."""
    incident_declarers: tuple[str, ...] = ()
    """Bot slugs (guards, monitors) whose tokens may declare incidents; operators always may."""

    @property
    def upgrades_schema(self) -> bool:
        if self.upgrade_schema is not None:
            return self.upgrade_schema
        return self.database_url.startswith("sqlite")

    def replace(self, **changes: Any) -> ServerConfig:
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _coerce(name: str, kind: str, raw: Any) -> Any:
    if kind in ("bool", "bool | None"):
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in _TRUE | _FALSE:
            return text in _TRUE
        raise ValueError(f"{name}: expected true or false, got {raw!r}")
    if kind in ("int", "int | None"):
        return int(raw)
    if kind == "float":
        return float(raw)
    if kind == "ServiceMap | None":
        return raw if isinstance(raw, ServiceMap) else ServiceMap.parse(str(raw))
    if kind == "tuple[str, ...]":
        items = raw if isinstance(raw, list | tuple) else str(raw).split(",")
        return tuple(s.strip() for s in items if s.strip())
    return str(raw)


def load_config(
    path: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None
) -> ServerConfig:
    """Defaults, overridden by the TOML file (if any), overridden by POLYTRADERS_* variables."""
    env = dict(os.environ if env is None else env)
    file = Path(path or env.get("POLYTRADERS_CONFIG", DEFAULT_CONFIG_FILE))
    values: dict[str, Any] = {}
    if file.exists():
        values.update(tomllib.loads(file.read_text()).get("server", {}))
        targets = ServiceMap.from_toml(file)
        if targets.targets:
            values["targets"] = targets
    elif path is not None:
        raise FileNotFoundError(file)
    fields = {f.name: str(f.type) for f in dataclasses.fields(ServerConfig)}  # postponed annotations: strings
    unknown = set(values) - set(fields)
    if unknown:
        raise ValueError(f"{file}: unknown [server] keys {sorted(unknown)}")
    for name in fields:
        key = f"POLYTRADERS_{name.upper()}"
        if key in env:
            values[name] = env[key]
    return ServerConfig(**{k: _coerce(k, fields[k], v) for k, v in values.items()})


__all__ = ["ServerConfig", "load_config"]
