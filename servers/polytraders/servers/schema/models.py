"""Every table of every group, on one `SQLModel.metadata`: what Alembic compares its revisions with."""

from __future__ import annotations

from sqlmodel import SQLModel

# Importing a group's modules registers its table models.
from polytraders.servers.attribution import fill_log
from polytraders.servers.attribution import store as attribution_store
from polytraders.servers.audit import config_history, user_activity
from polytraders.servers.ledger import book, explainer
from polytraders.servers.lifecycle import backtest, paper
from polytraders.servers.lifecycle import store as lifecycle_store
from polytraders.servers.operations import cron, heartbeat, incidents
from polytraders.servers.runtime import archive, jetstream, leadership, ledger, set_aside, slo_counts

MODULES = (
    archive, jetstream, leadership, ledger, set_aside, attribution_store, fill_log, config_history, user_activity, book, explainer,
    backtest, paper, lifecycle_store, cron, heartbeat, incidents, slo_counts,
)  # fmt: skip
"""The modules whose models make up the schema (named, so no import above reads as unused)."""

metadata = SQLModel.metadata
