"""The docs stay true: the tutorials' code runs, and the architecture picture is the import graph's."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import yaml
from mcp import Client, StdioServerParameters

from docs.architecture import OUT, svg
from tests.processes import ctrl_c, started, survivors
from toolpark.plugins.everything import plugin as everything
from toolpark.testing import free_port, serve_http

ROOT = Path(__file__).resolve().parent.parent
CONNECT = ROOT / "docs" / "examples" / "connect.py"


def _connect(url: str, tool: str) -> str:
    done = subprocess.run([sys.executable, str(CONNECT), url, tool], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_client_example_lists_tools_and_calls_one() -> None:
    with serve_http(everything) as running:
        out = _connect(running.url("everything"), "test_simple_text")
        assert out.splitlines()[0].startswith("tools: ") and "test_error_handling" in out.splitlines()[0]
        assert out.splitlines()[1] == "result:" and "simple text" in out.lower()
        failed = _connect(running.url("everything"), "test_error_handling")
        assert failed.splitlines()[1] == "error:"


def test_the_architecture_picture_is_current() -> None:
    assert OUT.read_text() == svg(), "docs/architecture.svg is stale: run .venv/bin/python -m docs.architecture"


AGENT_PAGE = ROOT / "docs" / "getting-started" / "agent-developer.md"
PDF = ROOT / "tests" / "fixtures" / "pdfs" / "pdflatex-4-pages.pdf"


def blocks(page: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", page, re.MULTILINE | re.DOTALL)


@contextmanager
def site(folder: Path) -> Iterator[str]:
    """A web site on loopback: what the page's public URLs stand for here, without the internet."""
    handler = partial(SimpleHTTPRequestHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def stdio_tools(config: dict[str, Any]) -> list[str]:
    """Start the server as a client that launches a command would, from its JSON entry."""
    entry = config["mcpServers"]["toolpark-web"]
    command = str(Path(sys.executable).parent / entry["command"])  # "the full path of toolpark in the venv"
    async with Client(StdioServerParameters(command=command, args=entry["args"])) as client:
        return [tool.name for tool in (await client.list_tools()).tools]


def test_the_client_snippets_work_against_toolpark_up(tmp_path: Path) -> None:
    """The agent developer's page as a user follows it: `toolpark up`, then each block, with the
    page's public URLs (a PDF, a web page) served from loopback and opened to the servers' egress."""
    page = AGENT_PAGE.read_text()
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "paper.pdf").write_bytes(PDF.read_bytes())
    (tmp_path / "site" / "index.html").write_text(
        "<html><body><h1>Example Domain</h1><p>For documents.</p></body></html>"
    )
    with site(tmp_path / "site") as local:
        port = free_port()
        up = started(["up"], tmp_path, port, env={"TOOLPARK_EGRESS_ALLOW": local.removeprefix("http://")})
        try:
            here = {"http://127.0.0.1:8765": f"http://127.0.0.1:{port}", "https://arxiv.org/pdf/1706.03762":
                    f"{local}/paper.pdf", "https://example.org": f"{local}/index.html"}  # fmt: skip

            def localised(text: str) -> str:
                for public, local_url in here.items():
                    text = text.replace(public, local_url)
                return text

            five_lines = blocks(page, "python")[0]
            assert len(five_lines.splitlines()) <= 6
            done = subprocess.run([sys.executable, "-c", localised(five_lines)], capture_output=True, text=True,
                                  timeout=60)  # fmt: skip
            assert done.returncode == 0 and "'fetch'" in done.stdout, done.stderr

            calls = [line for block in blocks(page, "sh") for line in block.splitlines() if "connect.py" in line]
            said = {}
            for line in calls:
                _, script, url, tool, *arguments = shlex.split(localised(line))
                done = subprocess.run([sys.executable, str(ROOT / script), url, tool, *arguments], capture_output=True,
                                      text=True, timeout=120)  # fmt: skip
                assert done.returncode == 0 and done.stdout.splitlines()[1] == "result:", (
                    line,
                    done.stdout,
                    done.stderr,
                )
                said[tool] = done.stdout
            assert set(said) == {
                "create_collection",
                "ingest_documents",
                "search",
                "extract_text",
                "fetch",
                "list_buckets",
            }
            assert "80 degrees" in said["search"]
            assert "here is some text without a meaning" in said["extract_text"]
            assert "Example Domain" in said["fetch"]

            configs = [json.loads(block) for block in blocks(page, "json")]
            owui, stdio, vscode = configs
            assert owui[0]["url"] == vscode["servers"]["toolpark-web"]["url"] == "http://127.0.0.1:8765/web/mcp"
            assert owui[0]["auth_type"] == "none" and owui[0]["type"] == "mcp"
            assert "fetch" in anyio.run(stdio_tools, stdio)
            docker = yaml.safe_load(blocks(page, "yaml")[-1])
            assert docker["mcpServers"]["web"]["url"].startswith(
                f"http://{docker['mcpSettings']['allowedAddresses'][0]}/"
            )
        finally:
            ctrl_c(up)
            up.communicate(timeout=30)
        assert survivors(tmp_path) == []
