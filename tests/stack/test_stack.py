"""End to end: one spec, rendered for the processes target and started for real; used through
Caddy from LiteLLM's API, LiteLLM's MCP gateway, `toolpark ingest`, Open WebUI in headless
Chromium, and LibreChat's rendered MCP entries. Opt-in with `--stack` (scripts/test passes it)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import psutil
import pytest
import yaml
from mcp_types import CallToolResult

from tests.mcp_servers.web.test_read_on import PAGE, PARAGRAPHS
from tests.nodejs import run_node
from tests.processes import ROOT
from tests.stack.planner import ANSWERED, MODEL, planner
from tests.stack.stack import SERVERS, Stack, prepared, running, whole_stack
from tests.stack.test_openwebui_config import PAPER, PAPER_TEXT
from tests.webhost import web_host
from toolpark.clients import http_client
from toolpark.compose.targets.processes import CONFIG

pytestmark = [pytest.mark.stack, pytest.mark.node]

FACT = "Ottilie Brandvold"
DOCUMENT = (
    "# Lighthouse keepers\n\nThe lighthouse on Quillmoor Island is painted teal and amber. Its keeper, "
    f"{FACT}, lights the lamp at 17:40 every evening and has kept it since 1998.\n"
)
SCREENSHOTS = ROOT / ".build" / "stack"


# Before the module's stack starts (the same ports): one thing broken in a fresh render at a time.
@pytest.mark.parametrize(
    ("file", "old", "new", "named"),
    [
        ("supervisord.conf", "--tool-call-parser hermes", "--tool-call-parsr hermes", "vllm-chat"),
        ("caddy/Caddyfile", "reverse_proxy 127.0.0.1:{webui}", "reverse_proxy 127.0.0.1:9", "caddy"),
        # A site that publishes some paths only (LiteLLM's API) is probed at one of them, not its root.
        ("caddy/Caddyfile", "reverse_proxy 127.0.0.1:{litellm}", "reverse_proxy 127.0.0.1:9", "caddy"),
        (
            "supervisord.conf",
            "TOOLPARK_RETRIEVAL_DATABASE_URL=",
            "TOOLPARK_RETRIEVAL_DATABSE_URL=",
            "toolpark-retrieval",
        ),
    ],
)
def test_a_broken_rendered_file_names_its_service(tmp_path: Path, file: str, old: str, new: str, named: str) -> None:
    with prepared(tmp_path) as ready:
        command = [sys.executable, "-m", "toolpark", "compose", "render", str(ready.spec_path), "--out",
                   str(ready.folder), "--target", "processes"]  # fmt: skip
        subprocess.run(command, check=True, capture_output=True, timeout=120)
        path = ready.folder / file
        old = old.format(webui=ready.spec["openwebui"]["port"], litellm=ready.spec["litellm"]["port"])
        assert old in path.read_text()
        path.write_text(path.read_text().replace(old, new))
        with running(ready.folder, ready.spec_path, tmp_path / "up.log", expect_failure=True) as output:
            failed = [line for line in output.splitlines() if line.startswith("✗")]
            assert failed and failed[0].startswith(f"✗ {named}"), output[-3000:]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with whole_stack(tmp_path_factory.mktemp("stack")) as running_stack:
        yield running_stack


def test_every_service_comes_up_healthy(stack: Stack) -> None:
    log = stack.log.read_text()
    expected = ["postgres", "caddy", "litellm", "openwebui", "vllm-chat", "vllm-embedding"]
    expected += [f"toolpark-{name}" for name in SERVERS]
    assert all(f"✓ {name} healthy" in log for name in expected), log
    assert "not started here (they need containers; their files are rendered): librechat, mongodb" in log


def test_each_running_program_holds_only_the_secrets_its_definition_names(stack: Stack) -> None:
    """supervisord started with the whole .env, so Caddy, Open WebUI and every server received the
    PostgreSQL superuser's password, the operator key and the state key. Each program's process,
    read from /proc: no secret value but those its section's environment= references."""
    config = (stack.folder / CONFIG).read_text()
    named = {
        section: set(re.findall(r"%\(ENV_([A-Za-z0-9_]+)\)s", body))
        for section, body in re.findall(r"^\[program:([^\]]+)\]\n(.*?)(?=^\[|\Z)", config, re.M | re.S)
    }
    secrets = {name: value for name, value in stack.env.items() if len(value) >= 12}
    programs = {}
    for process in psutil.process_iter(["cmdline", "environ"]):
        env = process.info["environ"] or {}
        if env.get("SUPERVISOR_PROCESS_NAME") in named and str(stack.folder) in env.get("SUPERVISOR_SERVER_URL", ""):
            programs.setdefault(env["SUPERVISOR_PROCESS_NAME"], env)
    assert set(programs) == set(named), (sorted(programs), sorted(named))
    for program, env in programs.items():
        text = "\n".join(env.values())
        held = sorted(name for name, value in secrets.items() if value in text and name not in named[program])
        assert not held, f"{program} holds {held}"
    assert "POSTGRES_PASSWORD" in named["postgres"] and "POSTGRES_PASSWORD" not in named["openwebui"]


def test_litellm_serves_chat_and_embeddings_with_its_key_only(stack: Stack) -> None:
    llm = stack.site("llm.example.org")
    key = {"Authorization": f"Bearer {stack.env['LITELLM_MASTER_KEY']}"}
    chat = {"model": "smollm2", "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 8}
    answer = httpx.post(f"{llm}/v1/chat/completions", json=chat, headers=key, timeout=120)
    assert answer.status_code == 200, answer.text
    assert answer.json()["choices"][0]["message"]["content"]
    vectors = httpx.post(
        f"{llm}/v1/embeddings", json={"model": "minilm", "input": "lighthouse"}, headers=key, timeout=60
    )
    assert len(vectors.json()["data"][0]["embedding"]) == 384
    wrong = httpx.post(
        f"{llm}/v1/chat/completions", json=chat, headers={"Authorization": "Bearer sk-wrong"}, timeout=60
    )
    # Without its database LiteLLM knows only the master key: any other is refused (as "No connected db").
    assert wrong.status_code in (400, 401) and "choices" not in wrong.json(), wrong.text
    # The public site is the OpenAI-compatible API: LiteLLM's admin UI and key management, guarded by
    # the master key alone, are not published (they answered through Caddy before).
    assert httpx.get(f"{llm}/v1/models", headers=key, timeout=30).status_code == 200
    for method, path in (("GET", "/ui/"), ("POST", "/key/generate"), ("GET", "/user/list"), ("GET", "/spend/logs")):
        hidden = httpx.request(method, f"{llm}{path}", headers=key, json={}, timeout=30)
        assert hidden.status_code == 404, (path, hidden.status_code, hidden.text[:200])


def test_litellms_mcp_gateway_lists_and_calls_the_servers_tools(stack: Stack) -> None:
    async def session() -> tuple[list[str], bool, str]:
        headers = {"x-litellm-api-key": f"Bearer {stack.env['LITELLM_MASTER_KEY']}"}
        async with http_client(f"{stack.site('llm.example.org')}/mcp/", headers=headers, mode="legacy") as client:
            names = [tool.name for tool in (await client.list_tools()).tools]
            called = await client.call_tool("web-fetch", {"url": "http://[::1]:1/"})
            return names, bool(called.is_error), str(getattr(called.content[0], "text", ""))

    names, is_error, text = anyio.run(session)
    assert {"retrieval-search", "web-fetch", "extract-extract_text", "s3-list_buckets"} <= set(names), names
    # One key for all its users, who cannot be told apart: it may read, never write for all of them.
    assert not {"retrieval-ingest", "retrieval-create_collection"} & set(names), names
    # The call went through LiteLLM to the web server, whose egress policy refused loopback (the spec
    # opens 127.0.0.1 alone, for the tests' pages).
    assert is_error and "::1" in text, text


def _ingest(stack: Stack, tmp_path: Path) -> None:
    document = tmp_path / "quillmoor.md"
    document.write_text(DOCUMENT)
    tools = stack.site("tools.example.org")
    key = stack.env["TOOLPARK_OPS_KEY"]
    command = [sys.executable, "-m", "toolpark", "ingest", str(document), "--collection", "lighthouses", "--create",
               "--namespace", "shared", "--url", f"{tools}/retrieval/mcp", "--api-key", key]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0 and "1 created" in done.stdout, done.stdout + done.stderr


def _admin(stack: Stack) -> tuple[dict[str, str], dict[str, str]]:
    """Open WebUI's admin account, and the headers of a session signed in as it."""
    webui = stack.site("webui.example.org")
    account = {"email": stack.spec["acme_email"], "password": stack.env["OPENWEBUI_ADMIN_PASSWORD"]}
    token = httpx.post(f"{webui}/api/v1/auths/signin", json=account, timeout=60).json()["token"]
    return account, {"Authorization": f"Bearer {token}"}


def _messages(webui: str, admin: dict[str, str], chat: str) -> list[dict[str, Any]]:
    """A saved chat's messages, in the order they were written."""
    history = httpx.get(f"{webui}/api/v1/chats/{chat}", headers=admin, timeout=60).json()["chat"]["history"]
    return sorted(history["messages"].values(), key=lambda m: m.get("timestamp", 0))


def test_open_webui_in_a_browser_answers_from_the_ingested_document(stack: Stack, tmp_path: Path) -> None:
    """Ingest through Caddy; a stranger cannot sign up to Open WebUI (the render made its admin before
    the site opened, and sign-ups are closed by default); the admin in headless Chromium logs in,
    asks, and sees the retrieval tool's call, the fact in its result, and the document under the
    answer as its source (toolpark's filter, which Open WebUI's start installed, active for every
    model). The search names no collection: it runs over every collection the admin may read.
    SmolLM2-135M does not choose a tool itself: the spec's `openwebui.tool_choice` makes it call
    `retrieval_search` (Open WebUI's name for it), and with one round of tool calls
    (`max_tool_calls`) the page ends with Open WebUI's "Tool-call limit reached" note after the
    result. The model's reply is not checked: a model this small rarely repeats the fact; the result
    and the sources the page shows are."""
    _ingest(stack, tmp_path)
    webui = stack.site("webui.example.org")
    stranger = {"name": "Mallory", "email": "mallory@example.org", "password": "correct-horse-battery"}
    signup = httpx.post(f"{webui}/api/v1/auths/signup", json=stranger, timeout=60)
    assert signup.status_code == 403, signup.text  # it took anyone, and the first became the admin
    account, admin = _admin(stack)
    functions = httpx.get(f"{webui}/api/v1/functions/", headers=admin, timeout=60).json()
    assert [(f["id"], f["type"], f["is_active"], f["is_global"]) for f in functions] == [
        ("toolpark_sources", "filter", True, True)
    ], functions
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / "openwebui-chat.png"
    question = "Who keeps the lighthouse on Quillmoor Island?"
    args = [webui, account["email"], account["password"], question, "retrieval_search", FACT, str(shot), "quillmoor.md"]
    done = run_node("openwebui-chat.mjs", *args, timeout=900)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"screenshot: {shot}")
    assert seen["loggedIn"] and seen["toolShown"], seen
    assert seen["factShown"], f"the page did not show {FACT!r} (screenshot {shot}): {seen['text'][-1500:]}"
    assert seen["sourcesShown"] and seen["sourceNamed"], f"no sources under the answer (screenshot {shot}): {seen}"
    # As Open WebUI keeps them with the answer: the passage, its document and collection.
    messages = _messages(webui, admin, httpx.get(f"{webui}/api/v1/chats/", headers=admin, timeout=60).json()[0]["id"])
    sources = [s for m in messages for s in m.get("sources") or []]
    assert sources and sources[0]["source"]["name"] == "quillmoor.md", sources
    # The model named no collection (greedy decoding makes that repeatable): the search ran over all
    # the admin may read and found the document in the shared namespace's collection.
    calls = [i for m in messages for i in m.get("output") or [] if i["type"] == "function_call"]
    assert "collection" not in json.loads(calls[0]["arguments"]), calls
    assert FACT in sources[0]["document"][0] and sources[0]["metadata"][0]["collection"].endswith("lighthouses"), (
        sources
    )


def test_librechats_rendered_mcp_entries_work_with_the_typescript_sdk(stack: Stack) -> None:
    """Stand-in for LibreChat, which cannot be installed here (no MongoDB): its rendered entry's
    headers, placeholders filled as LibreChat fills them, sent by the TypeScript SDK client it uses,
    through Caddy's tools site to the server the entry names; the same call without the key fails."""
    config = yaml.safe_load((stack.folder / "librechat" / "librechat.yaml").read_text())
    entry = config["mcpServers"]["retrieval"]
    path = httpx.URL(entry["url"]).path
    url = f"{stack.site('tools.example.org')}{path}"
    env = {**os.environ, "TOOLPARK_LIBRECHAT_KEY": stack.env["TOOLPARK_LIBRECHAT_KEY"]}
    node = shutil.which("node", path=str(next((ROOT / "tests/node/node_modules").glob("node-linux-*/bin"))))
    args = ["librechat-mcp.mjs", url, json.dumps(entry["headers"]), "list_collections", "{}"]

    def run(environment: dict[str, str]) -> dict[str, object]:
        done = subprocess.run([str(node), *args], cwd=ROOT / "tests/node", env=environment,
                              capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr
        result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
        return result

    allowed = run(env)
    assert "search" in allowed["tools"] and allowed["isError"] is False, allowed  # type: ignore[operator]
    assert "collections" in json.loads(str(allowed["text"])), allowed
    refused = run({k: v for k, v in env.items() if k != "TOOLPARK_LIBRECHAT_KEY"})
    assert "send Authorization: Bearer" in str(refused.get("error")), refused  # the server's 401


@pytest.fixture(scope="module")
def planned(stack: Stack) -> Iterator[tuple[str, dict[str, str], list[Any]]]:
    """Open WebUI with a second model, the planner (tests/stack/planner.py, a stand-in for a model that
    copies ids from a tool's answer), offered web, s3 and extract; the admin's base URL and headers
    and the planner's decisions."""
    webui = stack.site("webui.example.org")
    _, admin = _admin(stack)
    with planner() as (url, decisions):
        config = httpx.get(f"{webui}/openai/config", headers=admin, timeout=60).json()
        config["OPENAI_API_BASE_URLS"] = [*config["OPENAI_API_BASE_URLS"], url]
        config["OPENAI_API_KEYS"] = [*config["OPENAI_API_KEYS"], "none"]
        updated = httpx.post(f"{webui}/openai/config/update", json=config, headers=admin, timeout=60)
        assert updated.status_code == 200, updated.text
        model = {"id": MODEL, "name": MODEL, "base_model_id": None, "params": {"function_calling": "native"},
                 "meta": {"toolIds": ["server:mcp:web", "server:mcp:s3", "server:mcp:extract"]}}  # fmt: skip
        made = httpx.post(f"{webui}/api/v1/models/create", json=model, headers=admin, timeout=60)
        assert made.status_code == 200, made.text
        yield webui, admin, decisions


def _turns(stack: Stack, shot: Path, file: Path | None, *messages: str) -> dict[str, Any]:
    """The admin's chat with the planner in headless Chromium, one message a turn; what the page showed."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    args = [stack.site("webui.example.org"), stack.spec["acme_email"], stack.env["OPENWEBUI_ADMIN_PASSWORD"], MODEL,
            str(shot), str(file) if file else "-", ANSWERED, *messages]  # fmt: skip
    done = run_node("openwebui-turns.mjs", *args, timeout=900)
    assert done.returncode == 0, done.stderr
    seen: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"screenshot: {shot}")
    assert seen["loggedIn"] and all(seen["turns"]) and len(seen["turns"]) == len(messages), seen
    return seen


def _tool_outputs(webui: str, admin: dict[str, str], chat: str) -> list[tuple[str, str]]:
    """Each tool call of a saved chat, in order, with the text Open WebUI handed the model."""
    found, names = [], {}
    for message in _messages(webui, admin, chat):
        for item in message.get("output") or []:
            if item["type"] == "function_call":
                names[item["call_id"]] = item["name"]
            elif item["type"] == "function_call_output":
                found.append((names[item["call_id"]], "".join(p.get("text", "") for p in item["output"])))
    return found


def test_open_webui_reads_a_200_kb_page_part_by_part_through_read_more(
    stack: Stack, planned: tuple[str, dict[str, str], list[Any]]
) -> None:
    """A 200 KB page is more than web's 100 KB cap: the fetch's answer in Open WebUI holds its first
    part as readable text with the note naming the next, and read_more (listed because results are
    kept) reads on until "That is the end of it.": every paragraph reached the model, once, in order.
    The model is the planner, a stand-in (SmolLM2-135M cannot copy the result id, see planner.py);
    Open WebUI, the browser and the servers are real."""
    webui, admin, decisions = planned
    with web_host("ferries") as site:
        site.pages["/ferries"] = (200, {"Content-Type": "text/html; charset=utf-8"}, PAGE)
        url = f"{site.url}/ferries"
        seen = _turns(stack, SCREENSHOTS / "openwebui-read-more.png", None, f"Read {url}", "Read on", "Read on")
    calls = [d[0] for d in decisions if isinstance(d, tuple)]  # not its replies, nor Open WebUI's own tasks'
    assert calls[-3:] == ["web_fetch", "web_read_more", "web_read_more"], decisions
    outputs = _tool_outputs(webui, admin, seen["chat"])
    assert [name for name, _ in outputs] == ["web_fetch", "web_read_more", "web_read_more"], outputs
    turns = [json.loads(text)["results"][0] if text.startswith("{") else text for _, text in outputs]
    numbers = [int(n) for turn in turns for n in re.findall(r"Paragraph (\d+):", turn)]
    assert numbers == list(range(len(PARAGRAPHS))), numbers[:5]
    assert "That is the end of it." in turns[-1] and "That is the end of it." in seen["text"]


def test_a_pdf_uploaded_in_open_webui_is_listed_and_extracted_for_its_user_only(
    stack: Stack, planned: tuple[str, dict[str, str], list[Any]], tmp_path: Path
) -> None:
    """Open WebUI keeps the upload in the stack's bucket under openwebui/, tagged with the user's id;
    the s3 server lists it for that user, and extract reads it for them (the planner, a stand-in
    model, copies the key from the listing into extract_text). Another Open WebUI user, calling with
    Open WebUI's key and their own id, is refused the same file."""
    webui, admin, decisions = planned
    upload = tmp_path / "field-notes.pdf"
    shutil.copy(PAPER, upload)
    seen = _turns(stack, SCREENSHOTS / "openwebui-upload.png", upload, "What are my files?", "Extract it")
    outputs = _tool_outputs(webui, admin, seen["chat"])
    assert [name for name, _ in outputs] == ["s3_list_objects", "extract_extract_text"], outputs
    assert "field-notes.pdf" in outputs[0][1] and PAPER_TEXT in outputs[1][1], outputs
    key = [d for d in decisions if isinstance(d, tuple)][-1][1]["url"]
    assert key.startswith(f"s3://{stack.spec['s3']['bucket']}/openwebui/") and key.endswith("_field-notes.pdf")
    # Someone else, as Open WebUI names them to the tools: the same file is not theirs.
    headers = {"Authorization": f"Bearer {stack.env['TOOLPARK_OPENWEBUI_KEY']}", "X-User-ID": "someone-else"}

    async def as_someone_else() -> CallToolResult:
        async with http_client(f"{stack.site('tools.example.org')}/extract/mcp", headers=headers) as client:
            return await client.call_tool("extract_text", {"url": key})

    refused = anyio.run(as_someone_else)
    assert refused.is_error and "outside what you may read" in str(refused.content), refused
