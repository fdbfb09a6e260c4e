"""The host's configuration: one object holding every section the host reads (`[host]`, `[auth]`,
`[egress]`, `[tenancy]`, `[documents]`), and the one table that names them.

The CLI loads it from env vars over `toolpark.toml`; tests and embedders build it from values
alone; the configuration reference is generated from the same table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from toolpark.contract.settings import SectionSettings, from_values, load_settings
from toolpark.contract.tenancy import TenancySettings
from toolpark.documents.parser import DocumentSettings
from toolpark.security.auth import AuthSettings
from toolpark.security.egress import EgressSettings

__all__ = ["SECTIONS", "HostConfig", "HostSettings", "Section"]


class HostSettings(SectionSettings):
    """How `toolpark serve` and `toolpark up` run: where to listen and how to hold sessions."""

    model_config = SettingsConfigDict(env_prefix="TOOLPARK_", extra="ignore")

    host: str = Field("127.0.0.1", description="Address the HTTP host binds to.")
    port: int = Field(8765, ge=0, le=65535, description="Port of the HTTP host (0 picks a free one).")
    stateless: bool = Field(
        False, description="Serve without MCP sessions, so any replica behind a load balancer can answer."
    )
    allowed_hosts: str | None = Field(
        None,
        description="Comma-separated Host header values accepted besides localhost (DNS-rebinding protection).",
    )
    combined: bool = Field(False, description="Also serve every plugin's tools together at /mcp.")
    tool_search: bool = Field(
        False,
        description="The combined /mcp endpoint lists search_tools and call_tool instead of every tool, for "
        "clients that connect many servers (each plugin's own endpoint still lists its tools).",
    )
    json_response: bool = Field(
        False,
        description="Answer each request with one JSON body, not an SSE stream: faster for large results, "
        "but a call's progress and log notifications are not streamed to the caller.",
    )
    session_idle_s: float = Field(
        600.0, gt=0, description="Seconds an MCP session may go without a request before it is closed."
    )
    sessions_per_caller: int = Field(
        100, ge=1, description="MCP sessions one caller (an identity, or an address when anonymous) may hold open."
    )
    max_sessions: int = Field(10_000, ge=1, description="MCP sessions open at once per endpoint, for all callers.")
    header_timeout_s: float = Field(
        10.0, gt=0, description="Seconds a connection may take to send a request's headers before it is closed."
    )
    keep_alive_s: float = Field(
        150.0,
        gt=0,
        description="Seconds an idle connection stays open. Longer than the idle timeout of the proxy in front "
        "(Caddy keeps upstream connections 2 minutes), so the proxy never sends a request on a connection we are "
        "closing.",
    )
    body_timeout_s: float = Field(
        30.0, gt=0, description="Seconds each part of a request's body may take to arrive before the request gets 408."
    )
    load_plugins: str | None = Field(
        None, description="Comma-separated plugin names to load instead of every installed one."
    )
    insecure: bool = Field(False, description="Allow serving without authentication on an address other than loopback.")
    rate_limit_per_minute: float = Field(
        0,
        ge=0,
        description="Tool calls each caller may make a minute to each plugin, in bursts of rate_limit_burst "
        "(0: no limit).",
    )
    rate_limit_burst: int = Field(30, ge=1, description="Tool calls a caller may make at once before the rate applies.")
    task_ttl_s: float = Field(
        3600.0, gt=0, le=7 * 86400, description="Seconds a finished task's result is kept for its caller to read."
    )
    tasks_per_caller: int = Field(8, ge=1, description="Unfinished tasks one caller may have at once.")
    state_key: SecretStr | None = Field(
        None,
        min_length=32,
        description="Key sealing the 2026-07-28 requestState (earlier rounds' answers); every replica behind one "
        "address needs the same (32 characters or more). Default: a random key per process, so one replica only.",
    )
    state_key_previous: SecretStr | None = Field(
        None,
        min_length=32,
        description="The key state_key replaces: still unseals during a rotation (10 minutes suffice).",
    )
    spill_ttl_s: float = Field(
        600.0, gt=0, description="Seconds a result too large for one message is kept for its caller to read in ranges."
    )
    spill_max_bytes: int = Field(
        256 * 1024 * 1024,
        ge=0,
        description="Bytes of such results kept at once, a quarter per caller; the oldest go first (0: none).",
    )
    tasks_path: Path | None = Field(
        None, description="SQLite file keeping tasks and their results across restarts; default: memory only."
    )
    shared_database_url: SecretStr | None = Field(
        None,
        description="PostgreSQL URL where the replicas of a server share their tasks, kept results and "
        "listen-stream events, so any replica behind a load balancer answers tasks/get, tasks/update, "
        "tasks/cancel and the reads of a kept result, and every subscriptions/listen stream hears a change made "
        "on any replica (needs the replicas extra). Replaces tasks_path.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Server log level.")
    log_format: Literal["auto", "json", "text"] = Field(
        "auto", description="Log lines as JSON objects or plain text; auto: plain text at a terminal, JSON elsewhere."
    )


@dataclass(frozen=True)
class Section:
    """One table of `toolpark.toml` and the env prefix that overrides it."""

    name: str
    model: type[SectionSettings]
    prefix: str


SECTIONS = (
    Section("host", HostSettings, "TOOLPARK_"),
    Section("auth", AuthSettings, "TOOLPARK_AUTH_"),
    Section("egress", EgressSettings, "TOOLPARK_EGRESS_"),
    Section("tenancy", TenancySettings, "TOOLPARK_TENANCY_"),
    Section("documents", DocumentSettings, "TOOLPARK_DOCUMENTS_"),
)


@dataclass(frozen=True, kw_only=True)
class HostConfig:
    """Every host-wide section, each defaulting to its model's defaults (no env var read)."""

    host: HostSettings = field(default_factory=lambda: from_values(HostSettings))
    auth: AuthSettings = field(default_factory=lambda: from_values(AuthSettings))
    egress: EgressSettings = field(default_factory=lambda: from_values(EgressSettings))
    tenancy: TenancySettings = field(default_factory=lambda: from_values(TenancySettings))
    documents: DocumentSettings = field(default_factory=lambda: from_values(DocumentSettings))

    @classmethod
    def load(cls, config: Mapping[str, Any], **host_overrides: Any) -> HostConfig:
        """Each section from its env vars over its table in `config`; `host_overrides` (the
        command line's options, None meaning not given) win for `[host]`."""
        given = {k: v for k, v in host_overrides.items() if v is not None}
        sections: dict[str, Any] = {
            s.name: load_settings(
                s.model, prefix=s.prefix, table=config.get(s.name, {}), **(given if s.name == "host" else {})
            )
            for s in SECTIONS
        }
        return cls(**sections)

    @classmethod
    def of(cls, **sections: Mapping[str, Any] | None) -> HostConfig:
        """Sections from values by field name alone, for tests and embedding: nothing from the environment."""
        models = {s.name: s.model for s in SECTIONS}
        unknown = set(sections) - set(models)
        if unknown:
            raise TypeError(f"no host section named {', '.join(sorted(unknown))}")
        built: dict[str, Any] = {name: from_values(models[name], values) for name, values in sections.items()}
        return cls(**built)
