"""`toolpark compose`: write an example spec, check a spec, render a deployment.

The parser only: each command imports the renderer on its first call, so `toolpark --help`
does not load every plugin the checks read.
"""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from toolpark.compose.spec import Deployment

__all__ = ["compose"]

_EXAMPLE_SOURCE = 'source = "/opt/toolpark"'


@click.group()
def compose() -> None:
    """Render the whole stack (docker compose, librechat.yaml, Caddyfile, Keycloak realm) from one spec."""


@compose.command()
@click.argument("path", type=click.Path(path_type=Path), default="deploy.toml")
@click.option("--force", is_flag=True, help="Replace an existing file.")
def init(path: Path, force: bool) -> None:
    """Write a commented example spec to PATH, building the image from where this toolpark came from."""
    from toolpark.devtools.origin import toolpark_origin

    if path.exists() and not force:
        raise click.ClickException(f"{path} exists; use --force to replace it")
    text = files("toolpark.compose").joinpath("example.toml").read_text(encoding="utf-8")
    if origin := toolpark_origin():
        text = text.replace(_EXAMPLE_SOURCE, f"source = {_toml_string(origin.build_context())}")
    path.write_text(text, encoding="utf-8")
    click.echo(f"wrote {path}; edit it, then: toolpark compose check {path}")


def _toml_string(value: str) -> str:
    return json.dumps(value)  # a JSON string is a TOML basic string


def _spec(path: Path) -> Deployment:
    from toolpark.compose.checks import SpecError
    from toolpark.compose.files import read_spec

    try:
        return read_spec(path)
    except SpecError as exc:
        raise click.ClickException(str(exc)) from exc


@compose.command()
@click.argument("spec", type=click.Path(path_type=Path))
@click.option("--env", "env_file", type=click.Path(path_type=Path), help="The .env whose secrets to check too.")
@click.option(
    "--collections-at",
    "store_url",
    help="The running retrieval store's URL (its DATABASE_URL for pgvector): check the embedding model "
    "against the collections stored there.",
)
def check(spec: Path, env_file: Path | None, store_url: str | None) -> None:
    """Validate SPEC; every problem is named by its field, with what the combination cannot do."""
    import anyio

    from toolpark.compose.checks import SpecError, access_notes, missing_secrets, stored_collection_problems
    from toolpark.compose.files import read_env

    deployment = _spec(spec)
    found = missing_secrets(deployment, read_env(env_file)) if env_file is not None else []
    if store_url is not None:
        found += anyio.run(stored_collection_problems, deployment, store_url)
    if found:
        raise click.ClickException(str(SpecError(found, str(spec))))
    click.echo(f"{spec}: ok ({len(deployment.nodes)} node(s), {len(deployment.toolpark.servers)} toolpark server(s))")
    for note in access_notes(deployment):
        click.echo(f"  - {note}")


_TARGET = click.option(
    "--target",
    default="compose",
    show_default=True,
    help="compose: docker compose files per node; processes: this one machine, under supervisord.",
)


def _render(spec: Path, out: Path, target: str) -> Deployment:
    from toolpark.compose.checks import SpecError
    from toolpark.compose.files import write_deployment

    deployment = _spec(spec)
    try:
        written = write_deployment(deployment, out, target)
    except (SpecError, ValueError) as exc:  # a spec the target cannot render, a target that does not exist
        raise click.ClickException(str(exc)) from exc
    for name in written.files:
        click.echo(f"wrote {out / name}")
    if written.generated:
        click.echo(f"generated secrets in {out / '.env'}: {', '.join(written.generated)}")
    for problem in written.missing:
        click.echo(f"still to do: {problem}", err=True)
    return deployment


@compose.command()
@click.argument("spec", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder to render into.")
@_TARGET
def render(spec: Path, out: Path, target: str) -> None:
    """Render SPEC into OUT, and say what to do with it on each node. Secrets in OUT/.env are kept;
    missing ones are generated."""
    from toolpark.compose.targets import target_named
    from toolpark.compose.topology import Topology

    deployment = _render(spec, out, target)
    chosen = target_named(target)
    click.echo("\nnext:")
    for number, step in enumerate(chosen.next_steps(Topology(deployment, chosen.addressing), str(spec), str(out)), 1):
        click.echo(f"  {number}. {step}")


@compose.command()
@click.argument("spec", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder to render into and run from.")
@click.option("--target", type=click.Choice(["processes"]), default="processes", show_default=True,
              help="Only processes runs here; run the compose target with docker compose.")  # fmt: skip
@click.option("--rendered", is_flag=True, help="Run OUT as it is, without rendering SPEC into it first.")
def up(spec: Path, out: Path, target: str, rendered: bool) -> None:
    """Render SPEC into OUT and run it on this machine, reporting each service's health; Ctrl-C stops it."""
    from toolpark.compose.targets import target_named
    from toolpark.compose.topology import Topology
    from toolpark.compose.up import run_stack

    try:
        import supervisor  # noqa: F401  # the stack extra
    except ImportError:
        raise click.ClickException("supervisord is missing: pip install 'toolpark[stack]'") from None
    deployment = _spec(spec) if rendered else _render(spec, out, target)
    code = run_stack(out.resolve(), Topology(deployment, target_named(target).addressing), click.echo)
    raise SystemExit(code)


@compose.command("openwebui-start", hidden=True)
@click.argument("filter_file", type=click.Path(path_type=Path))
@click.argument("command", nargs=-1, required=True)
def openwebui_start(filter_file: Path, command: tuple[str, ...]) -> None:
    """Open WebUI's start, for the processes target: run COMMAND, install the sources filter FILTER_FILE."""
    from toolpark.compose.openwebui_start import main

    raise SystemExit(main([str(filter_file), "--", *command]))


@compose.command("postgres-entrypoint", hidden=True)
@click.option("--init", "scripts", multiple=True, type=click.Path(path_type=Path), help="Init script, run once.")
@click.argument("command", nargs=-1, required=True)
def postgres_entrypoint(scripts: tuple[Path, ...], command: tuple[str, ...]) -> None:
    """The postgres image's entry point, for the processes target: prepare PGDATA, then exec COMMAND."""
    from toolpark.compose.postgres_entrypoint import run

    run(scripts, command)
