"""The host: runs loaded plugins and serves them over stdio or streamable HTTP.

Over HTTP one ASGI app serves each plugin at `/<plugin>/mcp`, optionally all of them together
at `/mcp`, plus `/healthz` (the process answers) and `/readyz` (every plugin can serve).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import anyio
import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.transport_security import RequestBodyLimitMiddleware, TransportSecuritySettings
from mcp_types import Tool as McpTool
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Scope

from toolpark.documents.parser import Documents
from toolpark.host.config import HostConfig
from toolpark.host.runtime import PluginRuntime
from toolpark.host.server import build_server, hosts_own
from toolpark.host.services import Services
from toolpark.host.tasks.ledger import TaskLedger
from toolpark.host.tasks.registry import Tasks
from toolpark.host.tasks.shared_events import SharedEvents
from toolpark.host.tasks.shared_ledger import SharedLedger
from toolpark.host.tasks.spill import Spills
from toolpark.host.toolsearch import SEARCH_LISTING
from toolpark.host.transport.connections import BodyTimeout, header_timeout_protocol
from toolpark.host.transport.events import MemoryEventStore
from toolpark.host.transport.exchange import StatelessJson
from toolpark.host.transport.sessions import SessionQuota
from toolpark.operations.budget import tool_list_tokens
from toolpark.operations.memory import keep_trimmed
from toolpark.operations.metrics import current_tool
from toolpark.sdk import lowlevel, use_fast_line_split
from toolpark.security.auth import Authenticator, AuthMiddleware
from toolpark.security.discovery import metadata_path, protected_resource, public_base
from toolpark.security.egress import Egress, Resolver
from toolpark.security.ratelimit import RateLimiter

__all__ = ["Host", "InsecureBinding", "is_loopback"]

logger = logging.getLogger("toolpark.host")

_LOCAL_NAMES = ("localhost", "127.0.0.1", "[::1]")


def is_loopback(host: str) -> bool:
    """Whether binding `host` keeps the server reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class InsecureBinding(ValueError):
    """Serving without authentication where others can reach the host."""


class Host:
    """The plugins of one process, the MCP servers built from them, and what they share.

    Without `config` every section takes its defaults without reading the environment; the CLI
    reads env and `toolpark.toml` into a `HostConfig` and passes it in.
    """

    def __init__(
        self, runtimes: Sequence[PluginRuntime], config: HostConfig | None = None, *, resolver: Resolver | None = None
    ) -> None:
        if not runtimes:
            raise ValueError("no plugins to serve: install one, or check TOOLPARK_LOAD_PLUGINS")
        self.runtimes = list(runtimes)
        self.config = config or HostConfig()
        self.settings = self.config.host
        self.resolver = resolver
        self.authenticator = Authenticator(self.config.auth)
        per_minute = self.settings.rates.rate_limit_per_minute
        tasks = self.settings.tasks
        secret = tasks.shared_database_url
        shared = secret.get_secret_value() if secret else None
        replicas = ",".join(sorted(r.name for r in runtimes))  # replicas of one server serve the same plugins
        self.services = Services(
            tenancy=self.config.tenancy,
            documents=Documents(self.config.documents),
            tasks=Tasks(
                ttl_s=tasks.task_ttl_s,
                per_caller=tasks.tasks_per_caller,
                ledger=TaskLedger(tasks.tasks_path) if tasks.tasks_path and not shared else None,
                shared=SharedLedger(shared, replicas) if shared else None,
            ),
            spills=Spills(
                ttl_s=tasks.spill_ttl_s,
                max_bytes=tasks.spill_max_bytes,
                shared_url=shared,
            ),
            rate_limiter=RateLimiter(per_minute, self.settings.rates.rate_limit_burst) if per_minute else None,
            events=SharedEvents(shared, replicas) if shared else None,
        )

    def server(self, runtime: PluginRuntime) -> MCPServer[Any]:
        return build_server([runtime], self.services, state_keys=self._state_keys())

    def combined_server(self) -> MCPServer[Any]:
        return build_server(
            self.runtimes,
            self.services,
            prefix_tools=True,
            tool_search=self.settings.listen.tool_search,
            state_keys=self._state_keys(),
        )

    async def listed(self, server: MCPServer[Any], *, combined: bool = False) -> list[McpTool]:
        """The tools an endpoint lists, before a caller's grants and enums (tool search lists two of its
        own), with the host's own."""
        listed = list(SEARCH_LISTING) if combined and self.settings.listen.tool_search else await server.list_tools()
        return listed + hosts_own(self.services)

    def _state_keys(self) -> list[str]:
        keys = (self.settings.sessions.state_key, self.settings.sessions.state_key_previous)
        return [key.get_secret_value() for key in keys if key is not None]

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Host]:
        """The outbound client, the document parser and every plugin's lifespan, entered in order and
        closed in reverse."""
        refusals = self.services.metrics.egress_refusals
        async with AsyncExitStack() as stack:
            self.services.egress = await stack.enter_async_context(
                Egress(
                    self.config.egress,
                    resolver=self.resolver,
                    on_refusal=lambda reason: refusals.labels(*current_tool.get(), reason).inc(),
                )
            )
            stack.callback(self.services.documents.close)
            await stack.enter_async_context(self.services.tasks.running())
            await stack.enter_async_context(self.services.spills.running())
            if self.services.events is not None:
                await stack.enter_async_context(self.services.events.running())
            for runtime in self.runtimes:
                await stack.enter_async_context(runtime.running())
            yield self

    async def serve_stdio(self) -> None:
        """Serve over stdin/stdout: one plugin as itself, several as one combined server."""
        server = self.server(self.runtimes[0]) if len(self.runtimes) == 1 else self.combined_server()
        async with self.running():
            await server.run_stdio_async()

    def transport_security(self) -> TransportSecuritySettings:
        """DNS-rebinding protection: on for loopback binds, and wherever allowed hosts are configured."""
        extra = [h.strip() for h in (self.settings.listen.allowed_hosts or "").split(",") if h.strip()]
        if not is_loopback(self.settings.listen.host) and not extra:
            return TransportSecuritySettings(enable_dns_rebinding_protection=False)
        hosts = [*(f"{name}:*" for name in _LOCAL_NAMES), *_LOCAL_NAMES, *extra]
        origins = [f"{scheme}://{host}" for host in hosts for scheme in ("http", "https")]
        return TransportSecuritySettings(allowed_hosts=hosts, allowed_origins=origins)

    def check_binding(self) -> None:
        """Refuse to serve anonymously beyond loopback unless the operator said `insecure`."""
        if self.config.auth.enabled or is_loopback(self.settings.listen.host) or self.settings.listen.insecure:
            return
        raise InsecureBinding(
            f"refusing to serve {self.settings.listen.host} without authentication: configure API keys or OIDC "
            "([auth] / TOOLPARK_AUTH_*), bind 127.0.0.1, or pass --insecure if a proxy in front authenticates"
        )

    def http_app(self) -> Starlette:
        """The ASGI app: `/<plugin>/mcp` per plugin, `/mcp` when combined, `/healthz`, `/readyz`, `/metrics`."""
        self.check_binding()
        use_fast_line_split()
        security = self.transport_security()
        failures = self.services.metrics.auth_failures
        stateless = self.settings.sessions.stateless
        managers: list[StreamableHTTPSessionManager] = []

        def endpoint(server: MCPServer[Any], name: str) -> AuthMiddleware:
            settings = self.settings
            manager = StreamableHTTPSessionManager(
                app=lowlevel(server),
                event_store=None if stateless else MemoryEventStore(),
                retry_interval=1000,
                stateless=stateless,
                security_settings=security,
                json_response=settings.sessions.json_response,
                session_idle_timeout=settings.sessions.session_idle_s,
                max_sessions=settings.sessions.max_sessions,
            )
            managers.append(manager)
            app: ASGIApp = StreamableHTTPASGIApp(manager)
            if stateless and settings.sessions.json_response:
                app = RequestBodyLimitMiddleware(
                    StatelessJson(manager, lowlevel(server), app), manager.max_request_body_size
                )
            if not stateless:
                refused = self.services.metrics.sessions_refused.labels(name)
                app = SessionQuota(app, manager, limit=settings.sessions.sessions_per_caller, on_refusal=refused.inc)
            return AuthMiddleware(
                app, self.authenticator, lambda reason: failures.labels(name, reason).inc(), self._metadata_url
            )

        served = [(f"/{r.name}/mcp", r.name, self.server(r)) for r in self.runtimes]
        if self.settings.listen.combined:
            served.append(("/mcp", "combined", self.combined_server()))
        routes = [Route(path, endpoint=endpoint(server, name)) for path, name, server in served]
        if self.config.auth.oidc_issuer:
            routes += [Route(metadata_path(path), self._resource_metadata(path, name)) for path, name, _ in served]
        routes += [Route("/healthz", self._healthz), Route("/readyz", self._readyz), Route("/metrics", self._metrics)]

        @asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            for _, name, server in served:
                tokens = tool_list_tokens(await self.listed(server, combined=name == "combined"))
                self.services.metrics.tool_list_tokens.labels(name).set(tokens)
                logger.info("endpoint %s lists tools worth %d tokens", name, tokens)
            async with AsyncExitStack() as stack:
                await stack.enter_async_context(self.running())
                for manager in managers:
                    await stack.enter_async_context(manager.run())
                housekeeping = await stack.enter_async_context(anyio.create_task_group())
                housekeeping.start_soon(keep_trimmed)
                stack.callback(housekeeping.cancel_scope.cancel)
                yield

        return Starlette(
            routes=routes,
            lifespan=lifespan,
            middleware=[Middleware(BodyTimeout, seconds=self.settings.connections.body_timeout_s)],
        )

    def _metadata_url(self, scope: Scope) -> str | None:
        """With OIDC, the public URL of the RFC 9728 metadata of the endpoint `scope` asked for."""
        if not self.config.auth.oidc_issuer:
            return None
        return public_base(self.config.auth, scope) + metadata_path(scope["path"])

    def _resource_metadata(self, endpoint: str, name: str) -> Callable[[Request], Awaitable[JSONResponse]]:
        async def document(request: Request) -> JSONResponse:
            resource = public_base(self.config.auth, request.scope) + endpoint
            return JSONResponse(protected_resource(self.config.auth, resource, name))

        return document

    async def _healthz(self, request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def _metrics(self, request: Request) -> Response:
        return Response(self.services.metrics.render(), media_type="text/plain; version=0.0.4")

    async def _readyz(self, request: Request) -> JSONResponse:
        checks: dict[str, dict[str, Any]] = {}

        async def check(runtime: PluginRuntime) -> None:
            ready, detail = await runtime.check()
            checks[runtime.name] = {"ready": ready, "detail": detail}

        async with anyio.create_task_group() as group:
            for runtime in self.runtimes:
                group.start_soon(check, runtime)
        ready = all(c["ready"] for c in checks.values())
        return JSONResponse({"ready": ready, "plugins": checks}, status_code=200 if ready else 503)

    def uvicorn_server(
        self, *, log_config: dict[str, Any] | None = None, on_ready: Callable[[], None] | None = None
    ) -> uvicorn.Server:
        """The HTTP server; `on_ready` is called once it listens and every plugin's lifespan started."""
        config = uvicorn.Config(
            self.http_app(),
            host=self.settings.listen.host,
            port=self.settings.listen.port,
            log_config=log_config,
            log_level=self.settings.logs.log_level.lower(),
            access_log=False,
            lifespan="on",
            http=header_timeout_protocol(self.settings.connections.header_timeout_s),
            timeout_keep_alive=int(self.settings.connections.keep_alive_s),
            timeout_graceful_shutdown=10,
        )
        return _Server(config, on_ready) if on_ready else uvicorn.Server(config)

    def endpoints(self, base_url: str) -> dict[str, str]:
        """Each plugin's MCP URL under `base_url` (and `toolpark` for the combined endpoint)."""
        urls = {r.name: f"{base_url}/{r.name}/mcp" for r in self.runtimes}
        if self.settings.listen.combined:
            urls["toolpark"] = f"{base_url}/mcp"
        return urls


class _Server(uvicorn.Server):
    """uvicorn's server, saying when it is ready: after its startup (the lifespans, then the socket)."""

    def __init__(self, config: uvicorn.Config, on_ready: Callable[[], None]) -> None:
        super().__init__(config)
        self.on_ready = on_ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if not self.should_exit:  # a startup that failed asks to exit
            self.on_ready()
