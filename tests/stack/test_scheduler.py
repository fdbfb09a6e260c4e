"""The scheduled GPU node for real, with the `local` provider: the entry node's services (Caddy,
PostgreSQL, toolpark, the scheduler) under `toolpark compose up`, and the GPU node (vLLM on the
CPU, LiteLLM) started and stopped by the scheduler as a supervisord of its own. A window opens and
closes, with the scheduler killed (SIGKILL; supervisord starts it again) during the create, the
health wait and the delete; outside the window a request with a key wakes the node (one without
wakes nothing), and the idle timeout stops it again."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
import psutil
import psycopg
import pytest
import yaml

from tests.stack.stack import MODELS_BUCKET, Prepared, prepared, running
from toolpark.clients import http_client
from toolpark.compose.files import read_env
from toolpark.compose.local_nodes import LocalProvider
from toolpark.compose.providers import ProviderContext, node_labels
from toolpark.compose.references import mcp_path

pytestmark = [pytest.mark.stack]

WINDOW_MINUTES = 3


def _window(now: datetime) -> tuple[datetime, datetime]:
    """A window that opens at the first minute at least 40 s away (the stack's start), for a few minutes."""
    start = (now + timedelta(seconds=100)).replace(second=0, microsecond=0)
    return start, start + timedelta(minutes=WINDOW_MINUTES)


def scheduled(data: dict[str, Any], start: datetime, end: datetime) -> dict[str, Any]:
    """The stack spec split in two: the entry node, and a GPU node the scheduler runs."""
    data["nodes"] = {
        "entry": {"address": "10.0.0.1", "services": ["caddy", "postgres", "toolpark", "mongodb"]},
        "gpu": {"address": "10.0.0.2", "services": ["vllm", "litellm", "librechat"], "gpus": 1,
                "lifecycle": "scheduled"},
    }  # fmt: skip
    data["openwebui"] = {"enabled": False}
    # The node streams both models from the stack's S3 (pushed by the fixture), as a cloud node would.
    data["models"]["chat"]["weights"] = f"s3://{MODELS_BUCKET}/smollm2"
    data["models"]["embedding"]["weights"] = f"s3://{MODELS_BUCKET}/minilm"
    data["scheduler"] = {
        "port": data["toolpark"]["servers"]["s3"]["port"] + 50,
        "timezone": "UTC",
        "windows": [],
        "extra_windows": [f"{start:%Y-%m-%d %H:%M}-{end:%H:%M}"],
        "lead_minutes": 0,  # the node starts when the window opens (the lead: tests/compose/scheduler/test_boot.py)
        "wake_on_demand": True,
        "budget_hours": 50,
        "idle_minutes": 1,
        "interval_s": 2,
        "drain_s": 5,
        "ready_timeout_s": 600,
        "hourly_price": 0.9,
    }
    return data


def _status(url: str) -> dict[str, Any]:
    """The scheduler's /status; empty while it is being started again."""
    try:
        result: dict[str, Any] = httpx.get(f"{url}/status", timeout=10).json()
    except (httpx.HTTPError, ValueError):
        return {}
    return result


def _kill_scheduler(folder: Path) -> int:
    """SIGKILL to `toolpark gpu run` of this deployment; supervisord starts it again. Its pid."""
    for process in psutil.process_iter(["cmdline"]):
        line = process.info["cmdline"] or []
        if "gpu" in line and "run" in line and str(folder) in " ".join(line):
            process.kill()
            return int(process.pid)
    raise AssertionError("no scheduler process")


def _history(ready: Prepared, sql: str) -> list[tuple[Any, ...]]:
    password = read_env(ready.folder / ".env")["SCHEDULER_DB_PASSWORD"]
    url = f"postgresql://scheduler:{password}@127.0.0.1:{ready.spec['postgres']['port']}/scheduler"
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as connection:
        return connection.execute(sql).fetchall()


def _until(what: str, check: Callable[[], bool], timeout_s: float, log: Path, poll_s: float = 1) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"not {what} in {timeout_s:.0f} s; the end of the up log:\n{log.read_text()[-4000:]}")
        time.sleep(poll_s)


def _nodes(ready: Prepared) -> list[str]:
    provider = LocalProvider(ProviderContext("e2e", "gpu", ready.folder))
    return [node.name for node in provider.find(node_labels("e2e", "gpu"))]


def _port_open(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
        return True
    except httpx.HTTPError:
        return False


def _push_models(ready: Prepared) -> None:
    """`toolpark models push` of both models into the stack's S3, with its operator's key."""
    keys = read_env(ready.folder / ".env")
    environ = os.environ | {"AWS_ENDPOINT_URL": ready.spec["s3"]["endpoint_url"], "AWS_REGION": "us-east-1",
                            "AWS_ACCESS_KEY_ID": keys["S3_ACCESS_KEY_ID"],
                            "AWS_SECRET_ACCESS_KEY": keys["S3_SECRET_ACCESS_KEY"]}  # fmt: skip
    for name, role in (("smollm2", "chat"), ("minilm", "embedding")):
        folder = ready.spec["models"][role]["model"]
        command = [sys.executable, "-m", "toolpark", "models", "push", folder, "--to", f"s3://{MODELS_BUCKET}/{name}"]
        pushed = subprocess.run(command, capture_output=True, text=True, env=environ, timeout=300, check=False)
        assert pushed.returncode == 0, pushed.stderr


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Prepared, str, Path, datetime, datetime]]:
    base = tmp_path_factory.mktemp("scheduled")
    start, end = _window(datetime.now(UTC))
    with prepared(base) as ready:
        _push_models(ready)
        ready.spec_path.write_text(yaml.safe_dump(scheduled(ready.spec, start, end)))
        log = base / "up.log"
        with running(ready.folder, ready.spec_path, log):
            url = f"http://127.0.0.1:{ready.spec['scheduler']['port']}"
            yield ready, url, log, start, end
        assert not _nodes(ready), "the scheduled node outlived the stack"


def test_a_window_opens_the_node_serves_chat_and_it_stops_when_the_window_closes(
    stack: tuple[Prepared, str, Path, datetime, datetime],
) -> None:
    ready, url, log, start, end = stack
    spec = ready.spec
    if datetime.now(UTC) < start:
        status = _status(url)
        assert status["state"] == "off" and not status["wanted"], status
        assert datetime.fromisoformat(status["next_window"]) == start, status
        shown = subprocess.run([sys.executable, "-m", "toolpark", "gpu", "status", "--deploy", str(ready.folder)],
                               capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
        assert "node gpu (local): off" in shown.stdout and "wanted down: outside the windows" in shown.stdout

    # Killed during the create: the moment its history has the request.
    _until("requested", lambda: bool(_history(ready, "SELECT 1 FROM gpu_nodes")), 300, log, poll_s=0.01)
    first = _kill_scheduler(ready.folder)
    assert datetime.now(UTC) >= start
    # Killed during the health wait: started again (supervisord), a node runs, vLLM is loading.
    _until("starting", lambda: _status(url).get("state") == "starting" and len(_nodes(ready)) == 1, 120, log)
    time.sleep(12)  # past supervisord's startsecs, so the kill is not taken for a failed start
    assert _kill_scheduler(ready.folder) != first
    _until("ready", lambda: _status(url).get("state") == "ready", 600, log)
    assert len(_nodes(ready)) == 1
    open_nodes = _history(ready, "SELECT name FROM gpu_nodes WHERE ended_at IS NULL")
    assert [row[0] for row in open_nodes] == _nodes(ready)  # any other request is accounted as ended

    # The boot's phases: the node's weights check (reported), vLLM healthy, its first answer.
    node = _nodes(ready)[0]
    recorded = f"SELECT phase, ok FROM gpu_boot_phases WHERE node = '{node}'"
    _until("answered", lambda: "first answer" in dict(_history(ready, recorded)), 120, log)  # just after ready
    phases = dict(_history(ready, recorded))
    # "created" may be missing: the kill during the create can land before the scheduler records it.
    assert {"machine up", "weights", "healthy", "first answer"} <= set(phases) and all(phases.values()), phases
    assert 'toolpark_gpu_boot_phase_seconds{phase="weights"}' in httpx.get(f"{url}/metrics", timeout=10).text
    shown = subprocess.run([sys.executable, "-m", "toolpark", "gpu", "status", "--deploy", str(ready.folder)],
                           capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert f"{node}: " in shown.stdout and " · weights " in shown.stdout and " · first answer " in shown.stdout
    vllm_log = (ready.folder / "logs" / "vllm-chat.log").read_text()
    assert "s3://models/smollm2: " in vllm_log and "complete; no compile cache yet" in vllm_log  # the check first
    # Once healthy, its compile cache goes to the scheduler, which keeps it beside the weights.
    kept = "SELECT count(*) FROM gpu_events WHERE kind = 'compile-cache'"
    _until("compile cache kept", lambda: _history(ready, kept)[0][0] >= 2, 300, log)  # chat's and embedding's

    secrets = read_env(ready.folder / ".env")
    llm = f"http://127.0.0.1:{spec['litellm']['port']}/v1"
    mcp = f"http://127.0.0.1:{spec['toolpark']['servers']['web']['port']}{mcp_path('web')}"
    chat = subprocess.run(
        [sys.executable, "-m", "toolpark", "chat", "--llm-url", llm, "--llm-key", secrets["LITELLM_MASTER_KEY"],
         "--model", "smollm2", "--mcp", mcp, "--mcp-key", secrets["TOOLPARK_OPS_KEY"], "--max-tool-rounds", "0",
         "--max-tokens", "16", "--temperature", "0", "--once", "Say hello."],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert chat.returncode == 0 and chat.stdout.strip(), chat.stderr[-3000:]
    # And an embedding, from the MiniLM the node streamed from S3 too.
    embedded = httpx.post(f"http://127.0.0.1:{spec['models']['embedding']['port']}/v1/embeddings",
                          json={"model": "minilm", "input": ["lighthouse keepers"]}, timeout=120,
                          headers={"Authorization": f"Bearer {secrets['VLLM_API_KEY']}"})  # fmt: skip
    assert embedded.status_code == 200 and len(embedded.json()["data"][0]["embedding"]) == 384, embedded.text

    # Killed during the delete: the moment the window's end is acted on. The node that served (ready):
    # the kill during the create can leave a second node, deleted as one too many long before.
    deleting = "SELECT 1 FROM gpu_nodes WHERE delete_requested_at IS NOT NULL AND ready_at IS NOT NULL"
    _until("deleting", lambda: bool(_history(ready, deleting)), 420, log, poll_s=0.01)
    _kill_scheduler(ready.folder)
    assert datetime.now(UTC) >= end
    _until("stopped after the window", lambda: _status(url).get("state") == "off" and not _nodes(ready), 300, log)
    assert not _port_open(spec["models"]["chat"]["port"])
    assert _history(ready, "SELECT count(*) FROM gpu_nodes WHERE ended_at IS NULL") == [(0,)]
    assert _history(ready, "SELECT outcome FROM gpu_nodes WHERE ready_at IS NOT NULL") == [("deleted",)]
    # No "created" event is owed: the kill during the create may land before the scheduler says so.
    # The node's request is in the history all the same (the open record asserted above).
    kinds = [event["kind"] for event in _status(url)["events"]]
    assert {"ready", "deleting", "deleted"} <= set(kinds), kinds

    # The entry node's servers keep answering: retrieval says the model node is away, and why.
    async def create_collection() -> tuple[bool, str]:
        retrieval = f"http://127.0.0.1:{spec['toolpark']['servers']['retrieval']['port']}{mcp_path('retrieval')}"
        headers = {"Authorization": f"Bearer {secrets['TOOLPARK_OPS_KEY']}"}
        async with http_client(retrieval, headers=headers) as client:
            called = await client.call_tool("create_collection", {"name": "while-away"})
            return bool(called.is_error), str(getattr(called.content[0], "text", ""))

    is_error, text = anyio.run(create_collection)
    assert is_error and "The embedding endpoint is unreachable" in text, text
    assert "The model node is off (outside the windows); search works again when an operator starts it" in text


def test_a_request_outside_the_windows_wakes_the_node_and_idling_stops_it(
    stack: tuple[Prepared, str, Path, datetime, datetime],
) -> None:
    ready, url, log, _, _ = stack
    _until("off", lambda: _status(url).get("state") == "off" and not _nodes(ready), 420, log)
    saved = _history(ready, "SELECT count(*) FROM gpu_events WHERE kind = 'compile-cache'")
    lines = log.read_text().splitlines()
    sites = {line.split()[0]: line.rsplit(" ", 1)[1] for line in lines if " is served at " in line}
    completions = f"{sites['llm.example.org']}/v1/chat/completions"
    # A request that proves nothing is told how to start the model, and wakes nothing.
    anonymous = httpx.post(completions, json={"model": "smollm2"}, timeout=30)
    assert anonymous.status_code == 503, anonymous.text
    assert anonymous.json()["error"]["type"] == "model_offline", anonymous.text
    assert "Signed-in users" in anonymous.json()["error"]["message"]
    assert not _status(url)["wanted"]
    # The offline page's button, through Caddy's /.toolpark/wake route, with a key typed in.
    master = read_env(ready.folder / ".env")["LITELLM_MASTER_KEY"]
    page = httpx.post(f"{sites['chat.example.org']}/.toolpark/wake", data={"key": master}, timeout=30,
                      headers={"Accept": "text/html"})  # fmt: skip
    assert page.status_code == 503 and "The model is starting" in page.text, page.text
    keyed = httpx.post(
        completions, json={"model": "smollm2"}, headers={"Authorization": f"Bearer {master}"}, timeout=30
    )
    assert keyed.json()["error"]["type"] == "model_starting", keyed.text

    _until("woken", lambda: _status(url).get("state") == "ready", 600, log)
    woke = time.monotonic()
    # This boot restored the compile cache the first one saved, and saved none again.
    # Searched, not matched at the line's start: an exiting process's last words may lack their
    # newline (nanobind's leak warning did), and the next boot's check then follows on that line.
    checks = re.findall(r"s3://models/smollm2: .*", (ready.folder / "logs" / "vllm-chat.log").read_text())
    assert len(checks) >= 2 and " restored (" in checks[-1], checks
    time.sleep(10)  # its save-cache asks the scheduler, finds the cache kept, and sends nothing
    assert _history(ready, "SELECT count(*) FROM gpu_events WHERE kind = 'compile-cache'") == saved
    status = _status(url)
    assert status["wanted"] and "woken on demand" in status["reason"], status
    _until("stopped when idle", lambda: _status(url).get("state") == "off" and not _nodes(ready), 420, log)
    assert time.monotonic() - woke >= 50  # the idle minute, less the ticks' rounding
    assert _status(url)["hours_this_month"] > 0
