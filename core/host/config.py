"""The host's configuration: one object holding every section the host reads (`[host]`, `[auth]`,
`[egress]`, `[tenancy]`, `[documents]`), and the one table that names them.

The CLI loads it from env vars over `toolpark.toml`; tests and embedders build it from values
alone; the configuration reference is generated from the same table.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from toolpark.contract.settings import (
    CONFIG_ENV,
    SectionSettings,
    UnknownSettingError,
    env_prefix,
    from_values,
    load_settings,
)
from toolpark.contract.tenancy import TenancySettings
from toolpark.documents.parser import DocumentSettings
from toolpark.host.loading import available_plugins
from toolpark.operations.embedded import DATA_DIR_ENV
from toolpark.security.auth import AuthSettings
from toolpark.security.egress import EgressSettings

__all__ = [
    "HOST_SECTIONS",
    "SECTIONS",
    "TABLES",
    "ConnectionSettings",
    "HostConfig",
    "HostSettings",
    "ListenSettings",
    "LogSettings",
    "RateSettings",
    "Section",
    "SessionSettings",
    "TaskSettings",
    "name_clash",
]  # fmt: skip


class _HostSection(SectionSettings):
    """A part of `[host]`: its settings are `TOOLPARK_<NAME>` env vars, or keys of the `[host]` table,
    whichever part they belong to."""

    model_config = SettingsConfigDict(env_prefix="TOOLPARK_", extra="ignore")


class ListenSettings(_HostSection):
    """Where the host listens and what it serves there."""

    host: str = Field("127.0.0.1", description="Address the HTTP host binds to.")
    port: int = Field(8765, ge=0, le=65535, description="Port of the HTTP host (0 picks a free one).")
    allowed_hosts: str | None = Field(
        None,
        description="Comma-separated Host header values accepted besides localhost (DNS-rebinding protection).",
    )
    insecure: bool = Field(False, description="Allow serving without authentication on an address other than loopback.")
    load_plugins: str | None = Field(
        None, description="Comma-separated plugin names to load instead of every installed one."
    )
    combined: bool = Field(False, description="Also serve every plugin's tools together at /mcp.")
    tool_search: bool = Field(
        False,
        description="The combined /mcp endpoint lists search_tools and call_tool instead of every tool, for "
        "clients that connect many servers (each plugin's own endpoint still lists its tools).",
    )


class SessionSettings(_HostSection):
    """How MCP sessions are held: stateless or not, how many, how long, how answers are framed, and the key
    that seals a multi-round trip's state."""

    stateless: bool = Field(
        False, description="Serve without MCP sessions, so any replica behind a load balancer can answer."
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


class ConnectionSettings(_HostSection):
    """How long a connection may take to send a request, and stay open between requests."""

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


class RateSettings(_HostSection):
    """How many tool calls each caller may make."""

    rate_limit_per_minute: float = Field(
        0,
        ge=0,
        description="Tool calls each caller may make a minute to each plugin, in bursts of rate_limit_burst "
        "(0: no limit).",
    )
    rate_limit_burst: int = Field(30, ge=1, description="Tool calls a caller may make at once before the rate applies.")


class TaskSettings(_HostSection):
    """What outlasts a request: tasks, results kept for reading in ranges, and where replicas share them."""

    task_ttl_s: float = Field(
        3600.0, gt=0, le=7 * 86400, description="Seconds a finished task's result is kept for its caller to read."
    )
    tasks_per_caller: int = Field(8, ge=1, description="Unfinished tasks one caller may have at once.")
    tasks_path: Path | None = Field(
        None, description="SQLite file keeping tasks and their results across restarts; default: memory only."
    )
    spill_ttl_s: float = Field(
        600.0, gt=0, description="Seconds a result too large for one message is kept for its caller to read in ranges."
    )
    spill_max_bytes: int = Field(
        256 * 1024 * 1024,
        ge=0,
        description="Bytes of such results kept at once, a quarter per caller; the oldest go first (0: none).",
    )
    shared_database_url: SecretStr | None = Field(
        None,
        description="PostgreSQL URL where the replicas of a server share their tasks, kept results and "
        "listen-stream events, so any replica behind a load balancer answers tasks/get, tasks/update, "
        "tasks/cancel and the reads of a kept result, and every subscriptions/listen stream hears a change made "
        "on any replica (needs the replicas extra). Replaces tasks_path.",
    )


class LogSettings(_HostSection):
    """The host's log lines."""

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Server log level.")
    log_format: Literal["auto", "json", "text"] = Field(
        "auto", description="Log lines as JSON objects or plain text; auto: plain text at a terminal, JSON elsewhere."
    )


PartT = TypeVar("PartT", bound=_HostSection)


class _Part(Protocol):
    def __call__(self, model: type[PartT], /) -> PartT: ...


HOST_SECTIONS: dict[str, type[_HostSection]] = {
    "listen": ListenSettings, "sessions": SessionSettings, "connections": ConnectionSettings,
    "rates": RateSettings, "tasks": TaskSettings, "logs": LogSettings,
}  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class HostSettings:
    """How `toolpark serve` and `toolpark up` run (`[host]`), in parts of one concern each; `of()`
    gives the defaults."""

    listen: ListenSettings
    sessions: SessionSettings
    connections: ConnectionSettings
    rates: RateSettings
    tasks: TaskSettings
    logs: LogSettings

    @classmethod
    def load(cls, table: Mapping[str, Any], **overrides: Any) -> HostSettings:
        """Each part from the `TOOLPARK_` env vars over the `[host]` table; `overrides` (by setting
        name) win in the part that holds them."""
        _check_names(overrides)

        def part(model: type[PartT]) -> PartT:
            return load_settings(model, prefix="TOOLPARK_", table=table, **_of(model, overrides))

        return cls._from(part)

    @classmethod
    def of(cls, values: Mapping[str, Any] | None = None) -> HostSettings:
        """The parts from values by setting name alone, for tests and embedding."""
        given = dict(values or {})
        _check_names(given)

        def part(model: type[PartT]) -> PartT:
            return from_values(model, _of(model, given))

        return cls._from(part)

    @classmethod
    def _from(cls, part: _Part) -> HostSettings:
        return cls(
            listen=part(ListenSettings), sessions=part(SessionSettings), connections=part(ConnectionSettings),
            rates=part(RateSettings), tasks=part(TaskSettings), logs=part(LogSettings),
        )  # fmt: skip


def _of(model: type[_HostSection], values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in values.items() if name in model.model_fields}


def _check_names(values: Mapping[str, Any]) -> None:
    known = {name for model in HOST_SECTIONS.values() for name in model.model_fields}
    if unknown := sorted(set(values) - known):
        raise TypeError(f"no [host] setting named {', '.join(unknown)}")


@dataclass(frozen=True)
class Section:
    """One table of `toolpark.toml` (or, for `[host]`, one `part` of it) and the env prefix that overrides it."""

    name: str
    model: type[SectionSettings]
    prefix: str
    part: str | None = None


SECTIONS = (
    *(Section("host", model, "TOOLPARK_", part) for part, model in HOST_SECTIONS.items()),
    Section("auth", AuthSettings, "TOOLPARK_AUTH_"),
    Section("egress", EgressSettings, "TOOLPARK_EGRESS_"),
    Section("tenancy", TenancySettings, "TOOLPARK_TENANCY_"),
    Section("documents", DocumentSettings, "TOOLPARK_DOCUMENTS_"),
)


TABLES = (*dict.fromkeys(s.name for s in SECTIONS), "plugins")
"""The tables of `toolpark.toml`: the host's sections, and `[plugins.<name>]`."""

_OTHER_NAMES = (CONFIG_ENV, DATA_DIR_ENV)
# Every env name the host reads: each section's settings under its prefix, and the others.
_HOST_ENV_NAMES = frozenset(
    {s.prefix + field.upper() for s in SECTIONS for field in s.model.model_fields} | set(_OTHER_NAMES)
)
# Read by commands, not the host: `toolpark chat`'s and the GPU scheduler's.
_OTHER_PREFIXES = ("TOOLPARK_CHAT_", "TOOLPARK_SCHEDULER_")


def _misspelt_host_env(environ: Mapping[str, str]) -> None:
    """`TOOLPARK_PROT=9000` would be ignored and the default port used: the host's settings share the
    bare `TOOLPARK_` prefix with every section, plugin and command, so only a name that is none of
    theirs and all but one of the host's own (same shape, close spelling) is refused."""
    bare = [field.upper() for model in HOST_SECTIONS.values() for field in model.model_fields]
    owned = (*(s.prefix for s in SECTIONS if s.prefix != "TOOLPARK_"), *_OTHER_PREFIXES)
    owned += tuple(env_prefix(name) for name in available_plugins())
    for name in sorted(environ):
        if not name.startswith("TOOLPARK_") or name in _HOST_ENV_NAMES or name.startswith(owned):
            continue
        rest = name.removeprefix("TOOLPARK_")
        shaped = [field for field in bare if field.count("_") == rest.count("_")]
        if close := difflib.get_close_matches(rest, shaped, n=1, cutoff=0.75):
            raise UnknownSettingError(f"{name} is not a setting; did you mean TOOLPARK_{close[0]}?")


def name_clash(plugin: str) -> str | None:
    """Why `plugin` cannot be a plugin's name, or None: its settings (`TOOLPARK_<NAME>_*`, `[<name>]`)
    would be read as, or mistaken for, a host section's or the host's own."""
    prefix = f"TOOLPARK_{plugin.upper().replace('-', '_')}_"
    if plugin in TABLES:
        return f"[{plugin}] is a host section of toolpark.toml (and {prefix}* its env vars)"
    taken = sorted(name for name in _HOST_ENV_NAMES if name.startswith(prefix))
    return f"{prefix}* would take the host's {', '.join(taken)}" if taken else None


@dataclass(frozen=True, kw_only=True)
class HostConfig:
    """Every host-wide section, each defaulting to its model's defaults (no env var read)."""

    host: HostSettings = field(default_factory=HostSettings.of)
    auth: AuthSettings = field(default_factory=lambda: from_values(AuthSettings))
    egress: EgressSettings = field(default_factory=lambda: from_values(EgressSettings))
    tenancy: TenancySettings = field(default_factory=lambda: from_values(TenancySettings))
    documents: DocumentSettings = field(default_factory=lambda: from_values(DocumentSettings))

    @classmethod
    def load(cls, config: Mapping[str, Any], **host_overrides: Any) -> HostConfig:
        """Each section from its env vars over its table in `config`; `host_overrides` (the
        command line's options, None meaning not given) win for `[host]`."""
        given = {k: v for k, v in host_overrides.items() if v is not None}
        _misspelt_host_env(os.environ)
        sections: dict[str, Any] = {
            s.name: load_settings(s.model, prefix=s.prefix, table=config.get(s.name, {}))
            for s in SECTIONS
            if s.part is None
        }
        return cls(host=HostSettings.load(config.get("host", {}), **given), **sections)

    @classmethod
    def of(cls, **sections: Mapping[str, Any] | None) -> HostConfig:
        """Sections from values by field name alone, for tests and embedding: nothing from the environment."""
        models = {s.name: s.model for s in SECTIONS if s.part is None}
        unknown = set(sections) - {*models, "host"}
        if unknown:
            raise TypeError(f"no host section named {', '.join(sorted(unknown))}")
        built: dict[str, Any] = {
            name: HostSettings.of(values) if name == "host" else from_values(models[name], values)
            for name, values in sections.items()
        }
        return cls(**built)
