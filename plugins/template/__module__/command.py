"""`toolpark {{name}}`: the command this plugin adds, through the `toolpark.commands` entry point."""

from __future__ import annotations

import click

from {{module}}.plugin import plugin


@click.command(name="{{name}}")
def command() -> None:
    """What the {{name}} plugin offers: its tools, one line each."""
    for spec in plugin.tools.values():
        click.echo(f"{spec.name}: {spec.description.splitlines()[0]}")
