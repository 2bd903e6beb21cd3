"""What Polytraders bots import to reach governance.

from polytraders.sdk import Governance, OrderIntent, serve_health

gov = Governance("127.0.0.1:50051", token=..., bot_slug="momentum-btc-1h", builder_code="0x…")
order = gov.tag_order(OrderIntent.limit(token_id, "BUY", Decimal("0.43"), Decimal("25")))
gov.reports.publish(gov.builder.decision(strategy_slug="momentum", explanation="…"))
health = serve_health("momentum-btc-1h", port=7001)
"""

from .calls import CallOptions
from .client import AsyncGovernance, Governance
from .clock import Clock, ManualClock, SystemClock
from .errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    FieldViolation,
    GovernanceError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    UnauthenticatedError,
    UnavailableError,
)
from .families import Asyncio, Blocking
from .health import serve_health, serve_health_async
from .metrics import PublisherMetrics
from .publisher import PublisherClosed, PublisherConfig, PublisherStats
from .report_builders import ReportBuilder, new_report_id
from .service_map import ServiceMap
from .tagging import BYTES32_ZERO, BuilderCode, BuilderCodeError, OrderIntent
from .transport import TlsOptions

__all__ = [
    "AlreadyExistsError",
    "AsyncGovernance",
    "Asyncio",
    "BYTES32_ZERO",
    "Blocking",
    "BuilderCode",
    "BuilderCodeError",
    "CallOptions",
    "Clock",
    "FailedPreconditionError",
    "FieldViolation",
    "Governance",
    "GovernanceError",
    "InvalidArgumentError",
    "ManualClock",
    "NotFoundError",
    "OrderIntent",
    "PermissionDeniedError",
    "PublisherClosed",
    "PublisherConfig",
    "PublisherMetrics",
    "PublisherStats",
    "ReportBuilder",
    "ServiceMap",
    "SystemClock",
    "TlsOptions",
    "UnauthenticatedError",
    "UnavailableError",
    "new_report_id",
    "serve_health",
    "serve_health_async",
]
