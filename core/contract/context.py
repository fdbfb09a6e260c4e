"""What a tool receives about its call: settings, state, and the ways to talk back to the client."""

from __future__ import annotations

import warnings
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Generic, TypeVar

from mcp.server.elicitation import (
    AcceptedElicitation,
    CancelledElicitation,
    DeclinedElicitation,
    render_elicitation_schema,
)
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.resolve import ElicitationResult
from mcp.shared.exceptions import MCPDeprecationWarning
from mcp_types import (
    CreateMessageRequest,
    CreateMessageRequestParams,
    CreateMessageResult,
    ElicitRequest,
    ElicitRequestFormParams,
    ElicitResult,
    InputRequest,
    ListRootsRequest,
    ListRootsResult,
    LoggingLevel,
    Root,
    SamplingMessage,
    TextContent,
)
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import BaseModel, ValidationError

from toolpark.contract.asking import Answer, Asker, BackgroundTask, question_key
from toolpark.contract.documents import DocumentReader
from toolpark.contract.errors import ToolError, describe_validation_error
from toolpark.contract.identity import Identity
from toolpark.contract.outbound import OutboundHTTP
from toolpark.contract.services import HostServices
from toolpark.contract.tenancy import TenantScope

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
    elicitation, sampling or its roots, the same code in every protocol era (see `toolpark.host.tasks.asking`).
    A tool declared with `task=True` calls `background()` where the rest may run as a task.
    `sdk` is the MCP SDK's own context, for what this class does not cover.
    """

    __slots__ = (
        "_asked",
        "_asker",
        "_detach",
        "_services",
        "_task",
        "_tenant",
        "identity",
        "plugin",
        "sdk",
        "settings",
        "state",
    )

    def __init__(
        self,
        *,
        plugin: str,
        settings: SettingsT,
        state: StateT,
        identity: Identity,
        sdk: Context[Any, Any],
        services: HostServices,
        asker: Asker,
        detach: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.plugin = plugin
        self.settings = settings
        self.state = state
        self.identity = identity
        self.sdk = sdk
        self._services = services
        self._tenant: TenantScope | None = None
        self._asker = asker
        self._asked = 0
        self._detach = detach
        self._task: BackgroundTask | None = None  # set once the call runs as a task

    @property
    def tenant(self) -> TenantScope:
        """The namespaces of data this caller may read and write."""
        if self._tenant is None:
            self._tenant = TenantScope.of(self.identity, self._services.tenancy)
        return self._tenant

    @property
    def egress(self) -> OutboundHTTP:
        """The host's outbound HTTP client for user-supplied URLs (SSRF-safe)."""
        if self._services.egress is None:
            raise RuntimeError("outbound HTTP is available only while the host runs")
        return self._services.egress

    @property
    def documents(self) -> DocumentReader:
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
        """Report progress: to a client that asked for it with a progress token, or, in a task, as the
        task's status message."""
        if self._task is not None:
            self._task.touch(message or (f"{done:g} of {total:g}" if total else f"{done:g}"))
            return
        await self.sdk.report_progress(done, total, message)

    async def log(self, level: LoggingLevel, message: str, **data: Any) -> None:
        """Send a log message to the client, honouring the level it set with `logging/setLevel`.
        A task's request is over, so nothing is sent for it."""
        if self._task is not None:
            return
        if _LEVELS.index(level) < _LEVELS.index(self._services.subscriptions.log_level(self.sdk.session)):
            return
        payload: Any = {"message": message, **data} if data else message
        # The SDK marks client logging deprecated for the 2026-07-28 protocol; handshake-era
        # clients such as LibreChat still rely on it.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            await self.sdk.log(level, payload, logger_name=self.plugin)

    def run_as_task(self, task: BackgroundTask, asker: Asker) -> None:
        """The host moved this call into `task`: progress becomes its status, questions go to `asker`
        (which parks the task until they are answered)."""
        self._task = task
        self._asker = asker

    async def background(self) -> None:
        """Let the rest of the call run as a task when the client takes tasks (the call returns the task
        now; questions asked later park the task). Elsewhere it does nothing and the call goes on.
        Only tools declared with `task=True` have it; questions belong before it."""
        if self._detach is not None:
            await self._detach()

    async def elicit(
        self, message: str, schema: type[SchemaT], *, key: str | None = None
    ) -> ElicitationResult[SchemaT]:
        """Ask the user for structured input described by a flat pydantic model.

        `key` names the question on the wire (2026-07-28 `inputRequests`); by default the host
        derives one from the question.
        """
        request = ElicitRequest(
            params=ElicitRequestFormParams(message=message, requested_schema=render_elicitation_schema(schema))
        )
        answer = await self._ask("elicit", request, key)
        assert isinstance(answer, ElicitResult)
        if answer.action == "decline":
            return DeclinedElicitation()
        if answer.action == "cancel":
            return CancelledElicitation()
        try:
            return AcceptedElicitation(data=schema.model_validate(answer.content or {}))
        except ValidationError as exc:
            raise ToolError(
                f"The answer to '{message}' did not fit the form asked for ({describe_validation_error('form', exc)})"
            ) from exc

    async def sample(
        self, prompt: str, *, max_tokens: int = 512, system_prompt: str | None = None, key: str | None = None
    ) -> str:
        """Ask the client's model to complete `prompt`; returns its text."""
        request = CreateMessageRequest(
            params=CreateMessageRequestParams(
                messages=[SamplingMessage(role="user", content=TextContent(type="text", text=prompt))],
                max_tokens=max_tokens,
                system_prompt=system_prompt,
            )
        )
        answer = await self._ask("sample", request, key)
        assert isinstance(answer, CreateMessageResult)
        content = answer.content
        return content.text if isinstance(content, TextContent) else ""

    async def roots(self, *, key: str | None = None) -> list[Root]:
        """The client's roots (the folders or files it shares)."""
        answer = await self._ask("roots", ListRootsRequest(), key)
        assert isinstance(answer, ListRootsResult)
        return answer.roots

    async def _ask(self, kind: str, request: InputRequest, key: str | None) -> Answer:
        self._asked += 1
        return await self._asker.ask(key or question_key(kind, self._asked, request), request)

    async def tools_changed(self) -> None:
        """Tell the client the tool listing changed, e.g. the values a plugin offers (`Plugin.choices`):
        on 2026-07-28 to its `subscriptions/listen` streams, on a handshake-era session to that session."""
        await self.sdk.notify_tools_changed()
        if self.sdk.protocol_version not in MODERN_PROTOCOL_VERSIONS:
            await self.sdk.session.send_tool_list_changed()

    async def prompts_changed(self) -> None:
        """Tell the client the prompt listing changed, as `tools_changed` does for tools."""
        await self.sdk.notify_prompts_changed()
        if self.sdk.protocol_version not in MODERN_PROTOCOL_VERSIONS:
            await self.sdk.session.send_prompt_list_changed()

    async def resource_updated(self, uri: str) -> None:
        """Tell every client watching `uri` that it changed.

        Handshake-era clients subscribed with `resources/subscribe`; clients of the 2026-07-28
        protocol listen with `subscriptions/listen`, which the SDK's event bus serves.
        """
        await self._services.subscriptions.notify_updated(uri)
        await self.sdk.notify_resource_updated(uri)
