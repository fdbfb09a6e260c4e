"""Commands contributed to `toolpark` through the `toolpark.commands` entry-point group.

A package adds a command the way `llm` and `datasette` plugins do, in its `pyproject.toml`:

```toml
[project.entry-points."toolpark.commands"]
weather = "toolpark_weather.command:weather"   # a click command or group
```

Commands load when the CLI needs them (listing help, or running one), so a slow or broken
package costs nothing to the commands it does not provide.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

import click

__all__ = ["COMMANDS_GROUP", "CommandGroup"]

COMMANDS_GROUP = "toolpark.commands"


def _contributed() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=COMMANDS_GROUP)}


class CommandGroup(click.Group):
    """A click group whose commands are its own plus those installed packages contribute."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_contributed()})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        own = super().get_command(ctx, name)
        if own is not None:
            return own
        entry = _contributed().get(name)
        if entry is None:
            return None
        try:
            command = entry.load()
        except Exception as exc:  # a broken package names itself instead of breaking every command
            return _unavailable(name, f"command {name!r} ({entry.value}) failed to load: {exc}")
        if not isinstance(command, click.Command):
            return _unavailable(name, f"entry point {name!r} ({entry.value}) is not a click command")
        return command


def _unavailable(name: str, why: str) -> click.Command:
    """A command that says why it cannot run: listed in `--help` as unavailable, the others still work
    (a command whose libraries are not installed, on a bare `pip install toolpark`)."""

    def refuse() -> None:
        raise click.ClickException(why)

    return click.Command(name, callback=refuse, help=f"(unavailable) {why}", short_help="(unavailable: see its --help)",
                         context_settings={"ignore_unknown_options": True, "allow_extra_args": True})  # fmt: skip
