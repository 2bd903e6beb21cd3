"""A bot's configuration whose every edit is recorded, with replay-grade detail.

Edits apply at once, whatever governance is doing: the record (who, when, which keys, before and
after, why, and the whole configuration after) goes out as a SEVEN_YEARS SettlementReport
"config.change" through the non-blocking publisher, and ParameterChangeAuditor answers
`GetConfigAt` from those records. Values must be JSON-serialisable; Decimals are kept as strings.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from decimal import Decimal
from typing import Any

from polytraders.reports.v1 import reports_pb2 as rpb

from .report_builders import ReportBuilder

RECORD_TYPE = "config.change"
_ABSENT = object()


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, Decimals as strings: the same configuration always reads the same."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"),
                      default=lambda v: str(v) if isinstance(v, Decimal) else _refuse(v))  # fmt: skip


def _refuse(value: Any) -> Any:
    raise TypeError(f"configuration values must be JSON-serialisable, got {type(value).__name__}")


class AuditedConfig(MutableMapping[str, Any]):
    def __init__(
        self,
        initial: Mapping[str, Any],
        *,
        builder: ReportBuilder,
        publish: Callable[[rpb.Report], bool],
        actor: str,
        reason: str = "initial configuration",
    ) -> None:
        self._values: dict[str, Any] = {}
        self._builder = builder
        self._publish = publish
        self.actor = actor
        """Who `config[key] = value` is attributed to; `edit()` names its own actor."""
        self.edit(dict(initial), actor=actor, reason=reason, source="code")

    def edit(
        self,
        changes: Mapping[str, Any],
        *,
        actor: str,
        reason: str,
        source: str = "code",
        remove: tuple[str, ...] = (),
    ) -> None:
        """One recorded edit of several keys; `source` is "operator-cli", "rpc" or "code"."""
        before = {k: self._values[k] for k in [*changes, *remove] if k in self._values}
        canonical_json(dict(changes))  # refuse what cannot be recorded before anything changes
        for key in remove:
            self._values.pop(key, None)
        self._values.update(copy.deepcopy(dict(changes)))
        keys = sorted({*changes, *remove})
        details = {
            "actor": actor, "source": source, "reason": reason, "keys": keys,
            "before": before, "after": {k: self._values[k] for k in keys if k in self._values},
            "snapshot": self._values,
        }  # fmt: skip
        self._publish(
            self._builder.settlement(
                record_type=RECORD_TYPE, subject=self._builder.bot_slug, details_json=canonical_json(details),
                explanation=f"{actor} changed {', '.join(keys) or 'nothing'} ({source}): {reason}",
            )
        )  # fmt: skip

    def snapshot(self) -> dict[str, Any]:
        return copy.deepcopy(self._values)

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.edit({key: value}, actor=self.actor, reason=f"set {key}", source="code")

    def __delitem__(self, key: str) -> None:
        if key not in self._values:
            raise KeyError(key)
        self.edit({}, actor=self.actor, reason=f"removed {key}", source="code", remove=(key,))

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)
