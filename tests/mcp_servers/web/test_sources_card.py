"""Sources in LibreChat: its tool-call panel shows a result's `ui://` resources (formatToolContent
makes them a ui_resources artifact), so for the clients named in `[auth] ui_clients` fetch adds a
card naming the page; for others (Open WebUI hands an embedded resource's text to the model) none."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import pytest
from mcp_types import CallToolResult

from tests.mcp_servers.web.test_read_on import PAGE
from tests.nodejs import run_node
from tests.webhost import WebHost, web_host
from toolpark.mcp_servers.web import plugin as web
from toolpark.security.keys import hash_key
from toolpark.testing import RunningHost, http_client


@pytest.fixture
def site() -> Iterator[WebHost]:
    with web_host("site") as server:
        server.pages["/ferries"] = (200, {"Content-Type": "text/html; charset=utf-8"}, PAGE)
        yield server


def _fetch(running: RunningHost, key: str, url: str) -> CallToolResult:
    async def call() -> CallToolResult:
        headers = {"Authorization": f"Bearer {key}", "X-User-ID": "ada"}
        async with http_client(running.url("web"), headers=headers) as client:
            return await client.call_tool("fetch", {"url": url})

    return anyio.run(call)


@pytest.mark.node
def test_librechat_gets_a_card_of_the_fetched_page_and_open_webui_none(
    toolpark_http: Callable[..., RunningHost], site: WebHost, tmp_path: Path
) -> None:
    keys = [{"name": n, "hash": hash_key(f"tpk_{n}"), "trusted_frontend": True} for n in ("librechat", "openwebui")]
    running = toolpark_http(web, egress={"allow": "127.0.0.1"}, auth={"api_keys": keys, "ui_clients": ["librechat"]})
    url = f"{site.url}/ferries"
    shown = _fetch(running, "tpk_librechat", url)
    cards = [b for b in shown.content if b.type == "resource"]
    assert len(cards) == 1 and str(cards[0].resource.uri).startswith("ui://toolpark/sources/")
    assert "Ferry notes" in cards[0].resource.text and f'href="{url}"' in cards[0].resource.text
    assert not any(b.type == "resource" for b in _fetch(running, "tpk_openwebui", url).content)
    # As LibreChat formats it: the card is an artifact its panel renders, the model reads its marker.
    (tmp_path / "result.json").write_text(shown.model_dump_json(by_alias=True, exclude_none=True))
    done = run_node("librechat-formatted.mjs", str(tmp_path / "result.json"), timeout=60)
    assert done.returncode == 0, done.stderr
    text, artifacts = json.loads(done.stdout.strip().splitlines()[-1])
    assert "Ferry notes" in artifacts["ui_resources"]["data"][0]["text"]
    assert "UI Resource Marker: \\ui{" in text and text.startswith(f"Contents of {url}:")
