"""What `toolpark serve`, `up`, `list` and `config-reference` do: everything that loads the host.

Apart from the command line's parser (`toolpark.devtools.cli`), which imports this on a command's
first call, so that `toolpark --help` and the commands that need no host start in a tenth of a second.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import click
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from toolpark.contract.plugin import Plugin
from toolpark.contract.settings import (
    ConfigError,
    SettingsError,
    UnknownSettingError,
    env_prefix,
    from_values,
    read_config,
    reference_markdown,
    setting_rows,
)  # fmt: skip
from toolpark.devtools.librechat import mcp_servers_block
from toolpark.host.config import SECTIONS, TABLES, HostConfig, HostSettings, ListenSettings
from toolpark.host.loading import PluginLoadError, first_party_servers, installed_plugins, load_plugins
from toolpark.host.runtime import PluginRuntime
from toolpark.host.transport.serving import Host, InsecureBinding
from toolpark.operations.budget import tool_list_tokens
from toolpark.operations.embedded import data_dir
from toolpark.operations.logs import configure_logging
from toolpark.operations.traces import configure_tracing, flush_traces

__all__ = ["config_reference", "list_plugins", "serve", "up"]


def _config(path: Path | None) -> dict[str, Any]:
    try:
        return read_config(path, tables=TABLES)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _host_config(config: dict[str, Any], **cli: Any) -> HostConfig:
    """Every host section from env vars over `toolpark.toml`, the command line's options on top."""
    try:
        return HostConfig.load(config, **cli)
    except (SettingsError, UnknownSettingError) as exc:  # each names the setting and how to fix it
        raise click.ClickException(str(exc)) from None


def _runtimes(plugins: list[Plugin[Any, Any]], config: dict[str, Any]) -> list[PluginRuntime]:
    try:
        return [PluginRuntime.configure(p, config) for p in plugins]
    except Exception as exc:  # a settings error names the field and the env var to fix
        raise click.ClickException(str(exc)) from exc


def _load(names: tuple[str, ...], settings: HostSettings) -> list[Plugin[Any, Any]]:
    """The plugins named, else those `load_plugins` names, else every installed one that imports
    (each that does not is named on stderr)."""
    chosen: list[str] | None = list(names) or None
    if chosen is None and settings.listen.load_plugins:
        chosen = [n.strip() for n in settings.listen.load_plugins.split(",") if n.strip()]
    try:
        if chosen is not None:
            return load_plugins(chosen)
        plugins, unavailable = installed_plugins()
    except PluginLoadError as exc:
        raise click.ClickException(str(exc)) from exc
    for name, why in unavailable.items():
        click.echo(f"not serving {name}: it {why}", err=True)
    return plugins


def serve(plugins: tuple[str, ...], transport: str, config_path: Path | None, **cli: Any) -> None:
    config = _config(config_path)
    host_config = _host_config(config, **cli)
    settings = host_config.host
    configure_logging(settings.logs.log_level, settings.logs.log_format)
    if transport == "http":
        _port_free(settings.listen)
    served = Host(_runtimes(_load(plugins, settings), config), host_config)
    if transport == "stdio":
        anyio.run(served.serve_stdio)
        return
    base = f"http://{settings.listen.host}:{settings.listen.port}"

    def ready() -> None:
        for name, url in served.endpoints(base).items():
            click.echo(f"{name}: {url}", err=True)

    _run_http(served, ready)


def _port_free(listen: ListenSettings) -> None:
    """Refuse a taken port before anything starts: the embedded services take half a minute to
    start and as long to stop, and uvicorn would only find out after them."""
    if listen.port == 0:
        return
    try:
        with socket.create_server((listen.host, listen.port)):
            pass
    except OSError as exc:
        raise click.ClickException(
            f"{listen.host}:{listen.port} cannot be listened on ({exc.strerror}): is another toolpark running? "
            "Choose another with --port or TOOLPARK_PORT."
        ) from None


def _run_http(served: Host, on_ready: Callable[[], None]) -> None:
    """Serve until SIGINT or SIGTERM; uvicorn shuts down gracefully, closing every lifespan."""
    try:
        configure_tracing("toolpark-" + "-".join(sorted(r.name for r in served.runtimes)))
        server = served.uvicorn_server(on_ready=on_ready)
    except (InsecureBinding, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from exc
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises Ctrl-C once shutdown is complete
        server.run()
    flush_traces()


def list_plugins(as_json: bool) -> None:
    try:
        plugins, unavailable = installed_plugins()
    except PluginLoadError as exc:
        raise click.ClickException(str(exc)) from exc
    described = [_describe(p) for p in plugins]
    if as_json:
        click.echo(
            json.dumps([*described, *({"name": n, "unavailable": why} for n, why in unavailable.items())], indent=2)
        )
        return
    for name, why in unavailable.items():
        click.echo(f"{name}: unavailable, it {why}")
    for plugin in described:
        click.echo(f"{plugin['name']} {plugin['version']}: {plugin['description']}")
        tokens = plugin["tool_list_tokens"]
        off = not all(tool["on_by_default"] for tool in plugin["tools"])
        listed = f"{tokens} tokens for the model" if tokens is not None else "tokens unknown: settings without defaults"
        click.echo(f"  tools ({listed}{', the tools off by default excluded' if off else ''}):")
        for tool in plugin["tools"]:
            click.echo(f"    {tool['name']}{'' if tool['on_by_default'] else ' (off by default)'}: {tool['summary']}")
        click.echo("  settings:")
        for row in plugin["settings"]:
            click.echo(f"    {row['env']} ({row['type']}, default {row['default']}): {row['description']}")


def _describe(plugin: Plugin[Any, Any]) -> dict[str, Any]:
    try:
        defaults: Any = from_values(plugin.settings_model)
    except ValidationError:  # a setting without a default (a URL, a key): which tools exist is unknown
        defaults = None
    return {
        "name": plugin.name,
        "version": plugin.version,
        "description": plugin.description,
        "tools": [
            {
                "name": t.name,
                "summary": summary(t.description),
                "on_by_default": t.when is None or (defaults is not None and t.when(defaults)),
            }
            for t in plugin.tools.values()
        ],
        "tool_list_tokens": None if defaults is None else _tool_list_tokens(plugin, defaults),
        "settings": [row.__dict__ for row in setting_rows(plugin.settings_model, env_prefix(plugin.name))],
    }


def summary(description: str) -> str:
    """A tool description's first sentence, its wrapped lines joined: a line of a docstring may end
    mid-sentence."""
    paragraph = " ".join(description.strip().split("\n\n", 1)[0].split())
    end = paragraph.find(". ")
    return paragraph if end < 0 else paragraph[: end + 1]


def _tool_list_tokens(plugin: Plugin[Any, Any], defaults: Any) -> int:
    """Tokens of the plugin's tool list with its default settings, as a client is sent it."""
    host = Host([runtime := PluginRuntime(plugin, defaults)])
    return tool_list_tokens(anyio.run(host.listed, host.server(runtime)))


def config_reference() -> None:
    try:
        plugins, _ = installed_plugins()
    except PluginLoadError as exc:
        raise click.ClickException(str(exc)) from exc
    sections: list[tuple[str, type[BaseSettings], str]] = [
        (f"{s.name}{f', {s.part}' if s.part else ''} (`[{s.name}]`)", s.model, s.prefix) for s in SECTIONS
    ]
    sections += [(f"{p.name} (`[plugins.{p.name}]`)", p.settings_model, env_prefix(p.name)) for p in plugins]
    click.echo(reference_markdown(sections), nl=False)


def up(config_path: Path | None, **cli: Any) -> None:
    config = _config(config_path)
    host_config = _host_config(config, **cli)
    if host_config.host.tasks.tasks_path is None:  # embedded defaults: tasks outlive a restart, like the data
        tasks_path = data_dir("tasks") / "tasks.sqlite"
        tasks = host_config.host.tasks.model_copy(update={"tasks_path": tasks_path})
        host_config = replace(host_config, host=replace(host_config.host, tasks=tasks))
    settings = host_config.host
    configure_logging(settings.logs.log_level, settings.logs.log_format)
    _port_free(settings.listen)
    first_party = first_party_servers()
    # Until the first-party servers are installed, serve whatever plugins are.
    names = tuple(first_party) if first_party else ()
    served = Host(_runtimes(_load(names, settings), config), host_config)
    endpoints = served.endpoints(f"http://{settings.listen.host}:{settings.listen.port}")

    def ready() -> None:  # once every server answers, below the start-up's log lines
        click.echo(f"\ntoolpark is ready: {', '.join(endpoints)} answer; Ctrl-C stops them.\n")
        click.echo("toolpark endpoints:")
        for name, url in endpoints.items():
            click.echo(f"  {name}: {url}")
        click.echo("\nFor librechat.yaml:\n")
        click.echo(mcp_servers_block(endpoints))
        sys.stdout.flush()

    _run_http(served, ready)
