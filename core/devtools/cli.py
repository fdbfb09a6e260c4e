"""The `toolpark` command: serve plugins, list them, run the whole set, scaffold new ones.

Other commands (`compose`, `ingest`, `chat`, a third-party plugin's own) arrive through the
`toolpark.commands` entry-point group (`toolpark.devtools.commands`).
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
from toolpark.devtools.commands import CommandGroup
from toolpark.devtools.librechat import mcp_servers_block
from toolpark.devtools.scaffold import install_line, new_plugin
from toolpark.host.config import SECTIONS, TABLES, HostConfig, HostSettings, ListenSettings
from toolpark.host.loading import PluginLoadError, first_party_servers, installed_plugins, load_plugins
from toolpark.host.runtime import PluginRuntime
from toolpark.host.transport.serving import Host, InsecureBinding
from toolpark.operations.budget import tool_list_tokens
from toolpark.operations.embedded import data_dir
from toolpark.operations.logs import configure_logging
from toolpark.operations.traces import configure_tracing, flush_traces
from toolpark.security.auth import ApiKey, hash_key, new_api_key


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


@click.group(cls=CommandGroup)
@click.version_option(package_name="toolpark")
def main() -> None:
    """toolpark: MCP tool servers for self-hosted assistants."""


@main.command()
@click.argument("plugins", nargs=-1)
@click.option("--transport", type=click.Choice(["stdio", "http"]), default="stdio", show_default=True)
@click.option("--host", help="Address to bind (HTTP). Default 127.0.0.1.")
@click.option("--port", type=int, help="Port to bind (HTTP). Default 8765.")
@click.option("--combined/--no-combined", default=None, help="Also serve all tools together at /mcp.")
@click.option("--stateless/--no-stateless", default=None, help="No MCP sessions: for replicas behind a load balancer.")
@click.option("--insecure", is_flag=True, default=None, help="Allow no authentication on a non-loopback address.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), help="toolpark.toml to read.")
def serve(
    plugins: tuple[str, ...],
    transport: str,
    host: str | None,
    port: int | None,
    combined: bool | None,
    stateless: bool | None,
    insecure: bool | None,
    config_path: Path | None,
) -> None:
    """Serve PLUGINS (default: every installed one) over stdio or streamable HTTP."""
    config = _config(config_path)
    host_config = _host_config(config, host=host, port=port, combined=combined, stateless=stateless, insecure=insecure)
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


@main.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_plugins(as_json: bool) -> None:
    """Installed plugins, their tools, and their settings with env var names."""
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
        click.echo(f"  tools ({tokens if tokens is not None else '?'} tokens listed, by default settings):")
        for tool in plugin["tools"]:
            click.echo(f"    {tool['name']}: {tool['summary']}")
        click.echo("  settings:")
        for row in plugin["settings"]:
            click.echo(f"    {row['env']} ({row['type']}, default {row['default']}): {row['description']}")


def _describe(plugin: Plugin[Any, Any]) -> dict[str, Any]:
    return {
        "name": plugin.name,
        "version": plugin.version,
        "description": plugin.description,
        "tools": [{"name": t.name, "summary": t.description.splitlines()[0]} for t in plugin.tools.values()],
        "tool_list_tokens": _tool_list_tokens(plugin),
        "settings": [row.__dict__ for row in setting_rows(plugin.settings_model, env_prefix(plugin.name))],
    }


def _tool_list_tokens(plugin: Plugin[Any, Any]) -> int | None:
    """Tokens of the plugin's tool list with its default settings; None when it has no defaults."""
    try:
        runtime = PluginRuntime(plugin, from_values(plugin.settings_model))
    except ValidationError:
        return None
    host = Host([runtime])
    return tool_list_tokens(anyio.run(host.listed, host.server(runtime)))


@main.command(name="config-reference")
def config_reference() -> None:
    """Print the configuration reference (markdown) of the host and every installed plugin that imports."""
    try:
        plugins, _ = installed_plugins()
    except PluginLoadError as exc:
        raise click.ClickException(str(exc)) from exc
    sections: list[tuple[str, type[BaseSettings], str]] = [
        (f"{s.name}{f', {s.part}' if s.part else ''} (`[{s.name}]`)", s.model, s.prefix) for s in SECTIONS
    ]
    sections += [(f"{p.name} (`[plugins.{p.name}]`)", p.settings_model, env_prefix(p.name)) for p in plugins]
    click.echo(reference_markdown(sections), nl=False)


@main.command()
@click.option("--host", help="Address to bind. Default 127.0.0.1.")
@click.option("--port", type=int, help="Port to bind. Default 8765.")
@click.option("--insecure", is_flag=True, default=None, help="Allow no authentication on a non-loopback address.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), help="toolpark.toml to read.")
def up(host: str | None, port: int | None, insecure: bool | None, config_path: Path | None) -> None:
    """Run every first-party server over HTTP on embedded defaults, and print how to connect."""
    config = _config(config_path)
    host_config = _host_config(config, host=host, port=port, insecure=insecure)
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


@main.group()
def auth() -> None:
    """Manage credentials."""


@auth.command(name="new-key")
@click.argument("name")
@click.option("--scope", "scopes", multiple=True, help="A scope the key grants (repeatable).")
@click.option("--trusted-frontend", is_flag=True, help="The key may name end users in X-User-* headers (LibreChat).")
def auth_new_key(name: str, scopes: tuple[str, ...], trusted_frontend: bool) -> None:
    """Make an API key: prints the key (shown once) and the entry to add to [auth].api_keys."""
    key = new_api_key()
    entry = ApiKey(name=name, hash=hash_key(key), scopes=list(scopes), trusted_frontend=trusted_frontend)
    fields = entry.model_dump(mode="json")
    click.echo(f"key (give it to the client; it is not stored): {key}")
    click.echo("\nin toolpark.toml, one such table per key:\n\n[[auth.api_keys]]")
    click.echo("\n".join(f"{name} = {json.dumps(value)}" for name, value in fields.items()))  # JSON's are TOML's
    # The env var holds every key at once, as one JSON list: add this entry to the others.
    click.echo(
        f"\nor in the environment, a JSON list of every key:\n\nTOOLPARK_AUTH_API_KEYS='[{entry.model_dump_json()}]'"
    )


@main.group()
def plugin() -> None:
    """Write new plugins."""


@plugin.command(name="new")
@click.argument("name")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=Path("."))
@click.option("--description", help="One line saying what the plugin does.")
def plugin_new(name: str, directory: Path, description: str | None) -> None:
    """Create the package toolpark-NAME from the plugin template."""
    try:
        target = new_plugin(name, directory, description)
    except (ValueError, FileExistsError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"created {target}")
    click.echo(f"next: {install_line(target)}")
