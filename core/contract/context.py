"""What a tool receives about its call: settings, state, and the ways to talk back to the client."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.resolve import ElicitationResult
from mcp.shared.exceptions import MCPDeprecationWarning
from mcp_types import CreateMessageResult, LoggingLevel, SamplingMessage, TextContent
from pydantic import BaseModel

from toolpark.security.egress import Egress
from toolpark.security.identity import Identity
from toolpark.security.tenancy import TenantScope

if TYPE_CHECKING:
    from toolpark.documents.parser import Documents
    from toolpark.host.services import Services

__all__ = ["ToolContext"]

SettingsT = TypeVar("SettingsT")
StateT = TypeVar("StateT")
SchemaT = TypeVar("SchemaT", bound=BaseModel)

_LEVELS: tuple[LoggingLevel, ...] = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")


class ToolContext(Generic[SettingsT, StateT]):
    """The context of one tool call.

    `settings` is the plugin's settings, `state` what its lifespan yielded, `identity` the caller
    and `tenant` the namespaces it may use. `egress` is the safe client for user-supplied URLs,
    `documents` the host's parser for untrusted documents.
    The methods send progress, log messages and resource updates to the client, and ask it for
    sampling or elicitation. `sdk` is the MCP SDK's own context, for what this class does not cover.
    """

    __slots__ = ("_services", "_tenant", "identity", "plugin", "sdk", "settings", "state")

    def __init__(
        self,
        *,
        plugin: str,
        settings: SettingsT,
        state: StateT,
        identity: Identity,
        sdk: Context[Any, Any],
        services: Services,
    ) -> None:
        self.plugin = plugin
        self.settings = settings
        self.state = state
        self.identity = identity
        self.sdk = sdk
        self._services = services
        self._tenant: TenantScope | None = None

    @property
    def tenant(self) -> TenantScope:
        """The namespaces of data this caller may read and write."""
        if self._tenant is None:
            self._tenant = TenantScope.of(self.identity, self._services.tenancy)
        return self._tenant

    @property
    def egress(self) -> Egress:
        """The host's outbound HTTP client for user-supplied URLs (SSRF-safe)."""
        if self._services.egress is None:
            raise RuntimeError("outbound HTTP is available only while the host runs")
        return self._services.egress

    @property
    def documents(self) -> Documents:
        """The host's document parser (PDF text, OCR, rendering, tables) in worker processes."""
        return self._services.documents

    @property
    def request_id(self) -> str:
        return self.sdk.request_id

    @property
    def headers(self) -> Mapping[str, str]:
        """The HTTP request's headers (lower-case names); empty over stdio."""
        return self.sdk.headers or {}

    async def progress(self, done: float, total: float | None = None, message: str | None = None) -> None:
        """Report progress; sent only when the client asked for it with a progress token."""
        await self.sdk.report_progress(done, total, message)

    async def log(self, level: LoggingLevel, message: str, **data: Any) -> None:
        """Send a log message to the client, honouring the level it set with `logging/setLevel`."""
        if _LEVELS.index(level) < _LEVELS.index(self._services.subscriptions.log_level(self.sdk.session)):
            return
        payload: Any = {"message": message, **data} if data else message
        # The SDK marks client logging deprecated for the 2026-07-28 protocol; handshake-era
        # clients such as LibreChat still rely on it.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            await self.sdk.log(level, payload, logger_name=self.plugin)

    async def sample(self, prompt: str, *, max_tokens: int = 512, system_prompt: str | None = None) -> str:
        """Ask the client's model to complete `prompt`; returns its text."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            result: CreateMessageResult = await self.sdk.session.create_message(
                messages=[SamplingMessage(role="user", content=TextContent(type="text", text=prompt))],
                max_tokens=max_tokens,
                system_prompt=system_prompt,
                related_request_id=self.sdk.request_id,
            )
        content = result.content
        return content.text if isinstance(content, TextContent) else ""

    async def elicit(self, message: str, schema: type[SchemaT]) -> ElicitationResult[SchemaT]:
        """Ask the user for structured input described by a flat pydantic model."""
        return await self.sdk.elicit(message, schema)

    async def resource_updated(self, uri: str) -> None:
        """Tell every client watching `uri` that it changed.

        Handshake-era clients subscribed with `resources/subscribe`; clients of the 2026-07-28
        protocol listen with `subscriptions/listen`, which the SDK's event bus serves.
        """
        await self._services.subscriptions.notify_updated(uri)
        await self.sdk.notify_resource_updated(uri)
