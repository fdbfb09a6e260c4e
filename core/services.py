"""What the host lends to every tool call: shared clients, policies and bookkeeping."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.egress import Egress
from core.metrics import Metrics
from core.ratelimit import RateLimiter
from core.subscriptions import Subscriptions
from core.tenancy import TenancySettings

__all__ = ["Services"]


@dataclass
class Services:
    """One per host. `egress` exists while the host runs (`Host.running()`)."""

    tenancy: TenancySettings
    rate_limiter: RateLimiter | None = None
    subscriptions: Subscriptions = field(default_factory=Subscriptions)
    metrics: Metrics = field(default_factory=Metrics)
    egress: Egress | None = None
