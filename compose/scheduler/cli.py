"""`toolpark gpu`: run the scheduler, see what it does, override it for a while, plan a provider's calls.

Each command imports what it runs on its first call: `toolpark --help` loads none of it.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

__all__ = ["gpu"]

_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?$")
_DEPLOY = click.option(
    "--deploy",
    "folder",
    type=click.Path(path_type=Path, file_okay=False),
    default=".",
    show_default=True,
    help="The rendered deployment folder (with scheduler/spec.json and .env).",
)
_URL = click.option(
    "--url", help="The scheduler's address; default: its node's private address (loopback for --target processes)."
)


@contextmanager
def _gpu_extra() -> Iterator[None]:
    """The scheduler's libraries (PostgreSQL's driver, the clouds' SDKs) come with the gpu extra;
    a command run without them says so in one line."""
    try:
        yield
    except ModuleNotFoundError as exc:
        message = f"`toolpark gpu` needs the gpu extra ({exc.name} is not installed): pip install 'toolpark[gpu]'"
        raise click.ClickException(message) from None


def _duration(text: str | None) -> float | None:
    if text is None:
        return None
    match = _DURATION.match(text.strip())
    if not match or not any(match.groups()):
        raise click.BadParameter(f"{text!r}: say how long as 2h, 90m, 1h30m or 1d")
    days, hours, minutes = (int(g or 0) for g in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes).total_seconds()


@click.group()
def gpu() -> None:
    """The scheduled GPU node: run the scheduler, its status, manual overrides that expire."""


@gpu.command()
@_DEPLOY
@click.option("--database-url", envvar="TOOLPARK_SCHEDULER_DATABASE_URL", required=True, help="Its history.")
def run(folder: Path, database_url: str) -> None:
    """Run the scheduler: reconcile every interval and serve /status, /metrics and the offline page."""
    with _gpu_extra():
        from toolpark.compose.scheduler.service import SchedulerService
    from toolpark.operations.logs import configure_logging

    configure_logging("INFO", "json")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per health probe says nothing
    SchedulerService(folder.resolve(), database_url).serve()


def _scheduler_url(folder: Path) -> str:
    """Where the rendered deployment's scheduler listens: on loopback (processes target), else
    at its node's private address, where its port is published."""
    from toolpark.compose.scheduler.service import load_deployment

    try:
        spec, topology = load_deployment(folder)
    except FileNotFoundError:
        raise click.ClickException(f"{folder} holds no rendered scheduler (scheduler/spec.json)") from None
    address = None if topology.one_machine else spec.nodes[topology.node_of("scheduler")].address
    return f"http://{address or '127.0.0.1'}:{spec.scheduler.port}"


def _call(folder: Path, url: str | None, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    import httpx

    from toolpark.compose.files import read_env

    if url is None:
        url = _scheduler_url(folder)
    key = read_env(folder / ".env").get("TOOLPARK_OPS_KEY", "")
    try:
        headers = {"Authorization": f"Bearer {key}"}
        timeout = httpx.Timeout(30, connect=5)
        response = httpx.request(method, f"{url}{path}", json=body, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        raise click.ClickException(f"the scheduler at {url} does not answer: {exc}") from exc
    try:
        data: dict[str, Any] = response.json()
    except ValueError:
        raise click.ClickException(f"{url} answered HTTP {response.status_code}, not the scheduler's JSON") from None
    if response.is_error:
        raise click.ClickException(str(data.get("error", data)))
    return data


def _print_status(status: dict[str, Any]) -> None:
    click.echo(f"node {status['node']} ({status['provider']}): {status['state']}")
    click.echo(f"  {'wanted up' if status['wanted'] else 'wanted down'}: {status['reason']}")
    if status["override"]:
        o = status["override"]
        click.echo(f"  override: {o['state']} until {o['until']} (by {o['by']})")
    click.echo(f"  next window: {status['next_window'] or 'none within a year'} ({status['timezone']})")
    lead = f"  started {status['lead_minutes']} min before each window ({status['lead_grounds']})"
    click.echo(lead + "; that time counts toward the budget")
    budget = f" of {status['budget_hours']:g}" if status["budget_hours"] else ""
    cost = f"{status['cost_this_month']:.2f} {status['currency']}"
    click.echo(f"  this month: {status['hours_this_month']:.2f}{budget} h, {cost}")
    if status["boots"]:
        click.echo("  boots, seconds from the request to each phase:")
    for boot in status["boots"]:
        phases = " · ".join(f"{p['phase']} {p['seconds']:.0f}{'' if p['ok'] else ' FAILED'}" for p in boot["phases"])
        click.echo(
            f"    {boot['node']}: {phases or 'no phase yet'}" + (f" ({boot['outcome']})" if boot["outcome"] else "")
        )
        click.echo("".join(f"      {p['phase']}: {p['detail']}\n" for p in boot["phases"] if not p["ok"]), nl=False)
    for event in status["events"][:5]:
        click.echo(f"  {event['at']}  {event['kind']:<10} {event['message']}")


@gpu.command()
@_DEPLOY
@_URL
@click.option("--json", "as_json", is_flag=True, help="Print the scheduler's JSON.")
def status(folder: Path, url: str | None, as_json: bool) -> None:
    """What the node is doing and why, the next window, hours and cost this month."""
    data = _call(folder, url, "GET", "/status")
    click.echo(json.dumps(data, indent=2)) if as_json else _print_status(data)


def _override(folder: Path, url: str | None, state: str | None, duration: str | None) -> None:
    body = {"state": state, "for_s": _duration(duration), "by": os.environ.get("USER", "operator")}
    _print_status(_call(folder, url, "POST", "/override", body))


@gpu.command()
@_DEPLOY
@_URL
@click.option("--for", "duration", help="How long: 2h, 90m, 1d; default 2h.")
def up(folder: Path, url: str | None, duration: str | None) -> None:
    """Keep the node up for a while, outside the windows too (within the budget)."""
    _override(folder, url, "up", duration)


@gpu.command()
@_DEPLOY
@_URL
@click.option("--for", "duration", help="How long; default: to the end of the current window (else 2h).")
def down(folder: Path, url: str | None, duration: str | None) -> None:
    """Keep the node down for a while, inside a window too."""
    _override(folder, url, "down", duration)


@gpu.command()
@_DEPLOY
@_URL
def auto(folder: Path, url: str | None) -> None:
    """Drop the override: the schedule decides again."""
    _override(folder, url, None, None)


@gpu.command()
@click.argument("spec_path", metavar="SPEC", type=click.Path(path_type=Path, dir_okay=False))
def plan(spec_path: Path) -> None:
    """Print the API calls the provider would make to create, find and delete the node (dry run:
    nothing is sent; the provider's SDK runs against recorded answers)."""
    from toolpark.compose.checks import SpecError
    from toolpark.compose.files import read_spec
    from toolpark.compose.providers import ProviderError

    with _gpu_extra():
        from toolpark.compose.scheduler.plan import plan_calls

    try:
        calls = plan_calls(read_spec(spec_path))
    except (SpecError, ProviderError) as exc:
        raise click.ClickException(str(exc)) from exc
    for call in calls:
        click.echo(call)
