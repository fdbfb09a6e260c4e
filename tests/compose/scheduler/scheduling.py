"""A scheduler service on the Hetzner provider, answered from recorded exchanges (a stand-in for an
API this machine cannot reach), with its history in a real PostgreSQL (the `database` fixture)."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.compose.rendering import SPECS
from toolpark.compose.files import write_deployment
from toolpark.compose.scheduler.replay import Exchange
from toolpark.compose.scheduler.service import SchedulerService
from toolpark.compose.secrets import format_env
from toolpark.compose.spec import Deployment
from toolpark.operations.embedded import PostgresService

__all__ = ["EMPTY", "OPEN", "hetzner_service", "listed"]

_PAGE = {"page": 1, "per_page": 50, "previous_page": None, "next_page": None, "last_page": 1, "total_entries": 0}
EMPTY = Exchange("GET", "/v1/servers", 200, {"servers": [], "meta": {"pagination": _PAGE}})


OPEN: list[SchedulerService] = []


def hetzner_service(
    tmp_path: Path,
    database: PostgresService,
    secrets: dict[str, str] | None = None,
    edit: Callable[[dict[str, Any]], None] | None = None,
    **scheduler: Any,
) -> SchedulerService:
    """The entry-gpu example's scheduler; `edit` changes the rest of its spec first."""
    data = tomllib.loads(SPECS["entry-gpu"].read_text())
    if edit is not None:
        edit(data)
    data["scheduler"] |= {"provider": "hetzner", **scheduler}
    data["scheduler"]["provider_settings"] = {
        "server_type": "gex44", "image": "ubuntu-24.04", "location": "fsn1", "network": "assistant-private"
    }  # fmt: skip
    folder = tmp_path / "deploy"
    folder.mkdir()
    (folder / ".env").write_text(format_env({"HCLOUD_TOKEN": "token-of-the-project", **(secrets or {})}))
    write_deployment(Deployment.model_validate(data), folder)
    OPEN.append(SchedulerService(folder, database.url))
    return OPEN[-1]


def listed(answers: dict[str, list[Exchange]], server_id: int, name: str) -> dict[str, Any]:
    server: dict[str, Any] = dict(answers["find"][0].response["servers"][0])
    return server | {"id": server_id, "name": name}
