"""What the host lends to every tool call: shared clients, policies and bookkeeping."""

from __future__ import annotations

from dataclasses import dataclass, field

from toolpark.contract.tenancy import TenancySettings
from toolpark.documents.parser import Documents
from toolpark.host.subscriptions import Subscriptions
from toolpark.host.tasks.registry import Tasks
from toolpark.host.tasks.shared_events import SharedEvents
from toolpark.host.tasks.spill import Spills
from toolpark.operations.metrics import Metrics
from toolpark.security.egress import Egress
from toolpark.security.ratelimit import RateLimiter

__all__ = ["Services"]


@dataclass
class Services:
    """One per host. `egress` exists while the host runs (`Host.running()`); `documents` starts its
    workers on first use and stops them when the host stops."""

    tenancy: TenancySettings
    documents: Documents
    tasks: Tasks
    spills: Spills
    rate_limiter: RateLimiter | None = None  # per caller and plugin, from [host]
    tool_limiters: dict[str, RateLimiter] = field(default_factory=dict)  # per tool that declares a RateLimit
    events: SharedEvents | None = None  # listen-stream events shared by replicas (shared_database_url)
    subscriptions: Subscriptions = field(default_factory=Subscriptions)
    metrics: Metrics = field(default_factory=Metrics)
    egress: Egress | None = None
