"""Prometheus metrics of one host, served at `/metrics`.

Each host has its own registry, so several hosts in one process (tests) do not collide.
Labels never carry subjects or URLs: their number must stay bounded.
"""

from __future__ import annotations

from contextvars import ContextVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["Metrics", "current_tool"]

current_tool: ContextVar[tuple[str, str]] = ContextVar("toolpark_current_tool", default=("", ""))
"""The plugin and tool whose call runs in this context, for counts made deep inside it (egress)."""


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.calls = Counter(
            "toolpark_tool_calls_total", "Tool calls by outcome.", ["plugin", "tool", "outcome"], registry=self.registry
        )
        # The MCP semantic conventions' mcp.server.operation.duration, as Prometheus spells it, for tools/call.
        self.latency = Histogram(
            "mcp_server_operation_duration_seconds",
            "Duration of tools/call requests, from receipt to the result (MCP semantic conventions).",
            ["mcp_method_name", "gen_ai_tool_name", "error_type", "plugin"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "toolpark_tool_calls_in_flight", "Tool calls running now.", ["plugin"], registry=self.registry
        )
        self.auth_failures = Counter(
            "toolpark_auth_failures_total",
            "Requests refused before any MCP message was read, by endpoint and reason.",
            ["endpoint", "reason"],
            registry=self.registry,
        )
        self.egress_refusals = Counter(
            "toolpark_egress_refusals_total",
            "Refused outbound requests by the plugin and tool that made them, and reason.",
            ["plugin", "tool", "reason"],
            registry=self.registry,
        )
        self.sessions_refused = Counter(
            "toolpark_sessions_refused_total",
            "New MCP sessions refused because the caller holds its quota.",
            ["endpoint"],
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "toolpark_rate_limited_total",
            "Tool calls refused by a rate limit: the caller's for the plugin, or the tool's own.",
            ["plugin", "tool", "limit"],
            registry=self.registry,
        )

        self.tool_list_tokens = Gauge(
            "toolpark_tool_list_tokens",
            "Tokens (o200k_base) of the tool definitions an endpoint lists, as a front end hands them to the model "
            "(name, description, input schema): context it spends on every turn.",
            ["endpoint"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
