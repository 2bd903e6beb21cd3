"""`polytraders-gov console`: the read-only web console (fleet, P&L, SLOs, incidents, registry,
quarantine, backtests) over the SDK."""
