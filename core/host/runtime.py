"""A plugin brought to life: its settings read, its lifespan entered, its readiness known."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, Literal

import anyio

from toolpark.contract.plugin import Plugin
from toolpark.contract.settings import PluginSettings, env_prefix, load_settings

__all__ = ["PluginRuntime", "Status"]

logger = logging.getLogger("toolpark.runtime")

Status = Literal["starting", "ready", "failed", "stopped"]


class PluginRuntime:
    """One loaded plugin in this process: settings, lifespan state, concurrency limiter and status."""

    def __init__(self, plugin: Plugin[Any, Any], settings: PluginSettings) -> None:
        self.plugin = plugin
        self.settings = settings
        self.state: Any = None
        self.status: Status = "starting"
        self.failure: str | None = None
        self.limiter = anyio.CapacityLimiter(settings.max_concurrency)

    @classmethod
    def configure(
        cls, plugin: Plugin[Any, Any], config: Mapping[str, Any] | None = None, **overrides: Any
    ) -> PluginRuntime:
        """Read the plugin's settings from the environment and its `[plugins.<name>]` table."""
        table = (config or {}).get("plugins", {}).get(plugin.name, {})
        settings = load_settings(plugin.settings_model, prefix=env_prefix(plugin.name), table=table, **overrides)
        return cls(plugin, settings)

    @property
    def name(self) -> str:
        return self.plugin.name

    @asynccontextmanager
    async def running(self) -> AsyncIterator[PluginRuntime]:
        """Enter the plugin's lifespan for the life of the block.

        A lifespan that fails to start leaves the plugin `failed` and the block running, so one
        broken plugin does not take the others down; its tools then answer with the reason.
        """
        try:
            async with self.plugin.open_resources(self.settings) as state:
                self.state = state
                self.status = "ready"
                logger.info("plugin %s ready", self.name)
                try:
                    yield self
                finally:
                    self.status = "stopped"
        except Exception as exc:
            if self.status != "starting":
                raise
            self.status = "failed"
            self.failure = f"{type(exc).__name__}: {exc}"
            logger.exception("plugin %s failed to start", self.name)
            yield self

    async def check(self) -> tuple[bool, str]:
        """Whether the plugin can serve now, and why not."""
        if self.status != "ready":
            return False, self.failure or self.status
        probe = self.plugin.readiness_check
        if probe is None:
            return True, "ready"
        try:
            with anyio.fail_after(5):
                await probe(self.state)
        except Exception as exc:
            return False, f"{type(exc).__name__}: {exc}"
        return True, "ready"
