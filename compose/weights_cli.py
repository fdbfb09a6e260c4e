"""`toolpark models`: push a model folder into the stack's S3 once, and check a copy before it is loaded.

The S3 client takes the usual AWS settings from the environment (AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL for a store that is not AWS); boto3 comes with the s3 extra.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

__all__ = ["models"]

_ENDPOINT = click.option(
    "--endpoint-url", envvar="AWS_ENDPOINT_URL", help="The S3 endpoint (default: AWS_ENDPOINT_URL, else AWS)."
)


def _client(endpoint: str | None) -> Any:
    from toolpark.compose.weights import s3_client

    try:
        return s3_client(endpoint, region=os.environ.get("AWS_REGION"))
    except ModuleNotFoundError as exc:
        raise click.ClickException(f"`toolpark models` needs boto3 ({exc.name}): pip install 'toolpark[s3]'") from None


def _boot_headers() -> dict[str, str]:
    """What the node's calls to the scheduler carry: its boot key, from the environment."""
    from toolpark.compose.secrets import BOOT_KEY

    return {"Authorization": f"Bearer {os.environ.get(BOOT_KEY, '')}"}


def _size(count: int) -> str:
    return f"{count / 1e9:.2f} GB" if count >= 1e8 else f"{count / 1e6:.1f} MB"


@click.group()
def models() -> None:
    """Model weights in the stack's S3: push a folder once, check a copy before vLLM loads it."""


@models.command()
@click.argument("model")
@click.option("--to", "to", required=True, help="Where: s3://bucket/prefix (the spec's weights = ...).")
@_ENDPOINT
def push(model: str, to: str, endpoint_url: str | None) -> None:
    """Upload MODEL (a folder, or a Hugging Face id in the local cache) after checking it."""
    from toolpark.compose.weights import WeightsError, WeightsLocation, push, source_folder

    try:
        where = WeightsLocation.parse(to)
        folder = source_folder(model)
        files = push(folder, where, _client(endpoint_url))
    except WeightsError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"pushed {folder} to {where}: {len(files)} files, {_size(sum(files.values()))}")
    click.echo(f'in the spec: weights = "{where}"')


@models.command(context_settings={"ignore_unknown_options": True})
@click.argument("location")
@click.option(
    "--report", metavar="URL", help="The scheduler's /boot: the check is reported as the boot phase 'weights'."
)
@click.option("--cache", type=click.Path(path_type=Path, file_okay=False), help="vLLM's compile cache folder.")
@click.option("--cache-key", help="Restore the compile cache saved beside the weights under this key into --cache.")
@click.argument("program", nargs=-1, type=click.UNPROCESSED)
@_ENDPOINT
def check(
    location: str,
    report: str | None,
    cache: Path | None,
    cache_key: str | None,
    program: tuple[str, ...],
    endpoint_url: str | None,
) -> None:
    """Check LOCATION (a model folder, or s3://bucket/prefix against its manifest), restore the
    compile cache saved beside it; then run PROGRAM (after `--`) in this process, when given and
    the check passed."""
    from toolpark.compose.weights import WeightsError, WeightsLocation, check_folder, check_remote, restore_cache

    restored = ""
    try:
        if location.startswith("s3://"):
            where, client = WeightsLocation.parse(location), _client(endpoint_url)
            files = check_remote(where, client)
            if cache is not None and cache_key:
                size = restore_cache(where, cache_key, cache, client)
                restored = f"; compile cache {cache_key} restored ({_size(size)})" if size else "; no compile cache yet"
        else:
            files = check_folder(Path(location))
    except WeightsError as exc:
        _report(report, ok=False, detail=str(exc))
        raise click.ClickException(str(exc)) from None
    said = f"{location}: {len(files)} files, {_size(sum(files.values()))}, complete{restored}"
    _report(report, ok=True, detail=said)
    click.echo(said)
    if program:
        os.execvp(program[0], list(program))


def _report(url: str | None, *, ok: bool, detail: str) -> None:
    """Tells the scheduler how the boot phase went; a scheduler that does not answer costs the
    boot nothing (the phase is missing from its history, and it still sees vLLM's health)."""
    if url is None:
        return
    import httpx

    body = {"phase": "weights", "ok": ok, "detail": detail}
    try:
        httpx.post(url, json=body, headers=_boot_headers(), timeout=10).raise_for_status()
    except httpx.HTTPError as exc:
        click.echo(f"could not report the phase to {url}: {exc}", err=True)


@models.command("save-cache")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False))
@click.option("--key", required=True, help="The compile cache's key (the check restores it by that).")
@click.option("--to", "to", required=True, metavar="URL", help="The scheduler's /boot/cache/<role>.")
@click.option("--health", metavar="URL", help="Wait until this answers 200 (vLLM's /health) first.")
@click.option("--wait-s", default=3600, show_default=True, help="How long to wait for --health.")
def save_cache(folder: Path, key: str, to: str, health: str | None, wait_s: int) -> None:
    """Send vLLM's compile cache FOLDER to the scheduler, which keeps it beside the weights, unless
    one is kept under KEY already. The node's own S3 key only reads."""
    import tempfile
    import time

    import httpx

    from toolpark.compose.weights import pack_cache

    deadline = time.monotonic() + wait_s
    while health is not None and not _answers(health):
        if time.monotonic() > deadline:
            raise click.ClickException(f"{health} did not answer in {wait_s} s; no compile cache saved")
        time.sleep(5)
    headers = _boot_headers()
    try:
        if httpx.get(to, params={"key": key}, headers=headers, timeout=30).status_code == 200:
            click.echo(f"the compile cache {key} is kept already")
            return
        with tempfile.TemporaryFile() as packed:
            pack_cache(folder, packed)
            size = packed.tell()
            packed.seek(0)
            sent = httpx.post(to, params={"key": key}, content=packed, headers=headers, timeout=600)
        sent.raise_for_status()
    except httpx.HTTPError as exc:
        raise click.ClickException(f"the compile cache was not saved: {exc}") from None
    click.echo(f"saved the compile cache {key} ({_size(size)})")


def _answers(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.HTTPError:
        return False
