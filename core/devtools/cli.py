"""The `toolpark` command: serve plugins, list them, run the whole set, scaffold new ones.

Other commands (`compose`, `ingest`, `chat`, a third-party plugin's own) arrive through the
`toolpark.commands` entry-point group (`toolpark.devtools.commands`).

This module is the parser only: it imports click, and each command imports what it runs on its
first call (`toolpark.devtools.hosting` for the host's), so `toolpark --help` answers at once.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from toolpark.devtools.commands import CommandGroup

_CONFIG = click.option(
    "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), help="toolpark.toml to read."
)
_INSECURE = click.option(
    "--insecure", is_flag=True, default=None, help="Allow no authentication on a non-loopback address."
)


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
@_INSECURE
@_CONFIG
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
    from toolpark.devtools import hosting

    hosting.serve(
        plugins, transport, config_path, host=host, port=port, combined=combined, stateless=stateless, insecure=insecure
    )


@main.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_plugins(as_json: bool) -> None:
    """Installed plugins, their tools, and their settings with env var names."""
    from toolpark.devtools import hosting

    hosting.list_plugins(as_json)


@main.command(name="config-reference")
def config_reference() -> None:
    """Print the configuration reference (markdown) of the host and every installed plugin that imports."""
    from toolpark.devtools import hosting

    hosting.config_reference()


@main.command()
@click.option("--host", help="Address to bind. Default 127.0.0.1.")
@click.option("--port", type=int, help="Port to bind. Default 8765.")
@_INSECURE
@_CONFIG
def up(host: str | None, port: int | None, insecure: bool | None, config_path: Path | None) -> None:
    """Run every first-party server over HTTP on embedded defaults, and print how to connect."""
    from toolpark.devtools import hosting

    hosting.up(config_path, host=host, port=port, insecure=insecure)


@main.group()
def auth() -> None:
    """Manage credentials."""


@auth.command(name="new-key")
@click.argument("name")
@click.option("--scope", "scopes", multiple=True, help="A scope the key grants (repeatable).")
@click.option("--trusted-frontend", is_flag=True, help="The key may name end users in X-User-* headers (LibreChat).")
def auth_new_key(name: str, scopes: tuple[str, ...], trusted_frontend: bool) -> None:
    """Make an API key: prints the key (shown once) and the entry to add to [auth].api_keys."""
    from toolpark.security.keys import ApiKey, hash_key, new_api_key

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
    from toolpark.devtools.scaffold import install_line, new_plugin

    try:
        target = new_plugin(name, directory, description)
    except (ValueError, FileExistsError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"created {target}")
    click.echo(f"next: {install_line(target)}")
