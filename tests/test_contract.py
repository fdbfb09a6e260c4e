"""The checks `toolpark plugin new` gives every plugin author (`toolpark.testing.contract`), run on
toolpark's own plugins and servers in the real host, each with what it needs to be ready."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.mcp_servers.s3.test_s3 import settings as s3_settings
from toolpark.host.loading import first_party_servers, load_plugins
from toolpark.operations.embedded import S3Service, postgres, seaweedfs
from toolpark.security.keys import hash_key
from toolpark.testing import serve_http
from toolpark.testing.contract import check_mcp_contract

pytestmark = pytest.mark.anyio

KEY = "tpk_contract-check"
AUTH = {
    "api_keys": [{"name": "tests", "hash": hash_key(KEY), "scopes": ["admin"]}],
    "oidc_issuer": "https://sso.example.test/realms/main",  # published in the metadata, never contacted
    "oidc_audience": "toolpark",
}


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with postgres(tmp_path_factory.mktemp("pg")) as running:
        yield running.url


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Service]:
    with seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as service:
        yield service


def settings_of(name: str, database: str, store: S3Service) -> dict[str, Any]:
    if name == "retrieval":
        return {"database_url": database}
    if name == "s3":
        return s3_settings(store)
    return {}


# Every first-party server, and the example plugins.
@pytest.mark.parametrize("plugin", load_plugins(["everything", "notes", *first_party_servers()]), ids=lambda p: p.name)
async def test_meets_the_mcp_contract(plugin: Any, database: str, store: S3Service) -> None:
    settings = {plugin.name: settings_of(plugin.name, database, store)}
    with serve_http(plugin, settings=settings, auth=AUTH) as running:
        await check_mcp_contract(running.url(plugin.name), headers={"Authorization": f"Bearer {KEY}"}, oidc=True)
