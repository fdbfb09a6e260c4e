"""What the host lends every tool call, as the contract declares it: `ToolContext` reads these
and `toolpark.host.services.Services` provides them, so the plugin API stands on nothing of the host."""

from __future__ import annotations

from typing import Protocol

from mcp.server.session import ServerSession
from mcp_types import LoggingLevel

from toolpark.contract.documents import DocumentReader
from toolpark.contract.outbound import OutboundHTTP
from toolpark.contract.tenancy import TenancySettings

__all__ = ["HostServices", "Watchers"]


class Watchers(Protocol):
    """The log level each client session asked for, and who watches which resource."""

    def log_level(self, session: ServerSession) -> LoggingLevel: ...

    async def notify_updated(self, uri: str) -> None:
        """Tell every session subscribed to `uri` that it changed."""
        ...


class HostServices(Protocol):
    @property
    def tenancy(self) -> TenancySettings: ...

    @property
    def documents(self) -> DocumentReader: ...

    @property
    def egress(self) -> OutboundHTTP | None:
        """None until the host runs (`Host.running()`)."""
        ...

    @property
    def subscriptions(self) -> Watchers: ...
