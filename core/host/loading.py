"""Finding plugins: the `toolpark.plugins` entry-point group, read once and on request only.

`TOOLPARK_LOAD_PLUGINS=a,b` (or `--plugins`/the positional names of `toolpark serve`) limits
loading to the named plugins, so a misbehaving install can be left out and tests stay isolated.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from toolpark.contract.plugin import Plugin

__all__ = [
    "ENTRY_POINT_GROUP", "PluginLoadError", "available_plugins", "first_party_servers", "installed_plugins",
    "load_plugins",
]  # fmt: skip

ENTRY_POINT_GROUP = "toolpark.plugins"
_FIRST_PARTY = "toolpark.mcp_servers."


class PluginLoadError(Exception):
    """A plugin could not be found or does not export a `core.Plugin`."""


def available_plugins() -> dict[str, EntryPoint]:
    """Installed plugin entry points by name, without importing them."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def first_party_servers() -> list[str]:
    """toolpark's own servers by name, read from the entry points: a server is named once, in
    pyproject.toml's `toolpark.plugins` group, beside its extra of the same name."""
    return sorted(name for name, entry in available_plugins().items() if entry.value.startswith(_FIRST_PARTY))


def load_plugins(names: Iterable[str] | None = None) -> list[Plugin[Any, Any]]:
    """Import the named plugins (all installed ones when `names` is None), in the order given."""
    found = available_plugins()
    wanted = list(names) if names is not None else sorted(found)
    missing = [name for name in wanted if name not in found]
    if missing:
        known = ", ".join(sorted(found)) or "none"
        raise PluginLoadError(f"no plugin named {', '.join(missing)}; installed plugins: {known}")
    plugins = []
    for name in wanted:
        try:
            plugin = found[name].load()
        except Exception as exc:
            raise PluginLoadError(f"plugin {name!r} failed to import: {type(exc).__name__}: {exc}") from exc
        if not isinstance(plugin, Plugin):
            raise PluginLoadError(f"entry point {name!r} must point to a core.Plugin, not {type(plugin).__name__}")
        if plugin.name != name:
            raise PluginLoadError(f"entry point {name!r} exports plugin {plugin.name!r}: the names must match")
        plugins.append(plugin)
    return plugins


def installed_plugins() -> tuple[list[Plugin[Any, Any]], dict[str, str]]:
    """Every installed plugin that imports, and, by name, why each other one does not: a plugin
    whose libraries are not installed (toolpark's own servers without their extra, on a bare
    `pip install toolpark`) is left out and named, not a reason to serve nothing. Any other failure
    is raised, as `load_plugins` does."""
    loaded, missing = [], {}
    for name, entry in sorted(available_plugins().items()):
        try:
            (plugin,) = load_plugins([name])
        except PluginLoadError as exc:
            if not isinstance(exc.__cause__, ModuleNotFoundError):
                raise
            missing[name] = f"needs {exc.__cause__.name}, which is not installed{_extra_hint(entry)}"
            continue
        loaded.append(plugin)
    return loaded, missing


def _extra_hint(entry: EntryPoint) -> str:
    """`: pip install 'dist[extra]'` where the plugin's distribution has an extra named after it."""
    dist = entry.dist
    if dist is None or entry.name not in (dist.metadata.get_all("Provides-Extra") or []):
        return ""
    return f": pip install '{dist.name}[{entry.name}]'"
