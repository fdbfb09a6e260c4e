"""Configuration: the host's settings and every plugin's, from env vars and `toolpark.toml`.

Precedence, highest first: environment (`TOOLPARK_<PLUGIN>_<FIELD>`), the plugin's table in
`toolpark.toml` (`[plugins.<name>]`), then the field defaults. The host's own sections
(`toolpark.host.config`) are read the same way.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import BeforeValidator, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, InitSettingsSource, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

__all__ = [
    "CONFIG_ENV",
    "CommaList",
    "ConfigError",
    "PluginSettings",
    "SectionSettings",
    "SettingRow",
    "SettingsError",
    "UnknownSettingError",
    "env_prefix",
    "from_values",
    "load_settings",
    "read_config",
    "reference_markdown",
    "setting_rows",
]

CONFIG_ENV = "TOOLPARK_CONFIG"
"""Names the TOML file to read; without it `./toolpark.toml` is read when present."""


def _split_commas(value: Any) -> Any:
    return [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value


CommaList = Annotated[list[str], NoDecode, BeforeValidator(_split_commas)]
"""A list setting written as `a,b,c` in an env var (a TOML array works too)."""

_SOURCES_OFF: ContextVar[bool] = ContextVar("toolpark_settings_sources_off", default=False)


class SectionSettings(BaseSettings):
    """Settings read from env vars over one table of `toolpark.toml` over their defaults."""

    _toml_table: ClassVar[Mapping[str, Any]] = {}

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        if _SOURCES_OFF.get():
            return (init_settings,)
        table = getattr(settings_cls, "_toml_table", {})
        return (init_settings, env_settings, InitSettingsSource(settings_cls, dict(table)), file_secret_settings)


class PluginSettings(SectionSettings):
    """Base class of every plugin's settings model.

    The call limits live here so operators can tune them per plugin
    (`TOOLPARK_WEB_CALL_TIMEOUT_S=60`); a plugin changes a default by redeclaring the field.
    """

    model_config = SettingsConfigDict(extra="forbid", validate_default=True)

    call_timeout_s: float = Field(30.0, gt=0, description="Seconds a tool call may run before it is cancelled.")
    task_after_s: float = Field(
        2.0, ge=0, description="Seconds a tool that may run as a task runs in its request before it becomes one."
    )
    task_timeout_s: float = Field(
        3600.0, gt=0, description="Seconds a tool call that runs as a task may take in all before it is cancelled."
    )
    max_concurrency: int = Field(16, ge=1, description="Tool calls of this plugin that may run at once.")
    max_result_bytes: int = Field(
        1_000_000,
        ge=1024,
        description="Largest tool result sent in one message, in bytes; a larger one is kept for its caller, who "
        "gets its first part and reads on with read_more (or reads it whole through resources/read).",
    )


class ConfigError(ValueError):
    """`toolpark.toml` cannot be read: missing, not TOML, or holding a table nothing reads."""


def read_config(path: Path | None = None, *, tables: Sequence[str] | None = None) -> dict[str, Any]:
    """The parsed `toolpark.toml`, or an empty mapping when there is none; a ConfigError names the
    file (and the line, or the table) when it cannot be used. `tables`, the ones its reader reads
    (`toolpark.host.config.TABLES`): any other is refused, since a misspelt table would be ignored,
    and its settings with it."""
    if path is None:
        named = os.environ.get(CONFIG_ENV)
        path = Path(named) if named else Path("toolpark.toml")
        if not named and not path.exists():
            return {}
    try:
        with path.open("rb") as handle:
            config = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:  # its message names the line and column
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    for table in config:
        if tables is not None and table not in tables:
            close = difflib.get_close_matches(table, tables, n=1)
            hint = f"did you mean [{close[0]}]?" if close else f"the tables are {', '.join(f'[{t}]' for t in tables)}"
            raise ConfigError(f"{path}: no table [{table}] is read; {hint}")
    return config


def env_prefix(plugin: str) -> str:
    """`TOOLPARK_<PLUGIN>_`, with dashes made underscores so shells accept the names."""
    return f"TOOLPARK_{plugin.upper().replace('-', '_')}_"


SettingsT = TypeVar("SettingsT", bound=SectionSettings)


class SettingsError(ValueError):
    """A setting's value is refused: one line per setting, naming its env var and its toml key."""


def _refused(prefix: str, exc: ValidationError) -> SettingsError:
    problems = []
    for detail in exc.errors():
        name, *inside = [str(part) for part in detail["loc"]] or ["(settings)"]
        where = f"{prefix}{name.upper()} (`{name}` in toolpark.toml)" + (f", at {'.'.join(inside)}" if inside else "")
        problems.append(f"{where}: {detail['msg']}")
    return SettingsError("; ".join(problems))


class UnknownSettingError(ValueError):
    """An env var under a settings prefix that names no setting: a misspelt name would otherwise be
    ignored, and its default silently used (an embedded database instead of the configured one)."""


def _unknown_env(model: type[BaseSettings], prefix: str) -> None:
    fields = {name.upper() for name in model.model_fields}
    for name in sorted(os.environ):
        if name.startswith(prefix) and name[len(prefix) :] not in fields:
            close = difflib.get_close_matches(name[len(prefix) :], fields, n=1)
            hint = f"; did you mean {prefix}{close[0]}?" if close else f"; known: {', '.join(sorted(fields))}"
            raise UnknownSettingError(f"{name} is not a setting{hint}")


def load_settings(model: type[SettingsT], *, prefix: str, table: Mapping[str, Any], **overrides: Any) -> SettingsT:
    """Instantiate `model` reading env vars under `prefix` and `table` from the TOML file.

    `overrides` win over both; tests use them to configure a plugin without touching the environment.
    An env var under a section's own prefix that names none of its settings is an error
    (`UnknownSettingError`); the host's bare `TOOLPARK_` prefix is shared by every section, so it is not checked.
    """
    if prefix != "TOOLPARK_":
        _unknown_env(model, prefix)
    bound = type(
        model.__name__,
        (model,),
        {
            "__module__": model.__module__,
            "__doc__": model.__doc__,
            "model_config": {**model.model_config, "env_prefix": prefix},
            "_toml_table": dict(table),
        },
    )
    try:
        return bound(**overrides)  # type: ignore[no-any-return]
    except ValidationError as exc:
        raise _refused(prefix, exc) from None


def from_values(model: type[SettingsT], values: Mapping[str, Any] | None = None) -> SettingsT:
    """`model` from `values` and its defaults alone, reading no env var and no file.

    For tests and for embedding the host, where the surrounding environment must not leak in.
    """
    token = _SOURCES_OFF.set(True)
    try:
        return model(**dict(values or {}))
    finally:
        _SOURCES_OFF.reset(token)


@dataclass(frozen=True)
class SettingRow:
    """One documented setting: for `toolpark list` and the configuration reference (docs/configuration.md)."""

    env: str
    type: str
    default: str
    description: str


def setting_rows(model: type[BaseSettings], prefix: str) -> Iterator[SettingRow]:
    """Every field of `model` with the env var that sets it."""
    for name, field in model.model_fields.items():
        annotation = field.annotation
        type_name = annotation.__name__ if isinstance(annotation, type) else str(annotation).replace("typing.", "")
        if field.is_required():
            default = "(required)"
        elif annotation is SecretStr or isinstance(field.default, SecretStr):
            default = "(secret)"
        else:  # a default_factory's value, not pydantic's PydanticUndefined placeholder
            default = repr(field.get_default(call_default_factory=True, validated_data={}))
        yield SettingRow(f"{prefix}{name.upper()}", type_name, default, field.description or "")


def reference_markdown(sections: list[tuple[str, type[BaseSettings], str]]) -> str:
    """A markdown table per `(title, model, env prefix)`: the configuration reference."""
    out = []
    for title, model, prefix in sections:
        out += [f"### {title}", "", "| env var | type | default | meaning |", "|---|---|---|---|"]
        for r in setting_rows(model, prefix):
            kind = r.type.replace("|", "\\|")  # a pipe would end the table cell
            out.append(f"| `{r.env}` | `{kind}` | `{r.default}` | {r.description} |")
        out.append("")
    return "\n".join(out)
