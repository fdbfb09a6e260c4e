"""The {{name}} plugin's declaration: settings, the state its lifespan opens, and the plugin itself."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from pydantic import Field
from toolpark import Plugin, PluginSettings


class Settings(PluginSettings):
    """Read from `{{env_prefix}}*` env vars and `[plugins.{{name}}]` in toolpark.toml."""

    greeting: str = Field("Hello", min_length=1, description="The word `greet` starts with.")


@dataclass
class State:
    """What the lifespan opens once per process and every call shares: a client, a pool, a cache."""

    greeted: Counter[str] = field(default_factory=Counter)


plugin: Plugin[Settings, State] = Plugin(
    "{{name}}",
    version="0.1.0",
    description="{{description}}",
    settings=Settings,
)


@plugin.lifespan
async def open_state(settings: Settings) -> AsyncIterator[State]:
    """Open what the tools share; close it after the `yield`, when the host stops."""
    yield State()
