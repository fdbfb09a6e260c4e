"""Open WebUI's start in the stack: runs Open WebUI (the command after `--`) and, once it answers,
installs toolpark's sources filter (openwebui_sources.py) as its admin, active for every model.

Open WebUI keeps functions in its database and loads none from files or settings; its admin API is
the one way in, and the admin is the one the stack makes at the first start (WEBUI_ADMIN_EMAIL and
WEBUI_ADMIN_PASSWORD, already in its environment). With single sign-on there is no such account:
then it says so and an admin adds the filter by hand (docs/servers/retrieval.md).

Standard library only: the compose target runs it with the Open WebUI image's own Python, the
processes target through `toolpark compose openwebui-start`. It stays Open WebUI's parent: a stop
signal is passed on, and it exits with Open WebUI's status.

Usage: openwebui_start.py FILTER_FILE -- COMMAND...
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

FILTER_ID = "toolpark_sources"
_WAIT_S = 900  # Open WebUI's first start (migrations, the admin) on a busy small machine
_TIMEOUT_S = 30


def _say(line: str) -> None:
    print(f"[toolpark] {line}", file=sys.stderr, flush=True)


def _base() -> str:
    host = os.environ.get("HOST", "127.0.0.1")
    host = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
    return f"http://{f'[{host}]' if ':' in host else host}:{os.environ.get('PORT', '8080')}"


def _call(url: str, body: Any = None, token: str | None = None) -> Any:
    headers = {"Content-Type": "application/json"} | ({"Authorization": f"Bearer {token}"} if token else {})
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=headers, method="GET" if body is None else "POST")
    with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response:  # Open WebUI on its own loopback
        return json.loads(response.read() or b"null")


def _answers(base: str) -> bool:
    try:
        return bool(_call(f"{base}/health"))
    except (OSError, ValueError):
        return False


def _servers() -> str:
    """The ids of Open WebUI's MCP tool servers (the rendered TOOL_SERVER_CONNECTIONS)."""
    connections = json.loads(os.environ.get("TOOL_SERVER_CONNECTIONS") or "[]")
    return ",".join(c["info"]["id"] for c in connections if c.get("type") == "mcp" and c.get("info", {}).get("id"))


def install(base: str, content: str, email: str, password: str) -> None:
    """Create or update the filter, make it active and global, and point it at the tool servers."""
    token = _call(f"{base}/api/v1/auths/signin", {"email": email, "password": password})["token"]
    api = f"{base}/api/v1/functions"
    form = {"id": FILTER_ID, "name": "toolpark sources", "content": content,
            "meta": {"description": "Sources under the answer from toolpark's search and fetch results."}}  # fmt: skip
    try:
        found = _call(f"{api}/id/{FILTER_ID}", token=token)
    except urllib.error.HTTPError as error:
        if error.code not in (401, 404):  # 0.12 answers 401 "not found" for a missing function
            raise
        found = None
    if found is None:
        found = _call(f"{api}/create", form, token)
    elif found.get("content") != content:
        found = _call(f"{api}/id/{FILTER_ID}/update", form, token)
    for flag, toggle in (("is_active", "toggle"), ("is_global", "toggle/global")):
        if not found.get(flag):
            found = _call(f"{api}/id/{FILTER_ID}/{toggle}", {}, token)
    _call(f"{api}/id/{FILTER_ID}/valves/update", {"servers": _servers()}, token)


def _install_when_up(filter_file: Path, child: subprocess.Popen[bytes]) -> None:
    email, password = os.environ.get("WEBUI_ADMIN_EMAIL"), os.environ.get("WEBUI_ADMIN_PASSWORD")
    if not (email and password):
        _say(f"no local admin (single sign-on): an admin adds the filter {FILTER_ID} by hand for sources")
        return
    base, deadline = _base(), time.monotonic() + _WAIT_S
    while not _answers(base):
        if child.poll() is not None or time.monotonic() > deadline:
            return
        time.sleep(2)
    try:
        install(base, filter_file.read_text(), email, password)
    except (OSError, ValueError, KeyError) as error:  # Open WebUI goes on without sources
        _say(f"could not install the filter {FILTER_ID}: {error}")
    else:
        _say(f"filter {FILTER_ID} installed: tool results' sources show under the answers")


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        raise SystemExit("usage: openwebui_start.py FILTER_FILE -- COMMAND...")
    child = subprocess.Popen(argv[2:])

    def stop(signum: int, _frame: object) -> None:
        child.send_signal(signal.SIGTERM)  # a second SIGTERM is harmless to uvicorn; a SIGINT forces

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, stop)
    threading.Thread(target=_install_when_up, args=(Path(argv[0]), child), daemon=True).start()
    return child.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
