"""Governance operations the scheduler may run, as each bot group offers them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime

Command = Callable[[Mapping[str, str], datetime], Awaitable[str]]
"""(the task's arguments, the moment it was scheduled for) → what it did, in words. A caller's
mistake raises a GovernanceError; the dispatch is then recorded as failed with that message."""
