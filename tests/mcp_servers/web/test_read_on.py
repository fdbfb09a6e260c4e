"""A 200 KB page, more than one message holds at the web server's default cap, as a model behind
each chat front end reads it: the first part in the fetch's own answer, then read_more as the
answer says, until the end; every paragraph once, in order, none cut. LibreChat's side runs its
client (the TypeScript SDK) and a port of its result formatter checked against its published test
cases (LibreChat itself cannot be installed here); Open WebUI's runs its own MCP client and result
processing in its venv."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.nodejs import run_node
from tests.processes import env_folder
from tests.webhost import WebHost, web_host
from toolpark.mcp_servers.web import plugin as web
from toolpark.mcp_servers.web.plugin import WebSettings
from toolpark.testing import RunningHost

CAP = WebSettings.model_fields["max_result_bytes"].default
PARAGRAPHS = [
    f"Paragraph {n}: the ferry to Quillmoor leaves at {n % 24:02d}:40 from pier {n % 7}." for n in range(3000)
]
PAGE = (
    "<!doctype html><html><head><title>Ferry notes</title></head><body><article><h1>Ferry notes</h1>"
    + "".join(f"<p>{p}</p>" for p in PARAGRAPHS)
    + "</article></body></html>"
).encode()
FETCH = {"max_length": 400_000}
READ_MORE = re.compile(r'read_more tool: result \\?"([^"\\]+)\\?", part (\d+)')


@pytest.fixture
def site() -> Iterator[WebHost]:
    with web_host("site") as server:
        server.pages["/ferries"] = (200, {"Content-Type": "text/html; charset=utf-8"}, PAGE)
        yield server


@pytest.fixture
def served(toolpark_http: Callable[..., RunningHost]) -> RunningHost:
    return toolpark_http(web, egress={"allow": "127.0.0.1"})


def _read_in_order(turns: list[str], limit: float = CAP) -> None:
    """Each turn a readable part of the page within `limit` bytes, together every paragraph once, in
    order, and the last turn the end of it."""
    assert sum(len(p) + 2 for p in PARAGRAPHS) > 200_000 and len(turns) >= 3, [t[:200] for t in turns]
    assert all(len(turn.encode()) <= limit for turn in turns)
    numbers = [int(n) for turn in turns for n in re.findall(r"Paragraph (\d+):", turn)]
    assert numbers == list(range(len(PARAGRAPHS)))
    assert all(any(p in turn for turn in turns) for p in PARAGRAPHS)  # none cut between parts
    assert all(READ_MORE.search(turn) for turn in turns[:-1]) and "That is the end of it." in turns[-1]


@pytest.mark.node
def test_a_model_behind_librechat_reads_a_big_page_part_by_part(served: RunningHost, site: WebHost) -> None:
    args = json.dumps({"url": f"{site.url}/ferries", **FETCH})
    done = run_node("librechat-read-on.mjs", served.url("web"), "fetch", args, timeout=120)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["checked"] == 8  # the port agrees with LibreChat's own test cases
    assert "read_more" in seen["tools"]
    # fetch's metadata is small, so its answer keeps it and is no error: LibreChat's client checks it.
    assert not any(turn["isError"] for turn in seen["turns"])
    texts = [turn["text"] for turn in seen["turns"]]
    assert texts[0].startswith(f"Contents of {site.url}/ferries:\n# Ferry notes\n\nParagraph 0:")
    assert '"type": "resource_link"' in texts[0]  # the link LibreChat cannot follow: JSON text, nothing more
    _read_in_order(texts)


_OPEN_WEBUI = """
import asyncio, json, re, sys
from open_webui.utils.mcp.client import MCPClient
from open_webui.utils.middleware import process_tool_result

async def main(url, tool, arguments):
    client = MCPClient()
    await client.connect(url)
    tools = [spec["name"] for spec in await client.list_tool_specs()]
    turns, call = [], (tool, arguments)
    while call and len(turns) < 50:
        try:  # as Open WebUI's middleware calls a tool: an error becomes {"error": ...}
            result = await client.call_tool(*call)
        except Exception as e:
            result = {"error": str(e)}
        text, files, embeds = await process_tool_result(None, call[0], result, "mcp", metadata={}, user=None)
        turns.append(text)
        found = re.search(sys.argv[4], text)
        call = ("read_more", {"result": found[1], "part": int(found[2])}) if found else None
    await client.disconnect()
    print(json.dumps({"tools": tools, "turns": turns}))

asyncio.run(main(sys.argv[1], sys.argv[2], json.loads(sys.argv[3])))
"""


@pytest.mark.stack
def test_a_model_behind_open_webui_reads_a_big_page_part_by_part(
    served: RunningHost, site: WebHost, tmp_path: Path
) -> None:
    python = env_folder("stack-env") / "openwebui" / "bin" / "python"
    (tmp_path / "data").mkdir()
    env = {"DATA_DIR": str(tmp_path / "data"), "WEBUI_SECRET_KEY": "t" * 40, "OFFLINE_MODE": "true",
           "FROM_INIT_PY": "true", "PATH": "/usr/bin:/bin"}  # fmt: skip
    arguments = json.dumps({"url": f"{site.url}/ferries", **FETCH})
    command = [str(python), "-c", _OPEN_WEBUI, served.url("web"), "fetch", arguments, READ_MORE.pattern]
    done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert "read_more" in seen["tools"]
    turns = seen["turns"]
    # The first answer has fetch's metadata beside the text: Open WebUI hands the model both as a JSON
    # list; each later part is one text, handed over as it is.
    first = json.loads(turns[0])["results"]
    assert first[0].startswith(f"Contents of {site.url}/ferries:\n# Ferry notes\n\nParagraph 0:")
    assert first[1]["title"] == "Ferry notes"
    assert turns[1].startswith("Paragraph ") and not turns[1].startswith("{")
    _read_in_order(turns, limit=CAP * 1.1)  # JSON's escapes of the first turn's line ends
